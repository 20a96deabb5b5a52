"""Pid files, process groups and port checks behave as `services up/down/status` need."""

from __future__ import annotations

import os
import socket
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from reqtrail.services import processes
from reqtrail.services.errors import ServiceError
from reqtrail.services.ports import (
    ensure_ports_free,
    free_ports,
    listening_pid,
    parse_listening_inodes,
    port_is_free,
)

# A parent that forks a child and both sleep: like Elasticsearch's launcher and server.
PARENT_AND_CHILD = "import subprocess, time; subprocess.Popen(['sleep', '60']); time.sleep(60)"

# The main thread exits (so /proc/<pid>/stat says Z) while another thread still holds a
# listening socket: what a killed JVM looks like for a moment.
ZOMBIE_LEADER = """
import ctypes, socket, sys, threading, time
sock = socket.socket()
sock.bind(("127.0.0.1", int(sys.argv[1])))
sock.listen(1)
threading.Thread(target=time.sleep, args=(60,)).start()
ctypes.CDLL(None).pthread_exit(None)
"""


@pytest.fixture
def listener() -> Iterator[int]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(1)
    try:
        yield int(sock.getsockname()[1])
    finally:
        sock.close()


def test_port_check_sees_a_listener(listener: int) -> None:
    """A port somebody listens on is not free; a fresh free port is."""
    assert not port_is_free(listener)
    assert all(port_is_free(port) for port in free_ports(2))


def test_taken_port_error_names_the_owner(listener: int) -> None:
    """The error is one line with the port, the service, the owning pid and a way out."""
    with pytest.raises(ServiceError) as info:
        ensure_ports_free({"http": listener}, "elasticsearch", "choose another port")
    message = str(info.value)
    assert "\n" not in message
    assert f"port {listener} (elasticsearch http)" in message
    assert f"pid {os.getpid()} (" in message and "choose another port" in message


def test_listening_pid_finds_the_listener(listener: int) -> None:
    """The process listening on a port is found by pid; a free port has none."""
    assert listening_pid(listener) == os.getpid()
    assert listening_pid(free_ports(1)[0]) is None


def test_listening_inodes_come_from_the_proc_table() -> None:
    """Only LISTEN rows (state 0A) on the asked port count."""
    table = (
        "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid"
        "  timeout inode\n"
        "   0: 0100007F:23F0 00000000:0000 0A 00000000:00000000 00:00000000 00000000  0"
        "        0 111 1 0 100 0 0 10 0\n"
        "   1: 0100007F:23F0 0100007F:C350 01 00000000:00000000 00:00000000 00000000  0"
        "        0 222 1 0 100 0 0 10 0\n"
    )
    assert parse_listening_inodes(table, 0x23F0) == {"111"}
    assert parse_listening_inodes(table, 9300) == set()


def test_stat_line_parsing_handles_spaces_in_the_name() -> None:
    """State, process group and start time are read after the (comm) field."""
    fields = ["S", "1", "77", "77"] + ["0"] * 15 + ["123456"]
    line = "42 (java main) " + " ".join(fields) + " 0 0"
    assert processes.parse_stat(line) == ("S", 77, 123456)


def test_stop_group_ends_the_parent_and_its_children(tmp_path: Path) -> None:
    """Stopping a service's group leaves none of its processes behind."""
    proc = processes.spawn(
        [sys.executable, "-c", PARENT_AND_CHILD], dict(os.environ), tmp_path, tmp_path / "c.log"
    )
    record = processes.ProcessRecord(proc.pid, processes.start_ticks(proc.pid))
    record.save(tmp_path / "run" / "x.pid")
    assert processes.ProcessRecord.load(tmp_path / "run" / "x.pid") == record
    deadline_members: list[int] = []
    for _ in range(50):
        deadline_members = processes.group_members(proc.pid)
        if len(deadline_members) == 2:
            break
        time.sleep(0.1)
    assert len(deadline_members) == 2 and processes.record_alive(record)
    assert processes.stop_group(proc.pid, timeout_s=10) is True
    proc.wait(timeout=5)
    assert processes.group_members(proc.pid) == [] and not processes.record_alive(record)


def test_a_process_whose_main_thread_exited_is_alive_while_a_thread_runs(tmp_path: Path) -> None:
    """A leader in state Z with a live thread still holds its ports: it is not gone yet."""
    port = free_ports(1)[0]
    proc = processes.spawn(
        [sys.executable, "-c", ZOMBIE_LEADER, str(port)],
        dict(os.environ),
        tmp_path,
        tmp_path / "c.log",
    )
    try:
        for _ in range(100):
            stat = processes.read_stat(proc.pid)
            if stat is not None and stat[0] == "Z":
                break
            time.sleep(0.05)
        assert stat is not None and stat[0] == "Z", "the main thread did not exit"
        assert not port_is_free(port)
        assert processes.group_members(proc.pid) == [proc.pid]
        processes.kill_group(proc.pid)
        assert processes.group_members(proc.pid) == [] and port_is_free(port)
    finally:
        proc.kill()
        proc.wait(timeout=10)


def test_a_recycled_pid_is_not_our_service(tmp_path: Path) -> None:
    """A pid file whose start time does not match the live process counts as stale."""
    me = processes.ProcessRecord(os.getpid(), processes.start_ticks(os.getpid()) + 1)
    assert not processes.record_alive(me)
    assert processes.ProcessRecord.load(tmp_path / "missing.pid") is None
