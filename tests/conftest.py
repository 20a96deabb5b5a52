"""Session fixtures: real Kafka and Elasticsearch, started or reused once per session.

Resolution order for the services (issue #2):
  (a) REQTRAIL_KAFKA_BOOTSTRAP / REQTRAIL_ES_URL when set;
  (b) testcontainers when a Docker engine answers;
  (c) the local stack, through the same code as `reqtrail services up` (reused when it is
      already healthy; stopped at the end only if this session started it).
``REQTRAIL_TEST_SERVICES=env|docker|local`` forces one of them (default ``auto``).
Each test gets its own topic names, consumer group and index prefix (``settings``), so
tests share one broker and one node without seeing each other's data.

Fault tests that must kill or reconfigure a service use their own instances, on free
ports in their own state directory, reusing the cached downloads, always removed at
teardown::

    @pytest.mark.slow
    def test_survives_a_full_write_queue(dedicated_es, settings):
        es = dedicated_es(extra_config={"thread_pool.write.queue_size": 1})
        local = settings.replace(es_url=es.url)
        ...; es.kill(); es.start()   # same data directory

    def test_reconnects(dedicated_kafka, settings):
        kafka = dedicated_kafka()
        local = settings.replace(kafka_bootstrap=kafka.bootstrap)
        ...; kafka.stop(); kafka.start()

Cluster tests share one local cluster per session (3 Kafka brokers, 3 ES nodes), started
by ``reqtrail services up --kafka-brokers 3 --es-nodes 3`` on free ports in a state
directory of its own and stopped by ``services down`` at the end; ``cluster`` restarts any
node an earlier test killed::

    def test_survives_a_broker_loss(cluster, settings):
        local = cluster.settings_for(settings)   # this test's names, the cluster's nodes
        ...; cluster.stack().kafka_nodes[1].kill()
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from reqtrail.services import (
    ElasticsearchService,
    KafkaService,
    LocalService,
    LocalStack,
    ServiceError,
    UpResult,
)
from reqtrail.services.ports import free_port_base, free_ports
from reqtrail.settings import Settings, load_settings

SERVICES_MODE_ENV = "REQTRAIL_TEST_SERVICES"


def _reporter(config: pytest.Config) -> Callable[[str], None]:
    """Progress lines on the terminal even while pytest captures output."""
    terminal = config.pluginmanager.get_plugin("terminalreporter")
    capture = config.pluginmanager.get_plugin("capturemanager")

    def report(message: str) -> None:
        if terminal is None:
            return
        if capture is not None:
            with capture.global_and_fixture_disabled():
                terminal.write_line(f"[services] {message}")
        else:
            terminal.write_line(f"[services] {message}")

    return report


def _docker_answers() -> bool:
    try:
        import docker

        docker.from_env(timeout=3).ping()
        return True
    except Exception:
        return False


def _containers(settings: Settings) -> Iterator[tuple[str, str]]:
    """Kafka (apache/kafka, KRaft) and Elasticsearch containers, as in docker-compose.yml."""
    from testcontainers.community.elasticsearch import ElasticSearchContainer
    from testcontainers.core.container import DockerContainer
    from testcontainers.core.wait_strategies import LogMessageWaitStrategy

    # Kafka must advertise the address clients dial, so the host port is fixed up front
    # and equal to the container port.
    (port,) = free_ports(1)
    kafka = DockerContainer(f"apache/kafka:{settings.kafka_version}").with_bind_ports(port, port)
    host = kafka.get_container_host_ip()
    kraft = {
        "KAFKA_NODE_ID": "1",
        "KAFKA_PROCESS_ROLES": "broker,controller",
        "KAFKA_CONTROLLER_QUORUM_VOTERS": "1@localhost:9093",
        "KAFKA_LISTENERS": f"PLAINTEXT://0.0.0.0:{port},CONTROLLER://localhost:9093",
        "KAFKA_ADVERTISED_LISTENERS": f"PLAINTEXT://{host}:{port}",
        "KAFKA_LISTENER_SECURITY_PROTOCOL_MAP": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
        "KAFKA_CONTROLLER_LISTENER_NAMES": "CONTROLLER",
        "KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR": "1",
        "KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR": "1",
        "KAFKA_TRANSACTION_STATE_LOG_MIN_ISR": "1",
        "KAFKA_SHARE_COORDINATOR_STATE_TOPIC_REPLICATION_FACTOR": "1",
        "KAFKA_SHARE_COORDINATOR_STATE_TOPIC_MIN_ISR": "1",
        "KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS": "0",
    }
    for key, value in kraft.items():
        kafka.with_env(key, value)
    kafka.waiting_for(LogMessageWaitStrategy("Kafka Server started").with_startup_timeout(180))
    image = f"docker.elastic.co/elasticsearch/elasticsearch:{settings.es_version}"
    es = ElasticSearchContainer(image, mem_limit="2g").with_env("ES_JAVA_OPTS", "-Xms1g -Xmx1g")
    with kafka, es:
        es_url = f"http://{es.get_container_host_ip()}:{es.get_exposed_port(es.port)}"
        yield f"{host}:{port}", es_url


def _local_stack(settings: Settings, report: Callable[[str], None]) -> Iterator[tuple[str, str]]:
    stack = LocalStack(settings, report=report)
    endpoints = (stack.kafka.bootstrap, stack.elasticsearch.url)
    if stack.endpoints_healthy():
        report(f"reusing the healthy services at {endpoints[0]} and {endpoints[1]}")
        yield endpoints
        return
    try:
        result: UpResult | str = stack.up()
    except ServiceError as exc:
        result = str(exc)
    if isinstance(result, str):  # failed outside the except block: no chained traceback
        pytest.fail(f"the local stack did not come up: {result}", pytrace=False)
    report(f"local stack healthy in {result.total_s:.1f} s (started: {', '.join(result.started)})")
    try:
        yield endpoints
    finally:
        for service in stack.services:
            if service.name in result.started:
                report(f"stopping {service.name} (this session started it)")
                service.stop()


@pytest.fixture(autouse=True)
def root_logging() -> Iterator[None]:
    """Puts the root logger's handlers and level back after each test.  A CLI command run
    in-process (typer's ``CliRunner``) adds a handler on the stream it captures, which is
    closed afterwards: left in place, every later warning (kafka-python's, during an outage)
    would print a logging-error traceback."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.fixture(scope="session")
def service_endpoints(pytestconfig: pytest.Config) -> Iterator[tuple[str, str]]:
    """(kafka_bootstrap, es_url) of real services for this test session."""
    mode = os.environ.get(SERVICES_MODE_ENV, "auto")
    if mode not in ("auto", "env", "docker", "local"):
        pytest.fail(f"{SERVICES_MODE_ENV} must be auto, env, docker or local: {mode!r}")
    settings = load_settings()
    from_env = any(os.environ.get(f"REQTRAIL_{n}") for n in ("KAFKA_BOOTSTRAP", "ES_URL"))
    if mode == "env" or (mode == "auto" and from_env):
        if not from_env:
            pytest.fail("set REQTRAIL_KAFKA_BOOTSTRAP and REQTRAIL_ES_URL")
        yield settings.kafka_bootstrap, settings.es_url
    elif mode == "docker" or (mode == "auto" and _docker_answers()):
        yield from _containers(settings)
    else:
        yield from _local_stack(settings, _reporter(pytestconfig))


@pytest.fixture(scope="session")
def kafka_bootstrap(service_endpoints: tuple[str, str]) -> str:
    return service_endpoints[0]


@pytest.fixture(scope="session")
def es_url(service_endpoints: tuple[str, str]) -> str:
    return service_endpoints[1]


@pytest.fixture
def unique_name(request: pytest.FixtureRequest) -> str:
    """A short lowercase name unique to this test, safe for topics and index names."""
    base = re.sub(r"[^a-z0-9]+", "-", request.node.name.lower()).strip("-")[:40]
    return f"t-{base}-{uuid.uuid4().hex[:6]}"


def isolated_settings(kafka_bootstrap: str, es_url: str, name: str) -> Settings:
    """Settings pointing at the real services, with topics, consumer group and index
    prefix named after ``name`` (and so apart from every other test's)."""
    return load_settings(environ={}).replace(
        kafka_bootstrap=kafka_bootstrap,
        es_url=es_url,
        topic=f"{name}.requests",
        dlq_topic=f"{name}.requests.dlq",
        consumer_group=f"{name}-indexer",
        index_prefix=name,
    )


@pytest.fixture
def settings(kafka_bootstrap: str, es_url: str, unique_name: str) -> Settings:
    """Settings pointing at the real services, with names isolated to this test."""
    return isolated_settings(kafka_bootstrap, es_url, unique_name)


# ---- dedicated services for fault tests ----------------------------------------------------


class DedicatedServices:
    """Creates services on free ports under ``<state_dir>/dedicated/<name>``; cleans up all."""

    def __init__(self, report: Callable[[str], None]) -> None:
        self.base = load_settings()
        self.download_dir = Path(self.base.download_dir or Path(self.base.state_dir) / "downloads")
        self.report = report
        self.created: list[LocalService] = []

    def _settings(self, name: str) -> Settings:
        return self.base.replace(state_dir=str(Path(self.base.state_dir) / "dedicated" / name))

    def _launch(self, service: LocalService, start: bool) -> None:
        self.created.append(service)
        if start:
            began = time.monotonic()
            service.start()
            self.report(
                f"{service.name} healthy at {service.address} in {time.monotonic() - began:.1f} s"
            )

    def elasticsearch(
        self, *, extra_config: dict[str, Any] | None = None, heap: str = "512m", start: bool = True
    ) -> ElasticsearchService:
        name = f"es-{uuid.uuid4().hex[:8]}"
        http_port, transport_port = free_ports(2)
        service = ElasticsearchService(
            self._settings(name),
            name=name,
            download_dir=self.download_dir,
            report=self.report,
            http_port=http_port,
            transport_port=transport_port,
            heap=heap,
            extra_config=extra_config,
        )
        self._launch(service, start)
        return service

    def kafka(
        self, *, extra_config: dict[str, Any] | None = None, heap: str = "384m", start: bool = True
    ) -> KafkaService:
        name = f"kafka-{uuid.uuid4().hex[:8]}"
        port, controller_port = free_ports(2)
        service = KafkaService(
            self._settings(name),
            name=name,
            download_dir=self.download_dir,
            report=self.report,
            port=port,
            controller_port=controller_port,
            heap=heap,
            extra_config=extra_config,
        )
        self._launch(service, start)
        return service

    def cleanup(self) -> None:
        for service in self.created:
            service.kill()
            shutil.rmtree(service.state_dir, ignore_errors=True)


@pytest.fixture
def dedicated_services(pytestconfig: pytest.Config) -> Iterator[DedicatedServices]:
    """Factory of dedicated services; every one is killed and deleted after the test."""
    services = DedicatedServices(_reporter(pytestconfig))
    try:
        yield services
    finally:
        services.cleanup()


@pytest.fixture
def dedicated_es(dedicated_services: DedicatedServices) -> Callable[..., ElasticsearchService]:
    """``dedicated_es(extra_config=..., heap="512m", start=True)`` -> a started node of its own."""
    return dedicated_services.elasticsearch


@pytest.fixture
def dedicated_kafka(dedicated_services: DedicatedServices) -> Callable[..., KafkaService]:
    """``dedicated_kafka(extra_config=..., heap=..., start=True)`` -> a broker of its own."""
    return dedicated_services.kafka


# ---- a shared local cluster for the cluster tests ------------------------------------------

CLUSTER_DIR_ENV = "REQTRAIL_TEST_CLUSTER_DIR"  # reuse (and keep) a cluster a session made


@dataclass
class LocalCluster:
    """3 Kafka brokers and 3 ES nodes started through ``reqtrail services up``."""

    env: dict[str, str]  # the REQTRAIL_* environment of its `reqtrail services` commands
    kafka_bootstrap: str  # every broker
    es_url: str  # every node
    up_output: str  # stdout of the `services up` that started it

    @property
    def settings(self) -> Settings:
        return load_settings(environ=self.env)

    def stack(self, report: Callable[[str], None] = lambda _line: None) -> LocalStack:
        return LocalStack(self.settings, report=report)

    def settings_for(self, settings: Settings) -> Settings:
        """``settings`` (a test's own names) pointed at every node of the cluster."""
        return settings.replace(kafka_bootstrap=self.kafka_bootstrap, es_url=self.es_url)

    def services(self, *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        """``reqtrail services <args>`` on this cluster."""
        return subprocess.run(
            [sys.executable, "-m", "reqtrail.cli", "services", *args],
            env={**_without_reqtrail(os.environ), **self.env},
            capture_output=True,
            text=True,
            timeout=timeout,
        )


def _without_reqtrail(environ: Any) -> dict[str, str]:
    return {k: v for k, v in environ.items() if not k.startswith("REQTRAIL_")}


def _new_cluster_env() -> dict[str, str]:
    base = load_settings()
    es_port = free_port_base([0, 1, 2, 100, 101, 102])  # HTTP and transport of 3 nodes
    while True:
        kafka_port = free_port_base(range(6))  # broker and controller of 3 nodes
        if not {kafka_port + i for i in range(6)} & {es_port + i for i in (0, 1, 2, 100, 101)}:
            break
    state_dir = Path(base.state_dir) / "dedicated" / f"cluster-{uuid.uuid4().hex[:8]}"
    return {
        "REQTRAIL_STATE_DIR": str(state_dir),
        "REQTRAIL_DOWNLOAD_DIR": base.download_dir or str(Path(base.state_dir) / "downloads"),
        "REQTRAIL_ES_URL": f"http://127.0.0.1:{es_port}",
        "REQTRAIL_KAFKA_BOOTSTRAP": f"127.0.0.1:{kafka_port}",
    }


@pytest.fixture(scope="session")
def local_cluster(pytestconfig: pytest.Config) -> Iterator[LocalCluster]:
    """The session's local cluster, started once on first use and stopped at the end.

    With REQTRAIL_TEST_CLUSTER_DIR=<its state dir>, a cluster an earlier session kept (its
    ``cluster-env.json``) is reused and kept running (for iterating on cluster tests).
    """
    report = _reporter(pytestconfig)
    kept = os.environ.get(CLUSTER_DIR_ENV)
    env = json.loads((Path(kept) / "cluster-env.json").read_text()) if kept else _new_cluster_env()
    cluster = LocalCluster(env, "", "", "")
    report(f"starting a local cluster (3 Kafka brokers, 3 ES nodes) in {env['REQTRAIL_STATE_DIR']}")
    began = time.monotonic()
    up = cluster.services("up", "--kafka-brokers", "3", "--es-nodes", "3")
    Path(env["REQTRAIL_STATE_DIR"], "cluster-env.json").write_text(json.dumps(env))
    stack = cluster.stack()
    if up.returncode != 0:
        if not kept:
            for service in stack.services:
                service.kill()
        tail = "\n".join((up.stderr + up.stdout).splitlines()[-15:])
        pytest.fail(f"the local cluster did not come up:\n{tail}", pytrace=False)
    report(f"local cluster healthy in {time.monotonic() - began:.0f} s")
    cluster.kafka_bootstrap, cluster.es_url = stack.kafka_bootstrap, stack.es_url
    cluster.up_output = up.stdout
    try:
        yield cluster
    finally:
        if not kept:
            down = cluster.services("down")
            report(f"local cluster: {down.stdout.strip() or down.stderr.strip()}")
            left = [service.name for service in stack.services if service.is_running()]
            for service in stack.services:  # whatever `down` could not stop
                service.kill()
            shutil.rmtree(env["REQTRAIL_STATE_DIR"], ignore_errors=True)
            assert down.returncode == 0 and not left, f"`services down` left {left} running"


@pytest.fixture
def cluster(local_cluster: LocalCluster, pytestconfig: pytest.Config) -> LocalCluster:
    """The session's local cluster with every node running (an earlier test may have
    killed one: only that one starts again)."""
    result = local_cluster.stack(_reporter(pytestconfig)).up()
    if result.started:
        report = _reporter(pytestconfig)
        report(f"restarted {', '.join(result.started)} in {result.total_s:.0f} s")
    return local_cluster


# ---- browser tests -------------------------------------------------------------------------


def pytest_runtest_setup(item: pytest.Item) -> None:
    """Tests marked ``browser`` skip, naming what is missing, without Chromium and its driver."""
    if item.get_closest_marker("browser") is None:
        return
    from reqtrail.screenshots import browser_available

    if problem := browser_available():
        pytest.skip(f"headless browser unavailable ({problem}); `./dev test` installs it")
