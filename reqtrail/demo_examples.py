"""Three searches worth opening once demo traffic has been indexed.

Each example is found with the dashboard's own query layer and comes with a dashboard link:
a player who hit a 500, the slowest route, and the worst regression between two releases.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import urlencode

from elasticsearch import Elasticsearch

from reqtrail.dashboards.queries.filters import Cohort, SearchFilter, StatusClass, TimeRange
from reqtrail.dashboards.queries.latency import compare_cohorts, field_values, route_stats
from reqtrail.dashboards.queries.search import search_requests


@dataclass(frozen=True)
class Example:
    title: str
    detail: str
    url: str


def _link(base: str, page: str = "", **params: str) -> str:
    query = urlencode(params)
    return f"{base.rstrip('/')}/{page}" + (f"?{query}" if query else "")


def player_with_500(es: Elasticsearch, index: str, window: TimeRange, base: str) -> Example | None:
    page = search_requests(
        es, index, SearchFilter(time_range=window, status_class=StatusClass("5xx")), page_size=1
    )
    if page.rows.empty:
        return None
    row = page.rows.iloc[0]
    user, request_id = str(row["user_id"]), str(row["request_id"])
    return Example(
        title=f"Player {user} hit a {int(row['status'])} on {row['route']}",
        detail=f"request {request_id}: response body and Sentry event in the detail view",
        url=_link(base, user=user, **{"class": "5xx", "range": "1h", "open": request_id}),
    )


def slowest_route(es: Elasticsearch, index: str, window: TimeRange, base: str) -> Example | None:
    stats = route_stats(es, index, window)
    if stats.empty:
        return None
    top = stats.iloc[0]
    return Example(
        title=f"Slowest route: {top['route']} (p95 {top['p95']:.0f} ms over {int(top['requests'])}"
        " requests)",
        detail="its requests slower than the route's own p95",
        url=_link(base, route=str(top["route"]), pct="95", range="1h"),
    )


def version_key(version: str) -> tuple[tuple[int, str], ...]:
    """Sort key for versions: numeric parts numerically (1.10.0 after 1.9.0)."""
    return tuple((int(p), "") if p.isdigit() else (-1, p) for p in version.split("."))


def release_regression(
    es: Elasticsearch, index: str, window: TimeRange, base: str
) -> Example | None:
    versions = sorted(field_values(es, index, window, "app_version"), key=version_key)
    if len(versions) < 2:
        return None
    baseline, candidate = versions[-2], versions[-1]
    table = compare_cohorts(
        es, index, Cohort(window, app_version=baseline), Cohort(window, app_version=candidate)
    )
    if table.empty:
        return None
    worst = table.iloc[0]
    change = worst["p95_change_pct"]
    errors = worst["error_rate_change_pp"]
    parts = []
    if change is not None and not math.isnan(change):
        parts.append(f"p95 {change:+.0f}%")
    if errors is not None and not math.isnan(errors):
        parts.append(f"5xx rate {errors:+.1f} pp")
    return Example(
        title=f"Release {candidate} vs {baseline}: {worst['route']} {', '.join(parts)}",
        detail=f"Slow APIs page, release comparison: {baseline} -> {candidate}",
        url=_link(base, "slow-apis"),
    )


def find_examples(
    es: Elasticsearch, index: str, dashboard_url: str, window: timedelta = timedelta(hours=24)
) -> list[Example]:
    """The examples that the data already supports (fewer early in a run)."""
    span = TimeRange.last(window)
    found = [
        finder(es, index, span, dashboard_url)
        for finder in (player_with_500, slowest_route, release_regression)
    ]
    return [example for example in found if example is not None]
