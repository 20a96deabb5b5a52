"""Is data arriving? The newest record in Elasticsearch, so "no errors" differs from "no data".

Elasticsearch holds each record's request time (``@timestamp``), not when it was
indexed; the newest request time that is not in the future tells how fresh the data is
(a record stamped ahead of the clock would otherwise look fresh for ever).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from elasticsearch import Elasticsearch

from reqtrail.dashboards.queries.es_client import search

RECENT = timedelta(minutes=5)
CLOCK_SKEW = timedelta(minutes=1)  # request times this far ahead still count


@dataclass(frozen=True)
class Freshness:
    """The newest record's request time (None: no record) and how many came recently."""

    newest: datetime | None
    recent: int
    now: datetime

    @property
    def age(self) -> timedelta | None:
        return None if self.newest is None else max(self.now - self.newest, timedelta(0))


def freshness(es: Elasticsearch, index: str, now: datetime) -> Freshness:
    """The newest ``@timestamp`` up to ``now`` (plus skew), and the records of ``RECENT``."""
    ceiling = (now + CLOCK_SKEW).isoformat()
    body = {
        "size": 0,
        "track_total_hits": False,
        "query": {"range": {"@timestamp": {"lte": ceiling}}},
        "aggs": {
            "newest": {"max": {"field": "@timestamp"}},
            "recent": {"filter": {"range": {"@timestamp": {"gte": (now - RECENT).isoformat()}}}},
        },
    }
    aggs = search(es, index, body)["aggregations"]
    newest_ms = aggs["newest"]["value"]
    newest = None if newest_ms is None else datetime.fromtimestamp(newest_ms / 1000, UTC)
    return Freshness(newest, int(aggs["recent"]["doc_count"]), now)
