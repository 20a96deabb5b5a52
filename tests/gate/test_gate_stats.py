"""The gate's statistics, rules and verdicts, without Elasticsearch."""

from __future__ import annotations

import math

import numpy as np
import pytest

from reqtrail.dashboards.queries.gate_rules import (
    GateRules,
    Limits,
    RuleError,
    parse_route_rule,
    rules_from_table,
)
from reqtrail.dashboards.queries.gate_stats import (
    Quantiles,
    Shape,
    block_counts,
    design_effect,
    nearest_rank,
    percentile_change,
    rate_change,
)
from reqtrail.dashboards.queries.verdicts import SideStats, Verdict, judge


def latencies(rng: np.random.Generator, n: int, factor: float = 1.0) -> np.ndarray:
    """A game-server-like route: log-normal around 40 ms."""
    return rng.lognormal(np.log(40.0), 0.5, n) * factor


def heavy_tailed(rng: np.random.Generator, n: int) -> np.ndarray:
    """A gacha-like route: 1.3 % of requests hit a lock and take 20-60x longer."""
    values = rng.uniform(30, 120, n)
    slow = rng.random(n) < 0.013
    values[slow] = rng.uniform(1800, 5400, slow.sum())
    return values


def test_nearest_rank_is_within_the_sample() -> None:
    """p95 of 100 values is the 95th; of 3 values the 3rd; never 0."""
    assert (nearest_rank(100, 95), nearest_rank(3, 95), nearest_rank(1, 50)) == (95, 3, 1)


def test_a_fifty_percent_slowdown_is_seen_and_bounded() -> None:
    """+50 % on 300 requests: the lower bound clears +20 %, the upper bound holds the truth."""
    rng = np.random.default_rng(1)
    change = percentile_change(latencies(rng, 300), latencies(rng, 300, 1.5), 95.0)
    assert 20 < change.low < 50 < change.high
    assert change.low < change.estimate < change.high


def test_bounds_are_repeatable() -> None:
    """The same samples give the same interval (seeded draws)."""
    rng = np.random.default_rng(2)
    old, new = latencies(rng, 200), latencies(rng, 200)
    assert percentile_change(old, new, 95.0) == percentile_change(old, new, 95.0)


def test_a_p99_of_too_few_values_is_unbounded() -> None:
    """With 100 values a p99 may lie beyond the maximum: no lower bound on its change."""
    rng = np.random.default_rng(3)
    old = latencies(rng, 100)
    change = percentile_change(old, old * 3, 99.0)
    assert change.low == -100.0 and change.estimate == pytest.approx(200.0)
    assert percentile_change(old * 3, old, 99.0).high == math.inf


def test_no_false_alarms_on_identical_heavy_tailed_routes() -> None:
    """500 A/A pairs of 60-1,000 requests with a rare 50x tail: no p95/p99 bound clears +20 %."""
    rng = np.random.default_rng(4)
    alarms = 0
    for n in (60, 110, 300, 1000):
        for _ in range(125):
            old, new = heavy_tailed(rng, n), heavy_tailed(rng, n)
            alarms += percentile_change(old, new, 95.0).low > 20
            alarms += percentile_change(old, new, 99.0).low > 20
    assert alarms <= 2  # expected ~0.3 (bench/bench_gate_noise.py measures the rates)


def test_design_effect_is_one_for_independent_requests_and_more_for_bursts() -> None:
    """Flags spread at random stay near 1 (never below); flags crowded into one stretch do not."""
    rng = np.random.default_rng(6)
    times = rng.uniform(0, 60_000, 400)
    sizes = block_counts(times, np.zeros(400, dtype=bool))[1]
    assert len(sizes) == 20 and sizes.sum() == 400
    spread = [
        design_effect(block_counts(times, rng.random(400) < 0.05)[0], sizes) for _ in range(50)
    ]
    assert min(spread) == 1.0 and np.median(spread) < 1.5
    burst = (times > 21_000) & (times < 21_000 + 60_000 / 20 * 0.3)  # 2 % of the run at once
    assert design_effect(*block_counts(times, burst)) > 3


def test_one_stall_is_not_a_p99_regression_but_a_slow_run_is() -> None:
    """Ten slow requests from one moment leave p99 unbounded; slow all along, it regresses."""
    rng = np.random.default_rng(7)
    times = np.arange(400) * 50.0  # a 20 s run
    old = Shape.of(latencies(rng, 400), times)
    stalled = latencies(rng, 400)
    stalled[200:210] = 900.0  # one garbage-collection pause hits 10 requests in flight
    stall = Shape.of(stalled, times)
    assert stall.p99_effect > 4
    change = percentile_change(
        old.quantiles, stall.quantiles, 99.0, candidate_effect=stall.p99_effect
    )
    assert change.estimate > 100 and change.low <= 0
    assert percentile_change(old.quantiles, stall.quantiles, 99.0).low > 50  # if independent
    slow = latencies(rng, 400)
    slow[::25] = 900.0  # 16 slow requests, one every 1.25 s
    steady = Shape.of(slow, times)
    assert steady.p99_effect < 2
    change = percentile_change(
        old.quantiles, steady.quantiles, 99.0, candidate_effect=steady.p99_effect
    )
    assert change.low > 50


