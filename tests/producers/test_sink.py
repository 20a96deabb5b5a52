"""Unit tests of the Kafka sink's queue, accounting and spill, with a fake producer."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import orjson
import pytest
from kafka.partitioner.default import DefaultPartitioner

import reqtrail.producers.sink as sink_module
from reqtrail.producers.kafka_producer import KeyHashCachingPartitioner
from reqtrail.producers.sink import KafkaSink
from reqtrail.settings import Settings, load_settings


class FakeFuture:
    def __init__(self, exception: Exception | None) -> None:
        self.is_done = True
        self.exception = exception


class FakeProducer:
    """Accepts everything; records whose payload contains b"fail" fail in "Kafka"."""

    def __init__(self, raise_on_send: bool = False) -> None:
        self.sent: list[tuple[str, bytes, bytes | None]] = []
        self.raise_on_send = raise_on_send
        self.closed = False

    def partitions_for(self, topic: str) -> set[int]:
        return {0}

    def send(self, topic: str, value: bytes, key: bytes | None = None) -> FakeFuture:
        if self.raise_on_send:
            raise RuntimeError("buffer exhausted")
        self.sent.append((topic, value, key))
        return FakeFuture(RuntimeError("timed out") if b"fail" in value else None)

    def flush(self, timeout: float | None = None) -> None:
        return None

    def close(self, timeout: float | None = None) -> None:
        self.closed = True


def make_settings(tmp_path: Path, **changes: Any) -> Settings:
    base = load_settings(environ={}).replace(topic="t", buffer_size=3)
    return base.replace(**changes)


def record(i: int, extra: str = "") -> bytes:
    return orjson.dumps({"i": i, "user_id": f"player-{i}", "note": extra})


def test_put_never_waits_for_a_producer_that_cannot_connect(tmp_path: Path) -> None:
    """While the producer factory hangs (Kafka down), put() still returns at once."""
    release = threading.Event()

    def hanging_factory(settings: Settings) -> Any:
        release.wait(10)
        raise ConnectionError("no broker")

    sink = KafkaSink(make_settings(tmp_path), hanging_factory, register_atexit=False)
    try:
        results = [sink.put(record(i), None) for i in range(5)]  # would hang if it blocked
        assert results == [True, True, True, False, False]
        stats = sink.stats()
        assert (stats.produced, stats.queued, stats.dropped, stats.connected) == (5, 3, 2, False)
    finally:
        release.set()
        sink.close(timeout=0.1)


def test_overflow_and_leftovers_are_dropped_and_spilled(tmp_path: Path) -> None:
    """Records beyond the buffer, and those still queued at close, go to the spill file."""
    spill = tmp_path / "spill.ndjson"

    def failing_factory(settings: Settings) -> Any:
        raise ConnectionError("no broker")

    sink = KafkaSink(
        make_settings(tmp_path, spill_path=str(spill)), failing_factory, register_atexit=False
    )
    for i in range(5):
        sink.put(record(i), None)
    stats = sink.close(timeout=0.1)
    assert (stats.produced, stats.delivered, stats.dropped, stats.spilled) == (5, 0, 5, 5)
    spilled = sorted(orjson.loads(line)["i"] for line in spill.read_bytes().splitlines())
    assert spilled == [0, 1, 2, 3, 4]


def test_delivery_failures_count_as_dropped_and_successes_as_delivered(tmp_path: Path) -> None:
    """Futures that fail are dropped (and spilled); produced == delivered + dropped."""
    producer = FakeProducer()
    spill = tmp_path / "spill.ndjson"
    sink = KafkaSink(
        make_settings(tmp_path, buffer_size=100, spill_path=str(spill)),
        lambda settings: producer,
        register_atexit=False,
    )
    for i in range(20):
        sink.put(record(i, "fail" if i % 4 == 0 else ""), f"player-{i}".encode())
    assert sink.flush(timeout=5)
    stats = sink.close(timeout=1)
    assert (stats.produced, stats.delivered, stats.dropped, stats.spilled) == (20, 15, 5, 5)
    assert len(producer.sent) == 20 and producer.closed
    assert {key for _topic, _value, key in producer.sent} == {
        f"player-{i}".encode() for i in range(20)
    }
    assert len(spill.read_bytes().splitlines()) == 5


def test_flush_returns_only_once_every_record_is_counted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """flush() waits for the counts, not for empty queues: right after it returns True,
    produced == delivered + dropped, even when the sender thread counts a settled batch
    late (here 50 ms after taking it off the pending list)."""
    deliver = sink_module.Ledger.deliver

    def slow_deliver(ledger: Any, count: int) -> None:
        time.sleep(0.05)
        deliver(ledger, count)

    monkeypatch.setattr(sink_module.Ledger, "deliver", slow_deliver)
    producer = FakeProducer()
    sink = KafkaSink(
        make_settings(tmp_path, buffer_size=100), lambda settings: producer, register_atexit=False
    )
    try:
        for round_ in range(5):
            for i in range(10):
                sink.put(record(round_ * 10 + i), None)
            assert sink.flush(timeout=5)
            stats = sink.stats()
            assert stats.produced == stats.delivered + stats.dropped == (round_ + 1) * 10
    finally:
        sink.close(timeout=1)


def test_send_errors_count_as_dropped(tmp_path: Path) -> None:
    """If producer.send() itself raises, the record is dropped, not lost from the counters."""
    sink = KafkaSink(
        make_settings(tmp_path, buffer_size=100),
        lambda settings: FakeProducer(raise_on_send=True),
        register_atexit=False,
    )
    for i in range(4):
        sink.put(record(i), None)
    assert sink.flush(timeout=5)
    stats = sink.close(timeout=1)
    assert (stats.produced, stats.delivered, stats.dropped) == (4, 0, 4)


def test_connection_is_retried_until_kafka_answers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The producer is built lazily and retried with backoff; queued records then flow."""
    monkeypatch.setattr(sink_module, "BACKOFF_FIRST_S", 0.01)
    attempts: list[int] = []
    producer = FakeProducer()

    def flaky_factory(settings: Settings) -> Any:
        attempts.append(1)
        if len(attempts) < 3:
            raise ConnectionError("not yet")
        return producer

    sink = KafkaSink(make_settings(tmp_path, buffer_size=10), flaky_factory, register_atexit=False)
    for i in range(3):
        sink.put(record(i), None)
    deadline = time.monotonic() + 5
    while sink.stats().delivered < 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    stats = sink.close(timeout=1)
    assert len(attempts) == 3 and stats.delivered == 3 and stats.dropped == 0


