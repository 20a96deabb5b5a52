"""A local Elasticsearch node from the Maven Central integ-test-zip distribution, alone or
one node of a cluster.

The unzipped distribution in the download cache is shared read-only by every instance;
each instance has its own ``ES_PATH_CONF`` (``<state_dir>/<name>/config``), data, logs
and temp directory.  Security is off and it listens on 127.0.0.1 only (development mode,
so no production bootstrap checks).  As root it runs as ``REQTRAIL_SERVICE_USER``.
Node ``i`` (0-based) of a cluster serves HTTP on the ``i``-th port of ``REQTRAIL_ES_URL``,
else on the first one + ``i``; its transport port is ``REQTRAIL_ES_TRANSPORT_PORT`` + ``i``,
else its HTTP port + 100.  The nodes of a cluster find each other through their transport
ports (``discovery.seed_hosts``) and bootstrap the cluster together on their first start
(``cluster.initial_master_nodes``, left out once a node has data).
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path

from reqtrail.services import probes, processes
from reqtrail.services.base import LocalService, Report
from reqtrail.services.downloads import ensure_elasticsearch
from reqtrail.services.jdk import Jdk
from reqtrail.services.ports import PortUse
from reqtrail.settings import LocalStackSettings, env_name

ConfigValue = str | int | float | bool | list[str]


def derived_transport_port(http_port: int) -> int:
    """9200 -> 9300: the transport port that goes with an HTTP port."""
    return http_port + 100 if http_port + 100 <= 65535 else http_port - 100


def node_name(index: int) -> str:
    """``elasticsearch``, ``elasticsearch-2``, ...: the name of a cluster's node ``index``."""
    return "elasticsearch" if index == 0 else f"elasticsearch-{index + 1}"


def render_config_value(value: ConfigValue) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return json.dumps(value)  # a double-quoted YAML scalar, or a flow sequence of them


def render_es_config(
    *,
    cluster_name: str,
    node_name: str,
    http_port: int,
    transport_port: int,
    data_dir: Path,
    logs_dir: Path,
    extra: Mapping[str, ConfigValue] | None = None,
    seed_hosts: Sequence[str] = (),
    initial_master_nodes: Sequence[str] = (),
) -> str:
    """The whole elasticsearch.yml of a local development node: a single node, or with
    ``seed_hosts`` (transport addresses) one node of a cluster, which bootstraps with
    ``initial_master_nodes`` on its first start."""
    discovery: dict[str, ConfigValue] = {"discovery.type": "single-node"}
    if seed_hosts:
        discovery = {"discovery.seed_hosts": list(seed_hosts)}
        if initial_master_nodes:
            discovery["cluster.initial_master_nodes"] = list(initial_master_nodes)
    settings: dict[str, ConfigValue] = {
        "cluster.name": cluster_name,
        "node.name": node_name,
        **discovery,
        "network.host": "127.0.0.1",
        "http.port": http_port,
        "transport.port": transport_port,
        "xpack.security.enabled": False,
        "path.data": str(data_dir),
        "path.logs": str(logs_dir),
        # A nearly full dev disk must not turn indices read-only under the tests.
        "cluster.routing.allocation.disk.threshold_enabled": False,
    }
    settings.update(extra or {})
    lines = ["# Written by `reqtrail services` on every start; edits are overwritten."]
    lines += [f"{key}: {render_config_value(value)}" for key, value in settings.items()]
    return "\n".join(lines) + "\n"


