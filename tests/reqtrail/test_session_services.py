"""The session fixtures hand out a real broker and a real node, isolated per test."""

from __future__ import annotations

import pytest
from elasticsearch import Elasticsearch
from kafka import KafkaConsumer, KafkaProducer

from reqtrail.settings import Settings

pytestmark = pytest.mark.integration


def test_kafka_round_trip_on_the_session_broker(settings: Settings) -> None:
    """A message produced to this test's topic is consumed back from it."""
    producer = KafkaProducer(bootstrap_servers=settings.kafka_bootstrap)
    producer.send(settings.topic, b"ping").get(timeout=30)
    producer.close()
    consumer = KafkaConsumer(
        settings.topic,
        bootstrap_servers=settings.kafka_bootstrap,
        auto_offset_reset="earliest",
        consumer_timeout_ms=15000,
    )
    try:
        assert next(iter(consumer)).value == b"ping"  # StopIteration after 15 s if absent
    finally:
        consumer.close()


def test_es_index_and_search_on_the_session_node(settings: Settings) -> None:
    """A document indexed under this test's prefix is found by a search, then removed."""
    es = Elasticsearch(settings.es_url)
    index = f"{settings.index_prefix}-smoke"
    try:
        es.indices.create(index=index, settings={"number_of_replicas": 0})
        es.index(index=index, id="1", document={"path": "/ping"}, refresh=True)
        hits = es.search(index=index, query={"term": {"path.keyword": "/ping"}})["hits"]
        assert hits["total"]["value"] == 1
    finally:
        es.indices.delete(index=index, ignore_unavailable=True)
        es.close()
