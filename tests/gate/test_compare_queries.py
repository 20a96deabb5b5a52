"""The release comparison against a real Elasticsearch: counts, samples and verdicts."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest

from reqtrail.dashboards.queries.compare import Scope, compare_releases, sample_requests
from reqtrail.dashboards.queries.es_client import DataUnavailable
from reqtrail.dashboards.queries.gate_rules import GateRules
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


def _epoch_ms(record: dict[str, Any]) -> float:
    moment = datetime.fromisoformat(record["@timestamp"].replace("Z", "+00:00"))
    return round(moment.timestamp() * 1000)


def test_request_samples_are_bounded_random_and_repeatable(gate_data: GateData) -> None:
    """A sample of 50 holds the route's own requests from all over the window, the same twice."""
    cohort = gate_data.cohort(NEW)
    extra = Scope(environment="staging").clauses()
    first, again = (
        sample_requests(gate_data.es, gate_data.prefix, [(cohort, "/crashing")], extra, 50)[0]
        for _ in range(2)
    )
    assert len(first) == 50 and list(first.latencies) == list(again.latencies)
    mine = sorted(_mine(gate_data, "/crashing", NEW), key=_epoch_ms)
    by_time = {_epoch_ms(r): r for r in mine}
    times = sorted(by_time)
    assert first.times is not None and first.errors is not None
    drawn = [float(t) for t in first.times]
    for when, latency, failed in zip(drawn, first.latencies, first.errors, strict=True):
        record = by_time[when]
        assert latency == pytest.approx(record["latency_ms"], rel=1e-6)
        assert failed == (record["status"] >= 500)
    assert times.index(min(drawn)) < 60 and times.index(max(drawn)) > len(times) - 60
    assert sum(first.errors) >= 1  # /crashing fails 12 % of the time
    assert first.blocks is not None and set(first.blocks) == set(range(20))
    small = sample_requests(gate_data.es, gate_data.prefix, [(cohort, "/rare")], extra, 50)[0]
    assert len(small) == 30


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
