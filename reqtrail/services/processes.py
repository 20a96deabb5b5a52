"""Detached service processes: spawn, pid files, liveness, stop, kill, run as a user.

Each service runs in its own session, so its pid is also its process group id and a signal
to the group reaches every process it forked (Elasticsearch's launcher and its server
JVM).  The pid file stores the pid and the process start time (``/proc/<pid>/stat``
field 22), so a recycled pid is never mistaken for our service.
"""

from __future__ import annotations

import contextlib
import json
import os
import pwd
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from reqtrail.services.errors import ServiceError

PROC = Path("/proc")


@dataclass(frozen=True)
class ProcessRecord:
    """What a pid file says: the process (group) id and when that process started."""

    pid: int
    start_ticks: int

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"pid": self.pid, "start_ticks": self.start_ticks}) + "\n")
        tmp.replace(path)

    @classmethod
    def load(cls, path: Path) -> ProcessRecord | None:
        try:
            data = json.loads(path.read_text())
            return cls(int(data["pid"]), int(data["start_ticks"]))
        except (OSError, ValueError, KeyError, TypeError):
            return None


def fields_after_comm(text: str) -> list[str]:
    """The fields of a /proc/<pid>/stat line after ``(comm)``, which may contain spaces:
    index 0 is the state (stat field 3)."""
    return text[text.rindex(")") + 2 :].split()


def parse_stat(text: str) -> tuple[str, int, int]:
    """(state, process group, start time in clock ticks) from a /proc/<pid>/stat line."""
    after_comm = fields_after_comm(text)
    return after_comm[0], int(after_comm[2]), int(after_comm[19])


def read_stat(pid: int) -> tuple[str, int, int] | None:
    try:
        return parse_stat((PROC / str(pid) / "stat").read_text())
    except (OSError, ValueError, IndexError):
        return None


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds used so far by every thread of ``pid`` (None: no such pid)."""
    try:
        after_comm = fields_after_comm((PROC / str(pid) / "stat").read_text())
        return (int(after_comm[11]) + int(after_comm[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def start_ticks(pid: int) -> int:
    stat = read_stat(pid)
    return stat[2] if stat else 0


def has_live_thread(pid: int) -> bool:
    """True while any thread of ``pid`` is not yet a zombie.

    When a multi-threaded process (a JVM) is killed, its main thread can show ``Z`` while
    other threads are still exiting and still hold the process's sockets open.
    """
    try:
        tasks = list((PROC / str(pid) / "task").iterdir())
    except OSError:
        return False
    for task in tasks:
        with contextlib.suppress(OSError, ValueError, IndexError):
            if parse_stat((task / "stat").read_text())[0] not in ("Z", "X"):
                return True
    return False


def group_members(pgid: int) -> list[int]:
    """Processes of group ``pgid`` that still have a live (non-zombie) thread."""
    members = []
    for entry in PROC.iterdir():
        if entry.name.isdigit():
            stat = read_stat(int(entry.name))
            if stat and stat[1] == pgid and (stat[0] != "Z" or has_live_thread(int(entry.name))):
                members.append(int(entry.name))
    return members


def record_alive(record: ProcessRecord) -> bool:
    """True while the recorded process group has a live member and was not recycled."""
    leader = read_stat(record.pid)
    if leader is not None and leader[2] != record.start_ticks:
        return False  # the pid now belongs to another process
    return bool(group_members(record.pid))


def signal_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def wait_group_gone(pgid: int, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not group_members(pgid):
            return True
        time.sleep(0.2)
    return not group_members(pgid)


def stop_group(pgid: int, timeout_s: float) -> bool:
    """SIGTERM the group, wait up to ``timeout_s``, then SIGKILL. True if it was graceful."""
    signal_group(pgid, signal.SIGTERM)
    if wait_group_gone(pgid, timeout_s):
        return True
    kill_group(pgid)
    return False


def kill_group(pgid: int) -> None:
    """SIGKILL the whole group and wait (briefly) until nothing of it is left."""
    signal_group(pgid, signal.SIGKILL)
    if not wait_group_gone(pgid, 10.0):
        raise ServiceError(f"processes of group {pgid} survived SIGKILL: {group_members(pgid)}")


def spawn(
    command: list[str], env: dict[str, str], cwd: Path, console_log: Path
) -> subprocess.Popen[bytes]:
    """Start ``command`` detached (own session), stdout+stderr appended to ``console_log``."""
    console_log.parent.mkdir(parents=True, exist_ok=True)
    with console_log.open("ab") as out:
        out.write(f"--- {time.strftime('%Y-%m-%d %H:%M:%S')} {' '.join(command)}\n".encode())
        out.flush()
        try:
            return subprocess.Popen(
                command,
                env=env,
                cwd=cwd,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        except OSError as exc:
            raise ServiceError(f"cannot run {command[0]}: {exc}") from None


def is_root() -> bool:
    return os.geteuid() == 0


def ensure_service_user(name: str) -> None:
    """Create the unprivileged system user ``name`` when it is missing (root only)."""
    try:
        pwd.getpwnam(name)
        return
    except KeyError:
        pass
    useradd = shutil.which("useradd")
    if useradd is None:
        raise ServiceError(f"user {name!r} is missing and useradd is not available; create it")
    proc = subprocess.run(
        [useradd, "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", name],
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0 and proc.returncode != 9:  # 9: already exists (a race)
        raise ServiceError(f"cannot create user {name!r}: {proc.stderr.strip()}")


def chown_to_user(user: str, *paths: Path) -> None:
    """Give ``paths`` (not recursively) to ``user``; a no-op unless we are root."""
    if not is_root():
        return
    entry = pwd.getpwnam(user)
    for path in paths:
        os.chown(path, entry.pw_uid, entry.pw_gid)


def as_user_prefix(user: str) -> list[str]:
    """Command prefix that runs the rest as ``user`` when we are root, else nothing."""
    if not is_root():
        return []
    setpriv = shutil.which("setpriv")
    if setpriv:
        return [setpriv, f"--reuid={user}", f"--regid={user}", "--init-groups", "--"]
    runuser = shutil.which("runuser")
    if runuser:
        return [runuser, "-u", user, "--"]
    raise ServiceError("running as root needs setpriv or runuser (util-linux) to drop privileges")


def tail(path: Path, lines: int) -> list[str]:
    """The last ``lines`` lines of a text file (empty when it does not exist)."""
    try:
        with path.open("rb") as handle:
            handle.seek(0, os.SEEK_END)
            size = handle.tell()
            handle.seek(max(0, size - 64 * 1024 - lines * 200))
            data = handle.read()
    except OSError:
        return []
    return data.decode(errors="replace").splitlines()[-lines:]
