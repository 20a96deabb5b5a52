"""Seeding the query benchmarks' data: millions of synthetic records, once, in parallel.

``seed_parallel`` splits the 24 h into one stretch per worker process; each worker makes its
stretch's records (``reqtrail.schemas.samples``, its own seed) and sends them as raw NDJSON
``_bulk`` requests to the daily indices the indexer would choose, refresh off meanwhile.
Progress is one line per tenth of the way.  ``store_report`` tells the on-disk size.
"""

from __future__ import annotations

import multiprocessing
import sys
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from elasticsearch import Elasticsearch

from reqtrail.schemas.samples import sample_records
from reqtrail.seed import put_template, record_index

CHUNK = 5000
RETRIES = 8


def _send(es: Elasticsearch, body: bytes, documents: int) -> int:
    """One ``_bulk`` request (retried on 429 and connection trouble); returns failures."""
    for attempt in range(RETRIES):
        try:
            response = es.bulk(operations=body, refresh=False)  # type: ignore[arg-type]  # NDJSON
        except Exception:
            if attempt == RETRIES - 1:
                raise
            time.sleep(min(30.0, 2.0**attempt))
            continue
        if not response["errors"]:
            return 0
        items = [next(iter(item.values())) for item in response["items"]]
        if all(item.get("status") in (200, 201) or item.get("status") != 429 for item in items):
            failed = [item for item in items if item.get("status") not in (200, 201)]
            if failed:
                print(f"  bulk errors, first: {failed[0].get('error')}", file=sys.stderr)
            return len(failed)
        time.sleep(min(30.0, 2.0**attempt))  # throttled: send the whole chunk again
    return documents


def _worker(
    prefix: str, count: int, seed: int, start: datetime, span_s: float, users: int,
    done: Any, failed: Any,
) -> None:  # fmt: skip
    from reqtrail.dashboards.queries.es_client import make_client
    from reqtrail.settings import DashboardSettings, load_settings

    settings = load_settings(role=DashboardSettings).replace(es_request_timeout=300.0)
    es = make_client(settings, max_retries=3)
    lines: list[bytes] = []
    pending = 0
    records = sample_records(
        count, seed=seed, start=start, span=timedelta(seconds=span_s), users=users
    )
    for record in records:
        action = {"index": {"_index": record_index(prefix, record["@timestamp"]),
                            "_id": record["request_id"]}}  # fmt: skip
        lines.append(orjson.dumps(action))
        lines.append(orjson.dumps(record))
        pending += 1
        if pending == CHUNK:
            lost = _send(es, b"\n".join(lines) + b"\n", pending)
            with done.get_lock():
                done.value += pending
            with failed.get_lock():
                failed.value += lost
            lines, pending = [], 0
    if pending:
        lost = _send(es, b"\n".join(lines) + b"\n", pending)
        with done.get_lock():
            done.value += pending
        with failed.get_lock():
            failed.value += lost
    es.close()


def seed_parallel(es: Elasticsearch, prefix: str, docs: int, users: int, workers: int = 2) -> float:
    """Seed ``docs`` records over the 24 h ending now under ``prefix``; returns seconds."""
    started = time.perf_counter()
    put_template(es, prefix, refresh_interval="-1")
    end = datetime.now(UTC)
    begin = end - timedelta(hours=24)
    span = timedelta(hours=24) / workers
    context = multiprocessing.get_context("spawn")
    done, failed = context.Value("q", 0), context.Value("q", 0)
    procs = []
    for k in range(workers):
        share = docs // workers + (1 if k < docs % workers else 0)
        args = (prefix, share, 1000 + k, begin + span * k, span.total_seconds(), users)
        proc = context.Process(target=_worker, args=(*args, done, failed), daemon=True)
        proc.start()
        procs.append(proc)
    tenths = -1
    while any(p.is_alive() for p in procs):
        time.sleep(2.0)
        now = done.value
        if now * 10 // docs > tenths:
            tenths = now * 10 // docs
            rate = now / (time.perf_counter() - started)
            eta = (docs - now) / rate if rate else 0.0
            print(f"  seeding {prefix}: {now:,}/{docs:,} ({now / docs:.0%}) {rate:,.0f}/s "
                  f"eta {eta:,.0f}s", flush=True)  # fmt: skip
    if any(p.exitcode for p in procs) or failed.value:
        sys.exit(f"seeding {prefix} failed ({failed.value:,} documents not indexed)")
    put_template(es, prefix)
    names = ",".join(es.indices.get(index=f"{prefix}-*"))
    es.indices.put_settings(index=names, settings={"refresh_interval": "1s"})
    es.indices.refresh(index=names)
    return time.perf_counter() - started


def store_report(es: Elasticsearch, prefix: str) -> tuple[int, int, int]:
    """(documents, primary store bytes, segments) of the ``<prefix>-*`` indices."""
    stats = es.indices.stats(index=f"{prefix}-*", metric="docs,store,segments")
    primaries = stats["_all"]["primaries"]
    return (
        int(primaries["docs"]["count"]),
        int(primaries["store"]["size_in_bytes"]),
        int(primaries["segments"]["count"]),
    )
