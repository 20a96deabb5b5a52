"""Port checks for local services: do two of them want one port, is a port free, who holds
it, pick free ones.

``listening_pid`` and ``port_owner`` read ``/proc/net/tcp{,6}`` and the ``/proc/<pid>/fd``
links (Linux; as root they see every process, otherwise only the caller's own); elsewhere
they find nobody.
"""

from __future__ import annotations

import contextlib
import os
import random
import socket
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from reqtrail.services.errors import ServiceError

LOCALHOST = "127.0.0.1"
_TCP_LISTEN = "0A"


def port_is_free(port: int, host: str = LOCALHOST) -> bool:
    """True when a server could bind ``host:port`` now (as Java servers do, SO_REUSEADDR)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def ephemeral_port_range(path: Path = Path("/proc/sys/net/ipv4/ip_local_port_range")) -> range:
    """The ports the OS hands to outgoing connections (Linux default 32768-60999)."""
    try:
        low, high = (int(part) for part in path.read_text().split())
    except (OSError, ValueError):
        low, high = 32768, 60999
    return range(low, high + 1)


def free_ports(count: int, host: str = LOCALHOST) -> list[int]:
    """``count`` distinct ports that are free now, chosen outside the ephemeral range.

    A port the OS picked with ``bind(0)`` comes from the ephemeral range, and an outgoing
    connection may take it before the server we start binds it; ports below that range
    are only ever taken by servers.
    """
    ephemeral = ephemeral_port_range()
    low, high = (20000, ephemeral.start) if ephemeral.start > 21000 else (1024, ephemeral.start)
    if high - low < 100:  # an unusual range: fall back to ports above it
        low, high = ephemeral.stop, 65535
    rng = random.SystemRandom()
    chosen: list[int] = []
    for _ in range(5000):
        port = rng.randrange(low, high)
        if port not in chosen and port_is_free(port, host):
            chosen.append(port)
            if len(chosen) == count:
                return chosen
    raise OSError(f"no {count} free ports found between {low} and {high}")


def free_port_base(offsets: Iterable[int], host: str = LOCALHOST) -> int:
    """A port ``base`` such that ``base + offset`` is free for every offset (outside the
    ephemeral range, as ``free_ports``): room for a local cluster whose node ports follow
    the first one."""
    wanted = sorted(set(offsets))
    ephemeral = ephemeral_port_range()
    low, high = (20000, ephemeral.start) if ephemeral.start > 21000 else (1024, ephemeral.start)
    high -= wanted[-1]
    rng = random.SystemRandom()
    for _ in range(5000):
        base = rng.randrange(low, high)
        if all(port_is_free(base + offset, host) for offset in wanted):
            return base
    raise OSError(f"no free ports at offsets {wanted} of any base between {low} and {high}")


def listening_inodes(port: int, proc_net: Path = Path("/proc/net")) -> set[str]:
    """Socket inodes listening on ``port`` according to /proc/net/tcp and tcp6."""
    inodes: set[str] = set()
    for table in ("tcp", "tcp6"):
        with contextlib.suppress(OSError):
            inodes.update(parse_listening_inodes((proc_net / table).read_text(), port))
    return inodes


def parse_listening_inodes(table: str, port: int) -> set[str]:
    """Inodes of LISTEN sockets on ``port`` in the text of a /proc/net/tcp table."""
    inodes: set[str] = set()
    for line in table.splitlines()[1:]:
        cols = line.split()
        if len(cols) < 10:
            continue
        local, state, inode = cols[1], cols[3], cols[9]
        if state == _TCP_LISTEN and int(local.rsplit(":", 1)[1], 16) == port:
            inodes.add(inode)
    return inodes


def listening_pid(port: int) -> int | None:
    """The pid of the process listening on ``port`` (None: nobody, or not visible to us)."""
    inodes = listening_inodes(port)
    if inodes:
        targets = {f"socket:[{inode}]" for inode in inodes}
        for pid_dir in Path("/proc").iterdir():
            if not pid_dir.name.isdigit():
                continue
            with contextlib.suppress(OSError):
                for fd in (pid_dir / "fd").iterdir():
                    if os.readlink(fd) in targets:
                        return int(pid_dir.name)
    return None


def port_owner(port: int) -> str:
    """'pid 123 (java)' for the process listening on ``port``, or 'an unknown process'."""
    pid = listening_pid(port)
    if pid is not None:
        with contextlib.suppress(OSError):
            return f"pid {pid} ({(Path('/proc') / str(pid) / 'comm').read_text().strip()})"
    return "an unknown process"


def wait_ports_free(ports: dict[str, int], timeout_s: float) -> bool:
    """Wait until every port can be bound again (a killed server's sockets close late)."""
    deadline = time.monotonic() + timeout_s
    while not all(port_is_free(port) for port in ports.values()):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.1)
    return True


@dataclass(frozen=True)
class PortUse:
    """One port a local service binds: whose, what for, and the setting that chooses it."""

    service: str
    role: str  # "http", "transport", "broker", "controller"
    port: int
    setting: str  # e.g. "REQTRAIL_ES_TRANSPORT_PORT"
    derived_from: str = ""  # e.g. "HTTP port + 100": what it follows while the setting is unset

    def __str__(self) -> str:
        role = f"{self.role} = {self.derived_from}" if self.derived_from else self.role
        return f"{self.service} ({role}, {self.setting})"


def port_clashes(uses: Iterable[PortUse]) -> list[tuple[PortUse, PortUse]]:
    """Each later use of a port paired with its first use, in the order given."""
    first: dict[int, PortUse] = {}
    clashes: list[tuple[PortUse, PortUse]] = []
    for use in uses:
        if use.port in first:
            clashes.append((first[use.port], use))
        else:
            first[use.port] = use
    return clashes


def ensure_no_clash(uses: Iterable[PortUse]) -> None:
    """Raise a one-line ServiceError naming both users of the first port wanted twice."""
    clashes = port_clashes(uses)
    if clashes:
        first, second = clashes[0]
        more = f" (and {len(clashes) - 1} more ports)" if len(clashes) > 1 else ""
        raise ServiceError(
            f"port {first.port} is wanted by both {first} and {second}{more}; "
            "give one of them another port"
        )


def ensure_uses_free(uses: Iterable[PortUse]) -> None:
    """Raise a one-line ServiceError naming the first taken port, its owner and its setting."""
    for use in uses:
        ensure_ports_free(
            {use.role: use.port}, use.service, f"choose another port in {use.setting}"
        )


def ensure_ports_free(ports: dict[str, int], service: str, hint: str) -> None:
    """Raise a one-line ServiceError naming the first taken port and its owner."""
    for role, port in ports.items():
        if not port_is_free(port):
            raise ServiceError(
                f"port {port} ({service} {role}) is already in use by {port_owner(port)}, "
                f"not by a service reqtrail started; stop that process or {hint}"
            )