def test_quantiles_from_a_percentile_grid_read_between_its_points() -> None:
    """A grid as Elasticsearch returns it gives the ranks between its points, and the max."""
    grid = Quantiles.from_percentiles(1000, [(50.0, 40.0), (95.0, 90.0), (99.0, 150.0)], 400.0)
    ranks = np.array([0.0, 500.0, 970.0, 990.0, 995.0, 1000.0, 1001.0])
    assert list(grid.at_rank(ranks)) == [0.0, 40.0, 120.0, 150.0, 275.0, 400.0, np.inf]
    assert grid.percentile(95) == 90.0
    exact = Quantiles.of([3.0, 1.0, 2.0])
    assert list(exact.at_rank(np.array([1.0, 2.0, 3.0, 4.0]))) == [1.0, 2.0, 3.0, np.inf]


def test_bursts_of_errors_widen_the_5xx_bounds() -> None:
    """The same error counts give a wider interval when a side's errors came in a burst."""
    calm = rate_change(2, 400, 12, 400)
    bursty = rate_change(2, 400, 12, 400, candidate_effect=6.0)
    assert bursty.low < calm.low and bursty.high > calm.high
    assert bursty.estimate == calm.estimate == pytest.approx(2.5)


def test_rate_change_handles_zero_errors() -> None:
    """0 of 100 vs 0 of 100 brackets 0; 0 vs 20 of 100 is surely more than +1 point."""
    same = rate_change(0, 100, 0, 100)
    assert same.estimate == 0 and same.low < 0 < same.high
    worse = rate_change(0, 100, 20, 100)
    assert worse.estimate == pytest.approx(20.0) and worse.low > 1.0


def test_rules_come_from_the_gate_table_with_route_overrides() -> None:
    """[gate] limits apply to every route; [gate.routes."/x"] overrides only what it names."""
    rules = rules_from_table(
        {
            "max_p95_increase_pct": 10,
            "min_requests": 50,
            "confidence": 0.99,
            "routes": {"/shop": {"max_p95_increase_pct": 40}},
        },
        "reqtrail.toml [gate]",
    )
    assert rules.confidence == 0.99
    assert rules.for_route("/home") == Limits(max_p95_increase_pct=10, min_requests=50)
    assert rules.for_route("/shop") == Limits(max_p95_increase_pct=40, min_requests=50)
    flagged = rules.with_route("/shop", {"min_requests": 5})
    assert flagged.for_route("/shop") == Limits(max_p95_increase_pct=40, min_requests=5)


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({"max_p95_increase": 10}, "unknown gate rule 'max_p95_increase' in reqtrail.toml"),
        ({"min_requests": "many"}, "min_requests in reqtrail.toml must be a number"),
        ({"confidence": 1.5}, r"confidence must be within \[0.5, 1\)"),
        ({"routes": {"/a": {"min_request": 3}}}, "unknown gate rule 'min_request'"),
        ({"max_5xx_increase_pp": -1}, "max_5xx_increase_pp must not be negative"),
        ({"confidence": "high"}, "confidence in reqtrail.toml must be a number"),
    ],
)
def test_bad_rules_are_named(table: dict[str, object], message: str) -> None:
    """A misspelt or out-of-range rule is one clear error naming it."""
    with pytest.raises(RuleError, match=message):
        rules_from_table(table, "reqtrail.toml")


def test_route_rule_flags_parse() -> None:
    """--route-rule '/units/{id}:min_requests=30,max_p95_increase_pct=40' parses; typos fail."""
    route, changes = parse_route_rule("/units/{id}:min_requests=30,max_p95_increase_pct=40")
    assert route == "/units/{id}" and changes == {"min_requests": 30, "max_p95_increase_pct": 40}
    with pytest.raises(RuleError, match="ROUTE:NAME=VALUE"):
        parse_route_rule("/units/{id}")
    with pytest.raises(RuleError, match="unknown gate rule 'p95'"):
        parse_route_rule("/a:p95=3")


def test_too_few_requests_is_never_a_verdict() -> None:
    """Below min_requests on either side the route is 'too few requests', whatever changed."""
    old = SideStats(requests=99, errors_5xx=0)
    new = SideStats(requests=500, errors_5xx=400)
    result = judge("/a", old, new, Limits(), (Shape.of([1.0] * 99), Shape.of([9.0] * 500)))
    assert result.verdict is Verdict.TOO_FEW and result.p95 is None
    assert result.reasons == ("99 baseline and 500 candidate requests; 100 needed on each side",)


def test_verdicts_name_what_regressed_or_improved() -> None:
    """A slower p95 and more 5xx both regress the route; a much faster one improves."""
    rng = np.random.default_rng(5)
    old, slow, fast = (Shape.of(latencies(rng, 400, f)) for f in (1.0, 1.6, 0.5))
    base = SideStats(requests=400, errors_5xx=2)
    worse = judge("/a", base, SideStats(requests=400, errors_5xx=40), Limits(), (old, slow))
    assert worse.verdict is Verdict.REGRESSED
    assert [r.split()[0] for r in worse.reasons] == ["p95", "5xx"]
    better = judge("/a", base, SideStats(requests=400, errors_5xx=2), Limits(), (old, fast))
    assert better.verdict is Verdict.IMPROVED and better.reasons[0].startswith("p95 -")
    same = judge("/a", base, base, Limits(), (old, Shape.of(latencies(rng, 400))))
    assert same.verdict is Verdict.OK and same.reasons == ()


def test_rules_reject_bad_overall_values() -> None:
    """GateRules checks its own fields when built in code too."""
    with pytest.raises(RuleError, match="confidence"):
        GateRules(confidence=0.2)
