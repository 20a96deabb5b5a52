"""Pure functions from typed filters to Elasticsearch aggregation bodies (charts, tables).

Same rules as ``bodies``: user text only ever becomes a ``term`` value.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from reqtrail.dashboards.queries.bodies import (
    Query,
    route_term,
    routes_terms,
    term,
    time_filter,
)
from reqtrail.dashboards.queries.filters import Cohort, TimeRange
from reqtrail.schemas.record import UNMATCHED_ROUTE


def _error_counts() -> dict[str, Any]:
    return {
        "filters": {
            "filters": {
                "4xx": {"range": {"status": {"gte": 400, "lte": 499}}},
                "5xx": {"range": {"status": {"gte": 500, "lte": 599}}},
            }
        }
    }


def _latency_stats(percents: Sequence[float] = (50.0, 95.0, 99.0)) -> dict[str, Any]:
    return {
        "latency": {"percentiles": {"field": "latency_ms", "percents": list(percents)}},
        "max_latency": {"max": {"field": "latency_ms"}},
        "errors": _error_counts(),
    }


def latency_trend_body(time_range: TimeRange, interval: str, route: str | None = None) -> Query:
    """Per route and time bucket: request count and p50/p95/p99 latency."""
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
                    "over_time": {
                        "date_histogram": {
                            "field": "@timestamp",
                            "fixed_interval": interval,
                            "extended_bounds": _bounds(time_range),
                            "min_doc_count": 0,
                        },
                        "aggs": {
                            "latency": {
                                "percentiles": {
                                    "field": "latency_ms",
                                    "percents": [50.0, 95.0, 99.0],
                                }
                            }
                        },
                    }
                },
            }
        },
    }


def _bounds(time_range: TimeRange) -> dict[str, int]:
    return {
        "min": int(time_range.start.timestamp() * 1000),
        "max": int(time_range.end.timestamp() * 1000) - 1,
    }


def route_stats_body(time_range: TimeRange) -> Query:
    """Per route: count, p50/p95/p99, max latency and 4xx/5xx counts."""
    return {
        "size": 0,
        "query": {"bool": {"filter": [time_filter(time_range)]}},
        "aggs": {
            "routes": {
                **routes_terms(),
                "aggs": _latency_stats(),
            }
        },
    }


def cohort_filter(cohort: Cohort, extra: Sequence[Query] = ()) -> Query:
    """The cohort's window and version, and ``extra`` clauses (environment, route...)."""
    clauses = [time_filter(cohort.time_range)]
    if cohort.app_version is not None:
        clauses.append(term("app_version", cohort.app_version))
    return {"bool": {"filter": [*clauses, *extra]}}


def comparison_body(baseline: Cohort, candidate: Cohort) -> Query:
    """Per route and cohort: count, latency percentiles and error counts, in one request."""
    return {
        "size": 0,
        "query": {
            "bool": {
                "should": [cohort_filter(baseline), cohort_filter(candidate)],
                "minimum_should_match": 1,
            }
        },
        "aggs": {
            "cohorts": {
                "filters": {
                    "filters": {
                        "baseline": cohort_filter(baseline),
                        "candidate": cohort_filter(candidate),
                    }
                },
                "aggs": {
                    "routes": {
                        **routes_terms(),
                        "aggs": _latency_stats(),
                    }
                },
            }
        },
    }


def values_body(time_range: TimeRange, field: str, size: int = 100) -> Query:
    """The distinct values of a keyword ``field`` in the range, most frequent first."""
    values = routes_terms(size) if field == "route" else {"terms": {"field": field, "size": size}}
    return {
        "size": 0,
        "query": {"bool": {"filter": [time_filter(time_range)]}},
        "aggs": {"values": values},
    }


def error_trend_body(time_range: TimeRange, interval: str) -> Query:
    """Per time bucket and route: total, 4xx and 5xx counts."""
    return {
        "size": 0,
        "query": {"bool": {"filter": [time_filter(time_range)]}},
        "aggs": {
            "over_time": {
                "date_histogram": {
                    "field": "@timestamp",
                    "fixed_interval": interval,
                    "extended_bounds": _bounds(time_range),
                    "min_doc_count": 0,
                },
                "aggs": {
                    "errors": _error_counts(),  # all routes, beyond the MAX_ROUTES buckets too
                    "routes": {
                        **routes_terms(),
                        "aggs": {"errors": _error_counts()},
                    },
                },
            }
        },
    }


def top_errors_body(time_range: TimeRange, size: int = 20) -> Query:
    """Most frequent error types and, separately, status codes >= 400, each with routes."""
    return {
        "size": 0,
        "query": {"bool": {"filter": [time_filter(time_range)]}},
        "aggs": {
            "error_types": {
                "terms": {"field": "error.type", "size": size},
                "aggs": {
                    "routes": routes_terms(5),
                    "last_seen": {"max": {"field": "@timestamp"}},
                    "statuses": {"terms": {"field": "status", "size": 5}},
                },
            },
            "failed": {
                "filter": {"range": {"status": {"gte": 400}}},
                "aggs": {
                    "statuses": {
                        "terms": {"field": "status", "size": size},
                        "aggs": {
                            "routes": routes_terms(5),
                            "last_seen": {"max": {"field": "@timestamp"}},
                        },
                    }
                },
            },
        },
    }


def traffic_body(time_range: TimeRange, interval: str, breakdown_size: int = 20) -> Query:
    """Requests and unique users per bucket; totals; breakdowns by platform, client, route."""
    breakdowns = {
        name: {
            "terms": {
                "field": name,
                "size": breakdown_size,
                "missing": UNMATCHED_ROUTE if name == "route" else "(none)",
            },
            "aggs": {"users": {"cardinality": {"field": "user_id"}}},
        }
        for name in ("platform", "client_version", "route", "app_version")
    }
    return {
        "size": 0,
        "track_total_hits": True,
        "query": {"bool": {"filter": [time_filter(time_range)]}},
        "aggs": {
            "over_time": {
                "date_histogram": {
                    "field": "@timestamp",
                    "fixed_interval": interval,
                    "extended_bounds": _bounds(time_range),
                    "min_doc_count": 0,
                },
                "aggs": {"users": {"cardinality": {"field": "user_id"}}},
            },
            "users": {"cardinality": {"field": "user_id"}},
            "devices": {"cardinality": {"field": "device_id"}},
            **breakdowns,
        },
    }


def extent_body(time_range: TimeRange) -> Query:
    """First and last ``@timestamp`` of the records in the range."""
    return {
        "size": 0,
        "query": {"bool": {"filter": [time_filter(time_range)]}},
        "aggs": {
            "first": {"min": {"field": "@timestamp"}},
            "last": {"max": {"field": "@timestamp"}},
        },
    }