class ElasticsearchService(LocalService):
    """Elasticsearch on 127.0.0.1 (``url``), e.g.::

    es = ElasticsearchService(settings, name="es-fault",
                              extra_config={"thread_pool.write.queue_size": 1})
    es.start()            # waits until /_cluster/health is green or yellow
    es.kill(); es.start() # data survives
    es.stop()

    Node ``index`` of a cluster takes its ports from the settings; ``seed_nodes`` (set by
    LocalStack) lists every node of its cluster.
    """

    kind = "elasticsearch"

    def __init__(
        self,
        settings: LocalStackSettings,
        *,
        name: str | None = None,
        download_dir: str | Path | None = None,
        report: Report | None = None,
        http_port: int | None = None,
        transport_port: int | None = None,
        heap: str | None = None,
        extra_config: Mapping[str, ConfigValue] | None = None,
        index: int = 0,
    ) -> None:
        name = name or node_name(index)
        super().__init__(settings, name=name, download_dir=download_dir, report=report)
        listed = settings.es_ports
        self._http_note = ""
        if http_port:
            self.http_port = http_port
        elif index < len(listed):
            self.http_port = listed[index]
        else:
            self.http_port = listed[0] + index
            self._http_note = f"first HTTP port + {index}"
        self._transport_note = ""
        if transport_port:
            self.transport_port = transport_port
        elif settings.es_transport_port:
            self.transport_port = settings.es_transport_port + index
            self._transport_note = f"first transport port + {index}" if index else ""
        else:
            self.transport_port = derived_transport_port(self.http_port)
            sign = "+" if self.transport_port > self.http_port else "-"
            self._transport_note = f"HTTP port {sign} 100"
        self.heap = heap or settings.es_heap or "1g"
        self.seed_nodes: list[ElasticsearchService] = [self]
        self.extra_config = dict(extra_config or {})
        self.config_dir = self.home / "config"
        self.data_dir = self.home / "data"
        self.logs_dir = self.home / "logs"
        self.tmp_dir = self.home / "tmp"
        self.server_pid_file = self.home / "elasticsearch.pid"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def address(self) -> str:
        return self.url

    @property
    def cluster_name(self) -> str:
        return f"reqtrail-{self.seed_nodes[0].name}"

    @property
    def es_home(self) -> Path:
        return self.download_dir / f"elasticsearch-{self.settings.es_version}"

    def port_uses(self) -> list[PortUse]:
        return [
            PortUse(self.name, "http", self.http_port, env_name("es_url"), self._http_note),
            PortUse(
                self.name,
                "transport",
                self.transport_port,
                env_name("es_transport_port"),
                self._transport_note,
            ),
        ]

    def install(self) -> None:
        ensure_elasticsearch(self.download_dir, self.settings.es_version, self.report)

    def prepare(self, jdk: Jdk) -> None:
        bootstrapped = self.data_dir.is_dir() and any(self.data_dir.iterdir())
        self.make_dirs(self.config_dir, self.data_dir, self.logs_dir, self.tmp_dir)
        self._copy_default_config(self.es_home / "config", self.config_dir)
        cluster = len(self.seed_nodes) > 1
        text = render_es_config(
            cluster_name=self.cluster_name,
            node_name=self.name,
            http_port=self.http_port,
            transport_port=self.transport_port,
            data_dir=self.data_dir,
            logs_dir=self.logs_dir,
            extra=self.extra_config,
            seed_hosts=[f"127.0.0.1:{node.transport_port}" for node in self.seed_nodes]
            if cluster
            else (),
            initial_master_nodes=[]
            if bootstrapped or not cluster
            else [node.name for node in self.seed_nodes],
        )
        self.write_owned(self.config_dir / "elasticsearch.yml", text)
        self.server_pid_file.unlink(missing_ok=True)

    def _copy_default_config(self, source: Path, target: Path) -> None:
        """Copy the distribution's config files that the instance does not have yet."""
        for item in source.iterdir():
            dest = target / item.name
            if item.name in ("elasticsearch.yml", "elasticsearch.keystore") or dest.exists():
                continue
            if item.is_dir():
                shutil.copytree(item, dest)
                self.make_dirs(dest)
                for child in dest.rglob("*"):
                    processes.chown_to_user(self.user, child)
            else:
                shutil.copy2(item, dest)
                processes.chown_to_user(self.user, dest)

    def command(self, jdk: Jdk) -> list[str]:
        return [str(self.es_home / "bin" / "elasticsearch"), "-p", str(self.server_pid_file)]

    def environment(self, jdk: Jdk) -> dict[str, str]:
        env = super().environment(jdk)
        env.update(
            ES_JAVA_HOME=str(jdk.home),
            ES_JAVA_OPTS=f"-Xms{self.heap} -Xmx{self.heap}",
            ES_PATH_CONF=str(self.config_dir),
            ES_TMPDIR=str(self.tmp_dir),
        )
        return env

    def health(self) -> tuple[bool, str]:
        return probes.es_health(self.url)

    def version(self) -> str | None:
        """The version the node reports (``GET /`` is not available in this distribution)."""
        return probes.es_version(self.url)

    def main_pid(self) -> int | None:
        """The server JVM's pid (what one kills by hand), else the launcher's."""
        record = self.record()
        try:
            server = int(self.server_pid_file.read_text().strip())
        except (OSError, ValueError):
            server = None
        if record and server and server in processes.group_members(record.pid):
            return server
        return record.pid if record else None

    def log_files(self) -> list[Path]:
        return [self.logs_dir / f"{self.cluster_name}.log", self.console_log]
