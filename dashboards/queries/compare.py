"""The release comparison of ``reqtrail compare`` and the dashboard: per route, two cohorts
side by side with deltas and a verdict that holds beyond noise.

Two aggregation requests to Elasticsearch, whatever the amount of data (``gate_bodies``):

1. per cohort and route: count, p50/p95/p99, 4xx/5xx counts and the latency percentiles on
   a fine grid around p95 and p99 (the quantile function the bounds are read from);
2. for each route with enough requests on both sides: how its requests slower than its
   p95 and p99, and its 5xx, spread over 20 stretches of its time span (the design
   effects that tell a stall from a slowdown).

No request leaves Elasticsearch: every request counts, and the cost stays that of two
aggregations. The statistics are in ``gate_stats``, the verdict rules in ``verdicts``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd
from elasticsearch import Elasticsearch

from reqtrail.dashboards.queries.bodies import Query, term
from reqtrail.dashboards.queries.es_client import search
from reqtrail.dashboards.queries.filters import Cohort
from reqtrail.dashboards.queries.gate_bodies import BurstSide, burst_body, shape_body
from reqtrail.dashboards.queries.gate_rules import GateRules
from reqtrail.dashboards.queries.gate_stats import Quantiles, Shape
from reqtrail.dashboards.queries.verdicts import RouteComparison, SideStats, Verdict, judge

TAIL = (90, 95, 99)  # percentiles whose slower requests are counted per block of time
_ORDER = {Verdict.REGRESSED: 0, Verdict.IMPROVED: 1, Verdict.OK: 1, Verdict.TOO_FEW: 2}


@dataclass(frozen=True)
class Scope:
    """Filters both sides share: environment, service and (any of) routes."""

    environment: str | None = None
    service: str | None = None
    routes: tuple[str, ...] = ()

    def clauses(self) -> list[Query]:
        clauses: list[Query] = []
        if self.environment is not None:
            clauses.append(term("environment", self.environment))
        if self.service is not None:
            clauses.append(term("service", self.service))
        if self.routes:
            clauses.append({"bool": {"should": [term("route", r) for r in self.routes]}})
        return clauses


@dataclass(frozen=True)
class Comparison:
    """Every route of either side, regressions first, then by p95 change."""

    baseline: Cohort
    candidate: Cohort
    scope: Scope
    rules: GateRules
    routes: tuple[RouteComparison, ...]

    def having(self, verdict: Verdict) -> list[RouteComparison]:
        return [r for r in self.routes if r.verdict is verdict]

    @property
    def requests(self) -> tuple[int, int]:
        """Requests on the baseline and the candidate side, all routes."""
        return (
            sum(r.baseline.requests for r in self.routes),
            sum(r.candidate.requests for r in self.routes),
        )

    def to_frame(self) -> pd.DataFrame:
        """One row per route: sides, deltas (``*_change_pct``, ``*_change_pp``), verdict."""
        rows = []
        for r in self.routes:
            old, new = r.baseline, r.candidate
            row: dict[str, Any] = {
                "route": r.route,
                "verdict": str(r.verdict),
                "why": "; ".join(r.reasons),
                "baseline_requests": old.requests,
                "candidate_requests": new.requests,
            }
            for p in ("p50", "p95", "p99"):
                row[f"baseline_{p}"] = getattr(old, p)
                row[f"candidate_{p}"] = getattr(new, p)
                row[f"{p}_change_pct"] = r.change_pct(p)
            row["baseline_4xx_rate_pct"] = old.rate_4xx_pct
            row["candidate_4xx_rate_pct"] = new.rate_4xx_pct
            row["baseline_error_rate_pct"] = old.rate_5xx_pct
            row["candidate_error_rate_pct"] = new.rate_5xx_pct
            row["error_rate_change_pp"] = r.rate_5xx_change_pp
            rows.append(row)
        return pd.DataFrame(rows)


@dataclass(frozen=True)
class RouteSide:
    """One route on one side, from the first aggregation."""

    stats: SideStats
    quantiles: Quantiles
    first_ms: int
    last_ms: int


Sides = dict[str, dict[str, RouteSide]]  # "baseline"/"candidate" -> route -> RouteSide
SIDES = ("baseline", "candidate")


def _route_side(bucket: dict[str, Any]) -> RouteSide:
    points = [(float(p["key"]), p["value"]) for p in bucket["latency"]["values"]]
    values = dict(points)
    errors = bucket["errors"]["buckets"]
    stats = SideStats(
        requests=int(bucket["doc_count"]),
        p50=values.get(50.0),
        p95=values.get(95.0),
        p99=values.get(99.0),
        errors_4xx=int(errors["4xx"]["doc_count"]),
        errors_5xx=int(errors["5xx"]["doc_count"]),
    )
    quantiles = Quantiles.from_percentiles(
        stats.requests, points, bucket["max_latency"]["value"] or 0.0
    )
    return RouteSide(stats, quantiles, int(bucket["first"]["value"]), int(bucket["last"]["value"]))


def read_sides(
    es: Elasticsearch, index: str, baseline: Cohort, candidate: Cohort, extra: Sequence[Query]
) -> Sides:
    """Every route's numbers and quantile function on both sides (first aggregation)."""
    answer = search(es, index, shape_body(baseline, candidate, extra))
    cohorts = answer["aggregations"]["cohorts"]["buckets"]
    return {
        side: {b["key"]: _route_side(b) for b in cohorts[side]["routes"]["buckets"]}
        for side in SIDES
    }


