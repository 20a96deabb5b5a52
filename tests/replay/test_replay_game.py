"""`reqtrail replay` against real servers: matches, divergence, redacted login, dry run."""

from __future__ import annotations

import shutil
import subprocess

import orjson
import pytest

from tests.replay.conftest import PLAYER, GameSession, received, target_topic
from tests.replay.servers import game_server_command, pipeline_env, reqtrail, running_server

pytestmark = pytest.mark.integration
FINISH = "/battles/{battle_id}/finish"


def test_replay_on_the_same_build_matches_and_links_back(game_session: GameSession) -> None:
    """Every sendable request matches (exit 0); the target records each with a new ID and
    replay_of; the redacted login is reported, skipped, and never reaches the target."""
    report = game_session.logs / "same.json"
    with target_topic(game_session) as target:
        log = game_session.logs / "same.log"
        with running_server(game_server_command(), pipeline_env(target), log) as url:
            result = reqtrail(
                "replay", str(game_session.export), "--target", url, "--report", str(report),
                env=game_session.env(),
            )  # fmt: skip
        got = received(target)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "/login  200 -> skipped  not replayable as recorded: request body redacted" in (
        result.stdout
    )
    assert "all 5 replayed requests matched; 1 not replayable as recorded (skipped)" in (
        result.stdout
    )
    originals = {r["request_id"]: r for r in game_session.records}
    login = next(r for r in game_session.records if r["path"] == "/login")
    assert [r["path"] for r in got] == [r["path"] for r in game_session.records[1:]]
    assert all(r["path"] != "/login" for r in got)  # nothing was sent for it
    for record in got:
        original = originals[record["replay_of"]]
        assert record["request_id"] != original["request_id"]
        assert (record["path"], record.get("query")) == (original["path"], original.get("query"))
        assert record["user_id"] == PLAYER and record["platform"] == "ios"
    assert login["request_id"] not in {r["replay_of"] for r in got}
    document = orjson.loads(report.read_bytes())
    assert document["counts"] == {
        "matched": 5, "diverged": 0, "skipped": 1, "printed": 0, "not_sent": 0
    }  # fmt: skip
    assert {r["replay_request_id"] for r in document["requests"][1:]} == {
        r["request_id"] for r in got
    }


def test_a_changed_field_diverges_naming_route_and_field(game_session: GameSession) -> None:
    """Against a build paying one more gold: exit 1 naming the route and $.rewards.gold;
    with --ignore on that field, exit 0; --stop-on-divergence stops there."""
    junit = game_session.logs / "variant.xml"
    with target_topic(game_session) as target:
        env = {**pipeline_env(target), "GAME_VARIANT": "more-gold"}
        with running_server(game_server_command(), env, game_session.logs / "variant.log") as url:
            export = str(game_session.export)
            diverged = reqtrail(
                "replay", export, "--target", url, "--junit", str(junit), env=game_session.env()
            )
            ignored = reqtrail(
                "replay", export, "--target", url, "--ignore", "$.rewards.gold",
                env=game_session.env(),
            )  # fmt: skip
            stopped = reqtrail(
                "replay", export, "--target", url, "--stop-on-divergence", env=game_session.env()
            )
    assert diverged.returncode == 1, diverged.stdout + diverged.stderr
    line = next(x for x in diverged.stdout.splitlines() if "DIVERGED" in x and x.startswith("["))
    assert FINISH in line and "$.rewards.gold: 500 -> 501" in line
    table_row = next(x for x in diverged.stdout.splitlines() if x.startswith(f"POST {FINISH}"))
    assert table_row.split()[2:6] == ["1", "0", "1", "0"] and table_row.endswith("$.rewards.gold")
    assert "DIVERGED: 1 of 5 replayed requests differ" in diverged.stdout
    assert FINISH in junit.read_text() and "<failure" in junit.read_text()
    assert ignored.returncode == 0, ignored.stdout + ignored.stderr
    assert stopped.returncode == 1
    assert "stopped at the first divergence (--stop-on-divergence), 2 not sent" in stopped.stdout


