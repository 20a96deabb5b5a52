"""Is a change beyond noise? Confidence bounds for the release gate's three measures.

**Latency percentiles** (p95, p99). Of a route's ``n`` requests on one side, the number
``Y`` below the true percentile ``q`` of the service is ``Binomial(n, p)``, so ``q`` lies
between the ``Y``-th and the ``(Y+1)``-th fastest request, ``x(Y)`` and ``x(Y+1)``, where
``x(0) = 0`` and ``x(n+1)`` is unbounded: the classical distribution-free interval of a
quantile (it assumes nothing about the latency distribution). Drawing ``Y`` for both sides
many times gives replicates of the relative change; the lowest change a replicate allows
pairs the candidate's ``x(Y)`` with the baseline's ``x(Y+1)``, the highest the other way
round. The bounds are the ``1 - confidence`` quantile of the lowest and the ``confidence``
quantile of the highest. ``x(r)`` is read from the route's quantile function: its sorted
latencies, or Elasticsearch's percentiles on a fine grid (``Quantiles``), so every request
counts and no request has to leave Elasticsearch.

It is a bootstrap that knows what the data cannot tell: resampling the requests never
draws a value beyond the slowest one, so with ~100 requests a p99 always looks bounded,
and a heavy tail seen once on one side and not at all on the other reads as a regression.
Here a p99 stays unbounded above until a side holds about 300 requests (a p95, about 60),
so it cannot be called a regression on less.

**Slow moments.** Requests are not independent: a garbage-collection pause or a busy
neighbour slows every request in flight at that moment, so a run's slowest requests often
come from one or two moments. Each side is cut into ``BLOCKS`` equal stretches of time;
when the requests above a percentile (or the 5xx) crowd into a few stretches, their share
varies between stretches more than independent requests would make it, by a factor, the
design effect, and the side counts as ``n / design effect`` independent requests (never
more than ``n``). A tail made by one stall stays unbounded; a slowdown seen all through
the run is judged.

**The 5xx rate**: the Agresti-Caffo interval of the difference of two proportions (one
error and one success added to each side; sound with zero errors), its variance widened by
each side's design effect.

All bounds are one-sided at ``confidence`` each. Draws are seeded: the same data give the
same verdict.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
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
class Quantiles:
    """A side's latency quantile function: ``values[i]`` at ``percents[i]`` of ``count``.

    From raw latencies it is exact (every order statistic); from Elasticsearch it is the
    ``percentiles`` aggregation on a grid, read between grid points by interpolation.
    """

    count: int
    percents: np.ndarray
    values: np.ndarray
    maximum: float

    @classmethod
    def of(cls, latencies: Sequence[float] | np.ndarray) -> Quantiles:
        ordered = np.sort(np.asarray(latencies, dtype=float))
        n = len(ordered)
        if n == 0:
            raise ValueError("no latencies")
        percents = np.arange(1, n + 1) * 100.0 / n
        return cls(n, percents, ordered, float(ordered[-1]))

    @classmethod
    def from_percentiles(
        cls, count: int, points: Sequence[tuple[float, float]], maximum: float
    ) -> Quantiles:
        """From ``(percent, latency)`` pairs, e.g. Elasticsearch's ``percentiles``."""
        ordered = sorted((p, v) for p, v in points if v is not None)
        if count <= 0 or not ordered:
            raise ValueError("no latencies")
        percents = np.array([p for p, _ in ordered], dtype=float)
        values = np.maximum.accumulate(np.array([v for _, v in ordered], dtype=float))
        return cls(count, percents, values, float(maximum))

    def at_rank(self, ranks: np.ndarray) -> np.ndarray:
        """``x(r)``: the ``r``-th fastest latency; 0 for ``r < 1``, unbounded past ``count``."""
        n = self.count
        grid_ranks = self.percents * n / 100.0
        grid_values = self.values
        if grid_ranks[-1] < n:  # up to the slowest request
            grid_ranks = np.append(grid_ranks, n)
            grid_values = np.append(grid_values, max(self.maximum, grid_values[-1]))
        # below the grid's first point nothing is known but "not below 0"
        out = np.interp(ranks, grid_ranks, grid_values, left=0.0)
        out = np.where(ranks < 1, 0.0, out)
        return np.where(ranks > n, np.inf, out)

    def percentile(self, percent: float) -> float:
        """The nearest-rank ``percent`` percentile."""
        return float(self.at_rank(np.array([nearest_rank(self.count, percent)]))[0])


def nearest_rank(n: int, percent: float) -> int:
    """1-based rank of the ``percent`` percentile among ``n`` sorted values."""
    return min(n, max(1, math.ceil(percent / 100.0 * n)))


def design_effect(hits: Sequence[float] | np.ndarray, sizes: Sequence[float] | np.ndarray) -> float:
    """How much more a share varies between time blocks than independent requests allow.

    ``hits[b]`` of ``sizes[b]`` requests in block ``b`` are flagged (slower than a
    percentile, or 5xx). 1 for independent requests and whenever it cannot be told; more
    when the flagged requests crowd into a few blocks. Ratio-estimator variance, so blocks
    may differ in size.
    """
    flagged = np.asarray(hits, dtype=float)
    counts = np.asarray(sizes, dtype=float)
    used = counts > 0
    n = float(counts.sum())
    blocks = int(used.sum())
    share = float(flagged.sum()) / n if n else 0.0
    if blocks < 2 or share <= 0.0 or share >= 1.0:
        return 1.0
    spread = flagged[used] - share * counts[used]
    between = blocks / (blocks - 1) * float((spread**2).sum()) / n**2
    return max(1.0, between / (share * (1.0 - share) / n))


