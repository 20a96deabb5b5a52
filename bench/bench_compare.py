"""`reqtrail compare` at 1 M documents and 20 routes, beside the dashboard's comparison query.

    python -m bench.bench_compare [--docs 1000000] [--prefix rtbench-gate-1m] [--runs 20]
                                  [--keep]

Seeds ``--docs`` synthetic records over 24 h into ``--prefix`` (reused when already
there; progress is shown): 20 routes, two releases, and in the newer one two planted
regressions, ``/api/r03`` 50 % slower and ``/api/r07`` failing 5 % of the time. Then:

1. **Speed**, 24 h window, 1.41.0 vs 1.42.0: the comparison aggregation alone (the query
   behind the dashboard's table before the gate, ``compare_cohorts``); the gate's first
   query; its first and second for all 20 routes (the second runs only for routes the
   first pass flags, so this is the worst case); its statistics alone; and the whole
   ``compare_releases``. They are timed in turn, round after round; each timed run asks
   for a window of its own, shifted by seconds, so Elasticsearch's request cache never
   answers. Target: ``compare`` p95 <= 2 s.
2. **Verdicts**, hour by hour: each hour of 1.41.0 against the next hour of 1.41.0 (A/A:
   every "regressed" is a false alarm), and each hour of 1.42.0 against the same hour of
   1.41.0 (A/B: the two planted routes should regress, no other).

The seeded indices are removed at the end unless ``--keep``.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from elasticsearch import Elasticsearch  # noqa: E402

from bench.bench_queries import data_end, percentile  # noqa: E402
from reqtrail.dashboards.queries.compare import (  # noqa: E402
    Scope,
    compare_releases,
    judge_routes,
    judged_routes,
    read_shapes,
    read_sides,
)
from reqtrail.dashboards.queries.es_client import make_client  # noqa: E402
from reqtrail.dashboards.queries.filters import Cohort, TimeRange  # noqa: E402
from reqtrail.dashboards.queries.gate_rules import GateRules  # noqa: E402
from reqtrail.dashboards.queries.latency import compare_cohorts  # noqa: E402
from reqtrail.dashboards.queries.verdicts import Verdict  # noqa: E402
from reqtrail.schemas.samples import RouteProfile, sample_record  # noqa: E402
from reqtrail.seed import count, delete_prefix, print_progress, seed  # noqa: E402
from reqtrail.settings import load_settings  # noqa: E402

OLD, NEW = "1.41.0", "1.42.0"
ROUTES = tuple(
    RouteProfile("GET" if i % 3 else "POST", f"/api/r{i:02d}", 15.0 + 9 * i, 0.002, 1 + i % 4)
    for i in range(20)
)
SLOWED, CRASHING = "/api/r03", "/api/r07"
TARGET_MS = 2000.0


def gate_records(docs: int, *, seed_value: int = 5) -> Iterator[dict[str, Any]]:
    """``docs`` records evenly over the last 24 h; 1.42.0 carries the two regressions."""
    rng = random.Random(seed_value)
    start = datetime.now(UTC) - timedelta(hours=24)
    step = timedelta(hours=24) / docs
    weights = [r.weight for r in ROUTES]
    for i in range(docs):
        route = rng.choices(ROUTES, weights)[0]
        record = sample_record(rng, start + step * i, route=route, users=10_000)
        if record["app_version"] == NEW:
            if route.route == SLOWED:
                record["latency_ms"] = round(record["latency_ms"] * 1.5, 3)
            elif route.route == CRASHING and rng.random() < 0.05:
                record["status"] = 500
        yield record


def ensure_seeded(es: Elasticsearch, prefix: str, docs: int) -> None:
    have = count(es, prefix)
    if have >= docs:
        print(f"reusing {prefix}: {have:,} documents already indexed")
        return
    if have:
        sys.exit(f"{prefix} holds {have:,} < {docs:,} documents; delete it or pick --prefix")
    print(f"seeding {docs:,} documents into {prefix} (20 routes, 2 releases, 24 h)")
    result = seed(
        es,
        prefix,
        gate_records(docs),
        total=docs,
        chunk_size=5000,
        threads=2,
        fast=True,
        progress=print_progress(f"seeding {prefix}"),
    )
    print(f"seeded in {result.seconds:,.0f}s ({result.docs_per_second:,.0f} docs/s)")


def timed(runs_of: list[Callable[[int], object]], runs: int, warmup: int) -> list[list[float]]:
    """Round robin: round ``i`` times every case once, in turn, on windows of its own
    (``case * 100 + i`` seconds later), so machine drift and Elasticsearch's caches
    touch every case alike and no answer comes from the request cache."""
    timings: list[list[float]] = [[] for _ in runs_of]
    for i in range(warmup + runs):
        for case, run in enumerate(runs_of):
            started = time.perf_counter()
            run(case * 100 + i)
            if i >= warmup:
                timings[case].append((time.perf_counter() - started) * 1000)
    return timings


def speed_table(es: Elasticsearch, prefix: str, end: datetime, runs: int, warmup: int) -> bool:
    rules = GateRules()

    def day(i: int) -> tuple[Cohort, Cohort]:
        window = TimeRange(end - timedelta(hours=24, seconds=-i), end + timedelta(seconds=i))
        return Cohort(window, OLD), Cohort(window, NEW)

    sides = read_sides(es, prefix, *day(0), [])
    judged = judged_routes(sides, rules)
    shapes = read_shapes(es, prefix, *day(0), sides, judged, [])

    def first_query(i: int) -> object:
        return read_sides(es, prefix, *day(i), [])

    def bursts(i: int) -> object:
        return read_shapes(es, prefix, *day(i), read_sides(es, prefix, *day(i), []), judged, [])

    cases: list[tuple[str, Callable[[int], object], float | None]] = [
        (
            "dashboard's comparison aggregation",
            lambda i: compare_cohorts(es, prefix, *day(i)),
            None,
        ),
        (
            "gate: 1st query (percentiles on a grid)",
            lambda i: read_sides(es, prefix, *day(i), []),
            None,
        ),
        ("gate: 1st + 2nd query for all 20 routes", bursts, None),
        ("gate: statistics, 20 routes (no ES)", lambda i: judge_routes(sides, shapes, rules), None),
        (
            "reqtrail compare (compare_releases)",
            lambda i: compare_releases(es, prefix, *day(i), rules),
            TARGET_MS,
        ),
    ]
    columns = ("p50 ms", "p95 ms", "max ms", "target")
    header = f"{'24 h, 1.41.0 vs 1.42.0, 20 routes':<44} " + " ".join(f"{c:>8}" for c in columns)
    header += "  result"
    print(header)
    print("-" * len(header))
    medians: dict[str, float] = {}
    failed = False
    rounds = timed([run for _, run, _ in cases], runs, warmup)
    for (name, _, target), timings in zip(cases, rounds, strict=True):
        p95 = percentile(timings, 95)
        medians[name] = statistics.median(timings)
        verdict, shown = "-", "-"
        if target is not None:
            shown = f"{target:,.0f}"
            ok = p95 <= target
            failed |= not ok
            verdict = f"{'ok' if ok else 'SLOW'} ({p95 / target:.2f}x target)"
        print(
            f"{name:<44} {medians[name]:8.1f} {p95:8.1f} {max(timings):8.1f} {shown:>8}  {verdict}"
        )
    ratio = medians[cases[-1][0]] / medians[cases[0][0]]
    print(f"\ncompare / dashboard aggregation, medians: {ratio:.1f}x")
    whole = compare_releases(es, prefix, *day(0), rules)
    regressed = sorted(r.route for r in whole.having(Verdict.REGRESSED))
    print(
        f"24 h verdict: regressed {', '.join(regressed) or 'none'} (planted: {SLOWED}, {CRASHING})"
    )
    return failed


def verdict_table(es: Elasticsearch, prefix: str, end: datetime) -> None:
    start = end - timedelta(hours=24)
    hours = [
        TimeRange(start + timedelta(hours=h), start + timedelta(hours=h + 1)) for h in range(24)
    ]
    rows = []
    for label, pairs in (
        (
            "A/A: hour h vs hour h+1 of 1.41.0",
            [(Cohort(a, OLD), Cohort(b, OLD)) for a, b in zip(hours, hours[1:], strict=False)],
        ),
        ("A/B: 1.42.0 vs 1.41.0, same hour", [(Cohort(h, OLD), Cohort(h, NEW)) for h in hours]),
    ):
        judged = alarms = planted_found = planted = 0
        for old, new in pairs:
            result = compare_releases(es, prefix, old, new, scope=Scope())
            for r in result.routes:
                if r.verdict is Verdict.TOO_FEW:
                    continue
                is_planted = label.startswith("A/B") and r.route in (SLOWED, CRASHING)
                regressed = r.verdict is Verdict.REGRESSED
                judged += 1
                planted += int(is_planted)
                planted_found += int(regressed and is_planted)
                alarms += int(regressed and not is_planted)
        clean = judged - planted
        rows.append((label, len(pairs), judged, alarms, clean, planted_found, planted))
    header = (
        f"{'hour by hour':<36} {'pairs':>5} {'routes judged':>13} {'false alarms':>16} "
        f"{'planted found':>14}"
    )
    print(header)
    print("-" * len(header))
    for name, count_pairs, routes_judged, false_alarms, clean_routes, hits, targets in rows:
        rate = (
            f"{false_alarms}/{clean_routes} ({false_alarms / clean_routes:.1%})"
            if clean_routes
            else "-"
        )
        found = f"{hits}/{targets}" if targets else "-"
        print(f"{name:<36} {count_pairs:>5} {routes_judged:>13} {rate:>16} {found:>14}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--docs", type=int, default=1_000_000)
    parser.add_argument("--prefix", default="rtbench-gate-1m")
    parser.add_argument("--runs", type=int, default=20, help="Timed runs per query.")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--keep", action="store_true", help="Keep the seeded indices.")
    args = parser.parse_args()
    settings = load_settings().replace(index_prefix=args.prefix, es_request_timeout=120.0)
    es = make_client(settings, max_retries=3)
    try:
        ensure_seeded(es, args.prefix, args.docs)
        es.indices.refresh(index=args.prefix)
        end = data_end(es, args.prefix)
        print(
            f"\n{count(es, args.prefix):,} documents, 20 routes, 24 h ending {end:%Y-%m-%d %H:%M} "
            f"UTC; {args.runs} timed rounds after {args.warmup} warm-up rounds\n"
        )
        failed = speed_table(es, args.prefix, end, args.runs, args.warmup)
        print()
        verdict_table(es, args.prefix, end)
    finally:
        if not args.keep:
            delete_prefix(es, args.prefix)
            print(f"\nremoved {args.prefix}-* (pass --keep to reuse them)")
        es.close()
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
