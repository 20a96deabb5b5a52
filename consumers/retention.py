"""``reqtrail retention --keep-days N``: delete daily indices older than N days.

For a local node without ILM. Names are resolved first and deleted explicitly (wildcard
deletes are refused), and only indices named exactly ``<prefix>-YYYY.MM.DD`` are touched.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

from elasticsearch import Elasticsearch


def daily_indices(es: Elasticsearch, prefix: str) -> dict[str, date]:
    """Existing ``<prefix>-YYYY.MM.DD`` indices and their day."""
    pattern = re.compile(rf"^{re.escape(prefix)}-(\d{{4}})\.(\d{{2}})\.(\d{{2}})$")
    names = es.indices.get(index=f"{prefix}-*", expand_wildcards="open,closed").body
    days: dict[str, date] = {}
    for name in names:
        match = pattern.match(name)
        if match is None:
            continue
        try:
            days[name] = date(*(int(part) for part in match.groups()))
        except ValueError:
            continue
    return days


def expired(days: dict[str, date], keep_days: int, today: date) -> list[str]:
    """Indices whose day is before the first kept day (today counts as one of the kept days)."""
    if keep_days < 1:
        raise ValueError(f"keep_days must be at least 1: {keep_days}")
    first_kept = today - timedelta(days=keep_days - 1)
    return sorted(name for name, day in days.items() if day < first_kept)


def apply_retention(
    es: Elasticsearch,
    prefix: str,
    keep_days: int,
    *,
    today: date | None = None,
    dry_run: bool = False,
) -> list[str]:
    """Delete expired daily indices; returns their names (deleted unless dry_run)."""
    doomed = expired(daily_indices(es, prefix), keep_days, today or datetime.now(UTC).date())
    if not dry_run:
        for start in range(0, len(doomed), 50):
            es.indices.delete(index=",".join(doomed[start : start + 50]))
    return doomed
