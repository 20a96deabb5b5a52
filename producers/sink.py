"""The Kafka sink: a bounded in-memory queue drained by one background thread.

The request thread only appends to a deque, which never blocks: a rendered record
(``put``), or the event with the function that renders it (``put_event``: the pipeline's
context-free processors then run on the sender thread, not on the request's).  The sender
thread builds the producer lazily (so a dead broker never delays app startup), retries the
connection with capped backoff, and calls ``producer.send()`` (asynchronous, batched by
``linger_ms``, compressed, keyed by user ID).  The producer is librdkafka's
(``confluent_producer``, the default), which sends from C threads and counts settled
records instead of handing back a future each, or with ``REQTRAIL_KAFKA_CLIENT=kafka-python``
kafka-python's ``KafkaProducer`` (``reqtrail.producers.kafka_producer``).

The sender takes the GIL as seldom as it can: nobody wakes it per record.  It looks at the
queue every ``SEND_INTERVAL_S`` and sends when the request threads have gone quiet (no
record came in since its last look), a few records per turn, and stops as soon as a new
record shows a request is running again.  A record that has waited ``MAX_HOLD_S``, a
backlog of ``BACKLOG`` records, or a flush make it send regardless (a saturated server).

It also keeps the producer honest: a ``ProducerWatchdog`` replaces a producer that stopped
settling records (kafka-python 3.0 can wedge for good after an outage), counting and
spilling what it held; and while Kafka is away the sink says so in one line (naming
``REQTRAIL_KAFKA_BOOTSTRAP``), with the Kafka client's own messages folded into it
(``kafka_logs``), and in one more line when Kafka answers again.

Counters and drop reasons are described in ``reqtrail.producers.accounting``: after ``flush()``
returned True, or after ``close()``, ``produced == delivered + dropped``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from structlog import DropEvent

from reqtrail.producers import accounting, shutdown
from reqtrail.producers.accounting import Ledger, SinkStats, drop_reason
from reqtrail.producers.confluent_producer import ConfluentProducer, check_available
from reqtrail.producers.guard import capture_internal_exceptions, report_internal_error
from reqtrail.producers.kafka_logs import OutageReport, folder
from reqtrail.producers.kafka_producer import abandon as abandon_producer
from reqtrail.producers.kafka_producer import compression_type, make_kafka_producer
from reqtrail.producers.watchdog import ProducerWatchdog
from reqtrail.settings import ProducerSettings

__all__ = ["KafkaSink", "ProducerFactory", "SinkStats"]

log = logging.getLogger("reqtrail.producers")

ProducerFactory = Callable[[ProducerSettings], Any]
SEND_INTERVAL_S = 0.02  # how often the sender looks at the queue while it holds anything
MAX_HOLD_S = 0.1  # a record waits at most this long for the request threads to go quiet
CHUNK = 8  # records sent (and rendered) per turn before the sender looks for new ones
BACKLOG = 256  # this many queued records: the sender is woken and sends regardless
YIELD_S = 0.00005  # a real sleep: a zero sleep does not reliably hand the GIL over
IDLE_WAIT_S = 0.05
BACKOFF_FIRST_S = 0.5
BACKOFF_MAX_S = 10.0
THREAD_JOIN_S = 2.5  # the thread may be inside send(), which blocks up to max_block_ms


def producer_factory_for(settings: ProducerSettings) -> ProducerFactory:
    """The producer ``REQTRAIL_KAFKA_CLIENT`` names; a clear error now if it cannot work."""
    if settings.kafka_client == "confluent-kafka":
        check_available()
        compression = compression_type(settings, python_codec=False)
        return lambda s: ConfluentProducer(s, compression)
    compression_type(settings)
    return make_kafka_producer


class KafkaSink:
    """Bounded queue + sender thread in front of a Kafka producer (``producer_factory_for``)."""

    def __init__(
        self,
        settings: ProducerSettings,
        producer_factory: ProducerFactory | None = None,
        register_atexit: bool = True,
    ) -> None:
        # Fail at startup on an unusable client or codec, not in the thread.
        default_factory = producer_factory_for(settings)
        self.settings = settings
        self.topic = settings.topic
        self.capacity = settings.buffer_size
        self._factory = producer_factory or default_factory
        # Reentrant: a signal handler that closes the sink may interrupt put() in this thread.
        self._lock = threading.RLock()
        self._reset_state()
        self._registered = register_atexit
        if register_atexit:
            shutdown.register(self)

    def _reset_state(self) -> None:
        # (payload, key), or (event, renderer) for an event still to be rendered.
        self._queue: deque[tuple[Any, Any]] = deque()
        # Sent, not yet settled: (kafka-python future, payload, monotonic send time), oldest
        # first.  The sender polls ``future.is_done`` instead of registering callbacks, so
        # kafka-python's I/O thread never runs our code (and holds the GIL less).  With
        # confluent-kafka the future is None: that client counts what settled (``settle``).
        self._pending: deque[tuple[Any, bytes, float]] = deque()
        self._wakeup = threading.Event()
        self._stopping = threading.Event()
        self._puts = 0  # records queued so far: the sender tells a quiet spell by it
        self._puts_seen = -1
        self._since = 0.0  # when the oldest queued record came (the queue was empty then)
        self._flushing = False
        self._thread: threading.Thread | None = None
        self._producer: Any = None
        self._watchdog = ProducerWatchdog(self.settings.kafka_delivery_timeout_ms / 1000.0)
        self._ledger = Ledger(self.settings.spill_path, self.capacity, self._lock)
        self._outage = OutageReport(self.settings)
        self._closed = False

    # --- request thread ----------------------------------------------------------------
    def put(self, payload: bytes, key: bytes | None) -> bool:
        """Queue one record without blocking; False (and counted dropped) when full."""
        return self._enqueue(payload, key)

    def _enqueue(self, first: Any, second: Any) -> bool:
        """Queue ``(payload, key)`` (``put``) or ``(event, render)`` (``put_event``)."""
        with self._lock:
            self._ledger.produced += 1
            queue = self._queue
            if self._closed or len(queue) + len(self._pending) >= self.capacity:
                return self._refuse(first, second, accounting.SHUTDOWN if self._closed else None)
            if not queue:
                self._since = time.monotonic()
            queue.append((first, second))
            self._puts += 1
            backlog = len(queue) == BACKLOG
        if self._thread is None:
            self._start()
        elif backlog:
            self._wakeup.set()
        return True

    # put_event(event, render): queue an event that ``render`` turns into (payload, key) on
    # the sender thread (raising to drop it).  Counted as produced now, as ``put`` counts;
    # one that cannot be queued (closed, or the buffer full) is rendered by ``_refuse``, so
    # that it is spilled as a record.  ``_enqueue`` itself: one call less on every request.
    put_event = _enqueue

    def _refuse(self, first: Any, second: Any, reason: str | None) -> bool:
        """Count a record that cannot be queued as dropped (the lock held).  An event is
        rendered here, so that it is spilled as a record (one that fails to render was never
        a record)."""
        if type(first) is dict:
            try:
                first = second(first)[0]
            except (Exception, DropEvent) as exc:  # DropEvent is a BaseException
                self._never_produced(exc)
                return False
        if reason is None:
            self._ledger.drop(accounting.BUFFER_FULL, [first])
        else:
            self._ledger.drop(reason, [first])
            self._ledger.write_spill()  # no thread will do it any more
        return False

    def _start(self) -> None:
        with self._lock:
            if self._thread is not None or self._closed:
                return
            folder.watch(self)
            self._thread = threading.Thread(
                target=self._run, args=(self._stopping,), name="reqtrail-kafka-sink", daemon=True
            )
            self._thread.start()

    # --- sender thread -----------------------------------------------------------------
    def _run(self, stopping: threading.Event) -> None:
        # ``stopping`` is this thread's own: a drain that gave up joining it (it was inside
        # send() or connecting) leaves it to stop by itself, beside any new thread.  What is
        # still queued when it stops is the drain's to count.
        backoff = BACKOFF_FIRST_S
        while not stopping.is_set():
            wait = BACKOFF_FIRST_S
            with capture_internal_exceptions():
                wait = self._step(backoff, stopping)
            if wait > 0.0:
                if stopping.wait(wait):
                    return
                backoff = min(backoff * 2, BACKOFF_MAX_S)
            else:
                backoff = BACKOFF_FIRST_S

    def _step(self, backoff: float, stopping: threading.Event) -> float:
        """One round of work; returns how long to back off (0: go on at once)."""
        now = time.monotonic()
        self._settle()
        if self._producer is not None:
            reason = self._watchdog.check(
                self._producer, self._pending[0][2] if self._pending else None, now
            )
            if reason is not None:
                self._replace_producer(reason)
        self._ledger.write_spill()
        self._ledger.drops.maybe_log(now)
        if self._producer is None:
            producer = self._connect()
            if producer is None:
                return backoff
            if stopping.is_set():  # drained meanwhile: this producer is nobody's
                self._abandon(producer, 0.0)
                return backoff
            self._producer = producer
        queue = self._queue
        if queue and not stopping.is_set():
            puts = self._puts
            pressed = self._flushing or len(queue) >= BACKLOG or now - self._since >= MAX_HOLD_S
            if pressed or puts == self._puts_seen:  # nothing came since the last look: quiet
                self._send_queued(puts, pressed)
            self._puts_seen = self._puts
        self._wakeup.wait(SEND_INTERVAL_S if queue or self._pending else IDLE_WAIT_S)
        self._wakeup.clear()
        return 0.0

    def _connect(self) -> Any:
        """A producer that knows the topic's partitions, or None (Kafka unreachable)."""
        folder.attach()
        producer = None
        try:
            producer = self._factory(self.settings)
            producer.partitions_for(self.topic)
        except Exception as exc:
            if producer is not None:
                with capture_internal_exceptions():
                    self._abandon(producer, 0.0)
            self.kafka_trouble(f"{type(exc).__name__}: {exc}")
            return None
        self._watchdog.reset()
        if self._registered:
            shutdown.run_first_at_exit()  # before the producer's own atexit close
        self._outage.end()
        return producer

    def _send_queued(self, puts: int, pressed: bool) -> None:
        """Send queued records, ``CHUNK`` per turn, until the queue is empty or, unless
        ``pressed``, a new record shows that a request is running again."""
        queue, pending, producer, topic = self._queue, self._pending, self._producer, self.topic
        while queue:
            now = time.monotonic()
            for _ in range(CHUNK):
                try:
                    first, second = queue.popleft()
                except IndexError:
                    break
                if type(first) is dict:  # an event: rendered here, off the request thread
                    try:
                        first, second = second(first)
                    except (Exception, DropEvent) as exc:  # DropEvent is a BaseException
                        self._never_produced(exc)
                        continue
                try:
                    pending.append((producer.send(topic, value=first, key=second), first, now))
                except Exception as exc:
                    self._ledger.drop(drop_reason(exc), [first])
            if queue:
                if not (pressed or self._flushing) and self._puts != puts:
                    return
                time.sleep(YIELD_S)  # let a request thread have the GIL between turns

    def _never_produced(self, exc: BaseException) -> None:
        """An event that failed to render was never a record: it is not counted at all."""
        with self._lock:
            self._ledger.produced -= 1
        if not isinstance(exc, DropEvent):
            report_internal_error(exc)

    def _render_leftovers(self) -> list[bytes]:
        """The queued records as payloads (events rendered), the queue emptied."""
        out: list[bytes] = []
        while self._queue:
            first, second = self._queue.popleft()
            if type(first) is dict:
                try:
                    first, _key = second(first)
                except (Exception, DropEvent) as exc:
                    self._never_produced(exc)
                    continue
            out.append(first)
        return out

    def _settle(self) -> None:
        """Count finished sends, oldest first: acknowledged -> delivered, else dropped."""
        if getattr(self._producer, "counts_settled", False):
            self._settle_counted(self._producer)
            return
        pending = self._pending
        delivered = 0
        while pending and pending[0][0].is_done:
            future, payload, _sent_at = pending.popleft()
            if future.exception is None:
                delivered += 1
            else:
                self._ledger.drop(drop_reason(future.exception), [payload])
        if delivered:
            self._ledger.deliver(delivered)
            self._outage.end()

    def _settle_counted(self, producer: Any, abandoned: str | None = None) -> int:
        """``_settle`` for a client that counts settled records and hands back the failed
        ones (confluent-kafka).  With ``abandoned`` (the producer is closed), what it still
        holds is dropped for that reason.  Returns how many records were dropped."""
        pending = self._pending
        settled, failed = producer.settle(len(pending))
        # The count can come out low (librdkafka counts its queued log and error events
        # too), never high; the failed ones are gone for certain.
        settled = max(settled, len(failed))
        for _ in range(settled):
            pending.popleft()
        for payload, reason in failed:
            self._ledger.drop(reason or abandoned or accounting.KAFKA_ERROR, [payload])
        dropped = len(failed)
        if abandoned is not None and pending:
            # Not reported back even after the purge: which ones is unknown, how many is not.
            held = [payload for _future, payload, _sent_at in pending]
            pending.clear()
            self._ledger.drop(abandoned, held)
            dropped += len(held)
        delivered = settled - len(failed)
        if delivered > 0:
            self._ledger.deliver(delivered)
            self._outage.end()
        return dropped

    def _replace_producer(self, reason: str) -> None:
        """Close a producer that stopped settling records; what it held is dropped."""
        producer, self._producer = self._producer, None
        self._watchdog.reset()
        with capture_internal_exceptions():
            self._abandon(producer, 0.0)
        held = self._settle_abandoned(producer)
        with self._lock:
            self._ledger.producer_resets += 1
        where = (
            f"spilled to {self.settings.spill_path}"
            if self.settings.spill_path
            else "lost (REQTRAIL_SPILL_PATH is empty)"
        )
        log.warning(
            "reqtrail: replaced the Kafka producer: %s; the %d records it held are counted "
            "as dropped (producer_reset) and %s",
            reason,
            held,
            where,
        )

    def _settle_abandoned(self, producer: Any, reason: str = accounting.PRODUCER_RESET) -> int:
        """Settle every record of an abandoned producer; returns how many were dropped."""
        if getattr(producer, "counts_settled", False):
            return self._settle_counted(producer, reason)
        delivered, dropped = 0, 0
        while self._pending:
            future, payload, _sent_at = self._pending.popleft()
            exc = future.exception if future.is_done else None
            if future.is_done and exc is None:
                delivered += 1
                continue
            # Unsettled, or failed by the forced close itself (IllegalStateError): ours.
            if exc is None or type(exc).__name__ == "IllegalStateError":
                self._ledger.drop(reason, [payload])
            else:
                self._ledger.drop(drop_reason(exc), [payload])
            dropped += 1
        self._ledger.deliver(delivered)
        return dropped

    @staticmethod
    def _abandon(producer: Any, timeout_s: float) -> None:
        """Close a producer on purpose; kafka-python's complaints about it are folded."""
        with folder.quiet():
            abandon_producer(producer, timeout_s)

    def kafka_trouble(self, detail: str) -> bool:
        """Kafka failed (connect error, or kafka-python's first warning): report an outage
        (once; True when it is reported).  Called by ``kafka_logs.folder`` too."""
        if self._closed or self._thread is None:
            return False
        return self._outage.begin(detail)

    # --- lifecycle -----------------------------------------------------------------------
    def stats(self) -> SinkStats:
        return self._ledger.stats(len(self._queue), len(self._pending), self._producer is not None)

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until every record put so far is delivered or dropped; True if it got there."""
        # Settled by the counts, not by empty queues: the sender thread holds a record
        # between the queue and the pending list, and a batch between the pending list and
        # the count, and a flush that returned then would break produced = delivered + dropped.
        deadline = time.monotonic() + timeout
        self._flushing = True
        try:
            while not self._ledger.settled() and self._thread is not None:
                if time.monotonic() >= deadline:
                    break
                self._wakeup.set()
                time.sleep(0.005)
        finally:
            self._flushing = False
        with capture_internal_exceptions():
            self._ledger.write_spill()
        return self._ledger.settled()

    def drain(self, timeout: float, reason: str = accounting.SHUTDOWN) -> SinkStats:
        """Flush for at most ``timeout`` s, then stop the thread and the producer: whatever
        is still held is dropped (``reason``) and spilled.  The sink stays usable: a later
        ``put`` starts a new thread and producer."""
        self.flush(timeout)
        self._stopping.set()
        self._wakeup.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=THREAD_JOIN_S)
        producer, self._producer = self._producer, None
        if producer is not None:
            with capture_internal_exceptions():
                self._abandon(producer, 1.0)
        with capture_internal_exceptions():
            self._settle_abandoned(producer, reason)
            self._ledger.write_spill()
            leftover = self._render_leftovers()
            if leftover:
                self._ledger.drop(reason, leftover)
            self._ledger.write_spill()
        self._outage.end(answered=False)  # stop folding kafka-python's lines
        with self._lock:
            self._thread = None
            self._stopping = threading.Event()
            self._wakeup = threading.Event()
        return self.stats()

    def close(self, timeout: float = 10.0) -> SinkStats:
        """Drain (see ``drain``) and refuse later records (dropped as ``shutdown``)."""
        if self._closed:
            return self.stats()
        stats = self.drain(timeout)
        with self._lock:
            self._closed = True
            # A record put while the drain ran is still in the queue: it is dropped too.
            leftover = self._render_leftovers()
            if leftover:
                self._ledger.drop(accounting.SHUTDOWN, leftover)
                stats = self.stats()
        with capture_internal_exceptions():
            self._ledger.write_spill()
        return self.stats() if leftover else stats

    def reset_after_fork(self) -> None:
        """A forked worker starts with an empty queue and builds its own thread and producer."""
        self._lock = threading.RLock()
        self._reset_state()
