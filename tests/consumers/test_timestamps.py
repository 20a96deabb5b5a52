"""Unit tests of the timestamp window: records outside the kept days are dead letters."""

from __future__ import annotations

from datetime import UTC, date, datetime

import orjson

from reqtrail.consumers.documents import DocumentBuilder
from reqtrail.consumers.timestamps import REASON, TimestampWindow
from reqtrail.consumers.types import DeadLetter, Document, Message
from reqtrail.schemas.samples import sample_records
from reqtrail.settings import load_settings

NOW = datetime(2026, 12, 6, 9, 30, tzinfo=UTC)


def _window(max_age_days: int = 30, max_future_s: int = 86400) -> TimestampWindow:
    return TimestampWindow(max_age_days, max_future_s, clock=NOW.timestamp)


def _dated(timestamp: str) -> bytes:
    record = next(sample_records(1, start=NOW))
    return orjson.dumps(dict(record, **{"@timestamp": timestamp}))


def test_window_accepts_the_kept_days_and_one_day_ahead() -> None:
    """Today, the oldest kept day and up to 24 h ahead pass; the day before and later fail."""
    window = _window(max_age_days=30)
    assert window.first_day == date(2026, 11, 7)
    assert window.outside(date(2026, 11, 7), "2026-11-07T00:00:00Z") is None
    assert window.outside(date(2026, 12, 6), "2026-12-06T09:30:00Z") is None
    assert window.outside(date(2026, 12, 7), "2026-12-07T09:29:59.999Z") is None
    late = window.outside(date(2026, 12, 7), "2026-12-07T09:30:01Z")
    assert late is not None and late.startswith(REASON) and "86400 s ahead" in late
    old = window.outside(date(2026, 11, 6), "2026-11-06T23:59:59Z")
    assert old is not None and old.startswith(REASON) and "2026-11-07" in old


def test_window_defaults_to_the_retention_and_names_the_setting() -> None:
    """Without its own max age, the window is REQTRAIL_RETENTION_DAYS, named in the reason."""
    settings = load_settings(environ={"REQTRAIL_RETENTION_DAYS": "7"})
    window = TimestampWindow.from_settings(settings)
    assert window.max_age_days == 7
    reason = window.outside(date(1970, 1, 1), "1970-01-01T00:00:00Z")
    assert reason is not None and "REQTRAIL_RETENTION_DAYS=7" in reason
    own = load_settings(environ={"REQTRAIL_TIMESTAMP_MAX_AGE_DAYS": "400"})
    assert TimestampWindow.from_settings(own).max_age_days == 400


def test_records_dated_1970_and_9999_become_timestamp_dead_letters() -> None:
    """The builder dead-letters far-off dates (kind "timestamp"), so no index is named for
    them; a record of today still becomes a document."""
    builder = DocumentBuilder("logs", _window())
    for offset, stamp in enumerate(["1970-01-01T00:00:00.000Z", "9999-12-31T23:59:59.999Z"]):
        built = builder.build(Message("t", 0, offset, _dated(stamp)))
        assert isinstance(built, DeadLetter), stamp
        assert built.kind == "timestamp" and built.reason.startswith(REASON)
    today = builder.build(Message("t", 0, 2, _dated("2026-12-06T09:00:00.000Z")))
    assert isinstance(today, Document) and today.index == "logs-2026.12.06"


def test_offset_timestamps_are_judged_by_their_utc_instant() -> None:
    """With a 1 h allowance, +14:00 timestamps are judged by their UTC instant."""
    builder = DocumentBuilder("logs", _window(max_future_s=3600))
    before = builder.build(Message("t", 0, 0, _dated("2026-12-06T23:00:00.000+14:00")))
    assert isinstance(before, Document) and before.index == "logs-2026.12.06"  # 09:00 UTC
    ahead = builder.build(Message("t", 0, 1, _dated("2026-12-07T01:00:00.000+14:00")))
    assert isinstance(ahead, DeadLetter) and "3600 s ahead" in ahead.reason  # 11:00 UTC
