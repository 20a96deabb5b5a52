"""Pure functions from typed filters to Elasticsearch request bodies.

Only ``term``, ``terms``, ``range``, ``bool`` and ``match_none`` queries are built, and user
text is only ever a term *value*: no input can change the shape of a query. A value longer
than the field's ``ignore_above`` was never indexed, so it becomes ``match_none`` (Lucene
would otherwise reject terms beyond 32 KiB with an error).

Every aggregation over ``route`` counts records without one as ``(unmatched)`` (requests
that matched no route; older producers left the field empty), and filtering on
``(unmatched)`` finds both kinds, so no page leaves them out.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from reqtrail.dashboards.queries.filters import SearchFilter, TimeRange
from reqtrail.schemas.record import FIELDS, UNMATCHED_ROUTE

Query = dict[str, Any]
SortValues = list[Any]

MATCH_NONE: Query = {"match_none": {}}
# Newest first; request_id breaks ties so search_after never skips or repeats a record.
NEWEST_FIRST: list[dict[str, Any]] = [{"@timestamp": "desc"}, {"request_id": "desc"}]
OLDEST_FIRST: list[dict[str, Any]] = [{"@timestamp": "asc"}, {"request_id": "asc"}]
TABLE_FIELDS: list[str] = [
    "@timestamp",
    "request_id",
    "user_id",
    "device_id",
    "method",
    "path",
    "route",
    "status",
    "latency_ms",
    "app_version",
    "error.type",
]
MAX_ROUTES = 200


def _ignore_above(name: str) -> int | None:
    for f in FIELDS:
        if f.name == name.split(".")[0]:
            mapping = f.es if "." not in name else f.es["properties"][name.split(".")[1]]
            value = mapping.get("ignore_above")
            return int(value) if value is not None else None
    return None


def term(field: str, value: str | int | float) -> Query:
    """``value`` must equal ``field`` exactly; over-long strings match nothing."""
    limit = _ignore_above(field)
    if isinstance(value, str) and limit is not None and len(value) > limit:
        return MATCH_NONE
    return {"term": {field: {"value": value}}}


def route_term(route: str) -> Query:
    """Records of ``route``; ``(unmatched)`` also finds records written without a route."""
    if route != UNMATCHED_ROUTE:
        return term("route", route)
    no_route = {"bool": {"must_not": [{"exists": {"field": "route"}}]}}
    return {"bool": {"should": [term("route", route), no_route], "minimum_should_match": 1}}


def routes_terms(size: int = MAX_ROUTES) -> Query:
    """A ``terms`` aggregation over ``route`` that buckets records without one as unmatched."""
    return {"terms": {"field": "route", "size": size, "missing": UNMATCHED_ROUTE}}


def time_filter(time_range: TimeRange) -> Query:
    return {"range": {"@timestamp": time_range.es_range()}}


def filter_clauses(f: SearchFilter) -> list[Query]:
    """The filter clauses of a search, except the percentile-of-route condition."""
    clauses: list[Query] = [time_filter(f.time_range)]
    for field, value in (
        ("user_id", f.user_id),
        ("device_id", f.device_id),
        ("request_id", f.request_id),
        ("app_version", f.app_version),
        ("error.type", f.error_type),
    ):
        if value is not None:
            clauses.append(term(field, value))
    if f.route is not None:
        clauses.append(route_term(f.route))
    if f.status is not None:
        clauses.append(term("status", f.status))
    if f.status_class is not None:
        low, high = f.status_class.bounds
        clauses.append({"range": {"status": {"gte": low, "lte": high}}})
    if f.min_latency_ms is not None:
        clauses.append({"range": {"latency_ms": {"gte": f.min_latency_ms}}})
    return clauses


def slower_than(thresholds: Mapping[str, float]) -> Query:
    """Requests slower than their own route's threshold: OR of (route = R AND latency > t_R)."""
    if not thresholds:
        return MATCH_NONE
    should = [
        {"bool": {"filter": [route_term(route), {"range": {"latency_ms": {"gt": limit}}}]}}
        for route, limit in sorted(thresholds.items())
    ]
    return {"bool": {"should": should, "minimum_should_match": 1}}


def search_body(
    f: SearchFilter,
    *,
    size: int,
    search_after: SortValues | None = None,
    thresholds: Mapping[str, float] | None = None,
    source: list[str] | None = None,
    oldest_first: bool = False,
) -> dict[str, Any]:
    """A page of matching records; ``thresholds`` applies the percentile-of-route filter."""
    clauses = filter_clauses(f)
    if thresholds is not None:
        clauses.append(slower_than(thresholds))
    body: dict[str, Any] = {
        "query": {"bool": {"filter": clauses}},
        "sort": OLDEST_FIRST if oldest_first else NEWEST_FIRST,
        "size": size,
        "track_total_hits": 10_000,
    }
    if source is not None:
        body["_source"] = source
    if search_after is not None:
        body["search_after"] = search_after
    return body


def route_percentiles_body(
    time_range: TimeRange, percents: Sequence[float], route: str | None = None
) -> dict[str, Any]:
    """Latency percentiles of every route over ``time_range`` (one route if given)."""
    clauses = [time_filter(time_range)]
    if route is not None:
        clauses.append(route_term(route))
    return {
        "size": 0,
        "query": {"bool": {"filter": clauses}},
        "aggs": {
            "routes": {
                **routes_terms(),
                "aggs": {
                    "latency": {"percentiles": {"field": "latency_ms", "percents": list(percents)}}
                },
            }
        },
    }


def by_id_body(request_id: str) -> dict[str, Any]:
    """The full record with this request ID."""
    return {"query": {"bool": {"filter": [term("request_id", request_id)]}}, "size": 1}
