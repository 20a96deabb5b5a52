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
"""

from __future__ import annotations

import os
import re
import shutil
import time
import uuid
from collections.abc import Callable, Iterator
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
from reqtrail.services.ports import free_ports
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


# ---- browser tests -------------------------------------------------------------------------


def pytest_runtest_setup(item: pytest.Item) -> None:
    """Tests marked ``browser`` skip, naming what is missing, without Chromium and its driver."""
    if item.get_closest_marker("browser") is None:
        return
    from reqtrail.screenshots import browser_available

    if problem := browser_available():
        pytest.skip(f"headless browser unavailable ({problem}); `./dev test` installs it")
