"""The charts' route labels, colours and time axes (pure: DataFrame in, Vega-Lite spec out)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pandas as pd

from reqtrail.dashboards.queries.filters import TimeRange, fit_to_data
from reqtrail.dashboards.ui.charts import (
    LABEL_CHARS,
    MAX_CHART_ROUTES,
    elide_middle,
    latency_lines,
    request_bars,
    route_labels,
)

PREFIX = "/api/v2/guilds/{guild_id}/members/{member_id}/inventory/items/{item_id}/"
ACTIONS = ["upgrade", "sell", "equip", "unequip", "enchant", "repair", "salvage", "lock", "unlock"]


def trend_of(routes: list[str]) -> pd.DataFrame:
    start = datetime(2025, 3, 1, 12, tzinfo=UTC)
    rows = [
        {
            "time": start + timedelta(minutes=m),
            "route": route,
            "requests": 100 - i,
            "p50": 1.0,
            "p95": 2.0 + i,
            "p99": 3.0 + i,
        }
        for i, route in enumerate(routes)
        for m in range(3)
    ]
    return pd.DataFrame(rows)


def test_long_routes_sharing_a_prefix_get_distinct_labels_elided_in_the_middle() -> None:
    """Ten routes differing only at the end keep their ends; no two labels are the same."""
    routes = [PREFIX + action for action in [*ACTIONS, "inspect"]]
    labels = route_labels(routes)
    assert len(set(labels.values())) == 10
    for route, label in labels.items():
        assert len(label) <= LABEL_CHARS and "…" in label
        assert label.startswith("/api/v2/") and label.endswith(route.rsplit("/", 1)[1])
    assert elide_middle("/short", 20) == "/short"


def test_labels_that_still_clash_are_widened_until_distinct() -> None:
    """Routes equal in head and tail get longer labels, up to the whole route."""
    routes = ["/a/" + "x" * 30 + "/one/" + "y" * 30, "/a/" + "x" * 30 + "/two/" + "y" * 30]
    labels = route_labels(routes, width=20)
    assert len(set(labels.values())) == 2


def legend_scale(spec: dict) -> dict:  # type: ignore[type-arg]
    return spec["encoding"]["color"]["scale"]  # type: ignore[no-any-return]


def test_each_route_shown_has_its_own_colour_and_a_full_label() -> None:
    """Up to 10 routes use tableau10, up to 20 tableau20; the legend never truncates labels."""
    ten = [PREFIX + action for action in [*ACTIONS, "inspect"]]
    spec = latency_lines(trend_of(ten), "p95").to_dict()
    scale = legend_scale(spec)
    assert scale["scheme"] == "tableau10" and len(set(scale["domain"])) == 10
    assert spec["encoding"]["color"]["legend"]["labelLimit"] == 0
    fifteen = [f"/route/{i}" for i in range(15)]
    assert legend_scale(latency_lines(trend_of(fifteen), "p95").to_dict())["scheme"] == "tableau20"


def test_only_the_busiest_routes_are_charted_when_there_are_too_many() -> None:
    """With 25 routes the charts keep the 20 busiest, latency and request charts alike."""
    routes = [f"/route/{i:02d}" for i in range(25)]
    for chart in (latency_lines(trend_of(routes), "p95"), request_bars(trend_of(routes))):
        spec = chart.to_dict()
        assert legend_scale(spec)["domain"] == routes[:MAX_CHART_ROUTES]


def test_time_labels_show_seconds_between_minutes_and_dates_over_long_spans() -> None:
    """Minutes of data label ticks 09:45 and 09:45:30 (never 09:45 twice); a day adds dates."""
    axis = latency_lines(trend_of(["/a", "/b"]), "p50").to_dict()["encoding"]["x"]["axis"]
    assert "format" not in axis and "seconds(datum.value)" in axis["labelExpr"]
    start = datetime(2025, 3, 1, tzinfo=UTC)
    day = pd.DataFrame(
        {"time": [start, start + timedelta(hours=23)], "route": "/a", "requests": 1, "p50": 1.0}
    )
    axis = latency_lines(day, "p50").to_dict()["encoding"]["x"]["axis"]
    assert axis["format"] == "%m-%d %H:%M" and "labelExpr" not in axis


def test_fit_to_data_spans_the_records_within_the_range() -> None:
    """The chart window runs from the first to the last record, at least a minute long."""
    now = datetime(2025, 3, 1, 12, tzinfo=UTC)
    day = TimeRange(now - timedelta(hours=24), now)
    first, last = now - timedelta(seconds=100), now - timedelta(seconds=10)
    window = fit_to_data(day, first, last)
    assert window.start == first and window.end == last + timedelta(milliseconds=1)
    single = fit_to_data(day, last, last)
    assert single.duration == timedelta(minutes=1) and single.end <= now
    assert fit_to_data(day, None, None) == day


def test_route_axes_show_elided_labels_in_full() -> None:
    """The error heat map and the release comparison label routes like the legend does."""
    from reqtrail.dashboards.ui.charts import change_bars, error_rate_heatmap

    routes = [PREFIX + action for action in ACTIONS]
    trend = trend_of(routes).assign(errors_4xx=1, errors_5xx=0, error_rate=0.01)
    comparison = pd.DataFrame({"route": routes, "p95_change_pct": range(len(routes))})
    for chart in (error_rate_heatmap(trend, 60), change_bars(comparison)):
        spec = chart.to_dict()
        assert spec["encoding"]["y"]["field"] == "label"
        assert spec["encoding"]["y"]["axis"]["labelLimit"] == 0
        (data,) = spec["datasets"].values()
        assert len({row["label"] for row in data}) == len(routes)
