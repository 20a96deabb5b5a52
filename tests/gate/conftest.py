"""The gate tests' seeded index, once per session under its own prefix (deleted at the end)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from reqtrail.dashboards.queries.es_client import make_client
from reqtrail.dashboards.queries.filters import TimeRange
from reqtrail.seed import delete_prefix, seed
from reqtrail.settings import load_settings
from tests.gate.data import GateData, gate_records


@pytest.fixture(scope="session")
def gate_data(es_url: str) -> Iterator[GateData]:
    """Two versions of six routes: one slower, one crashing, one faster, one rare, one new."""
    prefix = f"t-gate-{uuid.uuid4().hex[:8]}"
    es = make_client(load_settings(environ={}).replace(es_url=es_url, index_prefix=prefix))
    now = datetime.now(UTC).replace(microsecond=0)
    records = gate_records(now)
    seed(es, prefix, records)
    try:
        yield GateData(es, prefix, TimeRange(now - timedelta(hours=1), now), records)
    finally:
        delete_prefix(es, prefix)
