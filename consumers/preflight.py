"""Before the indexer consumes: what ``reqtrail setup`` creates is there, and ES answers.

The indexer never creates a topic (a misspelled one would be created empty, and the
indexer would idle on it), and it refuses to index without the index template: daily
indices would get dynamic mappings and stay outside the read alias. Each problem is one
line that names the setting and says to run ``reqtrail setup``. An unreachable
Elasticsearch is waited for, with one line per attempt naming REQTRAIL_ES_URL.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection

import elastic_transport
from elasticsearch import ApiError, Elasticsearch, NotFoundError

from reqtrail.consumers.errors import SetupMissingError, StartupError
from reqtrail.es import es_client
from reqtrail.settings import Settings, env_name

log = logging.getLogger("reqtrail.consumer")

ES_CHECK_TIMEOUT_S = 3.0  # the first "unreachable" line comes within this (and start-up)


def missing_topic(topic: str, setting: str, settings: Settings) -> SetupMissingError:
    return SetupMissingError(
        f"topic {topic!r} ({env_name(setting)}) does not exist on {settings.kafka_bootstrap}: "
        "run `reqtrail setup` to create it"
    )


def check_topics(existing: Collection[str], settings: Settings) -> None:
    """Raise SetupMissingError naming the first of the two topics that does not exist."""
    for setting in ("topic", "dlq_topic"):
        topic = getattr(settings, setting)
        if topic not in existing:
            raise missing_topic(topic, setting, settings)


def check_index_setup(es: Elasticsearch, settings: Settings) -> bool:
    """The template ``<prefix>`` exists and adds the read alias; True if the alias exists.

    The alias exists only while an index holds it: when none does (no record indexed
    yet, or retention deleted every index), ``ensure_read_alias`` creates today's index,
    as ``setup`` does.
    """
    name, alias = settings.index_prefix, settings.read_alias
    try:
        found = es.indices.get_index_template(name=name)
    except NotFoundError:
        raise SetupMissingError(
            f"index template {name!r} (REQTRAIL_INDEX_PREFIX) does not exist on "
            f"{settings.es_url}: run `reqtrail setup` to install it"
        ) from None
    template = found["index_templates"][0]["index_template"].get("template", {})
    if alias not in (template.get("aliases") or {}):
        raise SetupMissingError(
            f"index template {name!r} on {settings.es_url} does not add the read alias "
            f"{alias!r}: run `reqtrail setup` to install the current template"
        )
    return bool(es.indices.exists_alias(name=alias))


def ensure_read_alias(settings: Settings) -> None:
    """Create today's index (the template adds the read alias to it), as ``setup`` does."""
    from reqtrail.consumers.setup import ensure_index

    es = es_client(settings)
    try:
        index = ensure_index(settings, es=es)
    finally:
        es.close()
    log.info("created %s so that the read alias %s exists", index, settings.read_alias)


def wait_for_index_setup(
    settings: Settings,
    stopping: Callable[[], bool],
    wait: Callable[[float], object],
    next_delay: Callable[[], float],
) -> bool | None:
    """``check_index_setup`` once Elasticsearch answers (whether the read alias exists);
    None if stopped before.

    While it is unreachable, one line per attempt names REQTRAIL_ES_URL; the first comes
    within ES_CHECK_TIMEOUT_S. Raises StartupError for what waiting cannot fix.
    """
    es = es_client(settings, request_timeout=min(ES_CHECK_TIMEOUT_S, settings.es_request_timeout))
    try:
        while not stopping():
            try:
                return check_index_setup(es, settings)
            except elastic_transport.TransportError as exc:
                problem = f"unreachable ({exc.message})"
            except ApiError as exc:
                if exc.meta.status in (401, 403):
                    raise StartupError(
                        f"Elasticsearch at {settings.es_url} (REQTRAIL_ES_URL) refused "
                        f"reqtrail's credentials ({exc.meta.status} {exc.error}): check "
                        "REQTRAIL_ES_API_KEY or REQTRAIL_ES_USERNAME/REQTRAIL_ES_PASSWORD"
                    ) from None
                problem = f"answered {exc.meta.status} {exc.error}"
            delay = next_delay()
            log.error(
                "Elasticsearch at %s (REQTRAIL_ES_URL) %s; retry in %.1f s",
                settings.es_url, problem, delay,
            )  # fmt: skip
            wait(delay)
        return None
    finally:
        es.close()
