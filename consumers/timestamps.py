"""Which ``@timestamp`` days the indexer accepts: no index outside the kept days.

A record dated before the oldest day that retention keeps, or too far ahead of the
indexer's clock, would create a daily index inside the read alias (``…-1970.01.01``,
``…-9999.12.31``) that retention deletes at once or never. Such records go to the
dead-letter topic instead, as ``timestamp out of range``.

The check is by UTC day, as the indices are: every day strictly between the oldest kept
day and the day of ``now + max_future`` passes on two date comparisons; only records on
that last day have their timestamp parsed.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta

from reqtrail.settings import Settings, env_name

REASON = "timestamp out of range"
REFRESH_S = 1.0  # the bounds follow the clock at most this late


class TimestampWindow:
    """Accepts days from ``max_age_days - 1`` days before today up to ``now + max_future_s``."""

    def __init__(
        self,
        max_age_days: int,
        max_future_s: float,
        *,
        age_setting: str = "",
        clock: Callable[[], float] = time.time,
    ) -> None:
        if max_age_days < 1:
            raise ValueError(f"max_age_days must be at least 1: {max_age_days}")
        self.max_age_days = max_age_days
        self.max_future_s = max_future_s
        self.age_setting = age_setting
        self.clock = clock
        self._refreshed_at = float("-inf")
        self.first_day = date.min  # oldest day accepted
        self.last_day = date.max  # day of now + max_future: accepted up to that instant
        self.latest = datetime.max.replace(tzinfo=UTC)
        self.refresh()

    @classmethod
    def from_settings(cls, settings: Settings) -> TimestampWindow:
        setting = "timestamp_max_age_days" if settings.timestamp_max_age_days else "retention_days"
        return cls(
            settings.timestamp_window_days,
            settings.timestamp_max_future_s,
            age_setting=f"{env_name(setting)}={settings.timestamp_window_days}",
        )

    def refresh(self) -> None:
        """Move the bounds with the clock (cheap; call once per batch)."""
        now_s = self.clock()
        if now_s - self._refreshed_at < REFRESH_S:
            return
        self._refreshed_at = now_s
        now = datetime.fromtimestamp(now_s, UTC)
        self.first_day = now.date() - timedelta(days=self.max_age_days - 1)
        self.latest = now + timedelta(seconds=self.max_future_s)
        self.last_day = self.latest.date()

    def outside(self, day: date, timestamp: str) -> str | None:
        """None when a record of ``day`` (its ``timestamp``) is accepted, else the reason."""
        if self.first_day <= day < self.last_day:
            return None
        if day < self.first_day:
            return (
                f"{REASON}: @timestamp {timestamp!r} is before {self.first_day:%Y-%m-%d}, "
                f"the oldest day kept ({self.age_setting or f'{self.max_age_days} days'})"
            )
        if day == self.last_day and _instant(timestamp, day) <= self.latest:
            return None
        return (
            f"{REASON}: @timestamp {timestamp!r} is more than {self.max_future_s:g} s ahead "
            f"of the indexer's clock ({env_name('timestamp_max_future_s')})"
        )


def _instant(timestamp: str, day: date) -> datetime:
    """The instant of ``timestamp``; the start of its UTC ``day`` when Python cannot read
    the rest (e.g. nanoseconds): that day is then accepted."""
    try:
        parsed = datetime.fromisoformat(timestamp)
    except ValueError:
        return datetime(day.year, day.month, day.day, tzinfo=UTC)
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)
