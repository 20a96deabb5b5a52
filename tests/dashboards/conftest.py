"""One seeded index for all dashboard tests: sample traffic plus records with known answers.

Seeding ~1,300 documents takes about a second, so it happens once per session under its
own prefix (deleted at the end); every expectation is computed in Python from ``records``.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from elasticsearch import Elasticsearch

from reqtrail.dashboards.queries.es_client import make_client
from reqtrail.dashboards.queries.filters import TimeRange
from reqtrail.schemas import is_valid
from reqtrail.schemas.samples import ROUTES, sample_record, sample_records
from reqtrail.seed import delete_prefix, seed
from reqtrail.settings import Settings, load_settings

ALICE = "alice-e2e"
HOSTILE_USER = 'pla*er"{}'
DECOY_USER = 'plaYYer"{}'  # what a wildcard reading of HOSTILE_USER would also match
HOSTILE_SEEDED = (
    HOSTILE_USER,
    DECOY_USER,
    '" OR 1=1 --',
    '{"match_all": {}}',
    "back\\slash\\user",
    "ユーザー🎮",
    "tab\tuser",
)


@dataclass
class Seeded:
    """The seeded index and the records in it."""

    prefix: str
    es: Elasticsearch
    settings: Settings
    records: list[dict[str, Any]]
    now: datetime
    window: TimeRange = field(init=False)

    def __post_init__(self) -> None:
        self.window = TimeRange(self.now - timedelta(hours=23), self.now)

    def of_user(self, user_id: str) -> list[dict[str, Any]]:
        return [r for r in self.records if r["user_id"] == user_id]


def _alice(rng: random.Random, now: datetime) -> list[dict[str, Any]]:
    statuses = [200, 200, 404, 500, 200, 200, 404, 500, 200, 200, 500, 200]
    records = []
    for i, status in enumerate(statuses):
        ts = now - timedelta(hours=5, minutes=-20 * i)
        record = sample_record(rng, ts, user_id=ALICE, route=ROUTES[i % len(ROUTES)])
        record["status"] = status
        record["error"] = None
        if status == 500:
            record["error"] = {
                "type": "InventoryFullError",
                "message": f"inventory full ({i})",
                "sentry_event_id": f"{i:032x}",
                "stack": "Traceback (most recent call last): ...",
            }
            record["response_body"] = '{"error": "inventory_full"}'
        records.append(record)
    return records


def _hostile(rng: random.Random, now: datetime) -> list[dict[str, Any]]:
    return [
        sample_record(rng, now - timedelta(hours=3, minutes=i), user_id=user)
        for i, user in enumerate(HOSTILE_SEEDED)
    ]


@pytest.fixture(scope="session")
def seeded(es_url: str) -> Iterator[Seeded]:
    """A session-wide index ``t-dash-<hex>`` with ~1,300 records whose answers are known."""
    prefix = f"t-dash-{uuid.uuid4().hex[:8]}"
    settings = load_settings(environ={}).replace(es_url=es_url, index_prefix=prefix)
    es = make_client(settings)
    now = datetime.now(UTC).replace(microsecond=0)
    rng = random.Random(2024)
    records = list(
        sample_records(
            1200, seed=11, start=now - timedelta(hours=22), span=timedelta(hours=20), users=40
        )
    )
    records += _alice(rng, now) + _hostile(rng, now)
    assert all(is_valid(r) for r in records)
    seed(es, prefix, records)
    try:
        yield Seeded(prefix, es, settings, records, now)
    finally:
        delete_prefix(es, prefix)
