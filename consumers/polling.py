"""Batches from the Kafka consumer, with offsets tracked from the moment they arrive.

``BatchPoller`` polls until a batch is full (count or bytes) or ``batch_max_wait_ms``
passed since its first record, and registers every record with the OffsetTracker as soon
as ``poll`` returns it, so records fetched before a rebalance keep the (revoked) progress
they came with. ``wait_paused`` is how the loop waits out a failure: every partition is
paused, and polling continues, so the consumer stays in its group (and sees rebalances)
without fetching more records.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from typing import Any

from kafka.errors import KafkaError

from reqtrail.consumers.offsets import OffsetTracker, PartitionProgress
from reqtrail.settings import IndexerSettings

log = logging.getLogger("reqtrail.consumer")

Polled = list[tuple[PartitionProgress, list[Any]]]  # (progress, kafka ConsumerRecords)

ANSWER_CHECK_S = 0.005  # while a bulk is in flight and no record came: look this often
POLL_ERROR_LOG_S = 10.0  # a retriable poll failure is logged at most this often


class BatchPoller:
    """Polls ``consumer`` (kafka-python KafkaConsumer) in batches; pauses on request."""

    def __init__(
        self,
        consumer: Any,
        tracker: OffsetTracker,
        settings: IndexerSettings,
        stopping: Callable[[], bool],
        on_poll: Callable[[int], None] | None = None,
    ) -> None:
        self.consumer = consumer
        self.on_poll = on_poll  # told the records of every poll, the loop's heartbeat
        self.tracker = tracker
        self.settings = settings
        self.stopping = stopping
        self.holding = False
        self._carry: Polled = []
        self._poll_errors = 0  # retriable poll failures since the last warning
        self._poll_error_logged_at = -math.inf

    def poll_batch(self, answered: Callable[[], bool] | None = None) -> Polled:
        """Records up to batch_size / batch_max_bytes, or what came within batch_max_wait_ms.

        ``answered``, given while a bulk request is in flight, tells whether it has its
        answer. While nothing has arrived, the wait is then cut into slices of
        ANSWER_CHECK_S and ends early, with an empty batch, once ``answered()`` is true:
        when the topic runs dry, the last bulk is settled (its offsets committed) as soon
        as it is answered, not a whole ``batch_max_wait_ms`` later. (Without a bulk in
        flight the wait stays whole: short polls would keep kafka-python from finishing a
        group join.)
        """
        settings = self.settings
        batch, self._carry = self._carry, []
        count = sum(len(records) for _, records in batch)
        nbytes = 0
        max_wait = settings.batch_max_wait_ms / 1000
        began = time.monotonic()
        first_at: float | None = began if batch else None
        while not self.stopping() and count < settings.batch_size:
            if nbytes >= settings.batch_max_bytes:
                break
            if first_at is None:
                timeout = began + max_wait - time.monotonic()
                if answered is not None:
                    if answered():
                        break
                    timeout = min(timeout, ANSWER_CHECK_S)
            else:
                timeout = first_at + max_wait - time.monotonic()
            if timeout <= 0:
                break
            polled = self.poll(timeout, settings.batch_size - count)
            if not polled:
                continue
            if first_at is None:
                first_at = time.monotonic()
            for _progress, records in polled:
                count += len(records)
                nbytes += sum([r.serialized_value_size for r in records])
            batch.extend(polled)
        return batch

    def poll(self, timeout_s: float, max_records: int) -> Polled:
        """One ``poll``; each partition's records with the progress that tracks them.

        A retriable Kafka error (a broker lost while the consumer looks for its group
        coordinator, say: kafka-python 3.0 lets some escape its own retries, see
        docs/kafka-python-notes.md) is logged, at most once per POLL_ERROR_LOG_S, and
        the poll's wait is spent; the next poll tries again."""
        polled: dict[Any, list[Any]] = {}
        try:
            polled = self.consumer.poll(
                timeout_ms=max(0, math.ceil(timeout_s * 1000)), max_records=max_records
            )
        except KafkaError as exc:
            if not exc.retriable:
                raise
            self._poll_failed(exc)
            time.sleep(max(0.0, timeout_s))
        finally:
            if self.on_poll is not None:
                self.on_poll(sum([len(records) for records in polled.values()]))
        result: Polled = []
        for tp, records in polled.items():
            if not records:
                continue
            progress = self.tracker.get(tp.topic, tp.partition) or self.tracker.assign(
                tp.topic, tp.partition
            )
            progress.start_many([r.offset for r in records])
            result.append((progress, records))
        return result

    def _poll_failed(self, exc: KafkaError) -> None:
        self._poll_errors += 1
        now = time.monotonic()
        if now - self._poll_error_logged_at >= POLL_ERROR_LOG_S:
            log.warning(
                "Kafka poll failed, retrying: %s (%d since the last such line)",
                exc,
                self._poll_errors,
            )
            self._poll_error_logged_at = now
            self._poll_errors = 0

    def wait_paused(self, delay_s: float) -> bool:
        """Wait ``delay_s`` with every partition paused, polling to stay in the group.

        False when the consumer is stopping (the caller gives up)."""
        self.hold()
        deadline = time.monotonic() + delay_s
        while not self.stopping():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return True
            try:
                polled = self.poll(min(remaining, 0.5), self.settings.batch_size)
            except KafkaError as exc:
                log.warning("poll while paused failed: %s", exc)
                time.sleep(min(remaining, 0.5))
                continue
            if polled:  # a partition assigned meanwhile, fetched before it was paused
                self._carry.extend(polled)
                self.hold()
        return False

    def hold(self) -> None:
        """Pause every assigned partition (and, via on_assigned, those assigned later)."""
        assignment = self.consumer.assignment()
        if assignment:
            self.consumer.pause(*assignment)
        if not self.holding:
            log.info("pausing %d partitions until the retry succeeds", len(assignment))
        self.holding = True

    def release(self) -> None:
        """Resume every paused partition."""
        paused = self.consumer.paused()
        if paused:
            self.consumer.resume(*paused)
        self.holding = False
        log.info("resumed %d partitions", len(paused))

    def on_assigned(self, assigned: list[Any]) -> None:
        """Keep newly assigned partitions paused while holding."""
        if self.holding and assigned:
            self.consumer.pause(*assigned)
