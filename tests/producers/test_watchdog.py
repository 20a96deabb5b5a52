"""Unit tests of the producer watchdog, drop reasons and kafka-python log folding (fakes)."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import orjson
import pytest
from kafka.errors import KafkaTimeoutError

import reqtrail.producers.watchdog as watchdog_module
from reqtrail.producers.accounting import DropLog
from reqtrail.producers.kafka_logs import folder
from reqtrail.producers.kafka_producer import producer_id_lost
from reqtrail.producers.sink import KafkaSink
from reqtrail.producers.watchdog import ProducerWatchdog, stall_margin
from reqtrail.settings import Settings, load_settings


class State:
    def __init__(self, name: str) -> None:
        self.name = name


class FakeTransactionManager:
    """kafka-python 3.0's manager as the wedge leaves it: READY, producer ID -1."""

    def __init__(self, lost: bool) -> None:
        self.lost = lost
        self._current_state = State("READY")

    def is_transactional(self) -> bool:
        return False

    def has_producer_id(self) -> bool:
        return not self.lost


class PendingFuture:
    is_done = False
    exception = None


class DoneFuture:
    def __init__(self, exception: Exception | None = None) -> None:
        self.is_done = True
        self.exception = exception


class FakeSender:
    def force_close(self) -> None:
        pass

    def join(self, timeout: float | None = None) -> None:
        pass


class WedgingProducer:
    """Accepts records and never settles them once ``wedge`` is set (the producer ID lost)."""

    def __init__(self, wedge: bool) -> None:
        self._transaction_manager = FakeTransactionManager(lost=wedge)
        self._sender = FakeSender()
        self.wedge = wedge
        self.sent: list[bytes] = []
        self.closed = False

    def partitions_for(self, topic: str) -> set[int]:
        return {0}

    def send(self, topic: str, value: bytes, key: bytes | None = None) -> Any:
        self.sent.append(value)
        return PendingFuture() if self.wedge else DoneFuture()

    def close(self, timeout: float | None = None) -> None:
        if self.wedge and timeout is not None:
            raise KafkaTimeoutError("Timeout waiting for future")
        self.closed = True


def sink_settings(tmp_path: Path, **changes: Any) -> Settings:
    base = load_settings(environ={}).replace(
        topic="t", buffer_size=100, spill_path=str(tmp_path / "spill.ndjson")
    )
    return base.replace(**changes)


def record(i: int) -> bytes:
    return orjson.dumps({"request_id": f"r-{i}"})


def wait_until(check: Any, timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.01)


def test_stall_is_reported_only_past_the_delivery_timeout_and_margin() -> None:
    """A record in flight longer than delivery timeout + margin means the producer is stuck."""
    dog = ProducerWatchdog(4.0, lost_id=lambda producer: False)
    limit = 4.0 + stall_margin(4.0)
    assert dog.check(None, oldest_sent_at=100.0, now=100.0 + limit - 0.01) is None
    dog.reset()
    reason = dog.check(None, oldest_sent_at=100.0, now=100.0 + limit + 0.01)
    assert reason is not None and "REQTRAIL_KAFKA_DELIVERY_TIMEOUT_MS" in reason
    dog.reset()
    assert dog.check(None, oldest_sent_at=None, now=1e9) is None


def test_lost_producer_id_must_persist_before_the_producer_is_replaced() -> None:
    """A producer ID seen lost once is left alone; lost for LOST_ID_GRACE_S it must go."""
    lost = [True]
    dog = ProducerWatchdog(30.0, lost_id=lambda producer: lost[0])
    assert dog.check(None, None, now=10.0) is None
    lost[0] = False
    assert dog.check(None, None, now=10.5) is None  # repaired: the clock starts again
    lost[0] = True
    assert dog.check(None, None, now=11.0) is None
    reason = dog.check(None, None, now=11.0 + watchdog_module.LOST_ID_GRACE_S)
    assert reason is not None and "producer ID" in reason


def test_producer_id_lost_reads_kafka_pythons_wedged_state() -> None:
    """READY with no producer ID is the wedge; anything else (or another client) is not."""
    assert producer_id_lost(WedgingProducer(wedge=True))
    assert not producer_id_lost(WedgingProducer(wedge=False))
    assert not producer_id_lost(object())


