"""Errors: 4xx/5xx counts and error rate per route over time, top error types and codes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd
from elasticsearch import Elasticsearch

from reqtrail.dashboards.queries.agg_bodies import error_trend_body, top_errors_body
from reqtrail.dashboards.queries.es_client import search
from reqtrail.dashboards.queries.filters import TimeRange, histogram_interval

ERROR_TREND_COLUMNS = ["time", "route", "requests", "errors_4xx", "errors_5xx", "error_rate"]
# The rest of a bucket beyond the MAX_ROUTES routes it lists, so totals count everything.
OTHER_ROUTES = "(other routes)"
ERROR_TYPE_COLUMNS = ["error_type", "count", "top_route", "routes", "statuses", "last_seen"]
STATUS_COLUMNS = ["status", "count", "top_route", "routes", "last_seen"]


@dataclass(frozen=True)
class TopErrors:
    """Most frequent exception types (``error.type``) and failing status codes."""

    types: pd.DataFrame
    statuses: pd.DataFrame


def error_trend(
    es: Elasticsearch, index: str, time_range: TimeRange, *, interval: str | None = None
) -> pd.DataFrame:
    """Long table ``ERROR_TREND_COLUMNS``; ``error_rate`` = (4xx + 5xx) / requests.

    Requests without a route count as ``(unmatched)``; beyond the routes listed per
    bucket, the remainder is one ``(other routes)`` row, so the columns sum to the totals.
    """
    step = interval or histogram_interval(time_range)
    response = search(es, index, error_trend_body(time_range, step))
    rows = []
    for bucket in response["aggregations"]["over_time"]["buckets"]:
        listed = [
            _trend_row(bucket["key"], route["key"], route) for route in bucket["routes"]["buckets"]
        ]
        rest = _trend_row(bucket["key"], OTHER_ROUTES, bucket)
        for column in ("requests", "errors_4xx", "errors_5xx"):
            rest[column] -= sum(row[column] for row in listed)
        if rest["requests"] > 0:
            rest["error_rate"] = (rest["errors_4xx"] + rest["errors_5xx"]) / rest["requests"]
            listed.append(rest)
        rows += listed
    frame = pd.DataFrame(rows, columns=ERROR_TREND_COLUMNS)
    frame["time"] = pd.to_datetime(frame["time"], unit="ms", utc=True)
    return frame


def _trend_row(time: Any, route: str, bucket: dict[str, Any]) -> dict[str, Any]:
    errors = bucket["errors"]["buckets"]
    e4, e5 = int(errors["4xx"]["doc_count"]), int(errors["5xx"]["doc_count"])
    requests = int(bucket["doc_count"])
    return {
        "time": time,
        "route": route,
        "requests": requests,
        "errors_4xx": e4,
        "errors_5xx": e5,
        "error_rate": (e4 + e5) / requests if requests else 0.0,
    }


def _routes(bucket: dict[str, Any]) -> tuple[str | None, str]:
    keys = [str(b["key"]) for b in bucket["routes"]["buckets"]]
    return (keys[0] if keys else None), ", ".join(keys)


def _when(bucket: dict[str, Any]) -> pd.Timestamp | None:
    millis = bucket["last_seen"]["value"]
    return None if millis is None else pd.Timestamp(int(millis), unit="ms", tz="UTC")


def top_errors(es: Elasticsearch, index: str, time_range: TimeRange, size: int = 20) -> TopErrors:
    """Error types and status codes >= 400, most frequent first, with their routes."""
    aggs = search(es, index, top_errors_body(time_range, size))["aggregations"]
    types = []
    for bucket in aggs["error_types"]["buckets"]:
        top_route, routes = _routes(bucket)
        statuses = ", ".join(str(b["key"]) for b in bucket["statuses"]["buckets"])
        types.append(
            {
                "error_type": bucket["key"],
                "count": bucket["doc_count"],
                "top_route": top_route,
                "routes": routes,
                "statuses": statuses,
                "last_seen": _when(bucket),
            }
        )
    statuses_rows = []
    for bucket in aggs["failed"]["statuses"]["buckets"]:
        top_route, routes = _routes(bucket)
        statuses_rows.append(
            {
                "status": int(bucket["key"]),
                "count": bucket["doc_count"],
                "top_route": top_route,
                "routes": routes,
                "last_seen": _when(bucket),
            }
        )
    return TopErrors(
        types=pd.DataFrame(types, columns=ERROR_TYPE_COLUMNS),
        statuses=pd.DataFrame(statuses_rows, columns=STATUS_COLUMNS),
    )
