"""Slow APIs: latency percentiles per route over time, slowest routes, release comparison."""

from __future__ import annotations

from typing import Any

import pandas as pd
from elasticsearch import Elasticsearch

from reqtrail.dashboards.queries.agg_bodies import (
    comparison_body,
    latency_trend_body,
    route_stats_body,
    values_body,
)
from reqtrail.dashboards.queries.es_client import search
from reqtrail.dashboards.queries.filters import Cohort, TimeRange, histogram_interval

TREND_COLUMNS = ["time", "route", "requests", "p50", "p95", "p99"]
STATS_COLUMNS = [
    "route",
    "requests",
    "p50",
    "p95",
    "p99",
    "max",
    "errors_4xx",
    "errors_5xx",
    "error_rate",
]


def _pct(values: dict[str, Any], percent: float) -> float | None:
    value = values.get(str(float(percent)))
    return None if value is None else float(value)


def latency_trend(
    es: Elasticsearch,
    index: str,
    time_range: TimeRange,
    *,
    interval: str | None = None,
    route: str | None = None,
) -> pd.DataFrame:
    """Long table ``TREND_COLUMNS``: per route and bucket, request count and p50/p95/p99."""
    step = interval or histogram_interval(time_range)
    response = search(es, index, latency_trend_body(time_range, step, route))
    rows = []
    for route_bucket in response["aggregations"]["routes"]["buckets"]:
        for bucket in route_bucket["over_time"]["buckets"]:
            values = bucket["latency"]["values"]
            rows.append(
                {
                    "time": bucket["key"],
                    "route": route_bucket["key"],
                    "requests": bucket["doc_count"],
                    "p50": _pct(values, 50),
                    "p95": _pct(values, 95),
                    "p99": _pct(values, 99),
                }
            )
    frame = pd.DataFrame(rows, columns=TREND_COLUMNS)
    frame["time"] = pd.to_datetime(frame["time"], unit="ms", utc=True)
    return frame


def _stats_row(bucket: dict[str, Any]) -> dict[str, Any]:
    values = bucket["latency"]["values"]
    errors = bucket["errors"]["buckets"]
    requests = int(bucket["doc_count"])
    e4, e5 = int(errors["4xx"]["doc_count"]), int(errors["5xx"]["doc_count"])
    return {
        "route": bucket["key"],
        "requests": requests,
        "p50": _pct(values, 50),
        "p95": _pct(values, 95),
        "p99": _pct(values, 99),
        "max": bucket["max_latency"]["value"],
        "errors_4xx": e4,
        "errors_5xx": e5,
        "error_rate": (e4 + e5) / requests if requests else 0.0,
    }


def route_stats(es: Elasticsearch, index: str, time_range: TimeRange) -> pd.DataFrame:
    """One row per route (``STATS_COLUMNS``), slowest p95 first."""
    response = search(es, index, route_stats_body(time_range))
    rows = [_stats_row(b) for b in response["aggregations"]["routes"]["buckets"]]
    frame = pd.DataFrame(rows, columns=STATS_COLUMNS)
    return frame.sort_values("p95", ascending=False, ignore_index=True)


def _change(new: float | None, old: float | None) -> float | None:
    if new is None or old is None or old == 0:
        return None
    return (new - old) / old * 100.0


def compare_cohorts(
    es: Elasticsearch, index: str, baseline: Cohort, candidate: Cohort
) -> pd.DataFrame:
    """Per route, the two cohorts side by side with deltas; worst p95 regression first.

    ``*_change_pct`` is the relative latency change in percent; ``error_rate`` is the
    share of 5xx responses and ``error_rate_change_pp`` its change in percentage points.
    Routes seen in only one cohort have empty deltas and sort last.
    """
    response = search(es, index, comparison_body(baseline, candidate))
    cohorts = response["aggregations"]["cohorts"]["buckets"]
    sides: dict[str, dict[str, dict[str, Any]]] = {}
    for side in ("baseline", "candidate"):
        sides[side] = {b["key"]: _stats_row(b) for b in cohorts[side]["routes"]["buckets"]}
    rows = []
    for route in sorted(set(sides["baseline"]) | set(sides["candidate"])):
        old = sides["baseline"].get(route)
        new = sides["candidate"].get(route)
        row: dict[str, Any] = {"route": route}
        row["baseline_requests"] = old["requests"] if old else 0
        row["candidate_requests"] = new["requests"] if new else 0
        for p in ("p50", "p95", "p99"):
            row[f"baseline_{p}"] = old[p] if old else None
            row[f"candidate_{p}"] = new[p] if new else None
            row[f"{p}_change_pct"] = _change(row[f"candidate_{p}"], row[f"baseline_{p}"])
        old_rate = old["errors_5xx"] / old["requests"] * 100 if old else None
        new_rate = new["errors_5xx"] / new["requests"] * 100 if new else None
        row["baseline_error_rate_pct"] = old_rate
        row["candidate_error_rate_pct"] = new_rate
        row["error_rate_change_pp"] = (
            new_rate - old_rate if new_rate is not None and old_rate is not None else None
        )
        rows.append(row)
    frame = pd.DataFrame(rows)
    if frame.empty:
        return frame
    return frame.sort_values(
        ["p95_change_pct", "error_rate_change_pp"],
        ascending=False,
        na_position="last",
        ignore_index=True,
    )


def field_values(es: Elasticsearch, index: str, time_range: TimeRange, field: str) -> list[str]:
    """Distinct values of ``field`` (e.g. ``app_version``, ``route``), most frequent first."""
    response = search(es, index, values_body(time_range, field))
    return [str(b["key"]) for b in response["aggregations"]["values"]["buckets"]]
