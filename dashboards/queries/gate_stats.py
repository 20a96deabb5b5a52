"""Is a change beyond noise? Confidence bounds for the release gate's three measures.

**Latency percentiles** (p95, p99) are judged on a bounded random sample of requests per
route and side. The number ``Y`` of sample values below the true percentile ``q`` of the
route is ``Binomial(n, p)``, so ``q`` lies between the sorted sample's values ``x(Y)`` and
``x(Y+1)``, where ``x(0) = 0`` and ``x(n+1)`` is unbounded: the classical distribution-free
interval of a quantile (it assumes nothing about the latency distribution). Drawing ``Y``
for both sides many times gives replicates of the relative change; the lowest change a
replicate allows pairs the candidate's ``x(Y)`` with the baseline's ``x(Y+1)``, the highest
the other way round. The bounds are the ``1 - confidence`` quantile of the lowest and the
``confidence`` quantile of the highest.

It is a bootstrap that knows what a sample cannot tell: resampling the sample itself never
draws a value beyond the sample's maximum, so with ~100 requests a p99 always looks
bounded, and a heavy tail seen once on one side and not at all on the other reads as a
regression. Here a p99 stays unbounded above until a side holds about 300 values (a p95,
about 60), so it cannot be called a regression on less.

**Slow moments.** Requests are not independent: a garbage-collection pause or a busy
neighbour slows every request in flight at that moment, so a run's slowest requests often
come from one or two moments. Each side's sample is cut into ``BLOCKS`` stretches of time
with equal numbers of requests; when the requests above a percentile (or the 5xx) crowd
into a few stretches, the variance between stretches exceeds what independent requests
would give by a factor, the design effect, and the side counts as ``n / design effect``
independent requests (never more than ``n``). A tail made by one stall then stays
unbounded, and only a slowdown seen across the run is judged.

**The 5xx rate** is judged on every request: the Agresti-Caffo interval of the difference
of two proportions (one error and one success added to each side; sound with zero
errors), its variance widened by each side's design effect.

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
BLOCKS = 20
_SEED = 20


@dataclass(frozen=True)
class Interval:
    """A point estimate with a lower and an upper confidence bound (each one-sided)."""

    estimate: float
    low: float
    high: float


@dataclass(frozen=True, eq=False)
class Sample:
    """Sampled requests of one route on one side: latencies, times (epoch ms), 5xx flags.

    ``blocks`` holds each request's stretch of time (see ``time_blocks``).
    """

    latencies: np.ndarray
    times: np.ndarray | None = None
    errors: np.ndarray | None = None
    blocks: np.ndarray | None = None

    @classmethod
    def of(
        cls,
        latencies: Sequence[float] | np.ndarray,
        times: Sequence[float] | np.ndarray | None = None,
        errors: Sequence[bool] | np.ndarray | None = None,
    ) -> Sample:
        values = np.asarray(latencies, dtype=float)
        moments = None if times is None else np.asarray(times, dtype=float)
        flags = None if errors is None else np.asarray(errors, dtype=bool)
        blocks = None if moments is None else time_blocks(moments)
        return cls(values, moments, flags, blocks)

    def __len__(self) -> int:
        return len(self.latencies)


def time_blocks(times: np.ndarray, blocks: int = BLOCKS) -> np.ndarray:
    """The stretch of time (0..blocks-1, equal numbers of requests) of each request."""
    n = len(times)
    count = max(1, min(blocks, n))
    order = np.argsort(times, kind="stable")
    out = np.empty(n, dtype=np.int64)
    out[order] = np.arange(n) * count // max(n, 1)
    return out


def design_effect(flags: np.ndarray, blocks: np.ndarray | None) -> float:
    """How much more the share of ``flags`` varies between time blocks than chance allows.

    1 for independent requests (and whenever it cannot be told), more when flagged
    requests crowd into a few blocks.
    """
    n = len(flags)
    share = float(flags.mean()) if n else 0.0
    if blocks is None or n == 0 or share in (0.0, 1.0):
        return 1.0
    sizes = np.bincount(blocks)
    used = sizes > 0
    if used.sum() < 2:
        return 1.0
    rates = np.bincount(blocks, weights=flags.astype(float))[used] / sizes[used]
    between = float(rates.var(ddof=1)) / used.sum()
    return max(1.0, float(between / (share * (1.0 - share) / n)))


def nearest_rank(n: int, percent: float) -> int:
    """1-based rank of the ``percent`` percentile among ``n`` sorted values."""
    return min(n, max(1, math.ceil(percent / 100.0 * n)))


def _as_sample(values: Sample | Sequence[float] | np.ndarray) -> Sample:
    return values if isinstance(values, Sample) else Sample.of(values)


def _bounding_values(
    sample: Sample, percent: float, rng: np.random.Generator, draws: int
) -> tuple[np.ndarray, np.ndarray, float]:
    """Replicates of the values just below and above the population percentile; estimate."""
    order = np.argsort(sample.latencies, kind="stable")
    ordered = sample.latencies[order]
    n = len(ordered)
    estimate = float(ordered[nearest_rank(n, percent) - 1])
    blocks = None if sample.blocks is None else sample.blocks[order]
    effect = design_effect(ordered >= estimate, blocks)
    effective = max(1, round(n / effect))
    below = np.floor(rng.binomial(effective, percent / 100.0, size=draws) * n / effective)
    below = below.astype(np.int64)
    padded = np.concatenate(([0.0], ordered, [np.inf]))
    return padded[below], padded[below + 1], estimate


def percentile_change(
    baseline: Sample | Sequence[float] | np.ndarray,
    candidate: Sample | Sequence[float] | np.ndarray,
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
    old, new = _as_sample(baseline), _as_sample(candidate)
    if len(old) == 0 or len(new) == 0:
        raise ValueError("both samples need at least one latency")
    rng = np.random.default_rng(seed)
    old_low, old_high, old_point = _bounding_values(old, percent, rng, draws)
    new_low, new_high, new_point = _bounding_values(new, percent, rng, draws)
    with np.errstate(divide="ignore", invalid="ignore"):
        lowest = np.nan_to_num(new_low / old_high, nan=0.0)  # x / inf: no bound
        highest = np.nan_to_num(new_high / old_low, nan=np.inf, posinf=np.inf)
    # inverted_cdf picks a replicate (no interpolation between inf and a number)
    low = (float(np.quantile(lowest, 1.0 - confidence, method="inverted_cdf")) - 1.0) * 100.0
    high = (float(np.quantile(highest, confidence, method="inverted_cdf")) - 1.0) * 100.0
    estimate = (new_point / old_point - 1.0) * 100.0 if old_point > 0 else math.inf
    return Interval(estimate, low, high)


def error_design_effect(sample: Sample, total: int) -> float:
    """The design effect of the 5xx share over all ``total`` requests, from the sample.

    Between-block variance grows with block size, so a sample of ``n`` of ``total``
    requests scales its excess over 1 by ``total / n``.
    """
    if sample.errors is None or len(sample) == 0:
        return 1.0
    effect = design_effect(sample.errors, sample.blocks)
    return 1.0 + (effect - 1.0) * max(1.0, total / len(sample))


def rate_change(
    baseline_hits: int,
    baseline_total: int,
    candidate_hits: int,
    candidate_total: int,
    *,
    confidence: float = 0.95,
    baseline_effect: float = 1.0,
    candidate_effect: float = 1.0,
) -> Interval:
    """Change of a rate (e.g. the share of 5xx) in percentage points, Agresti-Caffo bounds."""
    if baseline_total <= 0 or candidate_total <= 0:
        raise ValueError("both sides need at least one request")
    old = (baseline_hits + 1) / (baseline_total + 2)
    new = (candidate_hits + 1) / (candidate_total + 2)
    spread = math.sqrt(
        baseline_effect * old * (1 - old) / (baseline_total + 2)
        + candidate_effect * new * (1 - new) / (candidate_total + 2)
    )
    z = NormalDist().inv_cdf(confidence)
    estimate = (candidate_hits / candidate_total - baseline_hits / baseline_total) * 100.0
    return Interval(estimate, (new - old - z * spread) * 100.0, (new - old + z * spread) * 100.0)
