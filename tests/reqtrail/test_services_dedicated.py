"""Dedicated services for fault tests: own ports and settings, kill/stop/start, data kept."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from kafka import KafkaConsumer, KafkaProducer

from reqtrail.services import ElasticsearchService, KafkaService, ServiceError
from reqtrail.services.jdk import find_jdk
from reqtrail.services.kafka import new_cluster_id
from reqtrail.services.ports import port_is_free
from tests.reqtrail.service_helpers import (
    create_topic_partitions,
    doc_is_there,
    es_request,
    index_one_doc,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_dedicated_es_takes_extra_config_and_survives_kill(
    dedicated_es: Callable[..., ElasticsearchService],
) -> None:
    """extra_config reaches the node, and after kill() + start() the documents are still there."""
    es = dedicated_es(extra_config={"thread_pool.write.queue_size": 1})
    nodes = es_request(f"{es.url}/_nodes/_local/settings")["nodes"]
    node_settings = next(iter(nodes.values()))["settings"]
    assert node_settings["thread_pool"]["write"]["queue_size"] == "1"
    index_one_doc(es.url, "survivor")

    es.kill()
    assert not es.is_running() and not es.is_healthy()
    es.start()
    assert es.is_running() and doc_is_there(es.url, "survivor")


def test_dedicated_kafka_keeps_topics_and_messages_across_restart(
    dedicated_kafka: Callable[..., KafkaService],
) -> None:
    """A graceful stop frees the port; start() brings back the topic and its message."""
    kafka = dedicated_kafka()
    assert create_topic_partitions(kafka.bootstrap, "kept", 6) == 6
    producer = KafkaProducer(bootstrap_servers=kafka.bootstrap)
    producer.send("kept", b"hello").get(timeout=30)
    producer.close()

    assert kafka.stop() is True
    assert not kafka.is_running() and port_is_free(kafka.port)
    kafka.start()
    consumer = KafkaConsumer(
        "kept",
        bootstrap_servers=kafka.bootstrap,
        auto_offset_reset="earliest",
        consumer_timeout_ms=15000,
    )
    try:
        assert next(iter(consumer)).value == b"hello"  # StopIteration after 15 s if absent
    finally:
        consumer.close()


def test_a_service_that_dies_on_start_says_why(
    dedicated_es: Callable[..., ElasticsearchService],
) -> None:
    """A node that cannot boot fails start() with the cause and the tail of its log."""
    es = dedicated_es(extra_config={"no.such.setting": 1}, start=False)
    with pytest.raises(ServiceError) as info:
        es.start()
    headline = str(info.value).splitlines()[0]
    assert headline.startswith(f"{es.name} died on start")
    assert "unknown setting [no.such.setting]" in headline
    assert "  | " in info.value.details
    assert not es.is_running()


def test_storage_formats_with_a_cluster_id_that_starts_with_a_dash(
    dedicated_kafka: Callable[..., KafkaService],
) -> None:
    """A cluster id beginning with "-" reaches Kafka's storage tool as a value, not an option:
    the storage is formatted with it and the broker starts on it."""
    kafka = dedicated_kafka(start=False)
    kafka.install()
    kafka.write_config()
    cluster_id = "-" + new_cluster_id()[1:]
    kafka.format_storage(find_jdk(), cluster_id)
    meta = (kafka.data_dir / "meta.properties").read_text()
    assert f"cluster.id={cluster_id}" in meta.splitlines()
    kafka.start()
    assert kafka.is_healthy()
