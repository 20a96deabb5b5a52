"""The dashboard's reproduce helpers: commands for a player's search, curl, replay links."""

from __future__ import annotations

import shlex
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

import reqtrail.dashboards
from reqtrail.dashboards.queries.replays import replays_of
from reqtrail.es import es_client
from reqtrail.schemas.samples import sample_record
from reqtrail.seed import delete_prefix, seed
from reqtrail.settings import load_settings
from tests.dashboards.conftest import ALICE, Seeded

pytestmark = pytest.mark.integration
APP = Path(reqtrail.dashboards.__file__).resolve().parent / "app.py"
TARGET = "http://127.0.0.1:18000"


def _app(monkeypatch: pytest.MonkeyPatch, es_url: str, prefix: str) -> AppTest:
    monkeypatch.setenv("REQTRAIL_ES_URL", es_url)
    monkeypatch.setenv("REQTRAIL_INDEX_PREFIX", prefix)
    monkeypatch.setenv("REQTRAIL_REPLAY_TARGET", TARGET)
    monkeypatch.delenv("REQTRAIL_DASHBOARD_PASSWORD", raising=False)
    return AppTest.from_file(str(APP), default_timeout=60)


def test_a_players_search_offers_the_reproduce_commands(
    seeded: Seeded, monkeypatch: pytest.MonkeyPatch
) -> None:
    """?user=... shows export and replay commands for exactly that search, ready to copy."""
    app = _app(monkeypatch, seeded.settings.es_url, seeded.prefix)
    app.query_params.update({"user": ALICE, "class": "5xx", "range": "7d"})
    app.run()
    assert not app.exception, app.exception
    assert "Reproduce in dev" in [e.label for e in app.expander]
    (block,) = [c.value for c in app.code if c.value.startswith("reqtrail export")]
    export, replay = (shlex.split(line) for line in block.splitlines())
    assert export[:4] == ["reqtrail", "export", "--user", ALICE]
    since, until = datetime.fromisoformat(export[5]), datetime.fromisoformat(export[7])
    assert timedelta(days=7) - (until - since) < timedelta(seconds=1)
    assert abs(until - datetime.now(UTC)) < timedelta(minutes=5)
    assert replay == [
        "reqtrail", "replay", f"reqtrail-{ALICE}.json", "--target", TARGET, "--status", "5xx"
    ]  # fmt: skip


def test_no_reproduce_commands_without_a_player(
    seeded: Seeded, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A search without a user ID has nothing to export, so no reproduce block."""
    app = _app(monkeypatch, seeded.settings.es_url, seeded.prefix)
    app.run()
    assert "Reproduce in dev" not in [e.label for e in app.expander]


@pytest.fixture
def linked(es_url: str) -> Iterator[tuple[str, dict[str, object], dict[str, object]]]:
    """An original request and its replay, in an index of their own."""
    import random

    prefix = f"t-linked-{uuid.uuid4().hex[:8]}"
    settings = load_settings(environ={}).replace(es_url=es_url, index_prefix=prefix)
    es = es_client(settings)
    rng = random.Random(5)
    now = datetime.now(UTC)
    original = sample_record(rng, now - timedelta(hours=2), user_id="player-9")
    original.update(request_headers={"content-type": "application/json"}, query="lang=en")
    replay = sample_record(rng, now - timedelta(minutes=5), user_id="player-9")
    replay.update(route=original["route"], path=original["path"])
    replay["replay_of"] = original["request_id"]
    seed(es, prefix, [original, replay])
    try:
        yield prefix, original, replay
    finally:
        delete_prefix(es, prefix)
        es.close()


def test_replays_link_both_ways_and_curl_is_offered(
    es_url: str,
    linked: tuple[str, dict[str, object], dict[str, object]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The original lists its replay, the replay links to the original, curl names the target."""
    prefix, original, replay = linked
    es = es_client(load_settings(environ={}).replace(es_url=es_url))
    assert [r["request_id"] for r in replays_of(es, prefix, str(original["request_id"]))] == [
        replay["request_id"]
    ]
    es.close()
    app = _app(monkeypatch, es_url, prefix)
    app.query_params["open"] = str(original["request_id"])
    app.run()
    assert not app.exception, app.exception
    page = "\n".join(m.value for m in app.markdown)
    assert "**Replayed 1 time:**" in page
    assert f"[{replay['request_id']}](./?open={replay['request_id']})" in page
    (curl,) = [c.value for c in app.code if c.value.startswith("curl ")]
    words = shlex.split(curl)
    assert f"{TARGET}{original['path']}?lang=en" in words
    assert f"x-reqtrail-replay-of: {original['request_id']}" in words
    app.query_params["open"] = str(replay["request_id"])
    app.run()
    page = "\n".join(m.value for m in app.markdown)
    assert f"Replay of [{original['request_id']}](./?open={original['request_id']})" in page
