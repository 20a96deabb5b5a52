"""Unit tests of re-drive filters and of the re-driven offsets kept in commit metadata."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from reqtrail.consumers.dlq import DeadLetterInfo, dead_letter_headers
from reqtrail.consumers.redrive import OffsetRanges, RedriveFilter, parse_since
from reqtrail.consumers.types import DeadLetter, Message

NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)


def _info(kind: str, reason: str, failed_at: datetime) -> DeadLetterInfo:
    letter = DeadLetter(Message("records", 0, 1, b"x"), kind, reason)  # type: ignore[arg-type]
    headers = dead_letter_headers(letter, now=failed_at)
    return DeadLetterInfo.from_message(Message("dlq", 0, 0, b"x", headers=headers))


def test_offset_ranges_merge_and_round_trip_through_text() -> None:
    """Offsets merge into ranges, survive the metadata text, and the commit moves over
    the ranges that start at it."""
    done = OffsetRanges()
    for offset in (5, 7, 6, 9, 12, 11):
        done.add(offset)
    assert done.text() == "5-7,9,11-12"
    again = OffsetRanges.parse(done.text())
    assert [6 in again, 8 in again, 12 in again] == [True, False, True]
    assert again.advance(3) == 3  # offsets 3 and 4 are not done: the commit stays
    assert again.advance(5) == 8 and again.text() == "9,11-12"
    assert OffsetRanges.parse("not ours").text() == ""


def test_filters_choose_by_kind_reason_and_time() -> None:
    """--kind, --reason (any case) and --since each narrow the dead letters chosen."""
    old = _info(
        "rejected", "400 document_parsing_exception: status", datetime(2026, 12, 1, tzinfo=UTC)
    )
    new = _info("undecodable", "not UTF-8: byte ff at position 0", NOW)
    assert RedriveFilter().matches(old, 0) and RedriveFilter().matches(new, 0)
    assert [RedriveFilter(frozenset({"rejected"})).matches(i, 0) for i in (old, new)] == [
        True,
        False,
    ]
    assert [RedriveFilter(reason="utf-8").matches(i, 0) for i in (old, new)] == [False, True]
    since = RedriveFilter(since=datetime(2026, 12, 5, tzinfo=UTC))
    assert [since.matches(i, 0) for i in (old, new)] == [False, True]
    assert RedriveFilter(frozenset({"rejected"}), "x").describe() == "--kind rejected --reason 'x'"


def test_since_reads_durations_and_iso_times() -> None:
    """--since takes 90m, 24h, 7d or an ISO time (UTC when it has no offset)."""
    assert parse_since("24h", now=NOW) == datetime(2026, 12, 5, 12, 0, tzinfo=UTC)
    assert parse_since("90m", now=NOW) == datetime(2026, 12, 6, 10, 30, tzinfo=UTC)
    assert parse_since("2026-12-01T08:00:00") == datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
    with pytest.raises(ValueError, match="--since"):
        parse_since("yesterday")
