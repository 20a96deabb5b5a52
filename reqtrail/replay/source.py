"""Where replayed requests come from: an export file, or Elasticsearch with the dashboard's filters.

Both give records in recorded order (``@timestamp``, then ``request_id``). The filters
mean the same for both sources: ``--user``, ``--since``/``--until``, ``--route``,
``--status`` (a code or a class such as ``5xx``) and ``--request-id`` (repeatable; any
of them matches). Records that are themselves replays (they have ``replay_of``) are left
out unless ``include_replays`` is set: a player's session is what the player sent.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from reqtrail.dashboards.queries.filters import (
    FilterError,
    SearchFilter,
    StatusClass,
    TimeRange,
    parse_time,
)
from reqtrail.schemas.export_file import read_export_file
from reqtrail.settings import Settings


class SourceError(ValueError):
    """The records to replay cannot be read; ``str(exc)`` is one line naming the cause."""


@dataclass(frozen=True)
class ReplayFilter:
    """Which recorded requests to replay."""

    user_id: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    route: str | None = None
    status: int | None = None
    status_class: StatusClass | None = None
    request_ids: tuple[str, ...] = ()
    include_replays: bool = False

    def matches(self, record: dict[str, Any]) -> bool:
        """True when ``record`` passes every filter that is set."""
        if record.get("replay_of") and not self.include_replays:
            return False
        if self.user_id is not None and record.get("user_id") != self.user_id:
            return False
        if self.request_ids and record.get("request_id") not in self.request_ids:
            return False
        if self.route is not None and record.get("route") != self.route:
            return False
        status = record.get("status")
        if self.status is not None and status != self.status:
            return False
        if self.status_class is not None:
            low, high = self.status_class.bounds
            if not isinstance(status, int) or not low <= status <= high:
                return False
        if self.since is not None or self.until is not None:
            try:
                moment = parse_time(str(record.get("@timestamp")))
            except FilterError:
                return False
            if self.since is not None and moment < self.since:
                return False
            if self.until is not None and moment >= self.until:
                return False
        return True


def parse_status(text: str | None) -> tuple[int | None, StatusClass | None]:
    """``500`` -> (500, None); ``5xx`` -> (None, 5xx); None -> (None, None)."""
    if text is None:
        return None, None
    cleaned = text.strip().lower()
    if cleaned in {c.value for c in StatusClass}:
        return None, StatusClass(cleaned)
    if cleaned.isdigit() and 100 <= int(cleaned) <= 599:
        return int(cleaned), None
    raise SourceError(f"--status must be a code like 500 or a class like 5xx: {text!r}")


def _order(record: dict[str, Any]) -> tuple[str, str]:
    return str(record.get("@timestamp", "")), str(record.get("request_id", ""))


def records_from_file(path: Path, chosen: ReplayFilter) -> list[dict[str, Any]]:
    """The export's records that pass ``chosen``, in recorded order."""
    from reqtrail.schemas.export_file import ExportFileError

    try:
        _header, records = read_export_file(path)
    except ExportFileError as exc:
        raise SourceError(str(exc)) from None
    return sorted((r for r in records if chosen.matches(r)), key=_order)


def records_from_es(
    settings: Settings, chosen: ReplayFilter, time_range: TimeRange
) -> list[dict[str, Any]]:
    """The indexed records in ``time_range`` that pass ``chosen``, in recorded order."""
    from reqtrail.dashboards.queries.es_client import DataUnavailable, make_client
    from reqtrail.dashboards.queries.export import iter_records

    if chosen.user_id is None and not chosen.request_ids:
        raise SourceError("give an export file, or --user and/or --request-id to read from ES")
    try:
        base = SearchFilter(
            time_range=time_range,
            user_id=chosen.user_id,
            route=chosen.route,
            status=chosen.status,
            status_class=chosen.status_class,
        )
    except FilterError as exc:
        raise SourceError(str(exc)) from None
    filters = [replace(base, request_id=rid) for rid in chosen.request_ids] or [base]
    es = make_client(settings)
    try:
        streams: Iterable[Iterator[dict[str, Any]]] = [
            iter_records(es, settings.read_alias, f) for f in filters
        ]
        return [r for r in heapq.merge(*streams, key=_order) if chosen.matches(r)]
    except DataUnavailable as exc:
        raise SourceError(str(exc)) from None
    finally:
        es.close()
