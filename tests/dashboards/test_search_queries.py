"""Search, detail and percentile filter against the real node, with answers known in Python."""

from __future__ import annotations

import math
import struct
from typing import Any

import pytest

from reqtrail.dashboards.queries.es_client import DataUnavailable
from reqtrail.dashboards.queries.filters import SearchFilter, StatusClass
from reqtrail.dashboards.queries.search import get_request, route_thresholds, search_requests
from tests.dashboards.conftest import ALICE, DECOY_USER, HOSTILE_SEEDED, HOSTILE_USER, Seeded

pytestmark = pytest.mark.integration


def newest_first(records: list[dict[str, Any]]) -> list[str]:
    ordered = sorted(records, key=lambda r: (r["@timestamp"], r["request_id"]), reverse=True)
    return [r["request_id"] for r in ordered]


def as_float32(value: float) -> float:
    """``value`` as the index stores it (latency_ms is a 32-bit float field)."""
    return float(struct.unpack("f", struct.pack("f", value))[0])


def percentile_bounds(values: list[float], percent: float) -> tuple[float, float]:
    """Values a correct percentile may take: a rank or two (1 %) around the exact rank."""
    ordered = sorted(values)
    rank = percent / 100 * (len(ordered) - 1)
    slack = max(1, len(ordered) // 100)
    low = ordered[max(0, math.floor(rank) - slack)]
    high = ordered[min(len(ordered) - 1, math.ceil(rank) + slack)]
    return low, high


def all_pages(seeded: Seeded, f: SearchFilter, page_size: int) -> list[str]:
    ids: list[str] = []
    after = None
    while True:
        page = search_requests(seeded.es, seeded.prefix, f, page_size=page_size, after=after)
        ids += list(page.rows["request_id"])
        if page.next_after is None:
            return ids
        after = page.next_after


def test_search_by_user_returns_exactly_their_requests_newest_first(seeded: Seeded) -> None:
    """Search by user ID returns that user's requests only, newest first, with the total."""
    page = search_requests(seeded.es, seeded.prefix, SearchFilter(seeded.window, user_id=ALICE))
    assert list(page.rows["request_id"]) == newest_first(seeded.of_user(ALICE))
    assert page.total == 12 and page.total_is_exact
    assert set(page.rows["user_id"]) == {ALICE}
    assert page.next_after is None


def test_search_after_pages_cover_everything_once(seeded: Seeded) -> None:
    """Paging with search_after visits every match exactly once, in order."""
    user = seeded.records[0]["user_id"]
    expected = newest_first(seeded.of_user(user))
    assert len(expected) > 10
    assert all_pages(seeded, SearchFilter(seeded.window, user_id=user), page_size=4) == expected


def test_status_class_and_exact_status_counts_for_a_user(seeded: Seeded) -> None:
    """The 5xx count and the 404 count of a user match the seeded records."""
    five = SearchFilter(seeded.window, user_id=ALICE, status_class=StatusClass.S5XX)
    page = search_requests(seeded.es, seeded.prefix, five)
    assert page.total == sum(1 for r in seeded.of_user(ALICE) if r["status"] >= 500) == 3
    exact = SearchFilter(seeded.window, user_id=ALICE, status=404)
    assert search_requests(seeded.es, seeded.prefix, exact).total == 2


def test_route_and_min_latency_filter(seeded: Seeded) -> None:
    """Route plus a latency floor returns exactly the records at or above it on that route."""
    f = SearchFilter(seeded.window, route="/battle/finish", min_latency_ms=150.0)
    expected = [
        r for r in seeded.records if r["route"] == "/battle/finish" and r["latency_ms"] >= 150.0
    ]
    assert sorted(all_pages(seeded, f, page_size=100)) == sorted(r["request_id"] for r in expected)


def test_route_p95_is_within_percentile_accuracy(seeded: Seeded) -> None:
    """The p95 per route from ES lies within a rank or two of the exact p95."""
    thresholds = route_thresholds(seeded.es, seeded.prefix, seeded.window, 95.0)
    routes = {r["route"] for r in seeded.records}
    assert set(thresholds) == routes
    for route in routes:
        values = [as_float32(r["latency_ms"]) for r in seeded.records if r["route"] == route]
        low, high = percentile_bounds(values, 95.0)
        assert low <= thresholds[route] <= high, route


def test_percentile_filter_returns_only_requests_slower_than_their_route(seeded: Seeded) -> None:
    """ "Slower than p90 of its route" returns exactly the requests above their route's p90."""
    f = SearchFilter(seeded.window, route_percentile=90.0)
    page = search_requests(seeded.es, seeded.prefix, f, page_size=1000)
    assert page.thresholds is not None
    expected = {
        r["request_id"]
        for r in seeded.records
        if as_float32(r["latency_ms"]) > page.thresholds[r["route"]]
    }
    assert set(page.rows["request_id"]) == expected
    assert 0.05 * len(seeded.records) < len(expected) < 0.15 * len(seeded.records)


def test_get_request_returns_the_full_record(seeded: Seeded) -> None:
    """The detail lookup returns the stored document unchanged."""
    record = seeded.of_user(ALICE)[3]
    assert get_request(seeded.es, seeded.prefix, record["request_id"]) == record
    assert get_request(seeded.es, seeded.prefix, "no-such-request") is None


@pytest.mark.parametrize("user", HOSTILE_SEEDED)
def test_hostile_user_ids_match_literally(seeded: Seeded, user: str) -> None:
    """Quotes, wildcards, JSON and unicode in a user ID match only that exact ID."""
    page = search_requests(seeded.es, seeded.prefix, SearchFilter(seeded.window, user_id=user))
    assert list(page.rows["user_id"]) == [user]


@pytest.mark.parametrize(
    "text",
    [
        "*",
        "?",
        "pla*",
        'pla?er"{}',
        "player-0000?",
        "alice*",
        '" OR 1=1',
        '{"match_all": {}}}',
        '"}}, {"match_all": {}',
        "ALICE-E2E",
        " alice-e2e",
        "x" * 100_000,
        "\u0000",
    ],
)
def test_hostile_inputs_that_match_no_id_return_nothing(seeded: Seeded, text: str) -> None:
    """Wildcards, query syntax, JSON fragments and huge strings find nothing (and do not fail)."""
    for f in (
        SearchFilter(seeded.window, user_id=text),
        SearchFilter(seeded.window, device_id=text),
        SearchFilter(seeded.window, request_id=text),
        SearchFilter(seeded.window, route=text),
    ):
        page = search_requests(seeded.es, seeded.prefix, f)
        assert page.total == 0 and page.rows.empty
    assert get_request(seeded.es, seeded.prefix, text) is None


def test_wildcard_like_id_does_not_find_its_look_alike(seeded: Seeded) -> None:
    """The user ``pla*er"{}`` is found alone, not together with ``plaYYer"{}``."""
    found = search_requests(
        seeded.es, seeded.prefix, SearchFilter(seeded.window, user_id=HOSTILE_USER)
    )
    assert set(found.rows["user_id"]) == {HOSTILE_USER}
    assert DECOY_USER in {r["user_id"] for r in seeded.records}


def test_missing_index_is_reported_as_no_data(seeded: Seeded) -> None:
    """Searching an alias that does not exist yet raises DataUnavailable(missing_index)."""
    with pytest.raises(DataUnavailable) as caught:
        search_requests(seeded.es, "t-dash-never-created", SearchFilter(seeded.window))
    assert caught.value.missing_index
    assert "does not exist" in str(caught.value)
