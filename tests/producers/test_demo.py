"""The demo game server and its locust players."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest
from starlette.testclient import TestClient

import reqtrail.demo_server.app as demo
from reqtrail.consumers.setup import ensure_topics
from reqtrail.schemas import is_valid, record_errors
from reqtrail.settings import Settings, load_settings
from tests.producers.helpers import memory_pipeline, read_topic

REPO = Path(__file__).resolve().parents[2]
PLAYER = {"x-user-id": "player-00042", "x-platform": "ios", "x-client-version": "3.2.1"}


@pytest.fixture
def fast_demo(monkeypatch: pytest.MonkeyPatch) -> None:
    """No simulated delays."""
    monkeypatch.setattr(demo, "TIME_SCALE", 0.0)


def test_every_demo_endpoint_answers_and_is_recorded(
    fast_demo: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Login, home, gacha, battle start/finish, upgrade, shop: 200 and one valid record each."""
    monkeypatch.setitem(demo.CRASH_CHANCE, "old", 0.0)
    pipeline, sink = memory_pipeline(demo.demo_settings(load_settings(environ={})))
    client = TestClient(demo.create_app(pipeline))
    calls = [
        ("POST", "/login", {"user_id": "player-00042", "password": "pw"}),
        ("GET", "/home", None),
        ("POST", "/gacha/draw", {"banner_id": "standard", "count": 10}),
        ("POST", "/battles/start", {"stage_id": "1-1", "party": ["u-0001"]}),
        ("POST", "/battles/b-1/finish", {"stage_id": "1-1", "result": "win"}),
        ("POST", "/units/u-0001/upgrade", {"materials": [{"item": "exp", "count": 2}]}),
        ("POST", "/shop/purchase", {"product_id": "gems-60", "receipt": "r"}),
    ]
    for method, path, body in calls:
        answer = client.request(method, path, json=body, headers=PLAYER)
        assert answer.status_code == 200, (path, answer.text)
    records = sink.records
    assert [r["route"] for r in records] == [
        "/login",
        "/home",
        "/gacha/draw",
        "/battles/start",
        "/battles/{battle_id}/finish",
        "/units/{unit_id}/upgrade",
        "/shop/purchase",
    ]
    for record in records:
        assert record_errors(record) is None
        assert record["user_id"] == "player-00042" and record["service"] == "demo-game"
        assert record["app_version"] == demo.DEFAULT_APP_VERSION and record["platform"] == "ios"
    assert len(records[2]["response_body"]) > 200  # ten gacha results
    assert '"password":"[REDACTED]"' in records[0]["request_body"]
    assert '"session_token":"[REDACTED]"' in records[0]["response_body"]


