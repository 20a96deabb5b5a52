"""Integration: `consume` checks what `setup` creates, and never creates a topic itself."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest
from kafka.admin import KafkaAdminClient
from typer.testing import CliRunner

from reqtrail.consumers.setup import ensure_index_template, ensure_topics, remove_all
from reqtrail.settings import Settings
from tests.consumers.conftest import consumers_app, settings_env

pytestmark = pytest.mark.integration


def broker_topics(settings: Settings) -> set[str]:
    admin = KafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    try:
        return set(admin.list_topics())
    finally:
        admin.close()


def run_consume(settings: Settings, timeout_s: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "reqtrail.cli", "consume"],
        env=os.environ | settings_env(settings),
        capture_output=True,
        text=True,
        timeout=timeout_s,
    )


@pytest.fixture
def cleaned(settings: Settings) -> Iterator[Settings]:
    """This test's settings; whatever it created on the services is removed afterwards."""
    yield settings
    remove_all(settings)


def test_consume_on_a_missing_topic_exits_non_zero_and_creates_none(cleaned: Settings) -> None:
    """With the template installed but no topics, `consume` prints one line naming the
    topic and `reqtrail setup`, exits 1, and the broker still has no such topic."""
    ensure_index_template(cleaned)
    result = run_consume(cleaned)
    assert result.returncode == 1, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("reqtrail consume: topic ")
    assert repr(cleaned.topic) in lines[0] and "REQTRAIL_TOPIC" in lines[0]
    assert "run `reqtrail setup`" in lines[0]
    assert not {cleaned.topic, cleaned.dlq_topic} & broker_topics(cleaned)


def test_consume_before_setup_names_the_missing_template(cleaned: Settings) -> None:
    """Without the index template, `consume` says so in one line and exits 1."""
    ensure_topics(cleaned)
    result = run_consume(cleaned)
    assert result.returncode == 1, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "index template" in lines[0], result.stderr
    assert "run `reqtrail setup`" in lines[0]


def test_elasticsearch_unreachable_at_start_is_named_first_within_5_s(settings: Settings) -> None:
    """With nothing listening at REQTRAIL_ES_URL, reqtrail's own line naming it is the
    first line `consume` prints, within 5 s; SIGTERM still stops it cleanly."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # nothing listens here once the probe is closed
    dead = settings.replace(es_url=f"http://127.0.0.1:{port}")
    began = time.monotonic()
    proc = subprocess.Popen(
        [sys.executable, "-m", "reqtrail.cli", "consume"],
        env=os.environ | settings_env(dead),
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stderr is not None
        first = proc.stderr.readline()
        took = time.monotonic() - began
        assert "REQTRAIL_ES_URL" in first and dead.es_url in first, first
        assert "unreachable" in first
        assert took < 5, f"the first line came after {took:.1f} s"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_setup_warns_about_a_topic_with_fewer_partitions(cleaned: Settings) -> None:
    """An existing 1-partition topic is kept, with a one-line warning naming it and
    REQTRAIL_TOPIC_PARTITIONS."""
    ensure_topics(cleaned.replace(topic_partitions=1))
    env = settings_env(cleaned.replace(topic_partitions=3))
    result = CliRunner().invoke(consumers_app(), ["setup"], env=env)
    assert result.exit_code == 0, result.output
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning: ")]
    assert len(warnings) == 2, result.output  # the records topic and the DLQ topic
    assert repr(cleaned.topic) in warnings[0] + warnings[1]
    assert "has 1 partition(s), fewer than REQTRAIL_TOPIC_PARTITIONS=3" in warnings[0]
    assert "topics created: none" in result.stdout


def test_the_indexers_kafka_clients_never_create_a_topic(cleaned: Settings) -> None:
    """The group consumer subscribed to a missing topic, and the dead-letter producer
    sending to one, leave the broker without it (kafka-python would create both)."""
    from kafka.errors import KafkaTimeoutError

    from reqtrail.consumers.clients import indexer_consumer, reliable_producer

    consumer = indexer_consumer(cleaned)
    try:
        consumer.subscribe([cleaned.topic])
        for _ in range(6):
            assert consumer.poll(timeout_ms=500) == {}
    finally:
        consumer.close(autocommit=False)
    producer = reliable_producer(cleaned, "dlq", max_block_ms=2000)
    try:
        with pytest.raises(KafkaTimeoutError):
            producer.send(cleaned.dlq_topic, b"x").get(timeout=10)
    finally:
        producer.close(timeout=5)
    assert not {cleaned.topic, cleaned.dlq_topic} & broker_topics(cleaned)
