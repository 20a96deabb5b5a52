"""Integration: real uvicorn, gunicorn and Django servers get SIGTERM with records queued.

With Kafka down, every queued record is spilled and counted, and the server's log ends
with reqtrail's one summary line; with Kafka up, every one is on the topic.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest

from reqtrail.consumers.setup import ensure_topics
from reqtrail.services.ports import free_ports
from reqtrail.settings import Settings
from tests.producers.helpers import read_topic

pytestmark = [
    pytest.mark.integration,
    pytest.mark.slow,
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
]

ROOT = Path(__file__).resolve().parents[2]
REQUESTS = 300
SERVERS = {
    "uvicorn": ["-m", "uvicorn", "tests.producers.server_apps:asgi", "--port", "{port}"],
    "gunicorn-sync": [
        "-m", "gunicorn", "-w", "1", "--no-control-socket", "-b", "127.0.0.1:{port}",
        "tests.producers.server_apps:wsgi",
    ],
    "gunicorn-uvicorn-worker": [
        "-m", "gunicorn", "-w", "1", "--no-control-socket", "-k", "uvicorn_worker.UvicornWorker",
        "-b", "127.0.0.1:{port}", "tests.producers.server_apps:asgi",
    ],
    # Without --noreload, the middleware is built off the main thread: stop it with Ctrl-C.
    "django-runserver": [
        "-m", "django", "runserver", "--noreload", "127.0.0.1:{port}",
        "--settings", "tests.producers.django_site",
    ],
}  # fmt: skip


def serve(server: str, settings: Settings, spill: Path, log: Path) -> subprocess.Popen[bytes]:
    """Start ``server`` on a free port with reqtrail configured from the environment."""
    (port,) = free_ports(1)
    env = {
        **os.environ,
        "REQTRAIL_KAFKA_BOOTSTRAP": settings.kafka_bootstrap,
        "REQTRAIL_TOPIC": settings.topic,
        "REQTRAIL_SPILL_PATH": str(spill),
        "REQTRAIL_SHUTDOWN_TIMEOUT_S": "3",
        "REQTRAIL_KAFKA_LINGER_MS": "200",
    }
    args = [a.format(port=port) for a in SERVERS[server]]
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, *args], cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT
        )
    proc.port = port  # type: ignore[attr-defined]
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            httpx.get(f"http://127.0.0.1:{port}/inventory", headers={"x-request-id": "warmup"})
            return proc
        except httpx.TransportError:
            assert proc.poll() is None, log.read_text()
            time.sleep(0.1)
    proc.kill()
    raise AssertionError(f"{server} did not answer within 30 s:\n{log.read_text()}")


def play(proc: subprocess.Popen[bytes], prefix: str) -> list[str]:
    """REQUESTS upgrade requests, each with its own request ID."""
    ids = [f"{prefix}-{i:04d}" for i in range(REQUESTS)]
    with httpx.Client(base_url=f"http://127.0.0.1:{proc.port}") as client:  # type: ignore[attr-defined]
        for i, rid in enumerate(ids):
            answer = client.post(
                f"/units/u-{i}/upgrade",
                json={"gold": 100},
                headers={"x-request-id": rid, "x-user-id": f"player-{i % 9}"},
            )
            assert answer.status_code == 200
    return ids


def terminate(proc: subprocess.Popen[bytes], log: Path) -> str:
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise AssertionError(f"the server did not stop within 30 s:\n{log.read_text()}") from None
    return log.read_text()


@pytest.mark.parametrize("server", list(SERVERS))
def test_sigterm_with_kafka_down_spills_and_counts_every_queued_record(
    server: str, settings: Settings, tmp_path: Path
) -> None:
    """Kafka unreachable: SIGTERM spills every record the server queued, and says so."""
    (dead_port,) = free_ports(1)
    down = settings.replace(kafka_bootstrap=f"127.0.0.1:{dead_port}")
    spill, log = tmp_path / "spill.ndjson", tmp_path / "server.log"
    proc = serve(server, down, spill, log)
    try:
        ids = play(proc, server)
    finally:
        output = terminate(proc, log)
    produced = REQUESTS + 1  # and the warm-up request
    spilled = spill.read_bytes().splitlines() if spill.exists() else []
    assert len(spilled) == produced, output[-3000:]
    summaries = re.findall(r"reqtrail: .*: produced \d+.*", output)
    assert len(summaries) == 1, output[-3000:]
    assert (
        f"produced {produced}, delivered 0, dropped {produced} (shutdown {produced}), "
        f"spilled {produced} to {spill}" in summaries[0]
    ), summaries
    assert set(ids) <= {
        line.split(b'"request_id":"')[1].split(b'"')[0].decode() for line in spilled
    }


@pytest.mark.parametrize("server", list(SERVERS))
def test_sigterm_with_kafka_up_delivers_every_queued_record(
    server: str, settings: Settings, tmp_path: Path
) -> None:
    """Kafka up: what the server still held at SIGTERM reaches the topic, each record once."""
    ensure_topics(settings)
    spill, log = tmp_path / "spill.ndjson", tmp_path / "server.log"
    proc = serve(server, settings, spill, log)
    try:
        ids = play(proc, server)
    finally:
        output = terminate(proc, log)
    on_topic = Counter(record["request_id"] for _key, record in read_topic(settings))
    assert set(on_topic) == {*ids, "warmup"}, output[-3000:]
    assert set(on_topic.values()) == {1}
    assert not spill.exists()
