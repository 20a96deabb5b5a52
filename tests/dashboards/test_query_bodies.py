"""Pure query building: filters validate, and no input can change a query's shape."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from reqtrail.dashboards.queries.agg_bodies import comparison_body, latency_trend_body
from reqtrail.dashboards.queries.bodies import MATCH_NONE, search_body, slower_than, term
from reqtrail.dashboards.queries.filters import (
    Cohort,
    FilterError,
    SearchFilter,
    StatusClass,
    TimeRange,
    histogram_interval,
    parse_duration,
    parse_time,
)

NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
DAY = TimeRange(NOW - timedelta(hours=24), NOW)
PLACEHOLDER = "placeholder-value"
HOSTILE = [
    "*",
    "?",
    'pla*er"{}',
    '" OR 1=1 --',
    '{"query": {"match_all": {}}}',
    '"}}]}, "script": {"source": "x"}, "a": [{"b": "',
    "\\",
    "ユーザー🎮",
    "line\nbreak",
    "x" * 1024,
]


def _replace(node: Any, value: str) -> Any:
    """The body with every occurrence of ``value`` (a whole string) swapped for a placeholder."""
    if isinstance(node, dict):
        return {k: _replace(v, value) for k, v in node.items()}
    if isinstance(node, list):
        return [_replace(v, value) for v in node]
    return PLACEHOLDER if node == value else node


@pytest.mark.parametrize("value", HOSTILE)
@pytest.mark.parametrize("field", ["user_id", "device_id", "request_id", "route", "error_type"])
def test_user_text_only_ever_becomes_a_term_value(field: str, value: str) -> None:
    """A hostile value yields exactly the body a harmless value would, with the value swapped."""
    hostile = search_body(SearchFilter(DAY, **{field: value}), size=10)
    benign = search_body(SearchFilter(DAY, **{field: PLACEHOLDER}), size=10)
    assert _replace(hostile, value) == benign
    assert "query_string" not in json.dumps(hostile) and "wildcard" not in json.dumps(hostile)


def test_values_longer_than_ignore_above_match_nothing() -> None:
    """A value longer than the keyword's ignore_above cannot exist, so it becomes match_none."""
    assert term("user_id", "x" * 1025) == MATCH_NONE
    assert term("user_id", "x" * 1024) == {"term": {"user_id": {"value": "x" * 1024}}}
    assert term("path", "p" * 4096) != MATCH_NONE


def test_search_body_sorts_newest_first_and_pages_with_search_after() -> None:
    """Results are sorted by time then request ID, and search_after continues a page."""
    body = search_body(SearchFilter(DAY), size=50, search_after=[1700000000000, "abc"])
    assert body["sort"] == [{"@timestamp": "desc"}, {"request_id": "desc"}]
    assert body["search_after"] == [1700000000000, "abc"]
    assert body["query"]["bool"]["filter"][0] == {
        "range": {
            "@timestamp": {
                "gte": str(int(DAY.start.timestamp() * 1000)),
                "lt": str(int(DAY.end.timestamp() * 1000)),
                "format": "epoch_millis",
            }
        }
    }


def test_status_class_becomes_a_range() -> None:
    """5xx means 500 <= status <= 599."""
    body = search_body(SearchFilter(DAY, status_class=StatusClass.S5XX), size=1)
    assert {"range": {"status": {"gte": 500, "lte": 599}}} in body["query"]["bool"]["filter"]


def test_slower_than_is_an_or_of_route_and_latency() -> None:
    """The percentile filter is (route=R AND latency > t_R) OR ...; no routes match nothing."""
    query = slower_than({"/a": 10.0, "/b*": 20.5})
    assert query["bool"]["minimum_should_match"] == 1
    assert query["bool"]["should"][1] == {
        "bool": {
            "filter": [
                {"term": {"route": {"value": "/b*"}}},
                {"range": {"latency_ms": {"gt": 20.5}}},
            ]
        }
    }
    assert slower_than({}) == MATCH_NONE


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"status": 99}, "100-599"),
        ({"status": 500, "status_class": StatusClass.S5XX}, "not both"),
        ({"min_latency_ms": -1.0}, "negative"),
        ({"route_percentile": 100.0}, "(0, 100)"),
        ({"min_latency_ms": 5.0, "route_percentile": 95.0}, "not both"),
    ],
)
def test_contradicting_or_impossible_filters_are_refused(
    kwargs: dict[str, Any], message: str
) -> None:
    """Impossible filter values raise FilterError naming the problem."""
    with pytest.raises(FilterError, match=message.replace("(", r"\(").replace(")", r"\)")):
        SearchFilter(DAY, **kwargs)


def test_time_ranges_are_utc_and_ordered() -> None:
    """Naive times are UTC; an empty or reversed range is refused."""
    naive = TimeRange(datetime(2025, 1, 1), datetime(2025, 1, 2))
    assert naive.start.tzinfo is UTC
    with pytest.raises(FilterError):
        TimeRange(NOW, NOW)
    assert parse_time("2025-03-01T12:00:00Z") == NOW
    assert parse_duration("15m") == timedelta(minutes=15)
    with pytest.raises(FilterError):
        parse_duration("soon")


def test_histogram_interval_gives_a_readable_number_of_buckets() -> None:
    """24 h gets 15-minute buckets, 2 h one-minute, 90 s one-second, 30 days 6-hour ones."""
    assert histogram_interval(DAY) == "15m"
    assert histogram_interval(TimeRange(NOW - timedelta(hours=2), NOW)) == "1m"
    assert histogram_interval(TimeRange(NOW - timedelta(seconds=90), NOW)) == "1s"
    assert histogram_interval(TimeRange(NOW - timedelta(days=30), NOW)) == "6h"
    body = latency_trend_body(DAY, "15m")
    histogram = body["aggs"]["routes"]["aggs"]["over_time"]["date_histogram"]
    assert histogram["fixed_interval"] == "15m" and histogram["min_doc_count"] == 0


def test_comparison_body_filters_each_cohort() -> None:
    """Each cohort is its own filter bucket; the query is their union."""
    body = comparison_body(Cohort(DAY, "1.41.0"), Cohort(DAY, '1.42.0" OR *'))
    buckets = body["aggs"]["cohorts"]["filters"]["filters"]
    assert buckets["candidate"]["bool"]["filter"][1] == {
        "term": {"app_version": {"value": '1.42.0" OR *'}}
    }
    assert body["query"]["bool"]["should"] == [buckets["baseline"], buckets["candidate"]]
