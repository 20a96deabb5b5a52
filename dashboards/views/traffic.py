"""Traffic page (analysts): requests per minute, unique users, who and what is calling."""

from __future__ import annotations

import streamlit as st

from reqtrail.dashboards.queries.traffic import BREAKDOWNS
from reqtrail.dashboards.ui.charts import breakdown_bars, series_line
from reqtrail.dashboards.ui.context import Queries, data_guard, settings
from reqtrail.dashboards.ui.time_picker import range_picker

TITLES = {
    "platform": "Platform",
    "client_version": "Client version",
    "route": "Route",
    "app_version": "Server version",
}


def main() -> None:
    cfg = settings()
    st.title("Traffic")
    q = Queries(cfg)
    c1, _ = st.columns([2, 5])
    with c1:
        time_range = range_picker(cfg)
    with data_guard():
        report = q.traffic(q.window(time_range))  # charts span the records, not the range
    if report.requests == 0:
        st.info("No requests in this range.")
        return
    minutes = time_range.duration.total_seconds() / 60
    m1, m2, m3, m4, m5 = st.columns(5)
    m1.metric("Requests", f"{report.requests:,}")
    m2.metric("Unique users", f"{report.unique_users:,}")
    m3.metric("Unique devices", f"{report.unique_devices:,}")
    m4.metric("Avg requests/min", f"{report.requests / minutes:,.1f}")
    m5.metric("Peak requests/min", f"{report.peak_requests_per_minute:,.1f}")
    st.caption(
        f"Buckets of {report.interval}; unique counts are HyperLogLog estimates "
        "(exact below a few thousand)."
    )
    left, right = st.columns(2)
    left.altair_chart(
        series_line(report.over_time, "requests_per_minute", "requests / min"), width="stretch"
    )
    right.altair_chart(
        series_line(report.over_time, "unique_users", f"unique users per {report.interval}"),
        width="stretch",
    )
    columns = st.columns(2)
    for i, name in enumerate(BREAKDOWNS):
        frame = report.breakdowns[name]
        with columns[i % 2]:
            if frame.empty:
                st.caption(f"{TITLES[name]}: no values")
                continue
            st.altair_chart(breakdown_bars(frame, TITLES[name]), width="stretch")


main()
