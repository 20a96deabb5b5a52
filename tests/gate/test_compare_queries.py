"""The release comparison against a real Elasticsearch: counts, samples and verdicts."""

from __future__ import annotations

from typing import Any

import pytest

from reqtrail.dashboards.queries.compare import Scope, compare_releases, read_sides
from reqtrail.dashboards.queries.es_client import DataUnavailable
from reqtrail.dashboards.queries.gate_rules import GateRules
from reqtrail.dashboards.queries.gate_stats import nearest_rank
from reqtrail.dashboards.queries.verdicts import Verdict
from tests.gate.data import NEW, OLD, GateData

pytestmark = pytest.mark.integration


def _mine(data: GateData, route: str, version: str, env: str = "staging") -> list[dict[str, Any]]:
    return [
        r
        for r in data.records
        if r["route"] == route and r["app_version"] == version and r["environment"] == env
    ]


def test_each_route_gets_the_verdict_its_data_call_for(gate_data: GateData) -> None:
    """Slower and crashing routes regress, the faster one improves, rare and new are too few."""
    result = compare_releases(
        gate_data.es,
        gate_data.prefix,
        gate_data.cohort(OLD),
        gate_data.cohort(NEW),
        scope=Scope(environment="staging"),
    )
    verdicts = {r.route: r.verdict for r in result.routes}
    assert verdicts == {
        "/slowed": Verdict.REGRESSED,
        "/crashing": Verdict.REGRESSED,
        "/faster": Verdict.IMPROVED,
        "/steady": Verdict.OK,
        "/rare": Verdict.TOO_FEW,
        "/brand-new": Verdict.TOO_FEW,
        "/stalled": Verdict.OK,
    }
    by_route = {r.route: r for r in result.routes}
    assert [r.route for r in result.routes[:2]] == ["/slowed", "/crashing"]
    assert result.routes[-1].verdict is Verdict.TOO_FEW
    assert by_route["/slowed"].reasons[0].startswith("p95 +")
    assert by_route["/crashing"].reasons[0].startswith("5xx rate +")
    assert "30 baseline and 30 candidate requests; 100 needed" in by_route["/rare"].reasons[0]
    for route, row in by_route.items():
        for side, version in (("baseline", OLD), ("candidate", NEW)):
            mine = _mine(gate_data, route, version)
            stats = getattr(row, side)
            assert stats.requests == len(mine)
            assert stats.errors_5xx == sum(1 for r in mine if r["status"] >= 500)
            assert stats.errors_4xx == sum(1 for r in mine if 400 <= r["status"] < 500)


def test_scope_filters_environment_and_routes(gate_data: GateData) -> None:
    """Without the environment filter the candidate's slow prod traffic makes /steady regress."""
    everywhere = compare_releases(
        gate_data.es,
        gate_data.prefix,
        gate_data.cohort(OLD),
        gate_data.cohort(NEW),
        scope=Scope(routes=("/steady", "/rare")),
    )
    assert {r.route: r.verdict for r in everywhere.routes} == {
        "/steady": Verdict.REGRESSED,
        "/rare": Verdict.TOO_FEW,
    }
    steady = everywhere.routes[0]
    assert steady.candidate.requests == 400 + 400


def test_route_override_lets_a_rare_route_be_judged(gate_data: GateData) -> None:
    """With min_requests = 20 for /rare only, it gets a verdict; the others keep theirs."""
    rules = GateRules().with_route("/rare", {"min_requests": 20})
    result = compare_releases(
        gate_data.es,
        gate_data.prefix,
        gate_data.cohort(OLD),
        gate_data.cohort(NEW),
        rules=rules,
        scope=Scope(environment="staging", routes=("/rare", "/brand-new")),
    )
    assert {r.route: r.verdict for r in result.routes} == {
        "/rare": Verdict.OK,
        "/brand-new": Verdict.TOO_FEW,
    }


def test_one_stall_shows_in_p99_but_is_no_regression(gate_data: GateData) -> None:
    """Ten requests slowed at one moment double /stalled's p99, and its p99 stays unbounded."""
    result = compare_releases(
        gate_data.es,
        gate_data.prefix,
        gate_data.cohort(OLD),
        gate_data.cohort(NEW),
        scope=Scope(environment="staging", routes=("/stalled",)),
    )
    (stalled,) = result.routes
    assert stalled.verdict is Verdict.OK
    change = stalled.change_pct("p99")
    assert change is not None and change > 100
    assert stalled.p99 is not None and stalled.p99.low <= 0


def test_quantiles_read_from_elasticsearch_match_the_records(gate_data: GateData) -> None:
    """The percentile grid gives each side's p90..p99.9 next to the records' own."""
    sides = read_sides(
        gate_data.es,
        gate_data.prefix,
        gate_data.cohort(OLD),
        gate_data.cohort(NEW),
        Scope(environment="staging").clauses(),
    )
    for side, version in (("baseline", OLD), ("candidate", NEW)):
        for route in ("/steady", "/slowed", "/stalled"):
            mine = sorted(float(f"{r['latency_ms']:.7g}") for r in _mine(gate_data, route, version))
            read = sides[side][route]
            assert read.stats.requests == len(mine)
            for percent in (90, 95, 97.5, 99, 99.9):
                rank = nearest_rank(len(mine), percent)  # between its neighbours, 1 % leeway
                low, high = mine[max(rank - 2, 0)], mine[min(rank, len(mine) - 1)]
                assert low * 0.99 <= read.quantiles.percentile(percent) <= high * 1.01


def test_the_dashboard_frame_has_the_verdicts_and_deltas(gate_data: GateData) -> None:
    """to_frame keeps the Slow APIs columns and adds verdict, reason and 4xx rates."""
    result = compare_releases(
        gate_data.es, gate_data.prefix, gate_data.cohort(OLD), gate_data.cohort(NEW)
    )
    frame = result.to_frame().set_index("route")
    assert frame.loc["/slowed", "verdict"] == "regressed"
    assert frame.loc["/slowed", "p95_change_pct"] > 30
    assert frame.loc["/crashing", "error_rate_change_pp"] > 5
    assert {"why", "baseline_4xx_rate_pct", "candidate_error_rate_pct"} <= set(frame.columns)


def test_a_missing_index_is_data_unavailable(gate_data: GateData) -> None:
    """Comparing an index that does not exist says so in a sentence."""
    with pytest.raises(DataUnavailable, match="does not exist"):
        compare_releases(
            gate_data.es, "t-gate-never-created", gate_data.cohort(OLD), gate_data.cohort(NEW)
        )
