"""Dashboard query latency at 1 M or 10 M documents: "find any player in seconds".

    python -m bench.bench_queries [--docs 1000000] [--prefix rtbench-1m] [--runs 40]
    python -m bench.bench_queries --docs 10000000 --prefix rtbench-10m

Seeds ``--docs`` synthetic records over 24 h into ``--prefix`` once, in parallel worker
processes (``bench.query_seed``; progress is shown); later runs reuse them, so a seeded
prefix is kept until ``--delete`` (or ``--fresh``, which seeds it again).  Then it times the
query layer's functions against ES. Every timed request differs a little (other user,
window shifted by a second) so ES's request cache never answers instead of the index.
Prints the on-disk bytes per record and one table; targets (p95): user search <= 150 ms,
request by ID <= 20 ms, per-route percentile trend over 24 h <= 1.5 s.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from elasticsearch import Elasticsearch  # noqa: E402

from bench.query_seed import seed_parallel, store_report  # noqa: E402
from reqtrail.dashboards.queries.errors import error_trend  # noqa: E402
from reqtrail.dashboards.queries.es_client import make_client  # noqa: E402
from reqtrail.dashboards.queries.filters import Cohort, SearchFilter, TimeRange  # noqa: E402
from reqtrail.dashboards.queries.latency import compare_cohorts, latency_trend  # noqa: E402
from reqtrail.dashboards.queries.search import get_request, search_requests  # noqa: E402
from reqtrail.dashboards.queries.traffic import traffic  # noqa: E402
from reqtrail.seed import count, delete_prefix  # noqa: E402
from reqtrail.settings import load_settings  # noqa: E402

USERS = 10_000


@dataclass(frozen=True)
class Case:
    name: str
    target_ms: float | None
    run: Callable[[int], object]


def ensure_seeded(es: Elasticsearch, prefix: str, docs: int, workers: int) -> None:
    have = count(es, prefix)
    if have >= docs:
        print(f"reusing {prefix}: {have:,} documents already indexed")
        return
    if have:
        sys.exit(
            f"{prefix} holds {have:,} < {docs:,} documents (an interrupted seeding?); "
            "run again with --fresh, or pick another --prefix"
        )
    print(f"seeding {docs:,} documents into {prefix} (once; later runs reuse them)")
    seconds = seed_parallel(es, prefix, docs, USERS, workers)
    print(f"seeded in {seconds:,.0f}s ({docs / seconds:,.0f} docs/s)")


def data_end(es: Elasticsearch, prefix: str) -> datetime:
    """The newest @timestamp in the data, so reused data is measured over its own 24 h."""
    body = {"size": 0, "aggs": {"newest": {"max": {"field": "@timestamp"}}}}
    millis = es.search(index=prefix, body=body)["aggregations"]["newest"]["value"]
    return datetime.fromtimestamp(millis / 1000, UTC) + timedelta(seconds=1)


def cases(es: Elasticsearch, prefix: str, end: datetime, seed_value: int) -> list[Case]:
    rng = random.Random(seed_value)

    def day(i: int) -> TimeRange:
        return TimeRange(
            end - timedelta(hours=24) + timedelta(seconds=i), end + timedelta(seconds=i)
        )

    def user(_: int) -> str:
        return f"player-{rng.randrange(USERS):05d}"

    sample = search_requests(es, prefix, SearchFilter(day(0)), page_size=500)
    request_ids = list(sample.rows["request_id"])
    return [
        Case(
            "search by user ID (24 h, newest 100)",
            150,
            lambda i: search_requests(es, prefix, SearchFilter(day(i), user_id=user(i))),
        ),
        Case(
            "per-route p50/p95/p99 trend (24 h, 15 min)",
            1500,
            lambda i: latency_trend(es, prefix, day(i)),
        ),
        Case(
            "user ID + slower than p95 of route",
            None,
            lambda i: search_requests(
                es, prefix, SearchFilter(day(i), user_id=user(i), route_percentile=95.0)
            ),
        ),
        Case(
            "request by ID (detail)",
            20,
            lambda i: get_request(es, prefix, request_ids[i % len(request_ids)]),
        ),
        Case("errors per route over time (24 h)", None, lambda i: error_trend(es, prefix, day(i))),
        Case("traffic report (24 h)", None, lambda i: traffic(es, prefix, day(i))),
        Case(
            "release comparison 1.41.0 vs 1.42.0 (24 h)",
            None,
            lambda i: compare_cohorts(
                es, prefix, Cohort(day(i), "1.41.0"), Cohort(day(i), "1.42.0")
            ),
        ),
    ]


def percentile(values: list[float], percent: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(percent / 100 * (len(ordered) - 1)))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--docs", type=int, default=1_000_000)
    parser.add_argument("--prefix", default="rtbench-1m")
    parser.add_argument("--runs", type=int, default=40, help="Timed runs per query.")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2, help="seeding processes")
    parser.add_argument("--fresh", action="store_true", help="delete the prefix and seed anew")
    parser.add_argument("--delete", action="store_true", help="delete the prefix at the end")
    args = parser.parse_args()
    settings = load_settings().replace(index_prefix=args.prefix, es_request_timeout=120.0)
    es = make_client(settings, max_retries=3)
    if args.fresh:
        delete_prefix(es, args.prefix)
    ensure_seeded(es, args.prefix, args.docs, args.workers)
    es.indices.refresh(index=args.prefix)
    end = data_end(es, args.prefix)
    total, store_bytes, segments = store_report(es, args.prefix)
    load = os.getloadavg()[0]
    print(
        f"\n{total:,} documents, {USERS:,} users, 24 h ending {end:%Y-%m-%d %H:%M} UTC; "
        f"on disk {store_bytes / 2**20:,.0f} MiB = {store_bytes / max(total, 1):,.0f} bytes per "
        f"record ({segments} segments); {args.runs} timed runs per query after {args.warmup} "
        f"warm-up runs; load average {load:.1f}\n"
    )
    header = f"{'query':<46} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8} {'target':>8}  result"
    print(header)
    print("-" * len(header))
    failed = False
    for case in cases(es, args.prefix, end, seed_value=3):
        for i in range(args.warmup):
            case.run(args.runs + i)
        timings = []
        for i in range(args.runs):
            started = time.perf_counter()
            case.run(i)
            timings.append((time.perf_counter() - started) * 1000)
        p95 = percentile(timings, 95)
        verdict = "-"
        target = "-"
        if case.target_ms is not None:
            target = f"{case.target_ms:,.0f}"
            ok = p95 <= case.target_ms
            verdict = f"{'ok' if ok else 'SLOW'} ({p95 / case.target_ms:.2f}x target)"
            failed |= not ok
        print(
            f"{case.name:<46} {statistics.median(timings):8.1f} {p95:8.1f} "
            f"{max(timings):8.1f} {target:>8}  {verdict}"
        )
    print(f"\nload average {os.getloadavg()[0]:.1f} at the end (started at {load:.1f})")
    if args.delete:
        delete_prefix(es, args.prefix)
        print(f"deleted {args.prefix}")
    else:
        print(f"kept {args.prefix} for the next run (--delete removes it)")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
