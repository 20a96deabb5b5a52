"""Slow APIs page: latency percentiles per route over time, slowest routes, releases."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import timedelta

import pandas as pd
import streamlit as st

from reqtrail.dashboards.queries.filters import Cohort, TimeRange
from reqtrail.dashboards.ui.charts import (
    MAX_CHART_ROUTES,
    change_bars,
    latency_lines,
    request_bars,
)
from reqtrail.dashboards.ui.context import Queries, data_guard, settings
from reqtrail.dashboards.ui.time_picker import range_picker
from reqtrail.dashboards.ui.url_state import search_link, window_state

WINDOW_OFFSETS = {
    "the period before": None,
    "the same time a day earlier": timedelta(days=1),
    "the same time a week earlier": timedelta(days=7),
}


def version_key(version: str) -> tuple[tuple[int, int | str], ...]:
    """Sort key that orders ``1.9.0`` before ``1.10.0``."""
    return tuple((0, int(p)) if p.isdigit() else (1, p) for p in re.split(r"[.\-+]", version))


VERDICT_COLOURS = {
    "regressed": "color: #d32f2f; font-weight: 600",
    "improved": "color: #2e7d32",
    "too few requests": "color: #757575",
}


def verdict_colour(value: object) -> str:
    return VERDICT_COLOURS.get(str(value), "")


def delta_colour(value: object) -> str:
    if not isinstance(value, int | float) or pd.isna(value) or abs(value) < 5:
        return ""
    return "color: #d32f2f; font-weight: 600" if value > 0 else "color: #2e7d32"


def _slowest(q: Queries, time_range: TimeRange) -> None:
    stats = q.route_stats(time_range)
    if stats.empty:
        st.info("No requests in this range.")
        return
    base = window_state(time_range)
    stats["slowest requests"] = [
        search_link(replace(base, route=r, route_percentile=95.0)) for r in stats["route"]
    ]
    st.dataframe(
        stats,
        hide_index=True,
        width="stretch",
        column_config={
            "p50": st.column_config.NumberColumn("p50 (ms)", format="%.1f"),
            "p95": st.column_config.NumberColumn("p95 (ms)", format="%.1f"),
            "p99": st.column_config.NumberColumn("p99 (ms)", format="%.1f"),
            "max": st.column_config.NumberColumn("max (ms)", format="%.1f"),
            "error_rate": st.column_config.NumberColumn("error rate", format="percent"),
            "slowest requests": st.column_config.LinkColumn(display_text="slower than p95 →"),
        },
    )


def _cohorts(q: Queries, time_range: TimeRange) -> tuple[Cohort, Cohort] | None:
    mode = st.radio("Compare", ["two app versions", "two time windows"], horizontal=True)
    if mode == "two app versions":
        versions = sorted(q.values(time_range, "app_version"), key=version_key)
        if len(versions) < 2:
            st.info("Fewer than two app versions in this range.")
            return None
        c1, c2 = st.columns(2)
        old = c1.selectbox("Baseline version", versions, index=len(versions) - 2)
        new = c2.selectbox("Candidate version", versions, index=len(versions) - 1)
        return Cohort(time_range, old), Cohort(time_range, new)
    choice = st.selectbox("Compare the selected range with", list(WINDOW_OFFSETS))
    offset = WINDOW_OFFSETS[choice] or time_range.duration
    before = TimeRange(time_range.start - offset, time_range.end - offset)
    return Cohort(before), Cohort(time_range)


def _comparison(q: Queries, time_range: TimeRange) -> None:
    cohorts = _cohorts(q, time_range)
    if cohorts is None:
        return
    baseline, candidate = cohorts
    table = q.compare(baseline, candidate)
    if table.empty:
        st.info("No requests in either cohort.")
        return
    st.caption(
        f"Baseline **{baseline.label}** vs candidate **{candidate.label}**; regressions "
        "first, then by p95 change. The verdict is `reqtrail compare`'s: a route regresses "
        "only when its change holds beyond noise (rules: `[gate]` in reqtrail.toml). Error "
        "rate = share of 5xx; its change is in percentage points."
    )
    left, right = st.columns([3, 2])
    shown = table[
        [
            "route",
            "verdict",
            "baseline_requests",
            "candidate_requests",
            "baseline_p95",
            "candidate_p95",
            "p95_change_pct",
            "p50_change_pct",
            "p99_change_pct",
            "baseline_error_rate_pct",
            "candidate_error_rate_pct",
            "error_rate_change_pp",
            "why",
        ]
    ]
    deltas = ["p95_change_pct", "p50_change_pct", "p99_change_pct", "error_rate_change_pp"]
    left.dataframe(
        shown.style.map(delta_colour, subset=deltas)
        .map(verdict_colour, subset=["verdict"])
        .format(precision=1, na_rep="-"),
        hide_index=True,
        width="stretch",
    )
    right.altair_chart(change_bars(table), width="stretch")


def main() -> None:
    cfg = settings()
    st.title("Slow APIs")
    q = Queries(cfg)
    c1, c2, c3 = st.columns([2, 3, 2])
    with c1:
        time_range = range_picker(cfg)
    with data_guard():
        routes = q.values(time_range, "route")
        route = c2.selectbox("Route", ["(all)", *routes])
        percentile = c3.radio("Percentile", ["p50", "p95", "p99"], index=1, horizontal=True)
        trend = q.latency_trend(q.window(time_range), None if route == "(all)" else route)
        if trend.empty or trend["requests"].sum() == 0:
            st.info("No requests in this range.")
            return
        if trend["route"].nunique() > MAX_CHART_ROUTES:
            st.caption(
                f"The charts show the {MAX_CHART_ROUTES} busiest of "
                f"{trend['route'].nunique()} routes; pick a route above for any other."
            )
        share = trend.attrs.get("sample_probability", 1.0)
        if share < 1.0:
            st.caption(
                f"Percentiles and counts over time from a random {share:.0%} of the requests "
                "in this range (counts scaled up); the tables below read them all."
            )
        st.altair_chart(latency_lines(trend, percentile), width="stretch")
        st.altair_chart(request_bars(trend), width="stretch")
        st.subheader("Slowest routes")
        _slowest(q, time_range)
        st.subheader("Release comparison")
        _comparison(q, time_range)


main()
