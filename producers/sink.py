"""The Kafka sink: a bounded in-memory queue drained by one background thread.

The request thread only appends to a deque (``put``), which costs about a microsecond and
never blocks.  The sender thread builds the kafka-python ``KafkaProducer`` lazily (so a
dead broker never delays app startup), retries the connection with capped backoff, and calls
``producer.send()`` (asynchronous, batched by ``linger_ms``, compressed, keyed by user ID).

Accounting, so that ``dropped`` is exactly the records that will never reach Kafka:

* ``produced``: records handed to ``put``;
* ``delivered``: acknowledged by the broker (its send future succeeded);
* ``dropped``: refused because ``buffer_size`` records were already held (queued + in
  flight), or failed in Kafka (its send future failed, e.g. delivery timeout, or ``send()``
  raised), or still held when ``close()`` gave up;
* ``spilled``: the dropped ones written to ``spill_path`` (when set).

After ``flush()`` returns True, ``produced == delivered + dropped``.
"""

from __future__ import annotations

import atexit
import os
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from reqtrail.producers.guard import capture_internal_exceptions
from reqtrail.producers.kafka_producer import compression_type, make_kafka_producer
from reqtrail.producers.spill import SpillFile
from reqtrail.settings import Settings

ProducerFactory = Callable[[Settings], Any]
# Records sent before the sender lets request threads have the GIL (each send() is ~20 µs
# of Python, and each turn the sender takes is added to the request that was running).  One
# record per turn keeps request latency flat; a long backlog (the server is saturated) gets
# bigger bursts so that records are not all dropped.
SEND_BURST = 1
BACKLOG_BURST = 32
BACKLOG = 256
YIELD_S = 0.00005  # a real sleep: a zero sleep does not reliably hand the GIL over
IDLE_WAIT_S = 0.05
SETTLE_WAIT_S = 0.005
BACKOFF_FIRST_S = 0.5
BACKOFF_MAX_S = 10.0


@dataclass(frozen=True)
class SinkStats:
    produced: int
    delivered: int
    dropped: int
    spilled: int
    queued: int
    in_flight: int
    connected: bool


