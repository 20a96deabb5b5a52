"""`reqtrail services up|status|logs|down` on a stack of its own (free ports, own state dir)."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from reqtrail.services import LocalStack
from reqtrail.services.ports import free_ports, port_is_free
from reqtrail.settings import load_settings
from tests.reqtrail.service_helpers import (
    create_topic_partitions,
    doc_is_there,
    index_one_doc,
    processes_mentioning,
)


@dataclass
class CliStack:
    env: dict[str, str]
    state_dir: Path
    es_url: str
    bootstrap: str
    cwd: Path

    def run(self, *args: str, timeout: float = 240) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "reqtrail.cli", "services", *args],
            env=self.env,
            cwd=self.cwd,
            capture_output=True,
            text=True,
            timeout=timeout,
        )


def stack_ports() -> tuple[int, int, int, int]:
    """Free ES HTTP, Kafka broker, ES transport and Kafka controller ports (the last two
    configured, not derived)."""
    http, kafka, transport, controller = free_ports(4)
    return http, kafka, transport, controller


@pytest.fixture
def cli_stack(tmp_path: Path) -> Iterator[CliStack]:
    base = load_settings()
    state_dir = Path(base.state_dir) / "dedicated" / f"cli-{uuid.uuid4().hex[:8]}"
    http, kafka, transport, controller = stack_ports()
    env = {k: v for k, v in os.environ.items() if not k.startswith("REQTRAIL_")}
    env.update(
        REQTRAIL_STATE_DIR=str(state_dir),
        REQTRAIL_DOWNLOAD_DIR=base.download_dir or str(Path(base.state_dir) / "downloads"),
        REQTRAIL_ES_URL=f"http://127.0.0.1:{http}",
        REQTRAIL_KAFKA_BOOTSTRAP=f"127.0.0.1:{kafka}",
        REQTRAIL_ES_TRANSPORT_PORT=str(transport),
        REQTRAIL_KAFKA_CONTROLLER_PORT=str(controller),
        REQTRAIL_ES_HEAP="512m",
        REQTRAIL_KAFKA_HEAP="384m",
    )
    stack = CliStack(
        env, state_dir, env["REQTRAIL_ES_URL"], env["REQTRAIL_KAFKA_BOOTSTRAP"], tmp_path
    )
    try:
        yield stack
    finally:
        settings = load_settings(environ=env)
        for service in LocalStack(settings, report=lambda _m: None).services:
            service.kill()
        shutil.rmtree(state_dir, ignore_errors=True)


def status_rows(stack: CliStack) -> tuple[int, dict[str, list[str]]]:
    proc = stack.run("status")
    rows = {line.split()[0]: line.split() for line in proc.stdout.splitlines()[1:]}
    return proc.returncode, rows


@pytest.mark.integration
@pytest.mark.slow
def test_up_status_kill_restart_down(cli_stack: CliStack) -> None:
    """Up prints its time and binds the configured transport and controller ports, up again
    is a no-op, status shows ES 9.x and Kafka healthy, a 6-partition topic can be made, a
    killed ES shows in status and comes back with its data on the next up, and down leaves
    no process behind."""
    first = cli_stack.run("up")
    assert first.returncode == 0, first.stderr
    assert "both healthy" in first.stdout and " s after `services up` began" in first.stdout

    for setting in ("REQTRAIL_ES_TRANSPORT_PORT", "REQTRAIL_KAFKA_CONTROLLER_PORT"):
        assert not port_is_free(int(cli_stack.env[setting])), f"nothing listens on {setting}"

    again = cli_stack.run("up")
    assert again.returncode == 0 and "already running, nothing to do" in again.stderr
    assert "starting" not in again.stderr

    code, rows = status_rows(cli_stack)
    assert code == 0
    es_row, kafka_row = rows["elasticsearch"], rows["kafka"]
    assert es_row[1] == cli_stack.es_url and es_row[3] == "healthy" and es_row[4].startswith("9.")
    assert kafka_row[1] == cli_stack.bootstrap and kafka_row[3] == "healthy"

    assert create_topic_partitions(cli_stack.bootstrap, "six-partitions", 6) == 6
    index_one_doc(cli_stack.es_url, "kept-across-kill")

    os.kill(int(es_row[2]), signal.SIGKILL)  # the server JVM, as one would by hand
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        code, rows = status_rows(cli_stack)
        if rows["elasticsearch"][3] == "DOWN":
            break
        time.sleep(0.5)
    assert code == 1 and rows["elasticsearch"][3] == "DOWN", rows
    assert "gone" in " ".join(rows["elasticsearch"]) and rows["kafka"][3] == "healthy"

    restart = cli_stack.run("up")
    assert restart.returncode == 0, restart.stderr
    assert "starting elasticsearch" in restart.stderr and "starting kafka" not in restart.stderr
    assert doc_is_there(cli_stack.es_url, "kept-across-kill")

    logs = cli_stack.run("logs", "kafka", "-n", "5")
    assert logs.returncode == 0 and "server.log" in logs.stdout

    down = cli_stack.run("down")
    assert down.returncode == 0 and "stopped: kafka, elasticsearch" in down.stdout
    assert processes_mentioning(cli_stack.state_dir) == []
    assert cli_stack.run("down").stdout.strip() == "nothing was running"


@pytest.mark.integration
def test_up_refuses_a_port_held_by_another_process(cli_stack: CliStack) -> None:
    """A foreign listener on the ES port fails `up` with one line and starts nothing."""
    port = int(cli_stack.es_url.rsplit(":", 1)[1])
    with socket.socket() as foreign:
        foreign.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        foreign.bind(("127.0.0.1", port))
        foreign.listen(1)
        proc = cli_stack.run("up")
    assert proc.returncode == 1
    errors = [line for line in proc.stderr.splitlines() if line.startswith("reqtrail services:")]
    assert len(errors) == 1 and f"port {port} (elasticsearch http)" in errors[0]
    assert f"pid {os.getpid()}" in errors[0]
    assert processes_mentioning(cli_stack.state_dir) == []


def clashing_ports() -> tuple[int, int]:
    """An ES HTTP port whose derived transport port (+100) is a free Kafka port."""
    for _ in range(50):
        (kafka,) = free_ports(1)
        if kafka > 1124 and all(port_is_free(p) for p in (kafka - 100, kafka + 1)):
            return kafka - 100, kafka
    raise RuntimeError("no free ports for the clash")


@pytest.mark.integration
def test_up_refuses_ports_that_clash_before_starting_anything(tmp_path: Path) -> None:
    """ES's derived transport port equal to Kafka's port fails `up` within seconds with one
    line naming both users, and nothing is downloaded, written or started."""
    http, kafka = clashing_ports()
    state_dir = tmp_path / "state"
    env = {k: v for k, v in os.environ.items() if not k.startswith("REQTRAIL_")}
    env.update(
        REQTRAIL_STATE_DIR=str(state_dir),
        REQTRAIL_DOWNLOAD_DIR=str(tmp_path / "downloads"),
        REQTRAIL_ES_URL=f"http://127.0.0.1:{http}",
        REQTRAIL_KAFKA_BOOTSTRAP=f"127.0.0.1:{kafka}",
    )
    stack = CliStack(
        env, state_dir, env["REQTRAIL_ES_URL"], env["REQTRAIL_KAFKA_BOOTSTRAP"], tmp_path
    )
    began = time.monotonic()
    proc = stack.run("up", timeout=60)
    took = time.monotonic() - began
    assert proc.returncode == 1
    assert proc.stderr.splitlines() == [
        f"reqtrail services: port {kafka} is wanted by both "
        "elasticsearch (transport = HTTP port + 100, REQTRAIL_ES_TRANSPORT_PORT) and "
        "kafka (broker, REQTRAIL_KAFKA_BOOTSTRAP); give one of them another port"
    ]
    assert took < 20, f"`services up` took {took:.1f} s to refuse"
    assert not state_dir.exists() and not (tmp_path / "downloads").exists()
    assert processes_mentioning(state_dir) == []