def test_sink_replaces_a_wedged_producer_and_spills_what_it_held(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The wedged producer is abandoned, its records dropped as producer_reset and spilled,
    one line says why, and a new producer delivers what comes next."""
    monkeypatch.setattr(watchdog_module, "LOST_ID_GRACE_S", 0.05)
    monkeypatch.setattr(watchdog_module, "CHECK_EVERY_S", 0.01)
    producers = [WedgingProducer(wedge=True), WedgingProducer(wedge=False)]
    made: list[WedgingProducer] = []

    def factory(settings: Settings) -> WedgingProducer:
        made.append(producers[len(made)])
        return made[-1]

    settings = sink_settings(tmp_path)
    sink = KafkaSink(settings, factory, register_atexit=False)
    caplog.set_level(logging.WARNING, logger="reqtrail.producers")
    try:
        for i in range(5):
            sink.put(record(i), None)
        wait_until(lambda: sink.stats().producer_resets == 1)
        for i in range(5, 8):
            sink.put(record(i), None)
        assert sink.flush(timeout=5)
        stats = sink.stats()
    finally:
        sink.close(timeout=1)
    assert (stats.produced, stats.delivered, stats.dropped) == (8, 3, 5)
    assert stats.dropped_by_reason == {"producer_reset": 5}
    assert producers[0].closed is False and len(made) == 2
    spilled = Path(settings.spill_path).read_bytes().splitlines()
    assert [orjson.loads(line)["request_id"] for line in spilled] == [f"r-{i}" for i in range(5)]
    replaced = [r.getMessage() for r in caplog.records if "replaced the Kafka producer" in r.msg]
    assert len(replaced) == 1 and "producer ID" in replaced[0] and "5 records" in replaced[0]


def test_drop_log_writes_one_line_per_interval(caplog: pytest.LogCaptureFixture) -> None:
    """Many drops make one summary line per interval, with the counts by reason."""
    drops = DropLog("/tmp/spill.ndjson", every_s=10.0)
    caplog.set_level(logging.WARNING, logger="reqtrail.producers")
    for _ in range(50):
        drops.note("buffer_full", 2)
        drops.maybe_log(now=100.0)
    drops.note("delivery_timeout", 1)
    drops.maybe_log(now=105.0)
    drops.maybe_log(now=110.5)
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 2
    assert "dropped 2 records (buffer_full 2)" in lines[0]
    assert "dropped 99 records (buffer_full 98, delivery_timeout 1)" in lines[1]


def test_kafka_python_warnings_are_folded_into_one_reqtrail_line(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The first kafka-python warning becomes reqtrail's outage line; later ones are folded
    and counted until delivery resumes, which one more line reports."""
    gate: list[bool] = [False]

    class GatedFuture:
        exception = None

        @property
        def is_done(self) -> bool:
            return gate[0]

    class GatedProducer(WedgingProducer):
        def send(self, topic: str, value: bytes, key: bytes | None = None) -> Any:
            return GatedFuture()

    settings = sink_settings(tmp_path, kafka_bootstrap="127.0.0.1:9")
    sink = KafkaSink(settings, lambda s: GatedProducer(wedge=False), register_atexit=False)
    caplog.set_level(logging.WARNING)
    kafka_log = logging.getLogger("kafka.net.connection")
    try:
        sink.put(record(0), None)
        wait_until(lambda: sink.stats().in_flight == 1)
        folder.attach()
        for _ in range(70):
            kafka_log.error("Connection failed: KafkaConnectionError: 111 ECONNREFUSED")
        gate[0] = True
        wait_until(lambda: sink.stats().delivered == 1)
    finally:
        sink.close(timeout=1)
    messages = [r.getMessage() for r in caplog.records]
    assert not [m for m in messages if m.startswith("Connection failed")]
    down = [m for m in messages if "Kafka is not reachable" in m]
    assert len(down) == 1 and "127.0.0.1:9 (REQTRAIL_KAFKA_BOOTSTRAP)" in down[0]
    assert "ECONNREFUSED" in down[0]
    back = [m for m in messages if "answers again" in m]
    assert len(back) == 1 and "(70 Kafka client messages folded)" in back[0]
