"""Kafka's side of ``reqtrail resend-spill``: send a chunk and sort out what became of each
record, and read back which records of an interrupted chunk reached the topic.

A record Kafka can never take (too large for the broker, invalid) is :class:`Rejected`;
one it did not take this time is a :class:`Retry`, "maybe delivered" unless it never left
this process (a timeout after it was sent may still have reached the topic).  Before each
chunk the topic's end offsets are noted (``mark``); a rerun reads the topic from there and
compares the records byte for byte (``delivered``), so nothing is sent twice.
"""

from __future__ import annotations

import contextlib
import hashlib
import time
from collections import Counter
from typing import Any

from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.errors import (
    BrokerResponseError,
    CorruptRecordError,
    InvalidRecordError,
    InvalidTimestampError,
    KafkaError,
    KafkaTimeoutError,
    MessageSizeTooLargeError,
    RecordListTooLargeError,
)
from kafka.producer.future import FutureRecordMetadata

from reqtrail.producers.kafka_producer import make_kafka_producer
from reqtrail.producers.spill_outcomes import Rejected, Retry, SendOutcome
from reqtrail.producers.spill_progress import Mark
from reqtrail.settings import Settings

# Errors about the record itself: sending it again can never succeed.
PERMANENT_ERRORS: dict[type[KafkaError], str] = {
    MessageSizeTooLargeError: "too_large",
    RecordListTooLargeError: "too_large",
    InvalidRecordError: "invalid_record",
    CorruptRecordError: "corrupt_record",
    InvalidTimestampError: "invalid_timestamp",
}
READ_BACK_STALL_S = 60.0  # reading the topic back gives up after this long without progress
OFFSETS_TIMEOUT_MS = 10_000  # asking for the end offsets gives up after this long


class ResendError(RuntimeError):
    """The resend cannot go on (topic missing, topic unreadable); the message says why."""


def rejection(exc: BaseException, size: int) -> Rejected | None:
    """The Rejected outcome for an error about the ``size``-byte record itself, else None."""
    for kind, reason in PERMANENT_ERRORS.items():
        if isinstance(exc, kind):
            return Rejected(reason, f"{size} bytes; {describe(exc)}")
    return None


def describe(exc: BaseException) -> str:
    """``Name: what happened`` (a broker's error code comes with its documented meaning)."""
    if isinstance(exc, BrokerResponseError):
        return f"{type(exc).__name__} from the broker: {exc.description}"
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def digest(payload: bytes) -> bytes:
    return hashlib.blake2b(payload, digest_size=16).digest()


def close_producer(producer: KafkaProducer, timeout_s: float) -> None:
    """Close ``producer`` even with records still unanswered.

    kafka-python 3.0.x's ``close(timeout)`` flushes first and raises KafkaTimeoutError when
    records are still in flight (and never closes then); its I/O thread is told to give up
    on them (``force_close``, what ``close`` does itself once its flush has returned), and
    the close is tried again.
    """
    try:
        producer.close(timeout=timeout_s)
    except KafkaError:
        sender = getattr(producer, "_sender", None)
        if sender is not None:
            sender.force_close()
            sender.join(timeout_s)
        with contextlib.suppress(KafkaError):
            producer.close(timeout=0)