def test_caching_partitioner_agrees_with_kafka_pythons_default() -> None:
    """Same key -> same partition as DefaultPartitioner (murmur2), for any partition count."""

    class Cluster:
        def __init__(self, n: int) -> None:
            self.n = n

        def topics(self) -> set[str]:
            return {"t"}

        def partitions_for_topic(self, topic: str) -> set[int]:
            return set(range(self.n))

        def available_partitions_for_topic(self, topic: str) -> set[int]:
            return set(range(self.n))

    cached, default = KeyHashCachingPartitioner(), DefaultPartitioner()
    for n in (1, 3, 6, 12):
        cluster = Cluster(n)
        for i in range(300):
            key = f"player-{i:05d}".encode()
            for _ in range(2):  # second time from the cache
                assert cached.partition("t", key, key, None, b"", cluster) == default.partition(
                    "t", key, key, None, b"", cluster
                )


def test_unusable_compression_fails_at_startup(tmp_path: Path) -> None:
    """A codec typo or a missing codec package is a clear error when the sink is built."""
    from reqtrail.settings import SettingsError

    with pytest.raises(SettingsError, match="REQTRAIL_KAFKA_COMPRESSION must be one of"):
        KafkaSink(make_settings(tmp_path, kafka_compression="brotli"), register_atexit=False)
    for name in ("zstd", "gzip", "none"):
        KafkaSink(make_settings(tmp_path, kafka_compression=name), register_atexit=False)


def rendering(calls: list[str]) -> Any:
    """A renderer that notes the thread it runs on; events with "skip" are dropped."""
    from structlog import DropEvent

    def render(event: dict[str, Any]) -> tuple[bytes, bytes | None]:
        calls.append(threading.current_thread().name)
        if event.get("skip"):
            raise DropEvent
        return orjson.dumps(event), str(event["i"]).encode()

    return render


def test_events_are_rendered_on_the_sender_thread(tmp_path: Path) -> None:
    """put_event hands the event over as it is; the sender renders and sends it, and an
    event the renderer drops was never a record (not produced, not dropped)."""
    producer = FakeProducer()
    calls: list[str] = []
    render = rendering(calls)
    sink = KafkaSink(
        make_settings(tmp_path, buffer_size=100), lambda settings: producer, register_atexit=False
    )
    for i in range(10):
        assert sink.put_event({"i": i, "skip": i == 3}, render)
    assert sink.flush(timeout=5)
    stats = sink.close(timeout=1)
    assert (stats.produced, stats.delivered, stats.dropped) == (9, 9, 0)
    assert [orjson.loads(value)["i"] for _t, value, _k in producer.sent] == [
        i for i in range(10) if i != 3
    ]
    assert threading.current_thread().name not in calls and len(calls) == 10


