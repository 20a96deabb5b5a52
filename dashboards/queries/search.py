"""Find requests: filtered pages newest first (``search_after``), one request by ID."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd
from elasticsearch import Elasticsearch

from reqtrail.dashboards.queries.bodies import (
    TABLE_FIELDS,
    SortValues,
    by_id_body,
    route_percentiles_body,
    search_body,
)
from reqtrail.dashboards.queries.es_client import search
from reqtrail.dashboards.queries.filters import SearchFilter, TimeRange

RESULT_COLUMNS = [
    "time",
    "request_id",
    "user_id",
    "device_id",
    "method",
    "route",
    "path",
    "status",
    "latency_ms",
    "app_version",
    "error_type",
]


@dataclass(frozen=True)
class SearchPage:
    """One page of results, newest first; ``next_after`` continues with older ones."""

    rows: pd.DataFrame
    total: int
    total_is_exact: bool
    next_after: SortValues | None
    thresholds: dict[str, float] | None = None


def route_thresholds(
    es: Elasticsearch,
    index: str,
    time_range: TimeRange,
    percentile: float,
    route: str | None = None,
) -> dict[str, float]:
    """The ``percentile`` latency of each route over ``time_range`` (all users)."""
    response = search(es, index, route_percentiles_body(time_range, [percentile], route))
    thresholds: dict[str, float] = {}
    for bucket in response["aggregations"]["routes"]["buckets"]:
        value = next(iter(bucket["latency"]["values"].values()), None)
        if value is not None:
            thresholds[str(bucket["key"])] = float(value)
    return thresholds


def records_to_rows(records: list[dict[str, Any]]) -> pd.DataFrame:
    """The results table: one row per record, columns ``RESULT_COLUMNS``."""
    rows = [
        {
            "time": record.get("@timestamp"),
            "request_id": record.get("request_id"),
            "user_id": record.get("user_id"),
            "device_id": record.get("device_id"),
            "method": record.get("method"),
            "route": record.get("route"),
            "path": record.get("path"),
            "status": record.get("status"),
            "latency_ms": record.get("latency_ms"),
            "app_version": record.get("app_version"),
            "error_type": (record.get("error") or {}).get("type"),
        }
        for record in records
    ]
    frame = pd.DataFrame(rows, columns=RESULT_COLUMNS)
    frame["time"] = pd.to_datetime(frame["time"], utc=True, format="ISO8601")
    frame["status"] = frame["status"].astype("Int64")
    frame["latency_ms"] = frame["latency_ms"].astype("float64")
    return frame


def search_requests(
    es: Elasticsearch,
    index: str,
    f: SearchFilter,
    *,
    page_size: int = 100,
    after: SortValues | None = None,
) -> SearchPage:
    """A page of requests matching ``f``, newest first.

    With ``f.route_percentile`` set, a request matches when it is slower than that
    percentile of its own route over the same time range (computed across all users).
    """
    thresholds: dict[str, float] | None = None
    if f.route_percentile is not None:
        thresholds = route_thresholds(es, index, f.time_range, f.route_percentile, f.route)
    body = search_body(
        f, size=page_size, search_after=after, thresholds=thresholds, source=TABLE_FIELDS
    )
    response = search(es, index, body)
    hits = response["hits"]["hits"]
    total = response["hits"]["total"]
    next_after = list(hits[-1]["sort"]) if len(hits) == page_size else None
    return SearchPage(
        rows=records_to_rows([hit["_source"] for hit in hits]),
        total=int(total["value"]),
        total_is_exact=total["relation"] == "eq",
        next_after=next_after,
        thresholds=thresholds,
    )


def get_request(es: Elasticsearch, index: str, request_id: str) -> dict[str, Any] | None:
    """The full record with ``request_id``, or None."""
    hits = search(es, index, by_id_body(request_id))["hits"]["hits"]
    return dict(hits[0]["_source"]) if hits else None
