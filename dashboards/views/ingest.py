"""Ingest page (operators): is data arriving, how fast the indexers index, lag, dead letters.

The newest record comes from Elasticsearch, so "no errors" is told apart from "no data".
Rate, lag and dead letters come from the indexers' ``/metrics``
(``REQTRAIL_INDEXER_METRICS_URLS``); the dashboard has no Kafka client of its own.
"""

from __future__ import annotations

from datetime import timedelta

import pandas as pd
import streamlit as st

from reqtrail.dashboards.queries.indexers import indexing_rates, metrics_urls
from reqtrail.dashboards.queries.ingest import RECENT, Freshness
from reqtrail.dashboards.ui.charts import series_line
from reqtrail.dashboards.ui.context import Queries, data_guard, now, settings
from reqtrail.dashboards.ui.time_picker import range_picker

STALE_AFTER = timedelta(minutes=5)


def ago(age: timedelta) -> str:
    seconds = int(age.total_seconds())
    if seconds < 120:
        return f"{seconds} s ago"
    if seconds < 7200:
        return f"{seconds // 60} min ago"
    if seconds < 172800:
        return f"{seconds // 3600} h ago"
    return f"{seconds // 86400} days ago"


def _arrival(fresh: Freshness) -> None:
    age = fresh.age
    left, right = st.columns(2)
    left.metric("Newest record", "none" if age is None else ago(age))
    right.metric(
        f"Records in the last {int(RECENT.total_seconds() // 60)} min", f"{fresh.recent:,}"
    )
    if age is None:
        st.warning("No data: Elasticsearch holds no record yet.")
    elif age > STALE_AFTER:
        st.warning(
            f"No data for {ago(age)[:-4]}: the newest record is older than "
            f"{int(STALE_AFTER.total_seconds() // 60)} min. An empty error page means nothing "
            "arrived, not that nothing failed."
        )
    else:
        st.success(f"Records are arriving: the newest is from {ago(age)}.")


def _indexers(urls: list[str]) -> None:
    st.subheader("Indexers")
    if not urls:
        st.info(
            "Set REQTRAIL_INDEXER_METRICS_URLS to the indexers' /metrics URLs "
            "(`reqtrail consume --metrics-port`) to see their rate, lag and dead letters."
        )
        return
    readings = indexing_rates(urls)
    live = [(r, rate) for r, rate in readings if r.error is None]
    total_rate = sum(rate or 0.0 for _, rate in live)
    m1, m2, m3, m4 = st.columns(4)
    m1.metric("Indexing rate", f"{total_rate:,.0f} records/s")
    m2.metric("Lag", f"{sum(r.lag for r, _ in live):,.0f} records")
    m3.metric("Dead letters", f"{sum(sum(r.dead_lettered.values()) for r, _ in live):,.0f}")
    m4.metric("Indexers answering", f"{len(live)} of {len(readings)}")
    rows = []
    for reading, rate in readings:
        dead = ", ".join(f"{k} {v:,.0f}" for k, v in sorted(reading.dead_lettered.items()) if v)
        rows.append(
            {
                "indexer": reading.url,
                "ready": "-" if reading.ready is None else ("yes" if reading.ready else "NO"),
                "records/s": rate,
                "lag": reading.lag,
                "in flight": reading.in_flight,
                "partitions": reading.partitions,
                "dead letters": dead or "0",
                "since last bulk (s)": reading.seconds_since_bulk,
                "error": reading.error or "",
            }
        )
    st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")
    st.caption("Rates are measured over one second; dead letters are counted since each start.")


def main() -> None:
    cfg = settings()
    st.title("Ingest")
    q = Queries(cfg)
    c1, _ = st.columns([2, 5])
    with c1:
        time_range = range_picker(cfg)
    with data_guard():
        _arrival(q.freshness(now(cfg)))
        report = q.traffic(time_range)
    if not report.over_time.empty:
        st.altair_chart(
            series_line(report.over_time, "requests_per_minute", "records / min (request time)"),
            width="stretch",
        )
    _indexers(metrics_urls(cfg.indexer_metrics_urls))


main()
