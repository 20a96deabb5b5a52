"""Altair charts of the query layer's tables (pure: DataFrame in, chart out)."""

from __future__ import annotations

import altair as alt
import pandas as pd

TIME = alt.X("time:T", title=None, axis=alt.Axis(format="%m-%d %H:%M"))
HEIGHT = 260


def _route_colour() -> alt.Color:
    return alt.Color("route:N", legend=alt.Legend(orient="bottom", columns=4, title=None))


def latency_lines(trend: pd.DataFrame, percentile: str) -> alt.Chart:
    """``percentile`` (p50/p95/p99) latency per route over time."""
    data = trend.dropna(subset=[percentile])
    chart: alt.Chart = (
        alt.Chart(data, height=HEIGHT)
        .mark_line(point=alt.OverlayMarkDef(size=12))
        .encode(
            x=TIME,
            y=alt.Y(f"{percentile}:Q", title=f"{percentile} latency (ms)"),
            color=_route_colour(),
            tooltip=["time:T", "route:N", "requests:Q", "p50:Q", "p95:Q", "p99:Q"],
        )
        .interactive(bind_y=False)
    )
    return chart


def request_bars(trend: pd.DataFrame) -> alt.Chart:
    """Requests per bucket, stacked by route (colours as in the latency chart above)."""
    chart: alt.Chart = (
        alt.Chart(trend, height=180)
        .mark_area(opacity=0.8)
        .encode(
            x=TIME,
            y=alt.Y("requests:Q", stack="zero", title="requests"),
            color=alt.Color("route:N", legend=None),
            tooltip=["time:T", "route:N", "requests:Q"],
        )
    )
    return chart


def change_bars(comparison: pd.DataFrame, column: str = "p95_change_pct") -> alt.Chart:
    """Relative change per route; regressions (slower) red, improvements green."""
    data = comparison.dropna(subset=[column])
    chart: alt.Chart = (
        alt.Chart(data, height=alt.Step(26))
        .mark_bar()
        .encode(
            y=alt.Y("route:N", sort="-x", title=None),
            x=alt.X(f"{column}:Q", title="p95 change (%)"),
            color=alt.condition(alt.datum[column] > 0, alt.value("#d32f2f"), alt.value("#2e7d32")),
            tooltip=["route:N", alt.Tooltip(f"{column}:Q", format=".1f")],
        )
    )
    return chart


def error_bars(trend: pd.DataFrame) -> alt.Chart:
    """4xx and 5xx counts per bucket (all routes), stacked."""
    totals = trend.groupby("time", as_index=False)[["errors_4xx", "errors_5xx"]].sum()
    long = totals.melt("time", var_name="class", value_name="count")
    long["class"] = long["class"].map({"errors_4xx": "4xx", "errors_5xx": "5xx"})
    chart: alt.Chart = (
        alt.Chart(long, height=HEIGHT)
        .mark_bar()
        .encode(
            x=TIME,
            y=alt.Y("count:Q", title="responses"),
            color=alt.Color(
                "class:N",
                scale=alt.Scale(domain=["4xx", "5xx"], range=["#ef6c00", "#d32f2f"]),
                legend=alt.Legend(orient="top", title=None),
            ),
            tooltip=["time:T", "class:N", "count:Q"],
        )
    )
    return chart


def error_rate_heatmap(trend: pd.DataFrame, interval_s: int) -> alt.Chart:
    """Error rate per route and bucket as a heat map (grey: no requests in the bucket)."""
    data = trend.assign(end=trend["time"] + pd.Timedelta(seconds=interval_s))
    chart: alt.Chart = (
        alt.Chart(data, height=alt.Step(26))
        .mark_rect()
        .encode(
            x=TIME,
            x2="end:T",
            y=alt.Y("route:N", title=None),
            color=alt.condition(
                alt.datum.requests > 0,
                alt.Color(
                    "error_rate:Q",
                    title="error rate",
                    scale=alt.Scale(scheme="orangered", domainMin=0),
                    legend=alt.Legend(format="%", orient="right"),
                ),
                alt.value("#eeeeee"),
            ),
            tooltip=[
                "time:T",
                "route:N",
                "requests:Q",
                "errors_4xx:Q",
                "errors_5xx:Q",
                alt.Tooltip("error_rate:Q", format=".1%"),
            ],
        )
    )
    return chart


def series_line(frame: pd.DataFrame, column: str, title: str) -> alt.Chart:
    """One numeric column over time."""
    chart: alt.Chart = (
        alt.Chart(frame, height=220)
        .mark_area(line=True, opacity=0.3)
        .encode(
            x=TIME,
            y=alt.Y(f"{column}:Q", title=title),
            tooltip=["time:T", alt.Tooltip(f"{column}:Q", format=",.1f")],
        )
    )
    return chart


def breakdown_bars(frame: pd.DataFrame, title: str) -> alt.Chart:
    """Requests per value of one field, largest first."""
    chart: alt.Chart = (
        alt.Chart(frame, height=alt.Step(24), title=title)
        .mark_bar()
        .encode(
            y=alt.Y("value:N", sort="-x", title=None),
            x=alt.X("requests:Q", title="requests"),
            tooltip=[
                "value:N",
                "requests:Q",
                alt.Tooltip("share:Q", format=".1%"),
                "unique_users:Q",
            ],
        )
    )
    return chart
