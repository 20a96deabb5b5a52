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
from reqtrail.dashboards.queries.es_client import count, search
from reqtrail.dashboards.queries.filters import Cohort, TimeRange, histogram_interval

TREND_COLUMNS = ["time", "route", "requests", "p50", "p95", "p99"]
# Above twice this many requests in the range, the trend reads a random sample of about
# this many (ES's random_sampler: its cost falls with the share it reads, and it scales the
# counts back up).  A trend over 24 h of 10 M requests reads ~1 M, ~1,000 per route and
# 15 minutes on a busy route: p95 to within a few percent, a p99 rougher.
TREND_SAMPLE = 1_000_000
SAMPLE_SEED = 42  # the same sample for the same range: a chart does not flicker on reload
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


def sample_probability(total: int, sample: int) -> float:
    """The share of ``total`` records to read for about ``sample``: 1.0 (all) up to twice
    ``sample``, else below 0.5 (what ``random_sampler`` takes)."""
    if total <= 2 * sample or sample <= 0:
        return 1.0
    return sample / total


def latency_trend(
    es: Elasticsearch,
    index: str,
    time_range: TimeRange,
    *,
    interval: str | None = None,
    route: str | None = None,
    sample: int = TREND_SAMPLE,
) -> pd.DataFrame:
    """Long table ``TREND_COLUMNS``: per route and bucket, request count and p50/p95/p99.

    Over more than ``2 * sample`` requests it reads a random sample of about ``sample``
    (counts scaled back up); ``frame.attrs["sample_probability"]`` is the share read.
    """
    step = interval or histogram_interval(time_range)
    body = latency_trend_body(time_range, step, route)
    total = count(es, index, body["query"])
    probability = sample_probability(total, sample)
    if probability < 1.0:
        body["aggs"] = {
            "sample": {
                "random_sampler": {"probability": probability, "seed": SAMPLE_SEED},
                "aggs": body["aggs"],
            }
        }
    response = search(es, index, body)
    aggregations = response["aggregations"]
    if probability < 1.0:
        aggregations = aggregations["sample"]
    rows = []
    for route_bucket in aggregations["routes"]["buckets"]:
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
    frame.attrs["sample_probability"] = probability
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
