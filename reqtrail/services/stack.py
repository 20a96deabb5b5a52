"""Both local services together: what ``reqtrail services up|down|status`` drive.

``up`` first checks that no two ports of the stack are one (ES's transport port and Kafka's
controller port included), then downloads what is missing (cached), starts whatever is not
already running (two ``up`` in a row: the second is a no-op), waits for both to be healthy
with a line every few seconds, and reports how long that took.  If one fails to come up,
what this call started is killed again and the error says why (with the tail of the log).
``down`` stops only services whose pid files point at live processes (what ``up`` started).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from reqtrail.services.base import LocalService, Report, ServiceStatus, report_to_stderr
from reqtrail.services.elasticsearch import ElasticsearchService
from reqtrail.services.errors import ServiceError
from reqtrail.services.jdk import find_jdk
from reqtrail.services.kafka import KafkaService
from reqtrail.services.ports import ensure_no_clash
from reqtrail.settings import Settings

NOTE_EVERY_S = 5.0


@dataclass
class UpResult:
    """What ``LocalStack.up`` did: services it started, ones already running, timings."""

    started: list[str] = field(default_factory=list)
    already_running: list[str] = field(default_factory=list)
    healthy_after_s: dict[str, float] = field(default_factory=dict)
    total_s: float = 0.0


class LocalStack:
    """Elasticsearch + Kafka under one state directory, named ``elasticsearch`` and ``kafka``."""

    def __init__(self, settings: Settings, report: Report | None = None) -> None:
        self.settings = settings
        self.report: Report = report or report_to_stderr
        self.elasticsearch = ElasticsearchService(settings, report=self.report)
        self.kafka = KafkaService(settings, report=self.report)

    @property
    def services(self) -> tuple[LocalService, ...]:
        return (self.elasticsearch, self.kafka)

    def up(self, timeout_s: float | None = None) -> UpResult:
        """Start what is not running and wait until both are healthy."""
        began = time.monotonic()
        result = UpResult()
        self.check_ports()
        to_start = [s for s in self.services if not s.is_running()]
        result.already_running = [s.name for s in self.services if s not in to_start]
        if to_start:
            find_jdk()  # fail on a missing JDK before any download
        for service in to_start:
            service.check_ports()
        for service in to_start:
            service.install()
        try:
            for service in to_start:
                self.report(f"starting {service.name} at {service.address}")
                service.start(wait=False)
                result.started.append(service.name)
            self._wait_all(began, result, timeout_s)
        except BaseException:
            for service in self.services:
                if service.name in result.started:
                    service.kill()
            raise
        result.total_s = time.monotonic() - began
        return result

    def check_ports(self) -> None:
        """Raise a one-line ServiceError when two ports of the stack are one (derived ports
        included), before anything is downloaded or started."""
        ensure_no_clash(use for service in self.services for use in service.port_uses())

    def _wait_all(self, began: float, result: UpResult, timeout_s: float | None) -> None:
        timeout = self.settings.startup_timeout_s if timeout_s is None else timeout_s
        pending = list(self.services)
        next_note = began + NOTE_EVERY_S
        while pending:
            for service in list(pending):
                if service.is_healthy():
                    pending.remove(service)
                    result.healthy_after_s[service.name] = time.monotonic() - began
                    if service.name in result.started:
                        self.report(
                            f"{service.name} healthy after {time.monotonic() - began:.1f} s"
                        )
                else:
                    service.raise_if_died()
            now = time.monotonic()
            if pending and now - began > timeout:
                late = pending[0]
                raise ServiceError(
                    f"{late.name} did not become healthy at {late.address} within "
                    f"{timeout:.0f} s (REQTRAIL_STARTUP_TIMEOUT_S); last lines of its log:",
                    late.log_tail(),
                )
            if pending and now >= next_note:
                names = ", ".join(s.name for s in pending)
                self.report(f"  waiting for {names} ({now - began:.0f} s)")
                next_note = now + NOTE_EVERY_S
            if pending:
                time.sleep(0.5)

    def down(self) -> list[str]:
        """Stop the services that reqtrail started; the names of those it stopped."""
        stopped = []
        for service in reversed(self.services):  # Kafka first: it is quicker to go
            if service.is_running():
                self.report(f"stopping {service.name} (pid {service.main_pid()})")
                service.stop()
                stopped.append(service.name)
        return stopped

    def status(self) -> list[ServiceStatus]:
        return [service.status() for service in self.services]

    def endpoints_healthy(self) -> bool:
        """True when both addresses answer healthily, whoever runs the services."""
        return all(service.is_healthy() for service in self.services)
