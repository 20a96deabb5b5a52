"""The whole loop on the real stack with the demo server: record a crash, export, replay it.

The demo's new release crashes when a battle is finished (``REQTRAIL_DEMO_CRASH_CHANCE=1``
makes that certain); its bodies are random (gems, battle IDs), so statuses and the crash
are compared here, bodies in ``test_replay_game``.
"""

from __future__ import annotations

from pathlib import Path

import httpx
import orjson
import pytest

from reqtrail.consumers.setup import ensure_index_template, ensure_topics, remove_all
from reqtrail.dashboards.queries.replays import replays_of
from reqtrail.es import es_client
from reqtrail.schemas import is_valid
from reqtrail.schemas.export_file import read_export_file
from reqtrail.seed import count, delete_prefix
from reqtrail.settings import Settings
from tests.consumers.conftest import running_indexer, wait_for_docs
from tests.replay.servers import demo_server_command, pipeline_env, reqtrail, running_server

pytestmark = [pytest.mark.integration, pytest.mark.slow]
PLAYER = "player-crash"
CRASH = "reqtrail.demo_server.app.RewardCalculationError"
SESSION = [
    ("POST", "/login", {"user_id": PLAYER, "password": "hunter2"}, 200),
    ("GET", "/home", None, 200),
    ("POST", "/gacha/draw", {"banner_id": "standard", "count": 1}, 200),
    ("POST", "/battles/start", {"stage_id": "2-3", "party": ["u-0001"]}, 200),
    ("POST", "/battles/b-1/finish", {"stage_id": "2-3", "result": "win"}, 500),
    ("POST", "/units/u-0001/upgrade", {"materials": [{"item": "exp", "count": 2}]}, 200),
    ("POST", "/shop/purchase", {"product_id": "gems-60", "receipt": "r-1"}, 200),
    ("POST", "/shop/purchase", {"product_id": "gems-9999"}, 400),
]


def test_replaying_a_players_session_reproduces_the_crash(
    settings: Settings, tmp_path: Path
) -> None:
    """Same statuses on a fresh demo server, the same 500 with the same error type in the
    replay's record, replay_of linking both ways; the export imports into another prefix."""
    settings = settings.replace(topic_partitions=1)
    ensure_topics(settings)
    ensure_index_template(settings)
    env = {
        **pipeline_env(settings),
        "REQTRAIL_APP_VERSION": "1.5.0",  # the new release, which crashes
        "REQTRAIL_DEMO_CRASH_CHANCE": "1",
        "REQTRAIL_DEMO_TIME_SCALE": "0",
        "SENTRY_DSN": "",
    }
    es = es_client(settings)
    other = f"i{settings.index_prefix}"
    try:
        with (
            running_server(demo_server_command(), env, tmp_path / "recorded.log") as url,
            httpx.Client(base_url=url, headers={"x-user-id": PLAYER}) as client,
        ):
            for method, path, body, status in SESSION:
                assert client.request(method, path, json=body).status_code == status, path
        export = tmp_path / "player.json"
        with running_indexer(settings):
            wait_for_docs(es, settings.index_prefix, len(SESSION))
            exported = reqtrail(
                "export", "--user", PLAYER, "--since", "1h", "-o", str(export), env=env
            )
            assert exported.returncode == 0, exported.stderr
            report = tmp_path / "report.json"
            with running_server(demo_server_command(), env, tmp_path / "fresh.log") as fresh:
                replayed = reqtrail(
                    "replay", str(export), "--target", fresh, "--report", str(report), env=env
                )
            assert replayed.returncode in (0, 1), replayed.stdout + replayed.stderr
            wait_for_docs(es, settings.index_prefix, 2 * len(SESSION) - 1)  # login not sent

        _header, originals = read_export_file(export)
        assert [r["status"] for r in originals] == [status for *_, status in SESSION]
        crash = next(r for r in originals if r["status"] == 500)
        assert crash["error"]["type"] == CRASH and crash["app_version"] == "1.5.0"

        requests = orjson.loads(report.read_bytes())["requests"]
        assert requests[0]["verdict"] == "skipped" and requests[0]["path"] == "/login"
        sent = requests[1:]
        assert [r["replayed_status"] for r in sent] == [r["recorded_status"] for r in sent]
        assert [r["recorded_status"] for r in sent] == [status for *_, status in SESSION[1:]]

        (replay,) = replays_of(es, settings.read_alias, crash["request_id"])
        assert replay["status"] == 500 and replay["replay_of"] == crash["request_id"]
        full = es.search(
            index=settings.read_alias, query={"term": {"request_id": replay["request_id"]}}
        )
        record = full["hits"]["hits"][0]["_source"]
        assert record["error"]["type"] == crash["error"]["type"] and is_valid(record)
        assert record["request_id"] == next(
            r["replay_request_id"] for r in sent if r["request_id"] == crash["request_id"]
        )
        for original in originals[1:]:
            assert len(replays_of(es, settings.read_alias, original["request_id"])) == 1
        assert replays_of(es, settings.read_alias, originals[0]["request_id"]) == []

        again = reqtrail("replay", "--user", PLAYER, "--since", "1h", "--dry-run", env=env)
        assert "dry run: 7 requests printed as curl" in again.stdout  # the replays left out

        import_env = {**env, "REQTRAIL_INDEX_PREFIX": other}
        for _ in range(2):  # the second import changes nothing
            imported = reqtrail("import", str(export), env=import_env)
            assert imported.returncode == 0, imported.stderr
            assert f"read {len(SESSION)}, indexed {len(SESSION)}, rejected 0" in imported.stdout
            assert count(es, other) == len(SESSION)
        for original in originals[::3]:
            copy = es.search(index=other, query={"term": {"request_id": original["request_id"]}})
            assert copy["hits"]["hits"][0]["_source"] == original
    finally:
        delete_prefix(es, other)
        es.close()
        remove_all(settings)
