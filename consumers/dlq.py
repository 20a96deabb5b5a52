"""Dead-letter topic: records the indexer cannot index, kept with their original bytes.

The dead letter's value and key are the original record's, byte for byte, so a re-drive
is a plain re-produce. Where it came from and why it failed travel as Kafka headers
(``reqtrail.dlq.*``), next to the record's own headers.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from reqtrail.consumers.errors import DeadLetterError
from reqtrail.consumers.types import DeadLetter, Headers, SourceMessage

HEADER_PREFIX = "reqtrail.dlq."
REASON_MAX_CHARS = 4000


def dead_letter_headers(letter: DeadLetter, now: datetime | None = None) -> list[tuple[str, bytes]]:
    """The record's own headers plus ``reqtrail.dlq.*`` describing the failure."""
    message = letter.message
    failed_at = (now or datetime.now(UTC)).isoformat(timespec="milliseconds")
    meta = {
        "kind": letter.kind,
        "reason": letter.reason[:REASON_MAX_CHARS],
        "source_topic": message.topic,
        "source_partition": str(message.partition),
        "source_offset": str(message.offset),
        "source_timestamp": str(message.timestamp),
        "failed_at": failed_at,
    }
    own = [(k, v if v is not None else b"") for k, v in message.headers or ()]
    return own + [(HEADER_PREFIX + k, v.encode()) for k, v in meta.items()]


@dataclass(frozen=True, slots=True)
class DeadLetterInfo:
    """A dead letter read back from the topic."""

    message: SourceMessage
    kind: str
    reason: str
    source: str  # "topic[partition]@offset"
    failed_at: str

    @classmethod
    def from_message(cls, message: SourceMessage) -> DeadLetterInfo:
        meta = dlq_meta(message.headers)
        where = (
            f"{meta.get('source_topic', '?')}[{meta.get('source_partition', '?')}]"
            f"@{meta.get('source_offset', '?')}"
        )
        return cls(
            message,
            meta.get("kind", "unknown"),
            meta.get("reason", ""),
            where,
            meta.get("failed_at", ""),
        )


def dlq_meta(headers: Headers | None) -> dict[str, str]:
    """The ``reqtrail.dlq.*`` headers as a dict without the prefix."""
    return {
        k[len(HEADER_PREFIX) :]: (v or b"").decode("utf-8", "replace")
        for k, v in headers or ()
        if k.startswith(HEADER_PREFIX)
    }


def original_headers(headers: Headers | None) -> list[tuple[str, bytes]]:
    """The record's own headers, without the dead-letter ones."""
    return [(k, v or b"") for k, v in headers or () if not k.startswith(HEADER_PREFIX)]


class DeadLetterWriter:
    """Produces dead letters and waits for Kafka's acknowledgement of every one."""

    def __init__(self, producer: Any, topic: str, timeout_s: float = 30.0) -> None:
        self.producer = producer
        self.topic = topic
        self.timeout_s = timeout_s

    def write(self, letters: Sequence[DeadLetter]) -> None:
        """Send all ``letters``; raises DeadLetterError (retriable) unless all were acked."""
        if not letters:
            return
        try:
            futures = [
                self.producer.send(
                    self.topic,
                    value=letter.message.value,
                    key=letter.message.key,
                    headers=dead_letter_headers(letter),
                )
                for letter in letters
            ]
            self.producer.flush(timeout=self.timeout_s)
            for future in futures:
                future.get(timeout=0)
        except Exception as exc:  # kafka-python raises KafkaError subclasses and timeouts
            raise DeadLetterError(
                f"could not write {len(letters)} dead letters to {self.topic}: {exc!r}"
            ) from exc


def count_by_kind(infos: Iterable[DeadLetterInfo]) -> Mapping[str, int]:
    counts: dict[str, int] = {}
    for info in infos:
        counts[info.kind] = counts.get(info.kind, 0) + 1
    return counts