def test_events_that_find_no_room_are_rendered_and_spilled(tmp_path: Path) -> None:
    """An event refused (buffer full, or the sink closed) is spilled as its record."""
    spill = tmp_path / "spill.ndjson"

    def failing_factory(settings: Settings) -> Any:
        raise ConnectionError("no broker")

    sink = KafkaSink(
        make_settings(tmp_path, spill_path=str(spill)), failing_factory, register_atexit=False
    )
    render = rendering([])
    results = [sink.put_event({"i": i}, render) for i in range(5)]
    assert results == [True, True, True, False, False]
    sink.close(timeout=0.1)
    assert sink.put_event({"i": 5}, render) is False
    stats = sink.stats()
    assert (stats.produced, stats.dropped, stats.spilled) == (6, 6, 6)
    spilled = sorted(orjson.loads(line)["i"] for line in spill.read_bytes().splitlines())
    assert spilled == [0, 1, 2, 3, 4, 5]


def test_a_refused_event_that_fails_to_render_was_never_a_record(
    tmp_path: Path, internal_errors: list[BaseException]
) -> None:
    """An event refused on a closed sink is rendered to be spilled; one whose rendering
    raises is not counted at all, and the error is reported as an internal one."""

    def broken(event: dict[str, Any]) -> tuple[bytes, bytes | None]:
        raise ValueError("cannot render")

    sink = KafkaSink(make_settings(tmp_path), register_atexit=False)
    sink.close(timeout=0.1)
    assert sink.put_event({"i": 0}, broken) is False
    assert sink.put_event({"i": 1, "skip": True}, rendering([])) is False
    stats = sink.stats()
    assert (stats.produced, stats.dropped) == (0, 0)
    assert [str(e) for e in internal_errors] == ["cannot render"]  # a DropEvent is no error


def test_a_record_held_for_quiet_is_sent_within_the_hold(tmp_path: Path) -> None:
    """The sender waits for the request threads to go quiet, but never past MAX_HOLD_S:
    with a record put every 5 ms for half a second, every record reaches the producer
    within MAX_HOLD_S plus a look or two."""
    producer = FakeProducer()
    seen: dict[int, float] = {}

    class Timing(FakeProducer):
        def send(self, topic: str, value: bytes, key: bytes | None = None) -> FakeFuture:
            seen[orjson.loads(value)["i"]] = time.monotonic()
            return producer.send(topic, value, key)

    sink = KafkaSink(
        make_settings(tmp_path, buffer_size=1000), lambda settings: Timing(), register_atexit=False
    )
    put_at: dict[int, float] = {}
    try:
        for i in range(100):
            put_at[i] = time.monotonic()
            sink.put(record(i), None)
            time.sleep(0.005)
        assert sink.flush(timeout=5)
    finally:
        sink.close(timeout=1)
    waits = sorted(seen[i] - put_at[i] for i in range(100))
    limit = sink_module.MAX_HOLD_S + 3 * sink_module.SEND_INTERVAL_S
    assert waits[94] <= limit, waits[-5:]


class CountingProducer:
    """confluent-kafka's surface (``counts_settled``): no future per record; ``settle``
    says how many settled and hands back the failed ones.  Its outstanding count also holds
    ``events`` log and error events at first, as librdkafka's ``len()`` does."""

    counts_settled = True

    def __init__(self, events: int) -> None:
        self.held: list[bytes] = []
        self.events = events

    def partitions_for(self, topic: str) -> set[int]:
        return {0}

    def send(self, topic: str, value: bytes, key: bytes | None = None) -> None:
        self.held.append(value)

    def settle(self, unsettled: int) -> tuple[int, list[tuple[bytes, str | None]]]:
        failed = [(value, "delivery_timeout") for value in self.held if b"fail" in value]
        self.held = []  # every record handed over so far has left
        outstanding = 0
        if failed:  # the failures' own error events are still counted, this once
            outstanding, self.events = self.events, 0
        return unsettled - outstanding, failed

    def close(self, timeout: float = 0.0) -> None:
        return None


def test_a_count_that_comes_out_low_never_counts_a_record_twice(tmp_path: Path) -> None:
    """A client whose settled count is low while it reports failures (events counted as
    outstanding): the failed are dropped once, the rest delivered once, no more."""
    spill = tmp_path / "spill.ndjson"
    sink = KafkaSink(
        make_settings(tmp_path, buffer_size=100, spill_path=str(spill)),
        lambda settings: CountingProducer(events=9),
        register_atexit=False,
    )
    for i in range(10):
        sink.put(record(i, "fail" if i < 3 else ""), None)
    assert sink.flush(timeout=5), sink.stats()
    stats = sink.close(timeout=1)
    assert (stats.produced, stats.delivered, stats.dropped, stats.spilled) == (10, 7, 3, 3)
    spilled = sorted(orjson.loads(line)["i"] for line in spill.read_bytes().splitlines())
    assert spilled == [0, 1, 2]