def block_counts(
    times: Sequence[float] | np.ndarray, flags: Sequence[bool] | np.ndarray, blocks: int = BLOCKS
) -> tuple[np.ndarray, np.ndarray]:
    """Flagged and all requests per equal stretch of time, as the gate's query counts them."""
    moments = np.asarray(times, dtype=float)
    start, end = float(moments.min()), float(moments.max())
    width = max((end - start) / blocks, 1e-9)
    index = np.minimum(((moments - start) / width).astype(np.int64), blocks - 1)
    marked = np.asarray(flags, dtype=float)
    return np.bincount(index, weights=marked, minlength=blocks), np.bincount(
        index, minlength=blocks
    ).astype(float)


@dataclass(frozen=True, eq=False)
class Shape:
    """One route on one side: its latency quantiles and how bursty its tail and 5xx are.

    The effect used for p95 is the larger of those of the requests slower than p90 and
    than p95; for p99, of those slower than p95 and than p99: a stall that makes a few
    percent of a run slow fills the tail beyond the percentile itself.
    """

    quantiles: Quantiles
    p95_effect: float = 1.0
    p99_effect: float = 1.0
    errors_effect: float = 1.0

    @classmethod
    def from_blocks(
        cls,
        quantiles: Quantiles,
        sizes: Sequence[float] | np.ndarray,
        slower: Mapping[int, Sequence[float] | np.ndarray],
        errors: Sequence[float] | np.ndarray,
    ) -> Shape:
        """From per-block counts: ``slower[90]`` etc. requests at least as slow as p90..."""
        effect = {p: design_effect(hits, sizes) for p, hits in slower.items()}
        return cls(
            quantiles,
            max(effect[90], effect[95]),
            max(effect[95], effect[99]),
            design_effect(errors, sizes),
        )

    @classmethod
    def of(
        cls,
        latencies: Sequence[float] | np.ndarray,
        times: Sequence[float] | np.ndarray | None = None,
        errors: Sequence[bool] | np.ndarray | None = None,
    ) -> Shape:
        """From raw requests, counted the way the gate's query counts them."""
        quantiles = Quantiles.of(latencies)
        if times is None:
            return cls(quantiles)
        values = np.asarray(latencies, dtype=float)
        flags = np.zeros(len(values), dtype=bool) if errors is None else np.asarray(errors)
        sizes = block_counts(times, flags)[1]
        slower = {
            p: block_counts(times, values >= quantiles.percentile(p))[0] for p in (90, 95, 99)
        }
        return cls.from_blocks(quantiles, sizes, slower, block_counts(times, flags)[0])


def _bounding_values(
    side: Quantiles, percent: float, effect: float, rng: np.random.Generator, draws: int
) -> tuple[np.ndarray, np.ndarray]:
    """Replicates of ``x(Y)`` and ``x(Y+1)`` around the side's true percentile."""
    n = side.count
    effective = max(1, round(n / max(effect, 1.0)))
    below = np.floor(rng.binomial(effective, percent / 100.0, size=draws) * n / effective)
    return side.at_rank(below), side.at_rank(below + 1)


def percentile_change(
    baseline: Quantiles | Sequence[float] | np.ndarray,
    candidate: Quantiles | Sequence[float] | np.ndarray,
    percent: float,
    *,
    baseline_effect: float = 1.0,
    candidate_effect: float = 1.0,
    confidence: float = 0.95,
    draws: int = DEFAULT_DRAWS,
    seed: int = _SEED,
) -> Interval:
    """Relative change (in %) of the ``percent`` percentile from baseline to candidate.

    ``low``/``high`` may be ``-100`` or ``inf`` when a side has too few (independent)
    requests to bound its percentile.
    """
    old = baseline if isinstance(baseline, Quantiles) else Quantiles.of(baseline)
    new = candidate if isinstance(candidate, Quantiles) else Quantiles.of(candidate)
    rng = np.random.default_rng(seed)
    old_low, old_high = _bounding_values(old, percent, baseline_effect, rng, draws)
    new_low, new_high = _bounding_values(new, percent, candidate_effect, rng, draws)
    with np.errstate(divide="ignore", invalid="ignore"):
        lowest = np.nan_to_num(new_low / old_high, nan=0.0)  # x / inf: no bound
        highest = np.nan_to_num(new_high / old_low, nan=np.inf, posinf=np.inf)
    # inverted_cdf picks a replicate (no interpolation between inf and a number)
    low = (float(np.quantile(lowest, 1.0 - confidence, method="inverted_cdf")) - 1.0) * 100.0
    high = (float(np.quantile(highest, confidence, method="inverted_cdf")) - 1.0) * 100.0
    old_point, new_point = old.percentile(percent), new.percentile(percent)
    estimate = (new_point / old_point - 1.0) * 100.0 if old_point > 0 else math.inf
    return Interval(estimate, low, high)


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
