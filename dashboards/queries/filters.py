"""Typed filters the dashboard's query functions take; validated when built.

Text values (user ID, route, ...) are kept exactly as typed: they only ever become
``term`` values, so they match literally or not at all.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

# Quick picks of the time-range selector: label -> duration ending now.
QUICK_RANGES: dict[str, timedelta] = {
    "15m": timedelta(minutes=15),
    "1h": timedelta(hours=1),
    "6h": timedelta(hours=6),
    "24h": timedelta(hours=24),
    "7d": timedelta(days=7),
    "30d": timedelta(days=30),
}
DEFAULT_RANGE = "24h"
ROUTE_PERCENTILES: tuple[float, ...] = (50.0, 90.0, 95.0, 99.0)


class FilterError(ValueError):
    """A filter value cannot be used; the message says which and why."""


class StatusClass(StrEnum):
    """A class of HTTP status codes, e.g. ``5xx`` for 500-599."""

    S2XX = "2xx"
    S3XX = "3xx"
    S4XX = "4xx"
    S5XX = "5xx"

    @property
    def bounds(self) -> tuple[int, int]:
        """Inclusive lowest and highest code of the class."""
        first = int(self.value[0]) * 100
        return first, first + 99


def utc(moment: datetime) -> datetime:
    """``moment`` as an aware UTC datetime (naive values are taken to be UTC)."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def iso_millis(moment: datetime) -> str:
    """``2025-03-01T12:00:00.000Z``: ``moment`` in UTC to the millisecond, as exports write
    their times (and ``--since``/``--until`` read them back)."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_time(text: str) -> datetime:
    """An ISO 8601 time (``Z`` or offset; naive means UTC) as aware UTC."""
    try:
        return utc(datetime.fromisoformat(text.strip().replace("Z", "+00:00")))
    except ValueError:
        raise FilterError(f"not an ISO 8601 time: {text!r}") from None


_DURATION = re.compile(r"^\s*(\d+)\s*([smhdw])\s*$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(text: str) -> timedelta:
    """``15m``, ``24h``, ``7d``... as a timedelta."""
    match = _DURATION.match(text)
    if not match or int(match.group(1)) == 0:
        raise FilterError(f"not a duration like 15m, 24h or 7d: {text!r}")
    return timedelta(seconds=int(match.group(1)) * _UNIT_SECONDS[match.group(2)])


def parse_when(text: str, *, now: datetime) -> datetime:
    """``now``, a duration back from now (``24h``) or an ISO 8601 time, as aware UTC."""
    text = text.strip()
    if text.lower() == "now":
        return now
    try:
        return now - parse_duration(text)
    except FilterError:
        pass
    try:
        return parse_time(text)
    except FilterError:
        raise FilterError(
            f"not a time: {text!r} (use now, a duration such as 24h, or an ISO 8601 time)"
        ) from None


@dataclass(frozen=True)
class TimeRange:
    """Half-open ``[start, end)`` in UTC."""

    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        object.__setattr__(self, "start", utc(self.start))
        object.__setattr__(self, "end", utc(self.end))
        if self.start >= self.end:
            raise FilterError(f"time range start {self.start} is not before end {self.end}")

    @classmethod
    def last(cls, duration: timedelta, *, now: datetime | None = None) -> TimeRange:
        end = utc(now) if now is not None else datetime.now(UTC)
        return cls(end - duration, end)

    @property
    def duration(self) -> timedelta:
        return self.end - self.start

    def es_range(self) -> dict[str, str]:
        """Bounds for a ``range`` query on ``@timestamp`` (epoch millis, format-proof)."""
        return {
            "gte": str(int(self.start.timestamp() * 1000)),
            "lt": str(int(self.end.timestamp() * 1000)),
            "format": "epoch_millis",
        }


@dataclass(frozen=True)
class SearchFilter:
    """What the search page asks for; every field but the time range is optional."""

    time_range: TimeRange
    user_id: str | None = None
    device_id: str | None = None
    request_id: str | None = None
    route: str | None = None
    status: int | None = None
    status_class: StatusClass | None = None
    min_latency_ms: float | None = None
    route_percentile: float | None = None
    app_version: str | None = None
    error_type: str | None = None

    def __post_init__(self) -> None:
        if self.status is not None and not 100 <= self.status <= 599:
            raise FilterError(f"status must be an HTTP code 100-599: {self.status}")
        if self.status is not None and self.status_class is not None:
            raise FilterError("give either an exact status or a status class, not both")
        if self.min_latency_ms is not None and self.min_latency_ms < 0:
            raise FilterError(f"latency must not be negative: {self.min_latency_ms}")
        if self.route_percentile is not None and not 0 < self.route_percentile < 100:
            raise FilterError(f"percentile must be within (0, 100): {self.route_percentile}")
        if self.min_latency_ms is not None and self.route_percentile is not None:
            raise FilterError("give either a latency in ms or a route percentile, not both")


@dataclass(frozen=True)
class Cohort:
    """One side of a release comparison: a time range, optionally one ``app_version``."""

    time_range: TimeRange
    app_version: str | None = None

    @property
    def label(self) -> str:
        if self.app_version is not None:
            return self.app_version
        return f"{self.time_range.start:%m-%d %H:%M}..{self.time_range.end:%m-%d %H:%M}"


def histogram_interval(time_range: TimeRange, *, target_buckets: int = 120) -> str:
    """A round ``fixed_interval`` giving about ``target_buckets`` buckets over the range."""
    seconds = time_range.duration.total_seconds() / target_buckets
    for step, label in (
        (1, "1s"),
        (5, "5s"),
        (10, "10s"),
        (30, "30s"),
        (60, "1m"),
        (120, "2m"),
        (300, "5m"),
        (600, "10m"),
        (900, "15m"),
        (1800, "30m"),
        (3600, "1h"),
        (3 * 3600, "3h"),
        (6 * 3600, "6h"),
        (12 * 3600, "12h"),
    ):
        if seconds <= step:
            return label
    return "1d"


MIN_CHART_SPAN = timedelta(minutes=1)


def fit_to_data(time_range: TimeRange, first: datetime | None, last: datetime | None) -> TimeRange:
    """The part of ``time_range`` that holds records (first to last), for a chart's time axis.

    90 seconds of records in a 24 h range then fill the chart in 1 s buckets instead of
    sitting in one 12-minute bucket.  At least ``MIN_CHART_SPAN`` wide, within the range.
    """
    if first is None or last is None:
        return time_range
    start = max(utc(first), time_range.start)
    end = min(utc(last) + timedelta(milliseconds=1), time_range.end)
    if end - start < MIN_CHART_SPAN:
        end = min(start + MIN_CHART_SPAN, time_range.end)
        start = max(end - MIN_CHART_SPAN, time_range.start)
    return TimeRange(start, end) if start < end else time_range


def interval_seconds(interval: str) -> int:
    """Seconds of a ``fixed_interval`` such as ``5m``."""
    return int(parse_duration(interval).total_seconds())
