"""Traffic: requests per minute, unique users, breakdowns by platform, client and route."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
from elasticsearch import Elasticsearch

from reqtrail.dashboards.queries.agg_bodies import traffic_body
from reqtrail.dashboards.queries.es_client import search
from reqtrail.dashboards.queries.filters import TimeRange, histogram_interval, interval_seconds

BREAKDOWNS = ("platform", "client_version", "route", "app_version")
OVER_TIME_COLUMNS = ["time", "requests", "requests_per_minute", "unique_users"]
BREAKDOWN_COLUMNS = ["value", "requests", "share", "unique_users"]


@dataclass(frozen=True)
class TrafficReport:
    """Totals over the range (user/device counts are HyperLogLog estimates) and tables."""

    requests: int
    unique_users: int
    unique_devices: int
    interval: str
    over_time: pd.DataFrame
    breakdowns: dict[str, pd.DataFrame]

    @property
    def peak_requests_per_minute(self) -> float:
        if self.over_time.empty:
            return 0.0
        return float(self.over_time["requests_per_minute"].max())


def traffic(
    es: Elasticsearch, index: str, time_range: TimeRange, *, interval: str | None = None
) -> TrafficReport:
    """Request volume and audience over ``time_range``."""
    step = interval or histogram_interval(time_range)
    minutes = interval_seconds(step) / 60.0
    response = search(es, index, traffic_body(time_range, step))
    aggs = response["aggregations"]
    total = int(response["hits"]["total"]["value"])
    over_time = pd.DataFrame(
        [
            {
                "time": b["key"],
                "requests": b["doc_count"],
                "requests_per_minute": b["doc_count"] / minutes,
                "unique_users": b["users"]["value"],
            }
            for b in aggs["over_time"]["buckets"]
        ],
        columns=OVER_TIME_COLUMNS,
    )
    over_time["time"] = pd.to_datetime(over_time["time"], unit="ms", utc=True)
    breakdowns = {
        name: pd.DataFrame(
            [
                {
                    "value": str(b["key"]),
                    "requests": b["doc_count"],
                    "share": b["doc_count"] / total if total else 0.0,
                    "unique_users": b["users"]["value"],
                }
                for b in aggs[name]["buckets"]
            ],
            columns=BREAKDOWN_COLUMNS,
        )
        for name in BREAKDOWNS
    }
    return TrafficReport(
        requests=total,
        unique_users=int(aggs["users"]["value"]),
        unique_devices=int(aggs["devices"]["value"]),
        interval=step,
        over_time=over_time,
        breakdowns=breakdowns,
    )
