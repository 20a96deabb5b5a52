"""The release comparison of ``reqtrail compare`` and the dashboard: per route, two cohorts
side by side with deltas and a verdict that holds beyond noise.

Two requests to Elasticsearch, whatever the amount of data:

1. one aggregation gives every route's count, p50/p95/p99 and 4xx/5xx counts on both
   sides (``comparison_body``, the query behind the Slow APIs table);
2. one multi-search reads, for each route with enough requests on both sides, a uniform
   random sample of at most ``sample_size`` requests per side (latency, time, status).
   Each is a ``function_score`` query whose ``random_score`` hashes the document's
   ``request_id`` with a fixed seed (core Elasticsearch: no scripts, no plugin), so the
   best-scored documents are a random subset, and the same data always give the same
   sample and the same verdict.

The statistics are in ``gate_stats``, the verdict rules in ``verdicts``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd
from elasticsearch import Elasticsearch

from reqtrail.dashboards.queries.agg_bodies import cohort_filter
from reqtrail.dashboards.queries.bodies import Query, term
from reqtrail.dashboards.queries.es_client import DataUnavailable, translated_errors
from reqtrail.dashboards.queries.filters import Cohort
from reqtrail.dashboards.queries.gate_rules import GateRules
from reqtrail.dashboards.queries.gate_stats import Sample
from reqtrail.dashboards.queries.latency import cohort_route_stats
from reqtrail.dashboards.queries.verdicts import RouteComparison, SideStats, Verdict, judge

SAMPLE_SEED = 20
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


def sample_body(cohort: Cohort, route: str, extra: Sequence[Query], size: int) -> Query:
    """At most ``size`` latencies of ``route`` in ``cohort``, a seeded random subset."""
    return {
        "size": size,
        "_source": False,
        "stored_fields": "_none_",
        "docvalue_fields": [
            "latency_ms",
            "status",
            {"field": "@timestamp", "format": "epoch_millis"},
        ],
        "track_total_hits": False,
        "query": {
            "function_score": {
                "query": cohort_filter(cohort, [*extra, term("route", route)]),
                "random_score": {"seed": SAMPLE_SEED, "field": "request_id"},
                "boost_mode": "replace",
            }
        },
    }


def sample_requests(
    es: Elasticsearch,
    index: str,
    wanted: Sequence[tuple[Cohort, str]],
    extra: Sequence[Query],
    size: int,
) -> list[Sample]:
    """For each (cohort, route), a random sample of its requests, in one multi-search."""
    if not wanted:
        return []
    searches: list[Query] = []
    for cohort, route in wanted:
        searches += [{}, sample_body(cohort, route, extra, size)]
    with translated_errors(es, index):
        response = es.msearch(
            index=index,
            searches=searches,
            filter_path=["responses.hits.hits.fields", "responses.error"],
        )
    samples = []
    for answer in response.body["responses"]:
        if "error" in answer:
            raise DataUnavailable(f"Elasticsearch could not sample latencies: {answer['error']}")
        fields = [h["fields"] for h in answer.get("hits", {}).get("hits", []) if "fields" in h]
        samples.append(
            Sample.of(
                [f["latency_ms"][0] for f in fields],
                [float(f["@timestamp"][0]) for f in fields],
                [f["status"][0] >= 500 for f in fields],
            )
        )
    return samples


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
    sides = cohort_route_stats(es, index, baseline, candidate, extra)
    stats = {
        route: (
            SideStats.from_row(sides["baseline"].get(route)),
            SideStats.from_row(sides["candidate"].get(route)),
        )
        for route in sorted(set(sides["baseline"]) | set(sides["candidate"]))
    }
    judged = [
        route
        for route, (old, new) in stats.items()
        if min(old.requests, new.requests) >= rules.for_route(route).min_requests
    ]
    wanted = [(cohort, route) for route in judged for cohort in (baseline, candidate)]
    found = sample_requests(es, index, wanted, extra, rules.sample_size)
    samples = {route: (found[2 * i], found[2 * i + 1]) for i, route in enumerate(judged)}
    routes = [
        judge(
            route,
            old,
            new,
            rules.for_route(route),
            samples.get(route),
            confidence=rules.confidence,
        )
        for route, (old, new) in stats.items()
    ]
    return Comparison(baseline, candidate, scope, rules, tuple(sorted(routes, key=_order)))
