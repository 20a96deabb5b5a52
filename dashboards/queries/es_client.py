"""The Elasticsearch client of the dashboard and the one place its errors are translated.

Every query function sends its body through :func:`search`, which turns "cannot connect"
and "index does not exist" into :class:`DataUnavailable` with a sentence a person can act
on; pages show that sentence instead of a stack trace.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from elasticsearch import ApiError, Elasticsearch, NotFoundError, TransportError
from elasticsearch import ConnectionError as ESConnectionError

from reqtrail.es import es_client
from reqtrail.settings import DashboardSettings


class DataUnavailable(RuntimeError):
    """The data cannot be read right now; ``str(exc)`` says why and what to do."""

    def __init__(self, message: str, *, missing_index: bool = False) -> None:
        super().__init__(message)
        self.missing_index = missing_index


def make_client(settings: DashboardSettings, *, max_retries: int = 1) -> Elasticsearch:
    """A client for ``settings.es_url`` with the configured credentials and TLS."""
    return es_client(settings, max_retries=max_retries)


def _url_of(es: Elasticsearch) -> str:
    try:
        node = es.transport.node_pool.all()[0]
        return str(node.base_url)
    except (AttributeError, IndexError):  # pragma: no cover - transport internals changed
        return "Elasticsearch"


def search(es: Elasticsearch, index: str, body: dict[str, Any]) -> dict[str, Any]:
    """Run one search; connection problems and a missing index raise ``DataUnavailable``."""
    with translated_errors(es, index):
        response = es.search(index=index, body=body)
    return dict(response.body)


def count(es: Elasticsearch, index: str, query: dict[str, Any]) -> int:
    """How many records match ``query`` (errors as ``search`` raises them)."""
    with translated_errors(es, index):
        response = es.count(index=index, query=query)
    return int(response["count"])


@contextmanager
def translated_errors(es: Elasticsearch, index: str) -> Iterator[None]:
    """Turn what goes wrong reading ``index`` into ``DataUnavailable`` with a sentence."""
    try:
        yield
    except NotFoundError as exc:
        if exc.error == "index_not_found_exception":
            raise DataUnavailable(
                f"No data yet: the index {index!r} does not exist. Start the consumer "
                "(`reqtrail consume`) and send some traffic, or seed sample data.",
                missing_index=True,
            ) from None
        raise
    except ESConnectionError as exc:
        raise DataUnavailable(
            f"Elasticsearch at {_url_of(es)} is unreachable ({type(exc).__name__}). "
            "Check REQTRAIL_ES_URL and that the node is running."
        ) from None
    except TransportError as exc:
        raise DataUnavailable(f"Elasticsearch at {_url_of(es)} failed: {exc}") from None
    except ApiError as exc:
        if exc.status_code in (401, 403):
            raise DataUnavailable(
                f"Elasticsearch refused the dashboard's credentials ({exc.status_code}). "
                "Check REQTRAIL_ES_USERNAME/REQTRAIL_ES_PASSWORD or REQTRAIL_ES_API_KEY."
            ) from None
        if exc.status_code in (429, 502, 503, 504):
            raise DataUnavailable(
                f"Elasticsearch is overloaded or not ready ({exc.status_code}); try again shortly."
            ) from None
        raise
