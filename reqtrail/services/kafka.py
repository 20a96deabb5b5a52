"""A local Kafka broker in KRaft mode, alone or one node of a cluster.

Every node is a combined node (broker and controller in one JVM): a cluster of three is
three JVMs whose controllers form the quorum (``controller.quorum.voters``), so it survives
the loss of any one node, and it costs half the memory and CPU of three brokers beside a
dedicated three-controller quorum.  (Production clusters isolate the controllers; a local
cluster exists to exercise leader moves and a broker's loss.)

The class path is the cached ``kafka_2.13`` runtime plus a log4j2 binding (see
``downloads``); the main class is ``kafka.Kafka``.  The storage is formatted once with
``kafka.tools.StorageTool`` (when ``data/meta.properties`` is missing), every node of a
cluster with the same cluster ID, so restarts keep topics and offsets.  Internal topics,
and topics created without a replication factor, get ``min(3, nodes)`` replicas and a
minimum of 2 in-sync replicas once there are 3.  Node ``i`` (0-based) listens on the
``i``-th port of ``REQTRAIL_KAFKA_BOOTSTRAP``, else on the first one + ``2 i``; its
controller on ``REQTRAIL_KAFKA_CONTROLLER_PORT`` + ``i``, else on its broker port + 1.
Logs go to ``<state_dir>/<name>/logs/server.log``.
"""

from __future__ import annotations

import base64
import subprocess
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path

from reqtrail.services import probes, processes
from reqtrail.services.base import LocalService, Report
from reqtrail.services.downloads import ensure_kafka
from reqtrail.services.errors import ServiceError
from reqtrail.services.jdk import Jdk
from reqtrail.services.ports import PortUse
from reqtrail.settings import LocalStackSettings, env_name

ConfigValue = str | int | float | bool


def derived_controller_port(broker_port: int) -> int:
    """9092 -> 9093: the KRaft controller port that goes with a broker port."""
    return broker_port + 1 if broker_port < 65535 else broker_port - 1


def new_cluster_id() -> str:
    """A Kafka cluster id: 16 random bytes, URL-safe base64 without padding (22 chars).

    Like Kafka's own ``Uuid.randomUuid()``, an id that starts with ``-`` is drawn again (about
    1 in 64 would): command-line parsers read such a value as an option.
    """
    while True:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()
        if not cluster_id.startswith("-"):
            return cluster_id


def node_name(index: int) -> str:
    """``kafka``, ``kafka-2``, ``kafka-3``: the name of the cluster's node ``index`` (0-based)."""
    return "kafka" if index == 0 else f"kafka-{index + 1}"


def replication(nodes: int) -> tuple[int, int]:
    """(replication factor, min.insync.replicas) for a cluster of ``nodes`` brokers: up to 3
    copies, and 2 in-sync ones required once there are 3, so acks=all writes survive the
    loss of a broker (with 2 copies, requiring both would stop writes on any loss)."""
    replicas = max(1, min(3, nodes))
    return replicas, 2 if replicas >= 3 else 1


def render_server_properties(
    *,
    port: int,
    controller_port: int,
    data_dir: Path,
    extra: Mapping[str, ConfigValue] | None = None,
    node_id: int = 1,
    voters: Sequence[tuple[int, int]] = (),
) -> str:
    """server.properties of a combined KRaft node listening on 127.0.0.1 only; ``voters``:
    (node id, controller port) of every node of the cluster (default: this one alone)."""
    quorum = list(voters) or [(node_id, controller_port)]
    replicas, min_isr = replication(len(quorum))
    props: dict[str, ConfigValue] = {
        "process.roles": "broker,controller",
        "node.id": node_id,
        "controller.quorum.voters": ",".join(f"{i}@127.0.0.1:{p}" for i, p in quorum),
        "listeners": f"PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller_port}",
        "advertised.listeners": f"PLAINTEXT://127.0.0.1:{port}",
        "controller.listener.names": "CONTROLLER",
        "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
        "inter.broker.listener.name": "PLAINTEXT",
        "log.dirs": str(data_dir),
        "offsets.topic.replication.factor": replicas,
        "transaction.state.log.replication.factor": replicas,
        "transaction.state.log.min.isr": min_isr,
        "share.coordinator.state.topic.replication.factor": replicas,
        "share.coordinator.state.topic.min.isr": min_isr,
        "default.replication.factor": replicas,
        "min.insync.replicas": min_isr,
        "group.initial.rebalance.delay.ms": 0,
    }
    props.update(extra or {})
    lines = ["# Written by `reqtrail services` on every start; edits are overwritten."]
    for key, value in props.items():
        text = ("true" if value else "false") if isinstance(value, bool) else str(value)
        lines.append(f"{key}={text}")
    return "\n".join(lines) + "\n"


def render_log4j2(logs_dir: Path) -> str:
    """A log4j2 configuration writing everything at INFO to a size-rolled server.log."""
    log = logs_dir / "server.log"
    return "\n".join(
        [
            "status = warn",
            "appender.file.type = RollingFile",
            "appender.file.name = file",
            f"appender.file.fileName = {log}",
            f"appender.file.filePattern = {log}.%i",
            "appender.file.layout.type = PatternLayout",
            "appender.file.layout.pattern = [%d] %p %m (%c)%n",
            "appender.file.policies.type = Policies",
            "appender.file.policies.size.type = SizeBasedTriggeringPolicy",
            "appender.file.policies.size.size = 20MB",
            "appender.file.strategy.type = DefaultRolloverStrategy",
            "appender.file.strategy.max = 3",
            "rootLogger.level = info",
            "rootLogger.appenderRef.file.ref = file",
            "",
        ]
    )


