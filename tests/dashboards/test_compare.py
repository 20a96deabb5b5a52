"""The release comparison against a real Elasticsearch: counts, samples and verdicts."""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from elasticsearch import Elasticsearch

from reqtrail.dashboards.queries.compare import Scope, compare_releases, sample_latencies
from reqtrail.dashboards.queries.es_client import DataUnavailable, make_client
from reqtrail.dashboards.queries.filters import Cohort, TimeRange
from reqtrail.dashboards.queries.gate_rules import GateRules
from reqtrail.dashboards.queries.verdicts import Verdict
from reqtrail.dashboards.seed import delete_prefix, seed
from reqtrail.schemas.samples import RouteProfile, sample_record
from reqtrail.settings import load_settings

pytestmark = pytest.mark.integration
OLD, NEW = "2.3.0", "2.4.0"
# route -> (requests per side, candidate latency factor, candidate 5xx share)
PLAN = {
    "/steady": (400, 1.0, 0.0),
    "/slowed": (400, 1.5, 0.0),
    "/crashing": (300, 1.0, 0.12),
    "/faster": (400, 0.5, 0.0),
    "/rare": (30, 1.0, 0.0),
}


@dataclass
class GateData:
    es: Elasticsearch
    prefix: str
    window: TimeRange
    records: list[dict[str, Any]]

    def cohort(self, version: str) -> Cohort:
        return Cohort(self.window, version)


def _records(now: datetime) -> list[dict[str, Any]]:
    rng = random.Random(20)
    records = []
    for route, (count, factor, crash) in PLAN.items():
        profile = RouteProfile("GET", route, 40.0, 0.0, 1.0)
        for version in (OLD, NEW):
            for i in range(count):
                ts = now - timedelta(minutes=50) + timedelta(seconds=7 * i + rng.random())
                record = sample_record(rng, ts, route=profile)
                record.update(app_version=version, environment="staging", status=200)
                if version == NEW:
                    record["latency_ms"] = round(record["latency_ms"] * factor, 3)
                    if rng.random() < crash:
                        record["status"] = 500
                records.append(record)
    new_only = RouteProfile("GET", "/brand-new", 40.0, 0.0, 1.0)
    records += [
        dict(
            sample_record(rng, now - timedelta(minutes=5), route=new_only),
            app_version=NEW,
            environment="staging",
        )
        for _ in range(150)
    ]
    # production traffic of the candidate on /steady, much slower: outside environment=staging
    steady = RouteProfile("GET", "/steady", 400.0, 0.0, 1.0)
    for _ in range(400):
        record = sample_record(rng, now - timedelta(minutes=20), route=steady)
        records.append(dict(record, app_version=NEW, environment="prod", status=200))
    return records


@pytest.fixture(scope="module")
def gate_data(es_url: str) -> Iterator[GateData]:
    """Two versions of six routes: one slower, one crashing, one faster, one rare, one new."""
    prefix = f"t-gate-{uuid.uuid4().hex[:8]}"
    es = make_client(load_settings(environ={}).replace(es_url=es_url, index_prefix=prefix))
    now = datetime.now(UTC).replace(microsecond=0)
    records = _records(now)
    seed(es, prefix, records)
    try:
        yield GateData(es, prefix, TimeRange(now - timedelta(hours=1), now), records)
    finally:
        delete_prefix(es, prefix)


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


def test_latency_samples_are_bounded_random_and_repeatable(gate_data: GateData) -> None:
    """A sample of 50 holds only the route's latencies, not just the newest, the same each time."""
    cohort = gate_data.cohort(OLD)
    extra = Scope(environment="staging").clauses()
    first, again = (
        sample_latencies(gate_data.es, gate_data.prefix, [(cohort, "/slowed")], extra, 50)[0]
        for _ in range(2)
    )
    mine = sorted(_mine(gate_data, "/slowed", OLD), key=lambda r: r["@timestamp"])
    assert len(first) == 50 and first == again
    stored = [float(f"{r['latency_ms']:.7g}") for r in mine]
    assert all(any(abs(v - s) <= 1e-3 * s for s in stored) for v in first)
    newest = {float(f"{r['latency_ms']:.7g}") for r in mine[-50:]}
    assert len(newest & {float(f"{v:.7g}") for v in first}) < 25
    small = sample_latencies(gate_data.es, gate_data.prefix, [(cohort, "/rare")], extra, 50)[0]
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
