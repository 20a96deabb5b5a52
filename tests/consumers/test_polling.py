"""Unit tests of how BatchPoller waits for records (a scripted fake of KafkaConsumer.poll)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any, NamedTuple

import pytest
from kafka.errors import IllegalStateError, KafkaConnectionError

from reqtrail.consumers.offsets import OffsetTracker
from reqtrail.consumers.polling import ANSWER_CHECK_S, BatchPoller
from reqtrail.settings import load_settings


class TopicPartition(NamedTuple):
    topic: str
    partition: int


class Record(NamedTuple):
    offset: int
    serialized_value_size: int = 100


class ScriptedConsumer:
    """``poll`` answers from ``script`` (call number -> records of partition 0), else
    nothing after sleeping its timeout, as the real one does; it notes every timeout."""

    def __init__(self, script: dict[int, list[Record]] | None = None) -> None:
        self.script = script or {}
        self.timeouts_ms: list[int] = []

    def poll(self, timeout_ms: int, max_records: int) -> dict[Any, list[Record]]:
        self.timeouts_ms.append(timeout_ms)
        records = self.script.get(len(self.timeouts_ms))
        if records is None:
            time.sleep(timeout_ms / 1000)
            return {}
        return {TopicPartition("t", 0): records[:max_records]}


def poller(consumer: ScriptedConsumer, batch_size: int = 4, max_wait_ms: int = 300) -> BatchPoller:
    settings = load_settings().replace(batch_size=batch_size, batch_max_wait_ms=max_wait_ms)
    return BatchPoller(consumer, OffsetTracker(), settings, lambda: False)


def answered_after(checks: int) -> Callable[[], bool]:
    """An ``answered`` that turns true on its ``checks``-th call."""
    calls = [0]

    def answered() -> bool:
        calls[0] += 1
        return calls[0] >= checks

    return answered


def test_an_answered_bulk_ends_an_empty_wait_early() -> None:
    """Nothing arrives while a bulk is in flight: the wait is cut into short polls and
    ends, empty, once the bulk is answered, long before batch_max_wait_ms."""
    consumer = ScriptedConsumer()
    began = time.monotonic()
    batch = poller(consumer, max_wait_ms=10_000).poll_batch(answered_after(4))
    assert batch == []
    assert time.monotonic() - began < 1.0
    assert len(consumer.timeouts_ms) == 3  # the 4th check found the answer
    assert all(t <= ANSWER_CHECK_S * 1000 for t in consumer.timeouts_ms)


def test_without_a_bulk_in_flight_the_wait_stays_whole() -> None:
    """No ``answered``: one poll for the whole batch_max_wait_ms (short polls would keep
    kafka-python from finishing a group join)."""
    consumer = ScriptedConsumer()
    assert poller(consumer, max_wait_ms=120).poll_batch() == []
    assert consumer.timeouts_ms[0] >= 110
    assert len(consumer.timeouts_ms) == 1


def test_an_answered_bulk_never_cuts_a_batch_that_has_begun() -> None:
    """Once records came, the batch fills (or waits out batch_max_wait_ms) as usual, with
    whole waits again: the short polls are only for waiting while nothing came."""
    consumer = ScriptedConsumer({2: [Record(0), Record(1)], 3: [Record(2), Record(3)]})
    answered_once_records_came = lambda: len(consumer.timeouts_ms) >= 2  # noqa: E731
    batch = poller(consumer, batch_size=4).poll_batch(answered_once_records_came)
    assert [r.offset for _, records in batch for r in records] == [0, 1, 2, 3]
    assert consumer.timeouts_ms[0] <= ANSWER_CHECK_S * 1000
    assert consumer.timeouts_ms[2] > ANSWER_CHECK_S * 1000  # after the first records


def test_a_partial_batch_is_returned_after_batch_max_wait_ms() -> None:
    consumer = ScriptedConsumer({1: [Record(7)]})
    began = time.monotonic()
    batch = poller(consumer, batch_size=4, max_wait_ms=150).poll_batch()
    waited = time.monotonic() - began
    assert [r.offset for _, records in batch for r in records] == [7]
    assert 0.1 <= waited < 2.0


class FailingConsumer(ScriptedConsumer):
    """``poll`` raises ``errors[n]`` on call n (1-based), else answers as scripted."""

    def __init__(self, errors: dict[int, Exception], script: dict[int, list[Record]]) -> None:
        super().__init__(script)
        self.errors = errors

    def poll(self, timeout_ms: int, max_records: int) -> dict[Any, list[Record]]:
        error = self.errors.get(len(self.timeouts_ms) + 1)
        if error is not None:
            self.timeouts_ms.append(timeout_ms)
            raise error
        return super().poll(timeout_ms, max_records)


def test_a_retriable_kafka_error_from_poll_is_logged_once_and_polling_goes_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """kafka-python lets a lost broker's KafkaConnectionError escape poll() during a group
    coordinator lookup: the batch still comes, and one warning names the error."""
    lost = KafkaConnectionError("[Errno 104] Connection reset by peer")
    consumer = FailingConsumer({1: lost, 2: lost}, {3: [Record(0), Record(1)]})
    polling = poller(consumer, batch_size=2, max_wait_ms=50)
    with caplog.at_level(logging.WARNING, logger="reqtrail.consumer"):
        batches = [polling.poll_batch() for _ in range(3)]  # as the loop polls on
    assert [r.offset for batch in batches for _progress, records in batch for r in records] == [
        0,
        1,
    ]
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "KafkaConnectionError" in warnings[0]


def test_a_kafka_error_that_retrying_cannot_mend_still_stops_the_poll() -> None:
    """A non-retriable error (an illegal consumer state) is not swallowed."""
    consumer = FailingConsumer({1: IllegalStateError("no subscription")}, {})
    with pytest.raises(IllegalStateError):
        poller(consumer).poll_batch()
