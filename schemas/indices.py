"""Where a record is stored: the daily index ``<prefix>-YYYY.MM.DD`` of its UTC day."""

from __future__ import annotations

from datetime import UTC, date, datetime


def utc_day(timestamp: str) -> date | None:
    """The UTC calendar day of an ISO 8601 timestamp, or None when it is not a real date."""
    try:
        if timestamp[-1:] in ("Z", "z"):
            return date.fromisoformat(timestamp[:10])
        return datetime.fromisoformat(timestamp).astimezone(UTC).date()
    except ValueError:
        return None


def daily_index(prefix: str, day: date) -> str:
    """``<prefix>-YYYY.MM.DD``."""
    return f"{prefix}-{day:%Y.%m.%d}"
