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
from reqtrail.dashboards.queries.es_client import DataUnavailable, search, translated_errors
from reqtrail.dashboards.queries.filters import Cohort
from reqtrail.dashboards.queries.gate_bodies import BurstSide, counts_body, shape_body, tail_body
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


def _slower(answer: dict[str, Any]) -> dict[tuple[str, int], dict[int, int]]:
    """(route, threshold) -> block start (epoch ms) -> requests at least that slow."""
    lowest = min(TAIL)
    out: dict[tuple[str, int], dict[int, int]] = {}
    for route in answer["aggregations"]["routes"]["buckets"]:
        blocks = route["blocks"]["buckets"]
        for p in TAIL:
            name = "doc_count" if p == lowest else f"p{p}"
            out[route["key"], p] = {
                b["key"]: b["doc_count"] if p == lowest else b[name]["doc_count"] for b in blocks
            }
    return out


def read_shapes(
    es: Elasticsearch,
    index: str,
    baseline: Cohort,
    candidate: Cohort,
    sides: Sides,
    routes: Sequence[str],
    extra: Sequence[Query],
) -> dict[str, tuple[Shape, Shape]]:
    """How bursty each route's tail and 5xx are on both sides (second request: one
    multi-search of a counting aggregation and a tail query per side)."""
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
    searches: list[Query] = [{}, counts_body(queries, extra)]
    for query in queries:
        searches += [{}, tail_body(query, extra)]
    with translated_errors(es, index):
        answers = es.msearch(index=index, searches=searches).body["responses"]
    for answer in answers:
        if "error" in answer:
            raise DataUnavailable(f"Elasticsearch could not count the slow requests: {answer}")
    found: dict[tuple[str, str], Shape] = {}
    for key, side in enumerate(SIDES):
        slower = _slower(answers[1 + key])
        for bucket in answers[0]["aggregations"][str(key)]["routes"]["buckets"]:
            route = bucket["key"]
            blocks = bucket["blocks"]["buckets"]
            over = {p: slower.get((route, p), {}) for p in TAIL}
            found[route, side] = Shape.from_blocks(
                sides[side][route].quantiles,
                [b["doc_count"] for b in blocks],
                {p: [over[p].get(b["key"], 0) for b in blocks] for p in TAIL},
                [b["5xx"]["doc_count"] for b in blocks],
            )
    return {route: (found[route, "baseline"], found[route, "candidate"]) for route in routes}


def judge_routes(
    sides: Sides,
    shapes: dict[str, tuple[Shape, Shape]],
    rules: GateRules,
    routes: Sequence[str] | None = None,
) -> list[RouteComparison]:
    """The verdict of each of ``routes`` (default: every route of either side)."""
    empty = RouteSide(SideStats(), Quantiles.of([0.0]), 0, 0)
    names = sorted(set(sides["baseline"]) | set(sides["candidate"])) if routes is None else routes
    return [
        judge(
            route,
            sides["baseline"].get(route, empty).stats,
            sides["candidate"].get(route, empty).stats,
            rules.for_route(route),
            shapes.get(route),
            confidence=rules.confidence,
        )
        for route in names
    ]


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
    """Every route of either side, judged by ``rules`` (default: ``GateRules()``), regressions
    first, then by p95 change.

    Routes are judged first as if their requests were independent. A design effect only
    widens an interval, so only the routes that this first pass calls regressed or
    improved are judged again with their design effects (the second request).
    """
    rules = rules or GateRules()
    scope = scope or Scope()
    extra = scope.clauses()
    sides = read_sides(es, index, baseline, candidate, extra)
    independent = {
        route: (
            Shape(sides["baseline"][route].quantiles),
            Shape(sides["candidate"][route].quantiles),
        )
        for route in judged_routes(sides, rules)
    }
    verdicts = {r.route: r for r in judge_routes(sides, independent, rules)}
    flagged = [
        r.route for r in verdicts.values() if r.verdict in (Verdict.REGRESSED, Verdict.IMPROVED)
    ]
    if flagged:
        shapes = read_shapes(es, index, baseline, candidate, sides, flagged, extra)
        verdicts.update((r.route, r) for r in judge_routes(sides, shapes, rules, flagged))
    routes = sorted(verdicts.values(), key=_order)
    return Comparison(baseline, candidate, scope, rules, tuple(routes))
