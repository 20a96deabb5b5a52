"""The chained signal handler and the exit hooks (unit tests; servers: test_server_shutdown)."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path
from types import FrameType
from typing import Any

import pytest

import reqtrail.producers.shutdown as shutdown
from reqtrail.producers.shutdown import ChainedHandler
from reqtrail.services.ports import free_ports

ROOT = Path(__file__).resolve().parents[2]


def test_a_servers_own_handler_is_called_and_nothing_is_stopped_yet(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Before a server's graceful handler nothing is drained: its shutdown still serves."""
    stopped: list[str] = []
    monkeypatch.setattr(shutdown, "stop_all", stopped.append)
    calls: list[int] = []

    def server_handler(signum: int, frame: FrameType | None) -> None:
        calls.append(signum)

    ChainedHandler(signal.SIGTERM, server_handler)(signal.SIGTERM, None)
    assert calls == [signal.SIGTERM] and stopped == []


def test_an_ignored_signal_stays_ignored(monkeypatch: pytest.MonkeyPatch) -> None:
    """SIG_IGN before reqtrail: the signal still does nothing at all."""
    stopped: list[str] = []
    monkeypatch.setattr(shutdown, "stop_all", stopped.append)
    ChainedHandler(signal.SIGTERM, signal.SIG_IGN)(signal.SIGTERM, None)
    assert stopped == []


def test_installing_twice_keeps_one_handler() -> None:
    """A second sink or middleware does not wrap reqtrail's handler again."""
    previous = {s: signal.getsignal(s) for s in shutdown.HANDLED_SIGNALS}
    try:
        assert shutdown.install_signal_handlers()
        first = signal.getsignal(signal.SIGTERM)
        assert shutdown.install_signal_handlers()
        assert signal.getsignal(signal.SIGTERM) is first
        assert isinstance(first, ChainedHandler)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


SCRIPT = """
import os, signal, orjson
from reqtrail.producers.sink import KafkaSink
from reqtrail.settings import load_settings
settings = load_settings(environ={}).replace(
    kafka_bootstrap="127.0.0.1:%d", topic="t", spill_path=%r, shutdown_timeout_s=0.5
)
sink = KafkaSink(settings)
for i in range(601):
    sink.put(orjson.dumps({"request_id": f"r-{i}"}), None)
os.kill(os.getpid(), signal.SIGTERM)
"""


def test_sigterm_with_the_default_handler_spills_then_ends_by_the_signal(tmp_path: Path) -> None:
    """A plain process killed by SIGTERM: every queued record is spilled, one summary line,
    and the exit status is still 'killed by SIGTERM'."""
    (port,) = free_ports(1)
    spill = tmp_path / "spill.ndjson"
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT % (port, str(spill))],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == -signal.SIGTERM, done.stderr
    assert len(spill.read_bytes().splitlines()) == 601
    summary: list[Any] = [line for line in done.stderr.splitlines() if "produced" in line]
    assert summary == [
        f"reqtrail: stopped by SIGTERM: produced 601, delivered 0, dropped 601 "
        f"(shutdown 601), spilled 601 to {spill}"
    ], done.stderr
