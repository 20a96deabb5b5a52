"""Slow APIs, release comparison, errors, traffic and export against the real node."""

from __future__ import annotations

import io
from collections import Counter
from datetime import datetime, timedelta
from typing import Any

import pytest

from reqtrail.dashboards.queries.errors import error_trend, top_errors
from reqtrail.dashboards.queries.es_client import DataUnavailable, make_client
from reqtrail.dashboards.queries.export import read_export, write_export
from reqtrail.dashboards.queries.filters import Cohort, SearchFilter, TimeRange
from reqtrail.dashboards.queries.latency import (
    compare_cohorts,
    field_values,
    latency_trend,
    route_stats,
)
from reqtrail.dashboards.queries.search import search_requests
from reqtrail.dashboards.queries.traffic import traffic
from reqtrail.services.ports import free_ports
from tests.dashboards.conftest import ALICE, Seeded
from tests.dashboards.test_search_queries import as_float32, percentile_bounds

pytestmark = pytest.mark.integration


def test_latency_trend_counts_every_request_once_per_route(seeded: Seeded) -> None:
    """Summing the trend's buckets gives each route's request count."""
    trend = latency_trend(seeded.es, seeded.prefix, seeded.window)
    assert dict(trend.groupby("route")["requests"].sum()) == Counter(
        r["route"] for r in seeded.records
    )
    busy = trend[trend["requests"] >= 5]
    assert not busy.empty
    assert (busy["p50"] <= busy["p95"]).all() and (busy["p95"] <= busy["p99"]).all()


def test_latency_trend_samples_a_large_range_and_scales_counts_back(seeded: Seeded) -> None:
    """Over more than twice ``sample`` requests the trend reads a random share of them
    (the same share on every call) and scales the counts back up: per route, near the
    exact count, and identical between two calls."""
    exact = latency_trend(seeded.es, seeded.prefix, seeded.window)
    assert exact.attrs["sample_probability"] == 1.0
    sampled = latency_trend(seeded.es, seeded.prefix, seeded.window, sample=300)
    share = sampled.attrs["sample_probability"]
    assert share == pytest.approx(300 / len(seeded.records))
    again = latency_trend(seeded.es, seeded.prefix, seeded.window, sample=300)
    assert sampled.equals(again)
    total = sampled["requests"].sum()
    assert abs(total - len(seeded.records)) <= 0.3 * len(seeded.records), total
    assert 0 < (sampled["requests"] > 0).sum() < (exact["requests"] > 0).sum()  # a share read


def test_route_stats_match_the_records(seeded: Seeded) -> None:
    """Per route: count, 4xx, 5xx and max are exact; p95 within percentile accuracy."""
    stats = route_stats(seeded.es, seeded.prefix, seeded.window).set_index("route")
    for route, row in stats.iterrows():
        mine = [r for r in seeded.records if r["route"] == route]
        assert row["requests"] == len(mine)
        assert row["errors_4xx"] == sum(1 for r in mine if 400 <= r["status"] < 500)
        assert row["errors_5xx"] == sum(1 for r in mine if r["status"] >= 500)
        assert row["max"] == pytest.approx(max(as_float32(r["latency_ms"]) for r in mine))
        low, high = percentile_bounds([as_float32(r["latency_ms"]) for r in mine], 95.0)
        assert low <= row["p95"] <= high
    assert list(stats["p95"]) == sorted(stats["p95"], reverse=True)


def test_release_comparison_shows_the_slower_release_first(seeded: Seeded) -> None:
    """1.42.0 vs 1.41.0: counts and 5xx rates exact per route; /battle/finish regressed."""
    table = compare_cohorts(
        seeded.es, seeded.prefix, Cohort(seeded.window, "1.41.0"), Cohort(seeded.window, "1.42.0")
    ).set_index("route")
    for route, row in table.iterrows():
        for side, version in (("baseline", "1.41.0"), ("candidate", "1.42.0")):
            mine = [
                r for r in seeded.records if r["route"] == route and r["app_version"] == version
            ]
            assert row[f"{side}_requests"] == len(mine)
            rate = sum(1 for r in mine if r["status"] >= 500) / len(mine) * 100
            assert row[f"{side}_error_rate_pct"] == pytest.approx(rate)
    assert table.loc["/battle/finish", "p50_change_pct"] > 10
    assert list(table["p95_change_pct"].dropna()) == sorted(
        table["p95_change_pct"].dropna(), reverse=True
    )


