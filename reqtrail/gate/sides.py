"""The two sides of a comparison, as given on the command line.

A side is an ``app_version``, a time window, or both::

    1.4.2                      that version, within the default window (--since/--until)
    1.4.2@24h..1h              that version between 24 hours and 1 hour ago
    @2026-12-01T10:00..2026-12-01T11:00    every version in that window (UTC unless offset)
    2h..now                    the same, without the @

Window ends are ``now``, a duration back from now (``90m``, ``24h``, ``7d``) or an ISO 8601
time; the window is half-open, ``[start, end)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from reqtrail.dashboards.queries.filters import Cohort, FilterError, TimeRange, parse_when


def parse_window(text: str, *, now: datetime) -> TimeRange:
    start, sep, end = text.partition("..")
    if not sep:
        raise FilterError(f"a window is START..END: {text!r}")
    return TimeRange(parse_when(start, now=now), parse_when(end or "now", now=now))


@dataclass(frozen=True)
class Side:
    """A cohort and how to name it in reports."""

    cohort: Cohort

    @property
    def label(self) -> str:
        window = self.cohort.time_range
        span = f"{iso(window.start)}..{iso(window.end)}"
        version = self.cohort.app_version
        return f"{version}@{span}" if version is not None else f"@{span}"

    @property
    def short_label(self) -> str:
        return self.cohort.app_version or self.label


def iso(moment: datetime) -> str:
    """``2026-12-01T10:00:00.123Z`` (milliseconds only when there are any)."""
    moment = moment.astimezone(UTC)
    text = moment.strftime("%Y-%m-%dT%H:%M:%S")
    if moment.microsecond:
        text += f".{moment.microsecond // 1000:03d}"
    return text + "Z"


def parse_side(text: str, default_window: TimeRange, *, now: datetime) -> Side:
    """A side from ``VERSION``, ``VERSION@START..END``, ``@START..END`` or ``START..END``."""
    text = text.strip()
    if not text:
        raise FilterError("a side is VERSION, VERSION@START..END or START..END; got nothing")
    version, at, window = text.partition("@")
    if not at and ".." in text:
        version, window = "", text
    elif not at:
        window = ""
    time_range = parse_window(window, now=now) if window else default_window
    return Side(Cohort(time_range, version.strip() or None))


def default_window(since: str, until: str, *, now: datetime | None = None) -> TimeRange:
    moment = now or datetime.now(UTC)
    return TimeRange(parse_when(since, now=moment), parse_when(until, now=moment))


def run_window(first: datetime, last: datetime) -> TimeRange:
    """The window holding a run's records, from the first to just after the last."""
    return TimeRange(first, last + timedelta(milliseconds=1))
