"""What can become of a spilled record when it is resent, and the rejects file's lines.

``send_batch(records)`` answers one outcome per record: ``True`` (delivered), ``False`` or
:class:`Retry` (not this time: it stays for the next run), or :class:`Rejected` (never:
it goes to the rejects file with its reason).
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

import orjson

from reqtrail.producers.processors import record_key
from reqtrail.producers.spill_progress import Line, Mark


@dataclass(frozen=True)
class Rejected:
    """A record Kafka can never take; ``reason`` is a short key (``too_large``)."""

    reason: str
    detail: str = ""


@dataclass(frozen=True)
class Retry:
    """A record not delivered this time.  ``maybe_delivered``: Kafka may have it anyway (a
    timeout after it was sent), so the next run reads the topic before sending it again."""

    reason: str
    maybe_delivered: bool = False


SendOutcome = bool | Rejected | Retry  # True: delivered; False: Retry("not delivered")
SendBatch = Callable[[list[tuple[bytes, bytes | None]]], Sequence[SendOutcome]]


class DeliveryCheck(Protocol):
    """Tells which records of an interrupted chunk reached the topic."""

    def mark(self) -> Mark:
        """The topic's end offsets now (taken before each chunk is sent)."""
        ...

    def delivered(self, mark: Mark, payloads: list[bytes]) -> list[bool]:
        """For each payload: is it on the topic past ``mark``?"""
        ...


def parse_record(payload: bytes) -> bytes | None | Rejected:
    """The Kafka key of a spilled record (its user ID), or why it can never be sent."""
    try:
        record = orjson.loads(payload)
    except orjson.JSONDecodeError as exc:
        return Rejected("not_json", str(exc))
    if not isinstance(record, dict):
        return Rejected("not_an_object", f"a JSON {type(record).__name__}, not an object")
    return record_key(record)


def reject_entry(source: Path, line: Line, rejected: Rejected, *, is_json: bool) -> bytes:
    """One line of the rejects file: why, when, where from, and the record itself."""
    head = orjson.dumps(
        {
            "reason": rejected.reason,
            "detail": rejected.detail,
            "rejected_at": datetime.now(UTC).isoformat(timespec="milliseconds"),
            "source": f"{source.name}:{line.start}",
        }
    )[:-1]
    if is_json:
        return head + b',"record":' + line.payload + b"}"
    try:
        return head + b',"line":' + orjson.dumps(line.payload.decode("utf-8")) + b"}"
    except UnicodeDecodeError:
        return head + b',"line_base64":"' + base64.b64encode(line.payload) + b'"}'