class KafkaSink:
    """Bounded queue + sender thread in front of a ``KafkaProducer``."""

    def __init__(
        self,
        settings: Settings,
        producer_factory: ProducerFactory = make_kafka_producer,
        register_atexit: bool = True,
    ) -> None:
        compression_type(settings)  # fail at startup on an unusable codec, not in the thread
        self.settings = settings
        self.topic = settings.topic
        self.capacity = settings.buffer_size
        self._factory = producer_factory
        self._spill = SpillFile(settings.spill_path) if settings.spill_path else None
        self._lock = threading.Lock()
        self._reset_state()
        if register_atexit:
            ref = weakref.ref(self)
            atexit.register(_close_at_exit, ref)
            os.register_at_fork(after_in_child=lambda: _reset_after_fork(ref))

    def _reset_state(self) -> None:
        self._queue: deque[tuple[bytes, bytes | None]] = deque()
        # Sent, not yet settled: (kafka-python future, payload), oldest first.  The sender
        # polls ``future.is_done`` instead of registering callbacks, so kafka-python's I/O
        # thread never runs our code (and holds the GIL less).
        self._pending: deque[tuple[Any, bytes]] = deque()
        self._to_spill: deque[bytes] = deque()
        self._wakeup = threading.Event()
        self._stopping = threading.Event()
        self._idle = False
        self._thread: threading.Thread | None = None
        self._producer: Any = None
        self.produced = self.delivered = self.dropped = self.spilled = 0
        self._closed = False

    # --- request thread ----------------------------------------------------------------
    def put(self, payload: bytes, key: bytes | None) -> bool:
        """Queue one record without blocking; False (and counted dropped) when full."""
        with self._lock:
            self.produced += 1
            if self._closed or len(self._queue) + len(self._pending) >= self.capacity:
                self.dropped += 1
                if self._spill is not None and len(self._to_spill) < self.capacity:
                    self._to_spill.append(payload)
                return False
            self._queue.append((payload, key))
        if self._thread is None:
            self._start()
        elif self._idle:
            self._wakeup.set()
        return True

    def _start(self) -> None:
        with self._lock:
            if self._thread is not None or self._closed:
                return
            self._thread = threading.Thread(
                target=self._run, name="reqtrail-kafka-sink", daemon=True
            )
            self._thread.start()

    # --- sender thread -----------------------------------------------------------------
    def _run(self) -> None:
        backoff = BACKOFF_FIRST_S
        while not self._stopping.is_set() or self._queue:
            wait = BACKOFF_FIRST_S
            with capture_internal_exceptions():
                wait = self._step(backoff)
            if wait > 0.0:
                if self._stopping.wait(wait):
                    return
                backoff = min(backoff * 2, BACKOFF_MAX_S)
            else:
                backoff = BACKOFF_FIRST_S

    def _step(self, backoff: float) -> float:
        """One round of work; returns how long to back off (0: go on at once)."""
        self._settle()
        self._write_spill()
        if self._producer is None:
            self._producer = self._connect()
            if self._producer is None:
                return backoff
        if self._send_burst():
            if self._queue:
                time.sleep(YIELD_S)
            return 0.0
        if self._stopping.is_set():
            return 0.0
        self._idle = True
        if not self._queue:
            self._wakeup.wait(SETTLE_WAIT_S if self._pending else IDLE_WAIT_S)
        self._wakeup.clear()
        self._idle = False
        return 0.0

    def _connect(self) -> Any:
        """A producer that knows the topic's partitions, or None (Kafka unreachable)."""
        producer = None
        try:
            producer = self._factory(self.settings)
            producer.partitions_for(self.topic)
        except Exception:
            if producer is not None:
                with capture_internal_exceptions():
                    producer.close(timeout=0)
            return None
        if self._stopping.is_set():
            producer.close(timeout=0)
            return None
        return producer

    def _send_burst(self) -> bool:
        """Send a burst of queued records; False when there was nothing to send."""
        queue, pending, producer, topic = self._queue, self._pending, self._producer, self.topic
        sent = 0
        burst = SEND_BURST if len(queue) < BACKLOG else BACKLOG_BURST
        while sent < burst:
            try:
                payload, key = queue.popleft()
            except IndexError:
                break
            sent += 1
            try:
                pending.append((producer.send(topic, value=payload, key=key), payload))
            except Exception:
                self._count_failed([payload])
        return sent > 0

    def _settle(self) -> None:
        """Count finished sends, oldest first: acknowledged -> delivered, else dropped."""
        pending = self._pending
        delivered = 0
        failed: list[bytes] = []
        while pending and pending[0][0].is_done:
            future, payload = pending.popleft()
            if future.exception is None:
                delivered += 1
            else:
                failed.append(payload)
        if delivered:
            with self._lock:
                self.delivered += delivered
        if failed:
            self._count_failed(failed)

    def _count_failed(self, payloads: list[bytes]) -> None:
        with self._lock:
            self.dropped += len(payloads)
            if self._spill is not None:
                self._to_spill.extend(payloads)

    def _write_spill(self) -> None:
        if self._spill is None or not self._to_spill:
            return
        batch: list[bytes] = []
        while self._to_spill:
            batch.append(self._to_spill.popleft())
        written = self._spill.append(batch)
        with self._lock:
            self.spilled += written

    # --- lifecycle -----------------------------------------------------------------------
    def stats(self) -> SinkStats:
        with self._lock:
            return SinkStats(
                produced=self.produced,
                delivered=self.delivered,
                dropped=self.dropped,
                spilled=self.spilled,
                queued=len(self._queue),
                in_flight=len(self._pending),
                connected=self._producer is not None,
            )

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until every record put so far is delivered or dropped; True if it got there."""
        deadline = time.monotonic() + timeout
        while self._queue and self._thread is not None and time.monotonic() < deadline:
            self._wakeup.set()
            time.sleep(0.005)
        producer = self._producer
        if producer is not None and self._pending:
            with capture_internal_exceptions():
                producer.flush(timeout=max(0.0, deadline - time.monotonic()))
        while self._pending and time.monotonic() < deadline:
            self._wakeup.set()
            time.sleep(0.005)
        with capture_internal_exceptions():
            self._write_spill()
        return not self._queue and not self._pending

    def close(self, timeout: float = 10.0) -> SinkStats:
        """Flush, stop the thread, close the producer; what is still held counts as dropped."""
        if self._closed:
            return self.stats()
        self.flush(timeout)
        with self._lock:
            self._closed = True
        self._stopping.set()
        self._wakeup.set()
        if self._thread is not None:
            self._thread.join(timeout=1.0)
        producer, self._producer = self._producer, None
        if producer is not None:
            with capture_internal_exceptions():
                producer.close(timeout=1.0)
        with capture_internal_exceptions():
            self._settle()
            leftover = [payload for payload, _key in self._queue]
            leftover += [payload for _future, payload in self._pending]
            self._queue.clear()
            self._pending.clear()
            self._count_failed(leftover)
            self._write_spill()
        return self.stats()


def _close_at_exit(ref: weakref.ref[KafkaSink]) -> None:
    sink = ref()
    if sink is not None:
        sink.close(timeout=5.0)


def _reset_after_fork(ref: weakref.ref[KafkaSink]) -> None:
    """A forked worker starts with an empty queue and builds its own thread and producer."""
    sink = ref()
    if sink is not None:
        sink._lock = threading.Lock()
        sink._reset_state()
