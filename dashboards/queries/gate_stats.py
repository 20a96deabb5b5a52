"""Is a change beyond noise? Confidence bounds for the release gate's three measures.

**Latency percentiles** (p95, p99) are judged on a bounded random sample of latencies per
route and side. The number ``Y`` of sample values below the true percentile ``q`` of the
route is ``Binomial(n, p)``, so ``q`` lies between the sorted sample's values ``x(Y)`` and
``x(Y+1)``, where ``x(0) = 0`` and ``x(n+1)`` is unbounded: this is the classical
distribution-free interval of a quantile (it assumes nothing about the latency
distribution). Drawing ``Y`` for both sides many times gives replicates of the relative
change; the lowest change a replicate allows pairs the candidate's ``x(Y)`` with the
baseline's ``x(Y+1)``, the highest the other way round. The bounds are the ``1 - confidence``
quantile of the lowest and the ``confidence`` quantile of the highest.

It is a bootstrap that knows what a sample cannot tell: resampling the sample itself never
draws a value beyond the sample's maximum, so with ~100 requests a p99 always looks
bounded, and a heavy tail seen once on one side and not at all on the other reads as a
regression. Here a p99 stays unbounded above until a side holds about 300 values (a p95,
about 60), so it cannot be called a regression on less.

**The 5xx rate** is judged on every request: the Agresti-Caffo interval of the difference
of two proportions (one error and one success added to each side; sound with zero errors).

All bounds are one-sided at ``confidence`` each. Everything is seeded: the same data give
the same verdict.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np

DEFAULT_DRAWS = 4000
_SEED = 20


@dataclass(frozen=True)
class Interval:
    """A point estimate with a lower and an upper confidence bound (each one-sided)."""

    estimate: float
    low: float
    high: float


def nearest_rank(n: int, percent: float) -> int:
    """1-based rank of the ``percent`` percentile among ``n`` sorted values."""
    return min(n, max(1, math.ceil(percent / 100.0 * n)))


def _order_statistics(
    sorted_values: np.ndarray, percent: float, rng: np.random.Generator, draws: int
) -> tuple[np.ndarray, np.ndarray]:
    """Replicates of the values just below and just above the population percentile."""
    n = len(sorted_values)
    below = rng.binomial(n, percent / 100.0, size=draws)  # sample values under the percentile
    padded = np.concatenate(([0.0], sorted_values, [np.inf]))
    return padded[below], padded[below + 1]


def percentile_change(
    baseline: Sequence[float] | np.ndarray,
    candidate: Sequence[float] | np.ndarray,
    percent: float,
    *,
    confidence: float = 0.95,
    draws: int = DEFAULT_DRAWS,
    seed: int = _SEED,
) -> Interval:
    """Relative change (in %) of the ``percent`` percentile from baseline to candidate.

    ``estimate`` compares the two samples' own percentiles; ``low``/``high`` may be
    ``-100`` or ``inf`` when a sample is too small to bound its percentile.
    """
    old = np.sort(np.asarray(baseline, dtype=float))
    new = np.sort(np.asarray(candidate, dtype=float))
    if len(old) == 0 or len(new) == 0:
        raise ValueError("both samples need at least one latency")
    rng = np.random.default_rng(seed)
    old_low, old_high = _order_statistics(old, percent, rng, draws)
    new_low, new_high = _order_statistics(new, percent, rng, draws)
    with np.errstate(divide="ignore", invalid="ignore"):
        lowest = np.nan_to_num(new_low / old_high, nan=0.0)  # inf / inf: no bound
        highest = np.nan_to_num(new_high / old_low, nan=np.inf, posinf=np.inf)
    # inverted_cdf picks a replicate (no interpolation between inf and a number)
    low = (float(np.quantile(lowest, 1.0 - confidence, method="inverted_cdf")) - 1.0) * 100.0
    high = (float(np.quantile(highest, confidence, method="inverted_cdf")) - 1.0) * 100.0
    old_point = float(old[nearest_rank(len(old), percent) - 1])
    new_point = float(new[nearest_rank(len(new), percent) - 1])
    estimate = (new_point / old_point - 1.0) * 100.0 if old_point > 0 else math.inf
    return Interval(estimate, low, high)


def rate_change(
    baseline_hits: int,
    baseline_total: int,
    candidate_hits: int,
    candidate_total: int,
    *,
    confidence: float = 0.95,
) -> Interval:
    """Change of a rate (e.g. the share of 5xx) in percentage points, Agresti-Caffo bounds."""
    if baseline_total <= 0 or candidate_total <= 0:
        raise ValueError("both sides need at least one request")
    old = (baseline_hits + 1) / (baseline_total + 2)
    new = (candidate_hits + 1) / (candidate_total + 2)
    spread = math.sqrt(
        old * (1 - old) / (baseline_total + 2) + new * (1 - new) / (candidate_total + 2)
    )
    z = NormalDist().inv_cdf(confidence)
    estimate = (candidate_hits / candidate_total - baseline_hits / baseline_total) * 100.0
    return Interval(estimate, (new - old - z * spread) * 100.0, (new - old + z * spread) * 100.0)