def when(record: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(record["@timestamp"].replace("Z", "+00:00"))


def test_time_window_comparison_counts_each_window(seeded: Seeded) -> None:
    """Two time windows: each side counts only the requests inside its window."""
    later = TimeRange(seeded.now - timedelta(hours=10), seeded.now)
    earlier = TimeRange(seeded.now - timedelta(hours=20), seeded.now - timedelta(hours=10))
    table = compare_cohorts(seeded.es, seeded.prefix, Cohort(earlier), Cohort(later))
    for side, window in (("baseline", earlier), ("candidate", later)):
        expected = sum(1 for r in seeded.records if window.start <= when(r) < window.end)
        assert table[f"{side}_requests"].sum() == expected


def test_field_values_lists_app_versions(seeded: Seeded) -> None:
    """The release picker offers exactly the seeded app versions."""
    assert sorted(field_values(seeded.es, seeded.prefix, seeded.window, "app_version")) == [
        "1.41.0",
        "1.42.0",
    ]


def test_error_trend_and_top_errors_match_the_records(seeded: Seeded) -> None:
    """4xx/5xx totals per route and the error types' counts equal the seeded ones."""
    trend = error_trend(seeded.es, seeded.prefix, seeded.window)
    by_route = trend.groupby("route")[["errors_4xx", "errors_5xx"]].sum()
    for route, row in by_route.iterrows():
        mine = [r for r in seeded.records if r["route"] == route]
        assert row["errors_4xx"] == sum(1 for r in mine if 400 <= r["status"] < 500)
        assert row["errors_5xx"] == sum(1 for r in mine if r["status"] >= 500)
    top = top_errors(seeded.es, seeded.prefix, seeded.window)
    expected = Counter(r["error"]["type"] for r in seeded.records if r["error"])
    assert dict(zip(top.types["error_type"], top.types["count"], strict=True)) == expected
    statuses = Counter(r["status"] for r in seeded.records if r["status"] >= 400)
    assert dict(zip(top.statuses["status"], top.statuses["count"], strict=True)) == statuses


def test_error_type_drill_down_finds_those_requests(seeded: Seeded) -> None:
    """The errors page's drill-down filter (error type) finds exactly those requests."""
    f = SearchFilter(seeded.window, error_type="InventoryFullError")
    page = search_requests(seeded.es, seeded.prefix, f)
    assert set(page.rows["user_id"]) == {ALICE} and page.total == 3


def test_traffic_totals_users_and_breakdowns(seeded: Seeded) -> None:
    """Total requests, unique users and the platform breakdown match the records."""
    report = traffic(seeded.es, seeded.prefix, seeded.window)
    assert report.requests == len(seeded.records)
    assert report.unique_users == len({r["user_id"] for r in seeded.records})
    assert int(report.over_time["requests"].sum()) == len(seeded.records)
    platforms = report.breakdowns["platform"].set_index("value")["requests"].to_dict()
    assert platforms == Counter(r["platform"] for r in seeded.records)
    assert report.peak_requests_per_minute > 0


def test_export_holds_the_users_full_records_oldest_first(seeded: Seeded) -> None:
    """The JSON export round-trips the user's full records in time order across pages."""
    out = io.BytesIO()
    written = write_export(out, seeded.es, seeded.prefix, ALICE, seeded.window, page_size=5)
    document = read_export(out.getvalue())
    expected = sorted(seeded.of_user(ALICE), key=lambda r: (r["@timestamp"], r["request_id"]))
    assert written == document["count"] == 12
    assert document["records"] == expected
    assert document["user_id"] == ALICE and document["truncated"] is False


def test_export_limit_marks_the_document_truncated(seeded: Seeded) -> None:
    """A limited export stops at the limit and says so; an unknown user gives zero records."""
    out = io.BytesIO()
    write_export(out, seeded.es, seeded.prefix, ALICE, seeded.window, limit=4, page_size=3)
    document = read_export(out.getvalue())
    assert document["count"] == len(document["records"]) == 4 and document["truncated"]
    empty = io.BytesIO()
    write_export(empty, seeded.es, seeded.prefix, "nobody*", seeded.window)
    assert read_export(empty.getvalue())["records"] == []


def test_unreachable_node_is_reported_in_a_sentence(seeded: Seeded) -> None:
    """A node that does not answer raises DataUnavailable naming the URL, not a trace."""
    (port,) = free_ports(1)
    dead = make_client(seeded.settings.replace(es_url=f"http://127.0.0.1:{port}"))
    with pytest.raises(DataUnavailable) as caught:
        traffic(dead, seeded.prefix, seeded.window)
    assert f"127.0.0.1:{port} is unreachable" in str(caught.value)
    assert not caught.value.missing_index
