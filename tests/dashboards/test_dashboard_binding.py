"""The dashboard is closed by default: loopback only, or a password, or an explicit opt-out."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from reqtrail.dashboards.cli import is_loopback
from reqtrail.screenshots import wait_until
from reqtrail.services.ports import free_ports

LISTEN = "0A"  # TCP state in /proc/net/tcp


def reqtrail_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "reqtrail.cli", *args]


def clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without dashboard settings, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("REQTRAIL_DASHBOARD_")}
    return {**env, **extra}


@pytest.mark.parametrize(
    ("args", "extra_env"),
    [
        (["--address", "0.0.0.0"], {}),
        ([], {"REQTRAIL_DASHBOARD_ADDRESS": "0.0.0.0"}),
        (["--address", "::"], {"REQTRAIL_DASHBOARD_PASSWORD": ""}),
    ],
)
def test_non_loopback_address_without_password_is_refused_in_one_line(
    args: list[str], extra_env: dict[str, str]
) -> None:
    """`reqtrail dashboard --address 0.0.0.0` with no password exits 2 with one line."""
    done = subprocess.run(
        reqtrail_command("dashboard", *args),
        env=clean_env(**extra_env),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert done.stdout == ""
    (line,) = done.stderr.splitlines()
    assert line.startswith("reqtrail dashboard: refusing to serve ")
    assert "REQTRAIL_DASHBOARD_PASSWORD" in line and "--insecure-no-auth" in line


def test_loopback_addresses_are_told_apart() -> None:
    """Loopback IPs and localhost are loopback; any-address and others are not."""
    assert all(map(is_loopback, ["127.0.0.1", "127.0.0.2", "::1", "localhost"]))
    assert not any(map(is_loopback, ["0.0.0.0", "::", "10.1.2.3", "", "no-such-host.invalid"]))


def listening_addresses(port: int) -> set[str]:
    """Local addresses (hex, as the kernel lists them) with a listening socket on ``port``."""
    found = set()
    for table in (Path("/proc/net/tcp"), Path("/proc/net/tcp6")):
        if not table.exists():
            continue
        for line in table.read_text().splitlines()[1:]:
            fields = line.split()
            address, _, hex_port = fields[1].partition(":")
            if fields[3] == LISTEN and int(hex_port, 16) == port:
                found.add(address)
    return found


def non_loopback_ip() -> str | None:
    """An address of this machine other than loopback (no packet is sent), if it has one."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))  # TEST-NET-1: only picks the outgoing interface
        except OSError:
            return None
        address = str(probe.getsockname()[0])
    return None if is_loopback(address) else address


@pytest.mark.skipif(not Path("/proc/net/tcp").exists(), reason="reads Linux's socket tables")
def test_dashboard_listens_only_on_loopback_by_default(tmp_path: Path) -> None:
    """A started `reqtrail dashboard` (no address, no password) listens on 127.0.0.1 alone."""
    (port,) = free_ports(1)
    log = (tmp_path / "dashboard.log").open("wb")
    process = subprocess.Popen(
        reqtrail_command("dashboard", "--port", str(port)),
        env=clean_env(),
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )

    def healthy() -> bool:
        try:
            url = f"http://127.0.0.1:{port}/_stcore/health"
            with urllib.request.urlopen(url, timeout=1) as answer:
                return bool(answer.status == 200)
        except OSError:
            return process.poll() is not None

    try:
        wait_until(healthy, 60, "the dashboard to answer on 127.0.0.1")
        assert process.poll() is None, (tmp_path / "dashboard.log").read_text()
        assert listening_addresses(port) == {"0100007F"}  # 127.0.0.1, nothing else
        other = non_loopback_ip()
        if other is not None:
            with pytest.raises(ConnectionRefusedError):
                socket.create_connection((other, port), timeout=5).close()
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=20)
        log.close()
