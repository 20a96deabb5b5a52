"""Seeded data of the gate's tests: two versions of seven routes with known verdicts."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from elasticsearch import Elasticsearch

from reqtrail.dashboards.queries.filters import Cohort, TimeRange
from reqtrail.schemas.samples import RouteProfile, sample_record

OLD, NEW = "2.3.0", "2.4.0"
# route -> (requests per side, candidate latency factor, candidate 5xx share)
PLAN = {
    "/steady": (400, 1.0, 0.0),
    "/slowed": (400, 1.5, 0.0),
    "/crashing": (300, 1.0, 0.12),
    "/faster": (400, 0.5, 0.0),
    "/rare": (30, 1.0, 0.0),
    "/stalled": (400, 1.0, 0.0),
}
# one moment of the candidate's /stalled: ten requests in a row 20x slower (a pause)
STALL = range(200, 210)


@dataclass
class GateData:
    es: Elasticsearch
    prefix: str
    window: TimeRange
    records: list[dict[str, Any]]

    def cohort(self, version: str) -> Cohort:
        return Cohort(self.window, version)


def gate_records(now: datetime) -> list[dict[str, Any]]:
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
                    slower = 20.0 if route == "/stalled" and i in STALL else factor
                    record["latency_ms"] = round(record["latency_ms"] * slower, 3)
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