def judged_routes(sides: Sides, rules: GateRules) -> list[str]:
    """Routes with at least their ``min_requests`` on both sides."""
    old, new = sides["baseline"], sides["candidate"]
    return [
        route
        for route in sorted(set(old) & set(new))
        if min(old[route].stats.requests, new[route].stats.requests)
        >= rules.for_route(route).min_requests
    ]


def _shape_of(quantiles: Quantiles, blocks: list[dict[str, Any]]) -> Shape:
    return Shape.from_blocks(
        quantiles,
        [b["doc_count"] for b in blocks],
        {p: [b[f"p{p}"]["doc_count"] for b in blocks] for p in TAIL},
        [b["5xx"]["doc_count"] for b in blocks],
    )


def read_shapes(
    es: Elasticsearch,
    index: str,
    baseline: Cohort,
    candidate: Cohort,
    sides: Sides,
    routes: Sequence[str],
    extra: Sequence[Query],
) -> dict[str, tuple[Shape, Shape]]:
    """How bursty each route's tail and 5xx are on both sides (second aggregation)."""
    if not routes:
        return {}
    queries = [
        BurstSide(
            cohort,
            min(sides[side][route].first_ms for route in routes),
            max(sides[side][route].last_ms for route in routes),
            tuple(
                (route, tuple((p, sides[side][route].quantiles.percentile(p)) for p in TAIL))
                for route in routes
            ),
        )
        for side, cohort in zip(SIDES, (baseline, candidate), strict=True)
    ]
    answer = search(es, index, burst_body(queries, extra))
    found: dict[tuple[str, str], Shape] = {}
    for key, side in enumerate(SIDES):
        for bucket in answer["aggregations"][str(key)]["routes"]["buckets"]:
            route = bucket["key"]
            blocks = bucket["blocks"]["buckets"]
            found[route, side] = _shape_of(sides[side][route].quantiles, blocks)
    return {route: (found[route, "baseline"], found[route, "candidate"]) for route in routes}


def judge_routes(
    sides: Sides, shapes: dict[str, tuple[Shape, Shape]], rules: GateRules
) -> list[RouteComparison]:
    """Every route of either side with its verdict, regressions first, then by p95 change."""
    empty = RouteSide(SideStats(), Quantiles.of([0.0]), 0, 0)
    routes = [
        judge(
            route,
            sides["baseline"].get(route, empty).stats,
            sides["candidate"].get(route, empty).stats,
            rules.for_route(route),
            shapes.get(route),
            confidence=rules.confidence,
        )
        for route in sorted(set(sides["baseline"]) | set(sides["candidate"]))
    ]
    return sorted(routes, key=_order)


def _order(route: RouteComparison) -> tuple[int, float, str]:
    change = route.change_pct("p95")
    return (_ORDER[route.verdict], -(change if change is not None else -1e18), route.route)


def compare_releases(
    es: Elasticsearch,
    index: str,
    baseline: Cohort,
    candidate: Cohort,
    rules: GateRules | None = None,
    scope: Scope | None = None,
) -> Comparison:
    """Every route of either side, judged by ``rules`` (default: ``GateRules()``)."""
    rules = rules or GateRules()
    scope = scope or Scope()
    extra = scope.clauses()
    sides = read_sides(es, index, baseline, candidate, extra)
    judged = judged_routes(sides, rules)
    shapes = read_shapes(es, index, baseline, candidate, sides, judged, extra)
    routes = judge_routes(sides, shapes, rules)
    return Comparison(baseline, candidate, scope, rules, tuple(routes))
