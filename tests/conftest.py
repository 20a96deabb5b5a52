"""Session fixtures: real Kafka and Elasticsearch, started or reused once per session.

Resolution order for the services (issue #2):
  (a) REQTRAIL_KAFKA_BOOTSTRAP / REQTRAIL_ES_URL when set;
  (b) testcontainers when a Docker engine answers;
  (c) the local stack, through the same code as `reqtrail services up`.
Each test gets its own topic names, consumer group and index prefix (``settings``), so
tests share one broker and one node without seeing each other's data.
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Iterator

import pytest

from reqtrail.settings import Settings, load_settings


@pytest.fixture(scope="session")
def service_endpoints() -> Iterator[tuple[str, str]]:
    """(kafka_bootstrap, es_url) of real services for this test session."""
    kafka = os.environ.get("REQTRAIL_KAFKA_BOOTSTRAP")
    es = os.environ.get("REQTRAIL_ES_URL")
    if kafka and es:
        yield kafka, es
        return
    pytest.fail("no services: set REQTRAIL_KAFKA_BOOTSTRAP and REQTRAIL_ES_URL")


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


@pytest.fixture
def settings(kafka_bootstrap: str, es_url: str, unique_name: str) -> Settings:
    """Settings pointing at the real services, with names isolated to this test."""
    return load_settings(environ={}).replace(
        kafka_bootstrap=kafka_bootstrap,
        es_url=es_url,
        topic=f"{unique_name}.requests",
        dlq_topic=f"{unique_name}.requests.dlq",
        consumer_group=f"{unique_name}-indexer",
        index_prefix=unique_name,
    )
