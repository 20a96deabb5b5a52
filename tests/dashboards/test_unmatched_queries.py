"""Requests that matched no route are counted on every page (real Elasticsearch)."""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from elasticsearch import Elasticsearch

from reqtrail.dashboards.queries.bodies import MAX_ROUTES
from reqtrail.dashboards.queries.errors import OTHER_ROUTES, error_trend, top_errors
from reqtrail.dashboards.queries.es_client import make_client
from reqtrail.dashboards.queries.extent import data_window
from reqtrail.dashboards.queries.filters import SearchFilter, TimeRange
from reqtrail.dashboards.queries.latency import field_values, latency_trend, route_stats
from reqtrail.dashboards.queries.search import search_requests
from reqtrail.dashboards.queries.traffic import traffic
from reqtrail.schemas.record import UNMATCHED_ROUTE
from reqtrail.schemas.samples import ROUTES, sample_record
from reqtrail.seed import delete_prefix, seed
from reqtrail.settings import load_settings

pytestmark = pytest.mark.integration

UNMATCHED_404S = 7  # route "(unmatched)", as the middlewares now write it
ROUTELESS_404S = 5  # route null, as older producers wrote it
MATCHED = 30


@dataclass
class Index:
    es: Elasticsearch
    prefix: str
    records: list[dict[str, Any]]
    window: TimeRange


def _records(now: datetime) -> list[dict[str, Any]]:
    rng = random.Random(18)
    start = now - timedelta(seconds=90)  # 90 s of data in a 24 h range
    records = []
    for i in range(MATCHED + UNMATCHED_404S + ROUTELESS_404S):
        record = sample_record(rng, start + timedelta(seconds=i * 2), route=ROUTES[i % 3])
        record["status"], record["error"] = 200, None
        if i >= MATCHED:
            record["status"] = 404
            record["route"] = UNMATCHED_ROUTE if i < MATCHED + UNMATCHED_404S else None
            record["path"] = f"/no/such/thing/{i}"
        records.append(record)
    return records


@pytest.fixture(scope="module")
def index(es_url: str) -> Iterator[Index]:
    """A prefix of its own holding matched requests and 404s with and without a route."""
    prefix = f"t-unmatched-{uuid.uuid4().hex[:8]}"
    es = make_client(load_settings(environ={}).replace(es_url=es_url))
    now = datetime.now(UTC).replace(microsecond=0)
    records = _records(now)
    seed(es, prefix, records)
    try:
        yield Index(es, prefix, records, TimeRange(now - timedelta(hours=24), now))
    finally:
        delete_prefix(es, prefix)


def test_errors_page_counts_requests_without_a_route(index: Index) -> None:
    """The Errors page's 4xx total is every 404, with (unmatched) as a route of its own."""
    trend = error_trend(index.es, index.prefix, index.window)
    assert int(trend["requests"].sum()) == len(index.records)
    assert int(trend["errors_4xx"].sum()) == UNMATCHED_404S + ROUTELESS_404S
    by_route = trend.groupby("route")["errors_4xx"].sum()
    assert by_route[UNMATCHED_ROUTE] == UNMATCHED_404S + ROUTELESS_404S
    statuses = top_errors(index.es, index.prefix, index.window).statuses.set_index("status")
    assert statuses.loc[404, "count"] == UNMATCHED_404S + ROUTELESS_404S
    assert statuses.loc[404, "top_route"] == UNMATCHED_ROUTE


def test_other_pages_count_them_too(index: Index) -> None:
    """Slow APIs, Traffic, the route list and the search all include (unmatched)."""
    unmatched = UNMATCHED_404S + ROUTELESS_404S
    stats = route_stats(index.es, index.prefix, index.window).set_index("route")
    assert stats.loc[UNMATCHED_ROUTE, "requests"] == unmatched
    trend = latency_trend(index.es, index.prefix, index.window, route=UNMATCHED_ROUTE)
    assert int(trend["requests"].sum()) == unmatched
    routes = traffic(index.es, index.prefix, index.window).breakdowns["route"].set_index("value")
    assert routes.loc[UNMATCHED_ROUTE, "requests"] == unmatched
    assert UNMATCHED_ROUTE in field_values(index.es, index.prefix, index.window, "route")
    page = search_requests(
        index.es, index.prefix, SearchFilter(index.window, route=UNMATCHED_ROUTE), page_size=50
    )
    assert page.total == unmatched


def test_charts_span_the_data_not_the_range(index: Index) -> None:
    """90 s of records in a 24 h range are charted over those 90 s in 1 s buckets."""
    window = data_window(index.es, index.prefix, index.window)
    assert timedelta(seconds=60) <= window.duration <= timedelta(seconds=91)
    trend = error_trend(index.es, index.prefix, window)
    assert trend["time"].nunique() > 30
    assert int(trend["requests"].sum()) == len(index.records)


def test_errors_page_totals_include_routes_beyond_the_listed_ones(es_url: str) -> None:
    """With more routes than a bucket lists, the rest is one (other routes) row; totals hold."""
    prefix = f"t-manyroutes-{uuid.uuid4().hex[:8]}"
    es = make_client(load_settings(environ={}).replace(es_url=es_url))
    now = datetime.now(UTC).replace(microsecond=0)
    rng = random.Random(5)
    records = []
    for i in range(MAX_ROUTES + 10):
        record = sample_record(rng, now - timedelta(minutes=5), route=ROUTES[0])
        record["route"], record["status"] = f"/r/{i}", 404 if i % 2 else 200
        records.append(record)
    seed(es, prefix, records)
    try:
        trend = error_trend(es, prefix, TimeRange(now - timedelta(hours=1), now))
    finally:
        delete_prefix(es, prefix)
    assert int(trend["requests"].sum()) == len(records)
    assert int(trend["errors_4xx"].sum()) == sum(1 for r in records if r["status"] == 404)
    assert int(trend[trend["route"] == OTHER_ROUTES]["requests"].sum()) == 10
