"""What every local service shares: directories, pid file, start/stop/kill, health waits.

A service instance lives in ``<state_dir>/<name>/`` (config, data, logs) and its pid file
is ``<state_dir>/run/<name>.pid``.  Subclasses supply the ports, the install step, the
configuration, the command line and the health check.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from subprocess import Popen
from typing import ClassVar

from reqtrail.services import processes
from reqtrail.services.errors import ServiceError
from reqtrail.services.jdk import Jdk, find_jdk
from reqtrail.services.ports import PortUse, ensure_no_clash, ensure_uses_free, wait_ports_free
from reqtrail.settings import Settings

Report = Callable[[str], None]
CONSOLE_LOG_MAX_BYTES = 5 * 1024 * 1024
TAIL_LINES = 25
PORT_RELEASE_TIMEOUT_S = 10.0  # after stop/kill, how long to wait for the sockets to close


def report_to_stderr(message: str) -> None:
    """Default progress reporter: one line on stderr."""
    print(message, file=sys.stderr, flush=True)


@dataclass(frozen=True)
class ServiceStatus:
    """One row of ``reqtrail services status``."""

    name: str
    address: str
    pid: int | None  # the main process (Elasticsearch: the server JVM), when reqtrail runs it
    managed: bool  # a live process started by reqtrail (pid file)
    healthy: bool
    detail: str  # e.g. "green", "1 broker", "not running", "stale pid file: ..."
    version: str | None


_ERROR_MARKS = ("[ERROR]", " ERROR ", "FATAL", "Exception", "Error:")


def first_error_line(lines: list[str], limit: int = 300) -> str:
    """The first line that reads like the cause of a failure (not a stack frame)."""
    for line in lines:
        text = line.strip()
        if text.startswith("at ") or text.startswith("ERROR: Elasticsearch did not exit"):
            continue
        if any(mark in text for mark in _ERROR_MARKS):
            return text[:limit]
    return ""


class LocalService(ABC):
    """A JVM service that reqtrail installs, configures and runs on 127.0.0.1."""

    kind: ClassVar[str]

    def __init__(
        self,
        settings: Settings,
        *,
        name: str | None = None,
        download_dir: str | Path | None = None,
        report: Report | None = None,
    ) -> None:
        self.settings = settings
        self.name = name or self.kind
        self.state_dir = Path(settings.state_dir)
        self.home = self.state_dir / self.name
        self.download_dir = Path(
            download_dir or settings.download_dir or self.state_dir / "downloads"
        )
        self.pid_file = self.state_dir / "run" / f"{self.name}.pid"
        self.console_log = self.home / "logs" / "console.log"
        self.report: Report = report or report_to_stderr
        self._proc: Popen[bytes] | None = None

    # ---- supplied by each service ------------------------------------------------------
    @property
    @abstractmethod
    def address(self) -> str:
        """Where clients connect (a URL or host:port)."""

    @abstractmethod
    def port_uses(self) -> list[PortUse]:
        """Every port the service binds, with its role and the setting that chooses it."""

    def ports(self) -> dict[str, int]:
        """Every port the service binds, by role."""
        return {use.role: use.port for use in self.port_uses()}

    @abstractmethod
    def install(self) -> None:
        """Download what the service needs (cached after the first time)."""

    @abstractmethod
    def prepare(self, jdk: Jdk) -> None:
        """Create directories and write configuration before each start."""

    @abstractmethod
    def command(self, jdk: Jdk) -> list[str]:
        """The command line that runs the service in the foreground."""

    @abstractmethod
    def health(self) -> tuple[bool, str]:
        """(healthy, short detail) from asking the service itself at its address."""

    @abstractmethod
    def log_files(self) -> list[Path]:
        """The service's logs, most useful first."""

    def environment(self, jdk: Jdk) -> dict[str, str]:
        keep = ("PATH", "LANG", "LC_ALL", "TZ")
        env = {key: os.environ[key] for key in keep if key in os.environ}
        env.setdefault("PATH", "/usr/local/bin:/usr/bin:/bin")
        env["HOME"] = str(self.home)
        env["JAVA_HOME"] = str(jdk.home)
        return env

    def version(self) -> str | None:
        return None

    def main_pid(self) -> int | None:
        record = self.record()
        return record.pid if record else None

    # ---- state -------------------------------------------------------------------------
    @property
    def user(self) -> str:
        return self.settings.service_user

    def record(self) -> processes.ProcessRecord | None:
        return processes.ProcessRecord.load(self.pid_file)

    def is_running(self) -> bool:
        """True while a process that reqtrail started for this service is alive."""
        if self._proc is not None:
            self._proc.poll()  # reap our own child so it does not linger as a zombie
        record = self.record()
        return record is not None and processes.record_alive(record)

    def is_healthy(self) -> bool:
        return self.health()[0]

    def make_dirs(self, *paths: Path) -> None:
        """Create directories owned by the service user (when we are root)."""
        for path in paths:
            path.mkdir(parents=True, exist_ok=True)
            processes.chown_to_user(self.user, path)

    def write_owned(self, path: Path, text: str) -> None:
        path.write_text(text)
        processes.chown_to_user(self.user, path)

    # ---- lifecycle ---------------------------------------------------------------------
    def start(self, wait: bool = True) -> bool:
        """Start the service unless it already runs; True when this call started it."""
        if self.is_running():
            if wait:
                self.wait_healthy()
            return False
        self.pid_file.unlink(missing_ok=True)  # stale: the process is gone
        jdk = find_jdk()
        self.install()
        self.check_ports()
        if processes.is_root():
            processes.ensure_service_user(self.user)
        self.state_dir.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(PermissionError):
            self.state_dir.chmod(0o755)  # the service user must reach its directories
        self.make_dirs(self.home, self.console_log.parent)
        self.prepare(jdk)
        self._rotate_console_log()
        command = processes.as_user_prefix(self.user) + self.command(jdk)
        self._proc = processes.spawn(command, self.environment(jdk), self.home, self.console_log)
        pid = self._proc.pid
        processes.ProcessRecord(pid, processes.start_ticks(pid)).save(self.pid_file)
        if wait:
            try:
                self.wait_healthy()
            except ServiceError:
                self.kill()
                raise
        return True

    def check_ports(self) -> None:
        """Raise when two of this service's ports are one, or one is taken by another process."""
        uses = self.port_uses()
        ensure_no_clash(uses)
        ensure_uses_free(uses)

    def wait_healthy(self, timeout_s: float | None = None) -> float:
        """Block until healthy; seconds waited. Raises if it dies or the timeout passes."""
        timeout = self.settings.startup_timeout_s if timeout_s is None else timeout_s
        began = time.monotonic()
        next_note = began + 5.0
        while True:
            if self.is_healthy():
                return time.monotonic() - began
            self.raise_if_died()
            now = time.monotonic()
            if now - began > timeout:
                raise ServiceError(
                    f"{self.name} did not become healthy at {self.address} within "
                    f"{timeout:.0f} s (REQTRAIL_STARTUP_TIMEOUT_S); last lines of its log:",
                    self.log_tail(),
                )
            if now >= next_note:
                self.report(f"  waiting for {self.name} at {self.address} ({now - began:.0f} s)")
                next_note = now + 5.0
            time.sleep(0.5)

    def raise_if_died(self) -> None:
        if self.is_running():
            return
        code = self._proc.poll() if self._proc is not None else None
        status = f" (exit status {code})" if code is not None else ""
        self.pid_file.unlink(missing_ok=True)
        summary = first_error_line(processes.tail(self.newest_log(), 80))
        cause = f": {summary}" if summary else ""
        raise ServiceError(
            f"{self.name} died on start{status}{cause}; last lines of {self.newest_log()}:",
            self.log_tail(),
        )

    def stop(self, timeout_s: float = 60.0) -> bool:
        """Stop gracefully (SIGTERM, SIGKILL after ``timeout_s``); True if it was running."""
        record = self.record()
        running = record is not None and processes.record_alive(record)
        if record is not None and running:
            processes.stop_group(record.pid, timeout_s)
        self._reap()
        self.pid_file.unlink(missing_ok=True)
        if running:
            wait_ports_free(self.ports(), PORT_RELEASE_TIMEOUT_S)
        return running

    def kill(self) -> None:
        """SIGKILL every process of the service at once (for fault tests)."""
        record = self.record()
        running = record is not None and processes.record_alive(record)
        if record is not None and running:
            processes.kill_group(record.pid)
        self._reap()
        self.pid_file.unlink(missing_ok=True)
        if running:
            wait_ports_free(self.ports(), PORT_RELEASE_TIMEOUT_S)

    def _reap(self) -> None:
        if self._proc is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._proc.wait(timeout=10)  # the group is already signalled
            self._proc = None

    # ---- reporting ---------------------------------------------------------------------
    def status(self) -> ServiceStatus:
        record = self.record()
        managed = self.is_running()
        healthy, detail = self.health()
        pid = self.main_pid() if managed else None
        if not managed and record is not None:
            detail = f"{detail}; the process reqtrail started is gone (killed or crashed?)"
        elif not managed and healthy:
            detail = f"{detail}; not started by reqtrail"
        elif managed and not healthy:
            detail = f"{detail}; its process runs (still starting?)"
        return ServiceStatus(
            name=self.name,
            address=self.address,
            pid=pid,
            managed=managed,
            healthy=healthy,
            detail=detail,
            version=self.version() if healthy else None,
        )

    def newest_log(self) -> Path:
        logs = [p for p in self.log_files() if p.is_file() and p.stat().st_size > 0]
        return max(logs, key=lambda p: p.stat().st_mtime) if logs else self.console_log

    def log_tail(self, lines: int = TAIL_LINES) -> str:
        text = processes.tail(self.newest_log(), lines)
        return "\n".join(f"  | {line}" for line in text) or "  | (the log is empty)"

    def _rotate_console_log(self) -> None:
        log = self.console_log
        if log.is_file() and log.stat().st_size > CONSOLE_LOG_MAX_BYTES:
            log.replace(log.with_suffix(".log.1"))
