"""Where in a time range the records are, so charts span the data rather than the range."""

from __future__ import annotations

from datetime import UTC, datetime

from elasticsearch import Elasticsearch

from reqtrail.dashboards.queries.agg_bodies import extent_body
from reqtrail.dashboards.queries.es_client import search
from reqtrail.dashboards.queries.filters import TimeRange, fit_to_data


def _moment(value: float | None) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(value / 1000.0, UTC)


def data_window(es: Elasticsearch, index: str, time_range: TimeRange) -> TimeRange:
    """The part of ``time_range`` holding records (``fit_to_data``); the range if none."""
    aggs = search(es, index, extent_body(time_range))["aggregations"]
    return fit_to_data(time_range, _moment(aggs["first"]["value"]), _moment(aggs["last"]["value"]))