def test_app_version_header_selects_the_release_and_its_bugs(
    fast_demo: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """X-App-Version names the release in the record; the new release has the crash."""
    monkeypatch.setitem(demo.CRASH_CHANCE, "new", 1.0)
    monkeypatch.setitem(demo.CRASH_CHANCE, "old", 0.0)
    pipeline, sink = memory_pipeline(demo.demo_settings(load_settings(environ={})))
    client = TestClient(demo.create_app(pipeline), raise_server_exceptions=False)
    body = {"stage_id": "2-3", "result": "win"}
    old = client.post("/battles/b-1/finish", json=body, headers={"x-app-version": "1.4.2"})
    new = client.post("/battles/b-2/finish", json=body, headers={"x-app-version": "1.5.0"})
    assert (old.status_code, new.status_code) == (200, 500)
    first, second = sink.records
    assert (first["app_version"], second["app_version"]) == ("1.4.2", "1.5.0")
    assert second["error"]["type"].endswith("RewardCalculationError")


def test_a_regressed_release_has_the_gate_demos_two_regressions(
    fast_demo: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Served as a release in REQTRAIL_DEMO_REGRESSED_RELEASES: slower battle starts, and a
    500 for upgrades with more than 15 materials; other releases unchanged."""
    monkeypatch.setattr(demo, "REGRESSED_RELEASES", frozenset({"1.4.3"}))
    pipeline, sink = memory_pipeline(demo.demo_settings(load_settings(environ={})))
    client = TestClient(demo.create_app(pipeline), raise_server_exceptions=False)
    many = {"materials": [{"item": "exp", "count": 16}]}
    few = {"materials": [{"item": "exp", "count": 15}]}
    monkeypatch.setattr(demo.random, "random", lambda: 0.5)  # no slow inventory recount
    for version, expected in (("1.4.2", [200, 200]), ("1.4.3", [500, 200])):
        answers = [
            client.post("/units/u-1/upgrade", json=body, headers={"x-app-version": version})
            for body in (many, few)
        ]
        assert [a.status_code for a in answers] == expected, version
    crash = next(r for r in sink.records if r["status"] == 500)
    assert crash["error"]["type"].endswith("MaterialOverflowError")
    monkeypatch.setattr(demo.random, "uniform", lambda low, high: high)
    paused: list[float] = []  # the simulated work each battle start asks for, in seconds

    async def pause(seconds: float) -> None:
        paused.append(seconds)

    monkeypatch.setattr(demo, "pause", pause)
    starts = [
        client.post("/battles/start", json={}, headers={"x-app-version": version})
        for version in ("1.4.2", "1.4.3")
    ]
    assert [a.status_code for a in starts] == [200, 200]
    assert paused == pytest.approx([0.02, 0.03])  # 50 % slower in the regressed release


def test_health_and_stats_are_served_but_not_logged(fast_demo: None) -> None:
    """/health and /_reqtrail/stats answer without making records; stats count the others."""
    pipeline, sink = memory_pipeline(demo.demo_settings(load_settings(environ={})))
    client = TestClient(demo.create_app(pipeline))
    client.get("/home", headers=PLAYER)
    assert client.get("/health").json() == {"ok": True}
    assert client.get(demo.STATS_PATH).json()["sampled_out"] == 0
    assert [r["route"] for r in sink.records] == ["/home"]


def test_locustfile_path_is_exported_without_importing_locust() -> None:
    """reqtrail.demo_server.LOCUSTFILE names the locustfile (for `locust -f`)."""
    from reqtrail.demo_server import LOCUSTFILE

    assert LOCUSTFILE.name == "locustfile.py" and LOCUSTFILE.is_file()


def test_locustfile_parses_release_weights() -> None:
    """REQTRAIL_DEMO_APP_VERSIONS is 'version:weight,...'; a missing weight means 1."""
    code = (
        "from reqtrail.demo_server.locustfile import parse_versions as p;"
        "print(p('1.4.2:0.7, 1.5.0:0.3'), p('2.0.0'))"
    )
    out = subprocess.run(  # locust monkey-patches with gevent: keep it out of pytest's process
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, check=True
    ).stdout
    assert out.strip() == "[('1.4.2', 0.7), ('1.5.0', 0.3)] [('2.0.0', 1.0)]"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.integration
@pytest.mark.slow
def test_locust_players_drive_the_demo_server_into_kafka(settings: Settings) -> None:
    """A short headless locust run against uvicorn puts valid records of many players on Kafka."""
    ensure_topics(settings)
    port = free_port()
    env = {
        **os.environ,
        "REQTRAIL_KAFKA_BOOTSTRAP": settings.kafka_bootstrap,
        "REQTRAIL_TOPIC": settings.topic,
        "REQTRAIL_DEMO_TIME_SCALE": "0.2",
        "REQTRAIL_DEMO_PACE": "0.2",
        "REQTRAIL_DEMO_APP_VERSIONS": "1.4.2:1,1.5.0:1",  # both all but surely drawn
    }
    server = subprocess.Popen(
        [sys.executable, "-m", "reqtrail.cli", "demo-server", "--port", str(port)],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "demo server did not start"
            time.sleep(0.2)
        locust = subprocess.run(
            [
                sys.executable,
                "-m",
                "locust",
                "--headless",
                "-u",
                "12",
                "-r",
                "12",
                "--run-time",
                "5s",
                "--only-summary",
                "-f",
                "reqtrail/demo_server/locustfile.py",
                "--host",
                f"http://127.0.0.1:{port}",
            ],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert "Aggregated" in locust.stdout + locust.stderr, locust.stderr[-2000:]
    finally:
        server.terminate()  # uvicorn's shutdown flushes the pipeline
        server.wait(timeout=30)

    records = [record for _key, record in read_topic(settings)]
    assert all(is_valid(r) for r in records)
    played = [r for r in records if r["route"] != "/health"]  # our readiness probes
    assert len(played) >= 30
    assert len({r["user_id"] for r in played}) >= 10
    assert len({r["route"] for r in played}) >= 5
    versions = Counter(r["app_version"] for r in played)
    assert set(versions) == {"1.4.2", "1.5.0"}, versions
    assert {r["platform"] for r in played} <= {"ios", "android"}