def test_dry_run_prints_curl_that_works_and_sends_nothing(game_session: GameSession) -> None:
    """--dry-run sends nothing; a printed curl line, run as it is, gets the recorded answer."""
    with target_topic(game_session) as target:
        with running_server(
            game_server_command(), pipeline_env(target), game_session.logs / "dry.log"
        ) as url:
            dry = reqtrail(
                "replay", str(game_session.export), "--target", url, "--dry-run",
                "--as-user", "dev-1", "-H", "X-Dev-Token: token-{user}", env=game_session.env(),
            )  # fmt: skip
            if shutil.which("curl") is None:
                pytest.skip("curl is not installed: the printed command cannot be run")
            curl = next(
                x for x in dry.stdout.splitlines() if x.startswith("curl") and "/finish" in x
            )
            answer = subprocess.run(curl, shell=True, capture_output=True, text=True, timeout=30)
        got = received(target)
    assert dry.returncode == 0, dry.stdout + dry.stderr
    assert "dry run: 5 requests printed as curl, nothing sent" in dry.stdout
    assert "x-user-id: dev-1" in curl and "x-dev-token: token-dev-1" in curl
    finish = next(r for r in game_session.records if r["route"] == FINISH)
    assert orjson.loads(answer.stdout) == orjson.loads(finish["response_body"])
    (record,) = got  # the curl request only: the dry run itself sent nothing
    assert record["replay_of"] == finish["request_id"] and record["user_id"] == "dev-1"


def test_replay_reads_es_with_the_dashboards_filters(game_session: GameSession) -> None:
    """--user, --route and --since select from Elasticsearch: only /home is replayed."""
    with target_topic(game_session) as target:
        with running_server(
            game_server_command(), pipeline_env(target), game_session.logs / "es.log"
        ) as url:
            result = reqtrail(
                "replay", "--user", PLAYER, "--route", "/home", "--since", "2h", "--target", url,
                "--pace", "20/s", env=game_session.env(),
            )  # fmt: skip
        got = received(target)
    assert result.returncode == 0, result.stdout + result.stderr
    homes = [r["request_id"] for r in game_session.records if r["path"] == "/home"]
    assert [r["replay_of"] for r in got] == homes


def test_as_user_sends_as_the_dev_player(game_session: GameSession) -> None:
    """--as-user records the replay under the dev player; the body naming the player diverges."""
    with target_topic(game_session) as target:
        with running_server(
            game_server_command(), pipeline_env(target), game_session.logs / "as.log"
        ) as url:
            result = reqtrail(
                "replay", str(game_session.export), "--target", url, "--as-user", "dev-42",
                "--route", "/home", env=game_session.env(),
            )  # fmt: skip
        got = received(target)
    assert {r["user_id"] for r in got} == {"dev-42"} and len(got) == 2
    assert result.returncode == 1 and "$.player: 'player-r19' -> 'dev-42'" in result.stdout


def test_bad_sources_and_unreachable_targets_exit_2(game_session: GameSession) -> None:
    """A target nobody listens on, a wrong format_version and an empty selection: exit 2."""
    export = str(game_session.export)
    down = reqtrail("replay", export, "--target", "http://127.0.0.1:9", env=game_session.env())
    assert down.returncode == 2 and "target http://127.0.0.1:9 is unreachable" in down.stderr
    bad = game_session.logs / "future.json"
    bad.write_bytes(
        game_session.export.read_bytes().replace(b'"format_version":1', b'"format_version":2')
    )
    refused = reqtrail("replay", str(bad), "--target", "http://127.0.0.1:9", env=game_session.env())
    assert refused.returncode == 2 and "format_version 2 is not supported" in refused.stderr
    assert refused.stderr.strip().count("\n") == 0
    empty = reqtrail("replay", export, "--route", "/nowhere", env=game_session.env())
    assert empty.returncode == 2 and "nothing to replay" in empty.stderr