class KafkaResend:
    """Sends spilled records to ``settings.topic`` and checks the topic for them."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.topic = settings.topic
        self.producer = make_kafka_producer(settings)
        self._consumer: KafkaConsumer | None = None
        self._mark: Mark | None = None

    def close(self) -> None:
        close_producer(self.producer, timeout_s=5.0)
        if self._consumer is not None:
            self._consumer.close()

    @property
    def consumer(self) -> KafkaConsumer:
        if self._consumer is None:
            self._consumer = KafkaConsumer(
                bootstrap_servers=[s.strip() for s in self.settings.kafka_bootstrap.split(",")],
                client_id="reqtrail-resend-spill",
                group_id=None,
                enable_auto_commit=False,
                auto_offset_reset="earliest",
            )
        return self._consumer

    def partitions(self) -> list[TopicPartition]:
        """The topic's partitions; a ResendError when the topic does not exist."""
        found = self.consumer.partitions_for_topic(self.topic)
        if not found:
            raise ResendError(
                f"topic {self.topic} does not exist on Kafka at {self.settings.kafka_bootstrap} "
                "(REQTRAIL_TOPIC); run `reqtrail setup` first"
            )
        return [TopicPartition(self.topic, p) for p in sorted(found)]

    # ---- sending ---------------------------------------------------------------------------
    def send_batch(self, records: list[tuple[bytes, bytes | None]]) -> list[SendOutcome]:
        """Send ``records`` and wait for each outcome (at most the delivery timeout)."""
        mark, self._mark = self._mark, None  # the resend's own mark, taken just before
        return self._send_isolating(records, mark if mark is not None else self.mark())

    def _send_isolating(
        self, records: list[tuple[bytes, bytes | None]], mark: Mark
    ) -> list[SendOutcome]:
        """Send ``records``; when the broker refused one, find it among the others.

        kafka-python's idempotent producer (3.0.x) treats a batch the broker refuses for
        good (say, one record over ``max.message.bytes``) as fatal: it fails every other
        record it holds with the same error and takes no more.  So after such a refusal
        the producer is made anew, the failed records that did reach the topic are found
        by reading it back from ``mark``, and the rest are sent again in halves until each
        refused record stands alone: only those are rejected.
        """
        outcomes, refused = self._send_once(records)
        if not refused:
            return outcomes
        self._renew_producer()
        if len(records) == 1:
            return outcomes
        failed = [i for i, outcome in enumerate(outcomes) if isinstance(outcome, Rejected)]
        found = self.delivered(mark, [records[i][0] for i in failed])
        again = [i for i, on_topic in zip(failed, found, strict=True) if not on_topic]
        for i, on_topic in zip(failed, found, strict=True):
            if on_topic:
                outcomes[i] = True
        half = (len(again) + 1) // 2
        for part in (again[:half], again[half:]):
            if part:
                for i, outcome in zip(
                    part, self._send_isolating([records[i] for i in part], mark), strict=True
                ):
                    outcomes[i] = outcome
        return outcomes

    def _send_once(
        self, records: list[tuple[bytes, bytes | None]]
    ) -> tuple[list[SendOutcome], bool]:
        """Outcomes of one send of ``records``, and whether the broker refused any for good."""
        pending: list[FutureRecordMetadata | SendOutcome] = []
        stuck: Retry | None = None
        for value, key in records:
            if stuck is not None:  # Kafka stopped taking records: keep the rest for later
                pending.append(stuck)
                continue
            try:
                pending.append(self.producer.send(self.topic, value=value, key=key))
            except KafkaError as exc:  # raised before the record was queued: never sent
                rejected = rejection(exc, len(value))
                if rejected is not None:
                    pending.append(rejected)
                else:
                    stuck = Retry(describe(exc))
                    pending.append(stuck)
        with contextlib.suppress(KafkaTimeoutError):  # unfinished: "maybe delivered" below
            self.producer.flush(timeout=self.settings.kafka_delivery_timeout_ms / 1000.0 + 5.0)
        outcomes = [
            self._outcome(item, len(value))
            for item, (value, _key) in zip(pending, records, strict=True)
        ]
        refused = any(
            isinstance(item, FutureRecordMetadata) and isinstance(outcome, Rejected)
            for item, outcome in zip(pending, outcomes, strict=True)
        )
        return outcomes, refused

    def _renew_producer(self) -> None:
        close_producer(self.producer, timeout_s=5.0)
        self.producer = make_kafka_producer(self.settings)

    @staticmethod
    def _outcome(item: FutureRecordMetadata | SendOutcome, size: int) -> SendOutcome:
        if not isinstance(item, FutureRecordMetadata):
            return item
        if not item.is_done:
            return Retry("Kafka did not answer within the delivery timeout", maybe_delivered=True)
        if item.succeeded():
            return True
        exc: BaseException = item.exception
        return rejection(exc, size) or Retry(describe(exc), maybe_delivered=True)

    # ---- reading back ----------------------------------------------------------------------
    def mark(self) -> Mark:
        """The end offset of each partition of the topic now."""
        ends: dict[TopicPartition, int] = self.consumer.end_offsets(
            self.partitions(), timeout_ms=OFFSETS_TIMEOUT_MS
        )
        self._mark = {str(tp.partition): offset for tp, offset in ends.items()}
        return dict(self._mark)

    def delivered(self, mark: Mark, payloads: list[bytes]) -> list[bool]:
        """For each payload, whether the topic holds it past ``mark`` (counting repeats)."""
        wanted = Counter(digest(p) for p in payloads)
        found: Counter[bytes] = Counter()
        consumer = self.consumer
        partitions = self.partitions()
        ends: dict[TopicPartition, int] = consumer.end_offsets(
            partitions, timeout_ms=OFFSETS_TIMEOUT_MS
        )
        consumer.assign(partitions)
        for tp in partitions:
            consumer.seek(tp, mark.get(str(tp.partition), 0))
        left = {tp for tp in partitions if consumer.position(tp) < ends[tp]}
        last_progress = time.monotonic()
        while left and wanted:
            batches: dict[TopicPartition, list[Any]] = consumer.poll(timeout_ms=500)
            for tp, messages in batches.items():
                for message in messages:
                    if message.offset >= ends[tp]:
                        break
                    key = digest(message.value or b"")
                    if wanted[key] > 0:
                        wanted[key] -= 1
                        found[key] += 1
                        if wanted[key] == 0:
                            del wanted[key]
                last_progress = time.monotonic()
            left = {tp for tp in left if consumer.position(tp) < ends[tp]}
            if left and time.monotonic() - last_progress > READ_BACK_STALL_S:
                raise ResendError(
                    f"reading {self.topic} back from Kafka at {self.settings.kafka_bootstrap} "
                    f"made no progress for {READ_BACK_STALL_S:.0f} s"
                )
        flags = []
        for payload in payloads:
            key = digest(payload)
            flags.append(found[key] > 0)
            if found[key] > 0:
                found[key] -= 1
        return flags
