"""Altair charts of the query layer's tables (pure: DataFrame in, chart out).

Time axes label ticks so no two read the same: ``09:45`` on whole minutes and
``09:45:30`` between them for spans under ``DATED_SPAN``; ``03-01 12:00`` beyond it.
Per-route charts show at most ``MAX_CHART_ROUTES`` routes, each in its own colour,
labelled with the route elided in the middle (distinct labels, never cut to a shared
prefix); tooltips show the whole route.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import altair as alt
import pandas as pd

DATED_SPAN = pd.Timedelta(hours=20)
# Vega expression: seconds only where a tick falls between whole minutes.
CLOCK_LABEL = (
    "seconds(datum.value) ? timeFormat(datum.value, '%H:%M:%S') : timeFormat(datum.value, '%H:%M')"
)


def time_x(frame: pd.DataFrame) -> alt.X:
    """The time axis for ``frame["time"]``: tick labels fit its span (see the module doc)."""
    times = frame["time"]
    span = times.max() - times.min() if len(times) else pd.Timedelta(0)
    if span >= DATED_SPAN:
        axis = alt.Axis(format="%m-%d %H:%M", labelOverlap=True)
    else:
        axis = alt.Axis(labelExpr=CLOCK_LABEL, labelOverlap=True)
    return alt.X("time:T", title=None, axis=axis)


HEIGHT = 260
LABEL_CHARS = 44
ELLIPSIS = "…"
# Categorical schemes whose colours are all distinct, smallest that fits the routes shown.
SCHEMES: tuple[tuple[Literal["tableau10", "tableau20"], int], ...] = (
    ("tableau10", 10),
    ("tableau20", 20),
)
MAX_CHART_ROUTES = SCHEMES[-1][1]
LABEL = "label"
LEGEND_COLUMNS = 3  # a 44-character label is ~320 px: three fit a wide page side by side
LEGEND_ROW_PX = 24  # Streamlit fits the whole chart, legend included, into its height


def elide_middle(text: str, width: int) -> str:
    """``text`` cut to ``width`` characters by dropping its middle (head and tail stay)."""
    if len(text) <= width:
        return text
    head = (width - 1) // 3
    tail = width - 1 - head
    return f"{text[:head]}{ELLIPSIS}{text[-tail:]}"


def route_labels(routes: Sequence[str], width: int = LABEL_CHARS) -> dict[str, str]:
    """A distinct, at most ``width``-character label per route (wider where they collide)."""
    labels: dict[str, str] = {}
    pending = list(dict.fromkeys(routes))
    size = width
    while pending:
        candidates = {route: elide_middle(route, size) for route in pending}
        taken = set(labels.values())
        counts = pd.Series(list(candidates.values())).value_counts()
        clashing = []
        for route, label in candidates.items():
            if counts[label] == 1 and label not in taken:
                labels[route] = label
            else:
                clashing.append(route)
        pending = clashing
        size += 8
    return labels


def busiest_routes(trend: pd.DataFrame, limit: int = MAX_CHART_ROUTES) -> list[str]:
    """The ``limit`` routes with the most requests in ``trend``, busiest first."""
    totals = trend.groupby("route")["requests"].sum().sort_values(ascending=False, kind="stable")
    return [str(route) for route in totals.index[:limit]]


def with_route_labels(trend: pd.DataFrame) -> tuple[pd.DataFrame, alt.Scale]:
    """``trend`` of the busiest routes with a ``label`` column, and their colour scale."""
    routes = busiest_routes(trend)
    labels = route_labels(routes)
    data = trend[trend["route"].isin(routes)].assign(**{LABEL: lambda f: f["route"].map(labels)})
    scheme = next(name for name, size in SCHEMES if len(routes) <= size)
    domain = [labels[route] for route in routes]
    return data, alt.Scale(domain=domain, scheme=scheme)


def latency_lines(trend: pd.DataFrame, percentile: str) -> alt.Chart:
    """``percentile`` (p50/p95/p99) latency per route over time (the busiest routes)."""
    data, colours = with_route_labels(trend.dropna(subset=[percentile]))
    legend = alt.Legend(
        orient="bottom", columns=LEGEND_COLUMNS, title=None, labelLimit=0, symbolLimit=0
    )
    rows = -(-data[LABEL].nunique() // LEGEND_COLUMNS)
    chart: alt.Chart = (
        alt.Chart(data, height=HEIGHT + rows * LEGEND_ROW_PX)
        .mark_line(point=alt.OverlayMarkDef(size=12))
        .encode(
            x=time_x(data),
            y=alt.Y(f"{percentile}:Q", title=f"{percentile} latency (ms)"),
            color=alt.Color(f"{LABEL}:N", scale=colours, legend=legend),
            tooltip=["time:T", "route:N", "requests:Q", "p50:Q", "p95:Q", "p99:Q"],
        )
        .interactive(bind_y=False)
    )
    return chart


def request_bars(trend: pd.DataFrame) -> alt.Chart:
    """Requests per bucket, stacked by route (colours as in the latency chart above)."""
    data, colours = with_route_labels(trend)
    chart: alt.Chart = (
        alt.Chart(data, height=180)
        .mark_bar(opacity=0.85)
        .encode(
            x=time_x(data),
            y=alt.Y("requests:Q", stack="zero", title="requests"),
            color=alt.Color(f"{LABEL}:N", scale=colours, legend=None),
            tooltip=["time:T", "route:N", "requests:Q"],
        )
    )
    return chart


def _labelled(frame: pd.DataFrame) -> pd.DataFrame:
    labels = route_labels([str(route) for route in frame["route"].unique()])
    return frame.assign(**{LABEL: frame["route"].map(labels)})


ROUTE_AXIS = alt.Axis(labelLimit=0)  # labels are already elided in the middle


def change_bars(comparison: pd.DataFrame, column: str = "p95_change_pct") -> alt.Chart:
    """Relative change per route; regressions (slower) red, improvements green."""
    data = _labelled(comparison.dropna(subset=[column]))
    chart: alt.Chart = (
        alt.Chart(data, height=alt.Step(26))
        .mark_bar()
        .encode(
            y=alt.Y(f"{LABEL}:N", sort="-x", title=None, axis=ROUTE_AXIS),
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
            x=time_x(long),
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
    data = _labelled(trend.assign(end=trend["time"] + pd.Timedelta(seconds=interval_s)))
    chart: alt.Chart = (
        alt.Chart(data, height=alt.Step(26))
        .mark_rect()
        .encode(
            x=time_x(data),
            x2="end:T",
            y=alt.Y(f"{LABEL}:N", title=None, axis=ROUTE_AXIS),
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
            x=time_x(frame),
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
