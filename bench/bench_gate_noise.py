"""How often the gate cries wolf, beside a plain bootstrap: simulated A/A and A/B runs.

    python -m bench.bench_gate_noise [--pairs 1000] [--seed 1]

No services: each row draws ``--pairs`` pairs of runs of one route from the same process
(A/A: every "regressed" is a false alarm) and pairs whose candidate is 50 % slower (A/B:
"found" when the p95 rule fires). A route regresses when the lower bound of its p95
change clears +20 % or that of its p99 change clears +50 % (the default rules), at 95 %
confidence. Two ways to get the bounds:

* **gate**: ``gate_stats``, the order-statistic bounds with the design effect of 20
  stretches of time (what ``reqtrail compare`` does);
* **plain bootstrap**: the percentile bootstrap of resampled requests (each replicate's
  percentile drawn exactly as resampling would give it), requests taken as independent.

The processes: a log-normal route; a heavy tail (1.3 % of requests hit a lock and take
20-60x longer); and stalls: 0.5-s pauses, one per 20 s on average (so a 20-s run has 0, 1,
2... of them), each making the requests then in flight (2.5 % of a 20-s run) 10x slower.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from reqtrail.dashboards.queries.gate_stats import (  # noqa: E402
    Shape,
    nearest_rank,
    percentile_change,
)

LIMITS = {95.0: 20.0, 99.0: 50.0}
Run = tuple[np.ndarray, np.ndarray]  # latencies, times (ms)
Draw = Callable[[np.random.Generator, int, float], Run]


def _times(rng: np.random.Generator, n: int, run_ms: float) -> np.ndarray:
    return np.sort(rng.uniform(0.0, run_ms, n))


def lognormal(rng: np.random.Generator, n: int, run_ms: float) -> Run:
    return rng.lognormal(np.log(40.0), 0.5, n), _times(rng, n, run_ms)


def heavy_tail(rng: np.random.Generator, n: int, run_ms: float) -> Run:
    values = rng.uniform(30.0, 120.0, n)
    slow = rng.random(n) < 0.013
    values[slow] *= rng.uniform(20.0, 60.0, int(slow.sum()))
    return values, _times(rng, n, run_ms)


def stalls(rng: np.random.Generator, n: int, run_ms: float) -> Run:
    """One 0.5-s pause per 20 s on average (Poisson), requests then in flight 10x slower."""
    values, times = lognormal(rng, n, run_ms)
    for start in rng.uniform(0.0, run_ms - 500.0, rng.poisson(run_ms / 20_000.0)):
        values[(times >= start) & (times < start + 500.0)] *= 10.0
    return values, times


@dataclass(frozen=True)
class Row:
    name: str
    draw: Draw
    n: int
    seconds: float = 20.0


ROWS = (
    Row("log-normal", lognormal, 100),
    Row("log-normal", lognormal, 300),
    Row("log-normal", lognormal, 1000),
    Row("heavy tail (1.3 % at 20-60x)", heavy_tail, 110),
    Row("heavy tail (1.3 % at 20-60x)", heavy_tail, 300),
    Row("heavy tail (1.3 % at 20-60x)", heavy_tail, 1000),
    Row("stalls, 20-s runs", stalls, 300),
    Row("stalls, 20-s runs", stalls, 1000),
    Row("stalls, 200-s runs", stalls, 1000, 200.0),
    Row("stalls, 200-s runs", stalls, 3000, 200.0),
)


def gate_regressed(old: Run, new: Run, percents: tuple[float, ...]) -> bool:
    a, b = Shape.of(*old), Shape.of(*new)
    for percent in percents:
        effect = "p95_effect" if percent == 95.0 else "p99_effect"
        change = percentile_change(
            a.quantiles,
            b.quantiles,
            percent,
            baseline_effect=getattr(a, effect),
            candidate_effect=getattr(b, effect),
        )
        if change.low > LIMITS[percent]:
            return True
    return False


def _replicates(values: np.ndarray, percent: float, rng: np.random.Generator) -> np.ndarray:
    """Bootstrap replicates of the percentile: the k-th of n resampled values is the
    sample's value at rank ceil(n U), U ~ Beta(k, n - k + 1)."""
    ordered = np.sort(values)
    n = len(ordered)
    k = nearest_rank(n, percent)
    ranks = np.clip(np.ceil(rng.beta(k, n - k + 1, 4000) * n).astype(np.int64), 1, n)
    return ordered[ranks - 1]


def bootstrap_regressed(
    old: Run, new: Run, percents: tuple[float, ...], rng: np.random.Generator
) -> bool:
    for percent in percents:
        ratio = _replicates(new[0], percent, rng) / _replicates(old[0], percent, rng)
        if (np.quantile(ratio, 0.05) - 1.0) * 100.0 > LIMITS[percent]:
            return True
    return False


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--pairs", type=int, default=1000, help="Pairs of runs per row.")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    print(
        f"{args.pairs:,} simulated pairs of runs per row; a route regresses when p95 is surely "
        "> +20 % or p99 surely > +50 % (95 %)\n"
    )
    header = f"{'route':<36} {'requests':>8}   {'A/A false alarms':>22}   {'A/B +50 % found':>22}"
    print(header)
    methods = f"{'gate':>10} {'bootstrap':>11}"
    print(f"{'':<36} {'per side':>8}   {methods}   {methods}")
    print("-" * len(header))
    totals = np.zeros(2)
    for row in ROWS:
        alarms = np.zeros(2)
        found = np.zeros(2)
        for _ in range(args.pairs):
            old, new = (row.draw(rng, row.n, row.seconds * 1000.0) for _ in range(2))
            alarms += (
                gate_regressed(old, new, (95.0, 99.0)),
                bootstrap_regressed(old, new, (95.0, 99.0), rng),
            )
            slower = (new[0] * 1.5, new[1])
            found += (
                gate_regressed(old, slower, (95.0,)),
                bootstrap_regressed(old, slower, (95.0,), rng),
            )
        totals += alarms
        a, b, c, d = (f"{x / args.pairs:.1%}" for x in (*alarms, *found))
        print(f"{row.name:<36} {row.n:>8}   {a:>10} {b:>11}   {c:>10} {d:>11}")
    pooled = args.pairs * len(ROWS)
    print(
        f"\nA/A false alarms, all rows: gate {int(totals[0])}/{pooled:,} "
        f"({totals[0] / pooled:.2%}), plain bootstrap {int(totals[1])}/{pooled:,} "
        f"({totals[1] / pooled:.2%})"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