class KafkaService(LocalService):
    """A Kafka broker at ``bootstrap`` (``127.0.0.1:<port>``), e.g.::

    kafka = KafkaService(settings, name="kafka-fault", port=29092)
    kafka.start(); kafka.kill(); kafka.start(); kafka.stop()

    Node ``index`` of a cluster (node id ``index + 1``) takes its ports from the settings;
    ``quorum`` (set by LocalStack) lists every node of its cluster, and ``cluster_id`` the
    ID its storage is formatted with.
    """

    kind = "kafka"

    def __init__(
        self,
        settings: LocalStackSettings,
        *,
        name: str | None = None,
        download_dir: str | Path | None = None,
        report: Report | None = None,
        port: int | None = None,
        controller_port: int | None = None,
        heap: str | None = None,
        extra_config: Mapping[str, ConfigValue] | None = None,
        index: int = 0,
    ) -> None:
        name = name or node_name(index)
        super().__init__(settings, name=name, download_dir=download_dir, report=report)
        self.node_id = index + 1
        listed = settings.kafka_ports
        self._port_note = ""
        if port:
            self.port = port
        elif index < len(listed):
            self.port = listed[index]
        else:
            self.port = listed[0] + 2 * index
            self._port_note = f"first broker port + {2 * index}"
        self._controller_note = ""
        if controller_port:
            self.controller_port = controller_port
        elif settings.kafka_controller_port:
            self.controller_port = settings.kafka_controller_port + index
            self._controller_note = f"first controller port + {index}" if index else ""
        else:
            self.controller_port = derived_controller_port(self.port)
            sign = "+" if self.controller_port > self.port else "-"
            self._controller_note = f"broker port {sign} 1"
        self.heap = heap or settings.kafka_heap or "512m"
        self.quorum: list[KafkaService] = [self]
        self.cluster_id: str | None = None
        self.extra_config = dict(extra_config or {})
        self.data_dir = self.home / "data"
        self.logs_dir = self.home / "logs"
        self.config_file = self.home / "server.properties"
        self.log4j_file = self.home / "log4j2.properties"

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def address(self) -> str:
        return self.bootstrap

    @property
    def libs_dir(self) -> Path:
        return self.download_dir / f"kafka-{self.settings.kafka_version}" / "libs"

    def port_uses(self) -> list[PortUse]:
        return [
            PortUse(self.name, "broker", self.port, env_name("kafka_bootstrap"), self._port_note),
            PortUse(
                self.name,
                "controller",
                self.controller_port,
                env_name("kafka_controller_port"),
                self._controller_note,
            ),
        ]

    def install(self) -> None:
        ensure_kafka(self.download_dir, self.settings.kafka_version, self.report)

    def prepare(self, jdk: Jdk) -> None:
        self.write_config()
        if self.existing_cluster_id() is None:
            self.format_storage(jdk, self.cluster_id)

    def existing_cluster_id(self) -> str | None:
        """The cluster ID this node's storage was formatted with (None: not formatted)."""
        try:
            text = (self.data_dir / "meta.properties").read_text()
        except OSError:
            return None
        for line in text.splitlines():
            key, _, value = line.partition("=")
            if key.strip() == "cluster.id":
                return value.strip()
        return None

    def write_config(self) -> None:
        self.make_dirs(self.data_dir, self.logs_dir)
        self.write_owned(
            self.config_file,
            render_server_properties(
                port=self.port,
                controller_port=self.controller_port,
                data_dir=self.data_dir,
                extra=self.extra_config,
                node_id=self.node_id,
                voters=[(node.node_id, node.controller_port) for node in self.quorum],
            ),
        )
        self.write_owned(self.log4j_file, render_log4j2(self.logs_dir))

    def _java(self, jdk: Jdk, main_class: str, *args: str, heap: str) -> list[str]:
        return [
            str(jdk.java),
            f"-Xms{heap}",
            f"-Xmx{heap}",
            "-Djava.awt.headless=true",
            "-XX:+ExitOnOutOfMemoryError",
            f"-Dlog4j2.configurationFile={self.log4j_file}",
            "-cp",
            f"{self.libs_dir}/*",
            main_class,
            *args,
        ]

    def format_storage(self, jdk: Jdk, cluster_id: str | None = None) -> None:
        # ``--cluster-id=ID`` in one word: the tool can never read the ID as an option.
        command = processes.as_user_prefix(self.user) + self._java(
            jdk,
            "kafka.tools.StorageTool",
            "format",
            f"--cluster-id={cluster_id or new_cluster_id()}",
            "-c",
            str(self.config_file),
            heap="256m",
        )
        proc = subprocess.run(
            command, env=self.environment(jdk), cwd=self.home, capture_output=True, text=True
        )
        if proc.returncode != 0:
            lines = (proc.stdout + proc.stderr).strip().splitlines()
            raise ServiceError(
                f"formatting the Kafka storage in {self.data_dir} failed "
                f"(exit {proc.returncode}): {lines[-1] if lines else 'no output'}"
            )

    def command(self, jdk: Jdk) -> list[str]:
        return self._java(jdk, "kafka.Kafka", str(self.config_file), heap=self.heap)

    def health(self) -> tuple[bool, str]:
        return probes.kafka_health("127.0.0.1", self.port, node_id=self.node_id)

    def version(self) -> str | None:
        """The version of the jars reqtrail runs (unknown for a broker it did not start)."""
        return self.settings.kafka_version if self.is_running() else None

    def log_files(self) -> list[Path]:
        return [self.logs_dir / "server.log", self.console_log]
