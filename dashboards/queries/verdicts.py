"""One route's verdict from its two sides' numbers, samples and limits (pure, no ES).

A route is ``too few requests`` when either side has fewer than ``min_requests``; never a
verdict then. Otherwise it is ``regressed`` when the lower confidence bound of its p95 or
p99 change, or of its 5xx-rate change, is beyond the limit (the change holds beyond
noise); ``improved`` when nothing regressed and an upper bound is below minus the limit;
else ``ok``.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from reqtrail.dashboards.queries.gate_rules import Limits
from reqtrail.dashboards.queries.gate_stats import (
    Interval,
    Shape,
    percentile_change,
    rate_change,
)


class Verdict(StrEnum):
    REGRESSED = "regressed"
    IMPROVED = "improved"
    OK = "ok"
    TOO_FEW = "too few requests"


@dataclass(frozen=True)
class SideStats:
    """One route on one side, over every request (ES aggregations)."""

    requests: int = 0
    p50: float | None = None
    p95: float | None = None
    p99: float | None = None
    errors_4xx: int = 0
    errors_5xx: int = 0

    @property
    def rate_4xx_pct(self) -> float | None:
        return self.errors_4xx / self.requests * 100 if self.requests else None

    @property
    def rate_5xx_pct(self) -> float | None:
        return self.errors_5xx / self.requests * 100 if self.requests else None


@dataclass(frozen=True)
class RouteComparison:
    """A route's two sides, the confidence intervals of its changes and its verdict."""

    route: str
    baseline: SideStats
    candidate: SideStats
    limits: Limits
    verdict: Verdict
    reasons: tuple[str, ...] = ()
    p95: Interval | None = None
    p99: Interval | None = None
    rate_5xx: Interval | None = None

    def change_pct(self, percentile: str) -> float | None:
        """Relative change of ``p50``/``p95``/``p99`` over every request, in percent."""
        old = getattr(self.baseline, percentile)
        new = getattr(self.candidate, percentile)
        if old is None or new is None or old == 0:
            return None
        return float((new - old) / old * 100)

    @property
    def rate_5xx_change_pp(self) -> float | None:
        old, new = self.baseline.rate_5xx_pct, self.candidate.rate_5xx_pct
        return None if old is None or new is None else new - old


def _pct(value: float) -> str:
    return f"{value:+.0f}%" if abs(value) != float("inf") else "unbounded"


def _pp(value: float) -> str:
    return f"{value:+.1f} pp"


def judge(
    route: str,
    baseline: SideStats,
    candidate: SideStats,
    limits: Limits,
    shapes: tuple[Shape, Shape] | None,
    *,
    confidence: float = 0.95,
) -> RouteComparison:
    """The verdict of one route; ``shapes`` are the (baseline, candidate) distributions."""
    fewest = min(baseline.requests, candidate.requests)
    if fewest < limits.min_requests or shapes is None:
        reason = (
            f"{baseline.requests} baseline and {candidate.requests} candidate requests; "
            f"{limits.min_requests} needed on each side"
        )
        return RouteComparison(route, baseline, candidate, limits, Verdict.TOO_FEW, (reason,))
    old, new = shapes
    p95, p99 = (
        percentile_change(
            old.quantiles,
            new.quantiles,
            percent,
            baseline_effect=getattr(old, f"p{percent:.0f}_effect"),
            candidate_effect=getattr(new, f"p{percent:.0f}_effect"),
            confidence=confidence,
        )
        for percent in (95.0, 99.0)
    )
    errors = rate_change(
        baseline.errors_5xx,
        baseline.requests,
        candidate.errors_5xx,
        candidate.requests,
        confidence=confidence,
        baseline_effect=old.errors_effect,
        candidate_effect=new.errors_effect,
    )
    sure = f"at {confidence:.0%} confidence"
    worse: list[str] = []
    better: list[str] = []
    for name, change, limit, show, unit in (
        ("p95", p95, limits.max_p95_increase_pct, _pct, "%"),
        ("p99", p99, limits.max_p99_increase_pct, _pct, "%"),
        ("5xx rate", errors, limits.max_5xx_increase_pp, _pp, " pp"),
    ):
        if change.low > limit:
            worse.append(
                f"{name} {show(change.estimate)}: at least {show(change.low)} {sure}, "
                f"limit +{limit:g}{unit}"
            )
        elif change.high < -limit:
            better.append(f"{name} {show(change.estimate)}: at most {show(change.high)} {sure}")
    verdict = Verdict.REGRESSED if worse else Verdict.IMPROVED if better else Verdict.OK
    return RouteComparison(
        route,
        baseline,
        candidate,
        limits,
        verdict,
        tuple(worse or better),
        p95=p95,
        p99=p99,
        rate_5xx=errors,
    )
