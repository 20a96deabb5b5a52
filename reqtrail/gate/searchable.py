"""Find a load test's own records in Elasticsearch by their request IDs.

``wait_searchable`` counts, chunk by chunk, how many of the run's request IDs are
searchable, until all are or the time is up. ``run_records`` then reads the time span of
those records (on the server's clock, so a clock difference between the CI runner and the
server cannot cut requests off) and the ``app_version`` values they carry.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from elasticsearch import Elasticsearch

from reqtrail.dashboards.queries.es_client import translated_errors

CHUNK = 10_000  # request IDs per terms query (ES allows 65,536)
Say = Callable[[str], None]


def chunks(ids: Sequence[str], size: int = CHUNK) -> Iterator[Sequence[str]]:
    for start in range(0, len(ids), size):
        yield ids[start : start + size]


def _count(es: Elasticsearch, index: str, ids: Sequence[str]) -> int:
    with translated_errors(es, index):
        answer = es.count(index=index, query={"terms": {"request_id": list(ids)}})
    return int(answer["count"])


def missing_ids(es: Elasticsearch, index: str, ids: Sequence[str], limit: int = 3) -> list[str]:
    """Up to ``limit`` of ``ids`` that are not searchable (for the message)."""
    missing: list[str] = []
    for chunk in chunks(ids):
        with translated_errors(es, index):
            answer = es.search(
                index=index,
                query={"terms": {"request_id": list(chunk)}},
                size=len(chunk),
                source=False,
                docvalue_fields=[{"field": "request_id"}],
            )
        found = {hit["fields"]["request_id"][0] for hit in answer["hits"]["hits"]}
        missing += [i for i in chunk if i not in found][: limit - len(missing)]
        if len(missing) >= limit:
            break
    return missing


def wait_searchable(
    es: Elasticsearch,
    index: str,
    ids: Sequence[str],
    *,
    timeout_s: float,
    say: Say,
    every_s: float = 5.0,
) -> int:
    """Wait until every ID is searchable in ``index``; how many are still missing."""
    pending = list(chunks(ids))
    began = time.monotonic()
    last_said = began
    while True:
        pending = [chunk for chunk in pending if _count(es, index, chunk) < len(chunk)]
        missing = sum(len(chunk) for chunk in pending)
        now = time.monotonic()
        if not missing or now - began >= timeout_s:
            return missing
        if now - last_said >= every_s:
            last_said = now
            say(
                f"waiting for the indexer: {len(ids) - missing:,} of {len(ids):,} requests "
                f"searchable after {now - began:.0f} s"
            )
        time.sleep(1.0)


@dataclass(frozen=True)
class RunRecords:
    first: datetime
    last: datetime
    versions: Counter[str]


def run_records(es: Elasticsearch, index: str, ids: Sequence[str]) -> RunRecords:
    """Time span and ``app_version`` counts of the records with these request IDs."""
    first = last = None
    versions: Counter[str] = Counter()
    for chunk in chunks(ids):
        with translated_errors(es, index):
            answer = es.search(
                index=index,
                query={"terms": {"request_id": list(chunk)}},
                size=0,
                aggs={
                    "first": {"min": {"field": "@timestamp"}},
                    "last": {"max": {"field": "@timestamp"}},
                    "versions": {
                        "terms": {"field": "app_version", "size": 20, "missing": "(none)"}
                    },
                },
            )
        aggs = answer["aggregations"]
        if aggs["first"]["value"] is None:
            continue
        low, high = aggs["first"]["value"], aggs["last"]["value"]
        first = low if first is None else min(first, low)
        last = high if last is None else max(last, high)
        versions.update({b["key"]: b["doc_count"] for b in aggs["versions"]["buckets"]})
    if first is None or last is None:
        raise LookupError("none of the run's requests is searchable")
    return RunRecords(
        datetime.fromtimestamp(first / 1000, UTC),
        datetime.fromtimestamp(last / 1000, UTC),
        versions,
    )
