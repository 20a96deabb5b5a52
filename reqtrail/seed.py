"""Put the index template and bulk-index records straight into Elasticsearch.

Tests, benchmarks and demos use this to have data without running Kafka and the consumer:
records go to the daily index ``<prefix>-YYYY.MM.DD`` of their ``@timestamp`` with
``_id = request_id`` (exactly where the consumer would put them), then the indices are
refreshed. ``fast=True`` loads with ``refresh_interval: -1`` and restores it afterwards.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from elasticsearch import Elasticsearch, helpers

from reqtrail.schemas import IndexOptions, index_template
from reqtrail.schemas.indices import daily_index, utc_day

ProgressCallback = Callable[[int, int | None], None]


class SeedError(RuntimeError):
    """Some records were not indexed; ``errors`` holds the first few bulk item errors."""

    def __init__(self, failed: int, errors: list[dict[str, Any]]) -> None:
        super().__init__(f"{failed} records were not indexed; first errors: {errors[:3]}")
        self.failed = failed
        self.errors = errors


@dataclass(frozen=True)
class SeedResult:
    indexed: int
    seconds: float
    indices: tuple[str, ...]

    @property
    def docs_per_second(self) -> float:
        return self.indexed / self.seconds if self.seconds > 0 else 0.0


def record_index(prefix: str, timestamp: str) -> str:
    """The daily index of an ``@timestamp`` (the same one the indexer would choose)."""
    day = utc_day(timestamp)
    if day is None:
        raise SeedError(1, [{"@timestamp": timestamp, "reason": "not an ISO 8601 timestamp"}])
    return daily_index(prefix, day)


def put_template(es: Elasticsearch, prefix: str, *, refresh_interval: str = "1s") -> None:
    """Install the record's index template for ``<prefix>-*`` with read alias ``prefix``."""
    body = index_template(IndexOptions(prefix=prefix, refresh_interval=refresh_interval))
    es.indices.put_index_template(name=prefix, **body)


def _actions(prefix: str, records: Iterable[dict[str, Any]], seen: set[str]) -> Iterator[Any]:
    for record in records:
        index = record_index(prefix, record["@timestamp"])
        seen.add(index)
        yield {"_op_type": "index", "_index": index, "_id": record["request_id"], "_source": record}


def seed(
    es: Elasticsearch,
    prefix: str,
    records: Iterable[dict[str, Any]],
    *,
    total: int | None = None,
    chunk_size: int = 2000,
    threads: int = 1,
    fast: bool = False,
    progress: ProgressCallback | None = None,
) -> SeedResult:
    """Index ``records`` under ``prefix`` and refresh; raise ``SeedError`` if any failed.

    ``threads > 1`` uses parallel bulk requests; ``fast`` turns refresh off during the load.
    ``progress(done, total)`` is called after every chunk.
    """
    started = time.perf_counter()
    put_template(es, prefix, refresh_interval="-1" if fast else "1s")
    seen: set[str] = set()
    actions = _actions(prefix, records, seen)
    common: dict[str, Any] = {
        "chunk_size": chunk_size,
        "max_chunk_bytes": 50 * 1024 * 1024,
        "raise_on_error": False,
    }
    results: Iterable[tuple[bool, Any]]
    if threads > 1:
        results = helpers.parallel_bulk(es, actions, thread_count=threads, **common)
    else:
        results = helpers.streaming_bulk(es, actions, max_retries=3, **common)
    done = 0
    failed: list[dict[str, Any]] = []
    for ok, info in results:
        done += 1
        if not ok:
            failed.append(info)
        if progress is not None and done % chunk_size == 0:
            progress(done, total)
    if progress is not None and done % chunk_size != 0:
        progress(done, total)
    indices = tuple(sorted(seen))
    if fast:
        put_template(es, prefix)
        if indices:
            es.indices.put_settings(index=",".join(indices), settings={"refresh_interval": "1s"})
    if indices:
        es.indices.refresh(index=",".join(indices))
    if failed:
        raise SeedError(len(failed), failed[:10])
    return SeedResult(done - len(failed), time.perf_counter() - started, indices)


def delete_prefix(es: Elasticsearch, prefix: str) -> None:
    """Delete the template and every ``<prefix>-*`` index (resolved by name, no wildcard delete)."""
    names = list(es.indices.get(index=f"{prefix}-*", allow_no_indices=True, expand_wildcards="all"))
    for start in range(0, len(names), 50):
        es.indices.delete(index=",".join(names[start : start + 50]))
    es.options(ignore_status=404).indices.delete_index_template(name=prefix)


def count(es: Elasticsearch, prefix: str) -> int:
    """Documents readable through the alias ``prefix`` (0 when it does not exist)."""
    if not es.indices.exists_alias(name=prefix):
        return 0
    return int(es.count(index=prefix)["count"])


def print_progress(label: str = "seeding") -> ProgressCallback:
    """A progress callback: done/total, percent and rate, on one updating line in a terminal;
    elsewhere (logs, CI) a plain line at every tenth of the way."""
    started = time.perf_counter()
    interactive = sys.stdout.isatty()
    printed_tenths = -1

    def report(done: int, total: int | None) -> None:
        nonlocal printed_tenths
        elapsed = max(time.perf_counter() - started, 1e-6)
        rate = done / elapsed
        if total:
            eta = (total - done) / rate if rate else 0.0
            share = done / total
            text = f"{label}: {done:,}/{total:,} ({share:5.1%}) {rate:,.0f}/s eta {eta:,.0f}s"
        else:
            text = f"{label}: {done:,} {rate:,.0f}/s"
        finished = total is not None and done >= total
        if interactive:
            print(f"\r{text}   ", end="\n" if finished else "", flush=True)
            return
        tenths = done * 10 // total if total else done // 100_000
        if tenths > printed_tenths or finished:
            printed_tenths = tenths
            print(text, flush=True)

    return report
