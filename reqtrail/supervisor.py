"""Start, watch and stop the child processes of `reqtrail demo`.

Each child runs in its own process group with its output in a log file, so stopping it
also stops anything it spawned (uvicorn workers, locust runners, streamlit). Stopping
sends SIGTERM, waits, then SIGKILL: nothing the supervisor started outlives it.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path


class ChildDiedError(RuntimeError):
    """A supervised process exited while it was expected to keep running."""


@dataclass
class Child:
    """One supervised process."""

    name: str
    argv: Sequence[str]
    log_path: Path
    env: Mapping[str, str] | None = None
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    def start(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("ab")
        try:
            self.process = subprocess.Popen(
                list(self.argv),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=dict(self.env) if self.env is not None else None,
                start_new_session=True,
            )
        finally:
            log.close()

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    def is_running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def log_tail(self, lines: int = 15) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def check_alive(self) -> None:
        if self.process is not None and self.process.poll() is not None:
            raise ChildDiedError(
                f"{self.name} exited with code {self.process.returncode}; "
                f"last lines of {self.log_path}:\n{self.log_tail()}"
            )

    def signal_group(self, sig: int) -> None:
        if self.process is None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, sig)

    def wait(self, timeout: float) -> bool:
        if self.process is None:
            return True
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return False
        return True

    def stop(self, timeout: float = 15.0) -> int | None:
        """SIGTERM the group, then SIGKILL after ``timeout``; returns the exit code."""
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.signal_group(signal.SIGTERM)
            if not self.wait(timeout):
                self.signal_group(signal.SIGKILL)
                self.wait(5.0)
        # Reap any stragglers left in the group (e.g. worker processes).
        self.signal_group(signal.SIGKILL)
        return self.process.returncode


@dataclass
class Supervisor:
    """Children started in order and stopped in reverse order."""

    children: list[Child] = field(default_factory=list)

    def start(self, child: Child) -> Child:
        child.start()
        self.children.append(child)
        return child

    def check_alive(self) -> None:
        for child in self.children:
            child.check_alive()

    def stop_all(self, timeout: float = 15.0) -> dict[str, int | None]:
        codes: dict[str, int | None] = {}
        for child in reversed(self.children):
            codes[child.name] = child.stop(timeout)
        return codes

    def pids(self) -> list[int]:
        return [c.pid for c in self.children if c.pid is not None]


def describe_exit(code: int | None) -> str:
    """A child's exit status in words: 'exited cleanly', 'exit code 1', 'ended by SIGTERM'."""
    if code is None:
        return "never started"
    if code == 0:
        return "exited cleanly"
    if code < 0:
        try:
            return f"ended by {signal.Signals(-code).name}"
        except ValueError:
            return f"ended by signal {-code}"
    return f"exit code {code}"


def pid_alive(pid: int) -> bool:
    """True when a process with ``pid`` exists and is not a zombie."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state != "Z"


def wait_until(predicate: Callable[[], bool], timeout: float, interval: float = 0.5) -> bool:
    """Poll ``predicate()`` until true or ``timeout`` seconds pass."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return False
