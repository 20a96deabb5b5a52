"""Elasticsearch bodies of the release gate: two aggregations, whatever the data size.

``shape_body``: per cohort and route, the request count, the latency percentiles on a fine
grid (``GRID``: the quantile function near p95 and p99), the slowest request, 4xx/5xx
counts and the first and last request's time.

Then, in one multi-search, ``BLOCKS`` equal stretches of time between each cohort's first
and last request: ``counts_body`` counts each judged route's requests and 5xx per stretch
(one pass over the documents), and one ``tail_body`` per cohort counts each route's
requests at least as slow as that route's p90, p95 and p99 on that side (a selective
query: only the slowest tenth of the requests is read).

Same rules as ``bodies``: user text only ever becomes a ``term`` value.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from reqtrail.dashboards.queries.agg_bodies import cohort_filter
from reqtrail.dashboards.queries.bodies import MAX_ROUTES, Query, term
from reqtrail.dashboards.queries.filters import Cohort
from reqtrail.dashboards.queries.gate_stats import BLOCKS

GRID: tuple[float, ...] = (
    50.0,
    90.0,
    91.0,
    92.0,
    *(round(93.0 + 0.25 * i, 2) for i in range(17)),  # 93 .. 97
    *(round(97.1 + 0.1 * i, 1) for i in range(29)),  # 97.1 .. 99.9
    99.92,
    99.95,
    99.97,
    99.99,
    99.999,
)


def _any_cohort(cohorts: Sequence[Cohort], extra: Sequence[Query]) -> Query:
    """Requests of any of ``cohorts``, each with the ``extra`` clauses."""
    should = [cohort_filter(cohort, extra) for cohort in cohorts]
    return {"bool": {"should": should, "minimum_should_match": 1}}


def shape_body(baseline: Cohort, candidate: Cohort, extra: Sequence[Query] = ()) -> Query:
    """Per cohort and route: count, percentiles on ``GRID``, max, 4xx/5xx, first and last."""
    per_route = {
        "latency": {"percentiles": {"field": "latency_ms", "percents": list(GRID), "keyed": False}},
        "max_latency": {"max": {"field": "latency_ms"}},
        "first": {"min": {"field": "@timestamp"}},
        "last": {"max": {"field": "@timestamp"}},
        "errors": {
            "filters": {
                "filters": {
                    "4xx": {"range": {"status": {"gte": 400, "lte": 499}}},
                    "5xx": {"range": {"status": {"gte": 500, "lte": 599}}},
                }
            }
        },
    }
    return {
        "size": 0,
        "query": _any_cohort((baseline, candidate), extra),
        "aggs": {
            "cohorts": {
                "filters": {
                    "filters": {
                        "baseline": cohort_filter(baseline, extra),
                        "candidate": cohort_filter(candidate, extra),
                    }
                },
                "aggs": {
                    "routes": {
                        "terms": {"field": "route", "size": MAX_ROUTES},
                        "aggs": per_route,
                    }
                },
            }
        },
    }


@dataclass(frozen=True)
class BurstSide:
    """One side's judged routes: their common time span (epoch ms) and, per route, the
    latencies to count requests against: ``((90, p90 ms), (95, p95 ms), (99, p99 ms))``."""

    cohort: Cohort
    first_ms: int
    last_ms: int
    thresholds: tuple[tuple[str, tuple[tuple[int, float], ...]], ...]


def block_width_ms(first_ms: int, last_ms: int, blocks: int = BLOCKS) -> int:
    return max(1, math.ceil((last_ms - first_ms + 1) / blocks))


def _blocks(side: BurstSide) -> Query:
    """``BLOCKS`` equal stretches from the side's first to its last request, all returned."""
    width = block_width_ms(side.first_ms, side.last_ms)
    return {
        "field": "@timestamp",
        "fixed_interval": f"{width}ms",
        "offset": f"+{side.first_ms % width}ms",
        "min_doc_count": 0,
        "extended_bounds": {"min": side.first_ms, "max": side.last_ms},
    }


def _routes(side: BurstSide) -> Query:
    return {"bool": {"should": [term("route", route) for route, _ in side.thresholds]}}


def _per_route_and_block(side: BurstSide, counts: Query) -> Query:
    """Aggregation ``routes``: the side's judged routes, each in its ``BLOCKS`` stretches
    of time, each stretch with the ``counts`` sub-aggregations."""
    return {
        "routes": {
            "terms": {"field": "route", "size": max(len(side.thresholds), 1)},
            "aggs": {"blocks": {"date_histogram": _blocks(side), "aggs": counts}},
        }
    }


def counts_body(sides: Sequence[BurstSide], extra: Sequence[Query] = ()) -> Query:
    """Aggregation ``"0"``, ``"1"``... per side: per route and block, requests and 5xx."""
    server_errors = {"5xx": {"filter": {"range": {"status": {"gte": 500, "lte": 599}}}}}
    aggs: Query = {
        str(key): {
            "filter": cohort_filter(side.cohort, [*extra, _routes(side)]),
            "aggs": _per_route_and_block(side, server_errors),
        }
        for key, side in enumerate(sides)
    }
    return {
        "size": 0,
        "query": _any_cohort([side.cohort for side in sides], extra),
        "aggs": aggs,
    }


def _slower_than(side: BurstSide, percent: int) -> Query:
    """Requests at least as slow as their own route's ``percent`` percentile on this side."""
    return {
        "bool": {
            "should": [
                {
                    "bool": {
                        "filter": [
                            term("route", route),
                            {"range": {"latency_ms": {"gte": dict(levels)[percent]}}},
                        ]
                    }
                }
                for route, levels in side.thresholds
            ],
            "minimum_should_match": 1,
        }
    }


def tail_body(side: BurstSide, extra: Sequence[Query] = ()) -> Query:
    """The side's slowest requests only: those at least as slow as their route's lowest
    threshold (a selective query). Per route and block, how many reach each threshold."""
    levels = [p for p, _ in side.thresholds[0][1]]
    lowest = min(levels)
    return {
        "size": 0,
        "query": cohort_filter(side.cohort, [*extra, _slower_than(side, lowest)]),
        "aggs": _per_route_and_block(
            side, {f"p{p}": {"filter": _slower_than(side, p)} for p in levels if p != lowest}
        ),
    }
