"""Errors page: 4xx/5xx over time, error rate per route, top error types -> search page."""

from __future__ import annotations

from dataclasses import replace

import streamlit as st

from reqtrail.dashboards.queries.filters import (
    StatusClass,
    TimeRange,
    histogram_interval,
    interval_seconds,
)
from reqtrail.dashboards.ui.charts import error_bars, error_rate_heatmap
from reqtrail.dashboards.ui.context import Queries, data_guard, settings
from reqtrail.dashboards.ui.time_picker import range_picker
from reqtrail.dashboards.ui.url_state import search_link, window_state

LINK = st.column_config.LinkColumn


def _by_route(q: Queries, time_range: TimeRange) -> None:
    stats = q.route_stats(time_range)
    if stats.empty:
        return
    base = window_state(time_range)
    table = stats[["route", "requests", "errors_4xx", "errors_5xx", "error_rate"]].copy()
    table["see 5xx"] = [
        search_link(replace(base, route=r, status_class=StatusClass.S5XX)) for r in table["route"]
    ]
    table["see 4xx"] = [
        search_link(replace(base, route=r, status_class=StatusClass.S4XX)) for r in table["route"]
    ]
    table = table.sort_values("error_rate", ascending=False, ignore_index=True)
    st.dataframe(
        table,
        hide_index=True,
        width="stretch",
        column_config={
            "error_rate": st.column_config.NumberColumn("error rate", format="percent"),
            "see 5xx": LINK(display_text="5xx requests →"),
            "see 4xx": LINK(display_text="4xx requests →"),
        },
    )


def _top(q: Queries, time_range: TimeRange) -> None:
    top = q.top_errors(time_range)
    base = window_state(time_range)
    left, right = st.columns(2)
    with left:
        st.markdown("**Exception types**")
        if top.types.empty:
            st.caption("No exceptions recorded in this range.")
        else:
            types = top.types.copy()
            types["requests"] = [
                search_link(replace(base, error_type=t)) for t in types["error_type"]
            ]
            st.dataframe(
                types,
                hide_index=True,
                width="stretch",
                column_config={"requests": LINK(display_text="show requests →")},
            )
    with right:
        st.markdown("**Status codes ≥ 400**")
        if top.statuses.empty:
            st.caption("No failed responses in this range.")
        else:
            statuses = top.statuses.copy()
            statuses["requests"] = [
                search_link(replace(base, status=int(s))) for s in statuses["status"]
            ]
            st.dataframe(
                statuses,
                hide_index=True,
                width="stretch",
                column_config={"requests": LINK(display_text="show requests →")},
            )


def main() -> None:
    cfg = settings()
    st.title("Errors")
    q = Queries(cfg)
    c1, _ = st.columns([2, 5])
    with c1:
        time_range = range_picker(cfg)
    with data_guard():
        window = q.window(time_range)  # the charts span the records, not the whole range
        trend = q.error_trend(window)
        if trend.empty or trend["requests"].sum() == 0:
            st.info("No requests in this range.")
            return
        total = int(trend["requests"].sum())
        e4, e5 = int(trend["errors_4xx"].sum()), int(trend["errors_5xx"].sum())
        m1, m2, m3, m4 = st.columns(4)
        m1.metric("Requests", f"{total:,}")
        m2.metric("4xx", f"{e4:,}")
        m3.metric("5xx", f"{e5:,}")
        m4.metric("Error rate", f"{(e4 + e5) / total:.2%}")
        st.altair_chart(error_bars(trend), width="stretch")
        st.markdown("**Error rate per route**")
        step = interval_seconds(histogram_interval(window))
        st.altair_chart(error_rate_heatmap(trend, step), width="stretch")
        st.subheader("Errors by route")
        _by_route(q, time_range)
        st.subheader("Top errors")
        _top(q, time_range)


main()
