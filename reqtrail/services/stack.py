"""Both local services together, one node each or clusters: what ``reqtrail services
up|down|status`` drive.

``up`` first checks that no two ports of the stack are one (every node's, ES's transport
ports and Kafka's controller ports included), then downloads what is missing (cached),
starts whatever is not already running (two ``up`` in a row: the second is a no-op; after
a node was killed, only that node starts), waits for all to be healthy with a line every
few seconds, and reports how long that took.  If one fails to come up, what this call
started is killed again and the error says why (with the tail of the log).  ``down`` stops
only services whose pid files point at live processes (what ``up`` started), the nodes of
a cluster all at once (a KRaft quorum stopped one node at a time loses its majority and
the last nodes wait for it).  The shape (nodes per service) is recorded by ``up``; see
``reqtrail.services.cluster``.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from reqtrail.services import cluster
from reqtrail.services.base import LocalService, Report, ServiceStatus, report_to_stderr
from reqtrail.services.cluster import StackShape
from reqtrail.services.errors import ServiceError
from reqtrail.services.jdk import find_jdk
from reqtrail.services.ports import ensure_no_clash
from reqtrail.settings import LocalStackSettings

NOTE_EVERY_S = 5.0


@dataclass
class UpResult:
    """What ``LocalStack.up`` did: services it started, ones already running, timings."""

    started: list[str] = field(default_factory=list)
    already_running: list[str] = field(default_factory=list)
    healthy_after_s: dict[str, float] = field(default_factory=dict)
    total_s: float = 0.0


class LocalStack:
    """Elasticsearch + Kafka under one state directory: nodes ``elasticsearch``,
    ``elasticsearch-2``, ... and ``kafka``, ``kafka-2``, ... (one of each unless asked for
    more, or recorded by an earlier ``up``)."""

    def __init__(
        self,
        settings: LocalStackSettings,
        report: Report | None = None,
        *,
        kafka_brokers: int | None = None,
        es_nodes: int | None = None,
    ) -> None:
        self.settings = settings
        self.report: Report = report or report_to_stderr
        self.shape = cluster.resolve_shape(settings, kafka_brokers, es_nodes)
        self.es_nodes = cluster.elasticsearch_nodes(settings, self.shape.es_nodes, self.report)
        self.kafka_nodes = cluster.kafka_nodes(settings, self.shape.kafka_brokers, self.report)
        self.elasticsearch = self.es_nodes[0]
        self.kafka = self.kafka_nodes[0]

    @property
    def services(self) -> tuple[LocalService, ...]:
        return (*self.es_nodes, *self.kafka_nodes)

    @property
    def kafka_bootstrap(self) -> str:
        """Every broker, as REQTRAIL_KAFKA_BOOTSTRAP lists them."""
        return ",".join(node.bootstrap for node in self.kafka_nodes)

    @property
    def es_url(self) -> str:
        """Every node's URL, as REQTRAIL_ES_URL lists them."""
        return ",".join(node.url for node in self.es_nodes)

    def up(self, timeout_s: float | None = None) -> UpResult:
        """Start what is not running and wait until every node is healthy."""
        began = time.monotonic()
        result = UpResult()
        self.check_shape()
        self.check_ports()
        to_start = [s for s in self.services if not s.is_running()]
        result.already_running = [s.name for s in self.services if s not in to_start]
        if to_start:
            find_jdk()  # fail on a missing JDK before any download
        for service in to_start:
            service.check_ports()
        for service in to_start:
            service.install()
        if any(node in to_start for node in self.kafka_nodes):
            cluster.share_cluster_id(self.kafka_nodes)
        cluster.record_shape(self.settings, self.shape)
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

    def check_shape(self) -> None:
        """Raise a one-line ServiceError when the node counts differ from those the stack's
        data was made with (a quorum and a cluster remember their members)."""
        made = cluster.recorded_shape(self.settings) or StackShape()
        for what, before, now, nodes in (
            ("Kafka brokers", made.kafka_brokers, self.shape.kafka_brokers, self.kafka_nodes),
            ("Elasticsearch nodes", made.es_nodes, self.shape.es_nodes, self.es_nodes),
        ):
            if before != now and cluster.has_data(nodes):
                raise ServiceError(
                    f"the stack under {self.settings.state_dir} was made with {before} {what}, "
                    f"not {now}; `reqtrail services down` and delete its data directories "
                    "(the data goes) to change that, or choose another REQTRAIL_STATE_DIR"
                )

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
        for nodes in (self.kafka_nodes, self.es_nodes):  # Kafka first: it is quicker to go
            running: list[LocalService] = [node for node in nodes if node.is_running()]
            for node in running:
                self.report(f"stopping {node.name} (pid {node.main_pid()})")
            with ThreadPoolExecutor(max_workers=max(1, len(running))) as pool:
                list(pool.map(lambda node: node.stop(), running))
            stopped += [node.name for node in running]
        return stopped

    def status(self) -> list[ServiceStatus]:
        return [service.status() for service in self.services]

    def cluster_health(self) -> list[str]:
        """One line per service that has more than one node (nothing for single nodes)."""
        lines = []
        if len(self.kafka_nodes) > 1:
            lines.append(cluster.kafka_cluster_line(self.kafka_nodes))
        if len(self.es_nodes) > 1:
            lines.append(cluster.elasticsearch_cluster_line(self.es_nodes))
        return lines

    def endpoints_healthy(self) -> bool:
        """True when both addresses answer healthily, whoever runs the services."""
        return all(service.is_healthy() for service in self.services)
