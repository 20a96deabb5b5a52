"""Helpers of the replay tests: game servers as real processes, the indexer, the CLI."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import httpx

from reqtrail.services.ports import free_ports
from reqtrail.settings import Settings

ROOT = Path(__file__).resolve().parents[2]


def pipeline_env(settings: Settings, topic: str | None = None) -> dict[str, str]:
    """The REQTRAIL_* environment that sends a server's records where ``settings`` say."""
    return {
        "REQTRAIL_KAFKA_BOOTSTRAP": settings.kafka_bootstrap,
        "REQTRAIL_ES_URL": settings.es_url,
        "REQTRAIL_TOPIC": topic or settings.topic,
        "REQTRAIL_INDEX_PREFIX": settings.index_prefix,
        "REQTRAIL_KAFKA_LINGER_MS": "5",
    }


@contextmanager
def running_server(
    command: list[str], env: Mapping[str, str], log: Path, timeout_s: float = 30.0
) -> Iterator[str]:
    """Start ``command`` (given ``{port}``) on a free port; yield its URL; stop it (flushing).

    SIGTERM lets uvicorn run the lifespan shutdown, where the middleware flushes its
    records to Kafka.
    """
    (port,) = free_ports(1)
    url = f"http://127.0.0.1:{port}"
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("wb") as out:
        process = subprocess.Popen(
            [part.replace("{port}", str(port)) for part in command],
            cwd=ROOT,
            env={**os.environ, **env},
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            deadline = time.monotonic() + timeout_s
            while True:
                try:
                    if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if process.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(f"server did not start: {log.read_text()[-2000:]}")
                time.sleep(0.2)
            yield url
        finally:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
                try:
                    process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)
                    process.wait()


def game_server_command() -> list[str]:
    """The deterministic test game server under uvicorn."""
    return [
        sys.executable, "-m", "uvicorn", "tests.replay.game_server:create_app", "--factory",
        "--host", "127.0.0.1", "--port", "{port}", "--log-level", "warning",
    ]  # fmt: skip


def demo_server_command() -> list[str]:
    """The demo game server, as `reqtrail demo-server` runs it."""
    return [sys.executable, "-m", "reqtrail.cli", "demo-server", "--port", "{port}"]


def reqtrail(
    *args: str, env: Mapping[str, str], cwd: Path | None = None, timeout: float = 180
) -> subprocess.CompletedProcess[str]:
    """Run the ``reqtrail`` command line as a user would."""
    return subprocess.run(
        [sys.executable, "-m", "reqtrail.cli", *args],
        env={**os.environ, **env},
        cwd=cwd or ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
