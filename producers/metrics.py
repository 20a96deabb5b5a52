"""The producer's counters as plain numbers, for ``reqtrail.metrics`` (no prometheus here).

``producer_counts`` reads a pipeline's sink through ``KafkaSink.stats()`` and the sampler.
Drops come by reason when the sink's stats carry a ``dropped_by_reason`` mapping; drops
it does not attribute (or every drop, from a sink without that mapping) are reported
under ``UNATTRIBUTED``. Every reason of ``DROP_REASONS`` is reported, 0 until it happens.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from reqtrail.producers import accounting

UNATTRIBUTED = "unspecified"
# Every reason the sink drops for (producers.accounting) and UNATTRIBUTED, exported at 0
# before the first drop so that increase() and rate() count that one too.
DROP_REASONS = (*accounting.DROP_REASONS, UNATTRIBUTED)


@dataclass(frozen=True)
class ProducerCounts:
    """Totals since the sink was created, and what it holds now."""

    produced: int = 0
    delivered: int = 0
    dropped_by_reason: Mapping[str, int] = field(default_factory=dict)
    spilled: int = 0
    queued: int = 0
    in_flight: int = 0
    connected: bool = False
    sampled_out: int = 0
    producer_resets: int = 0

    @property
    def dropped(self) -> int:
        return sum(self.dropped_by_reason.values())


def drops_by_reason(stats: Any) -> dict[str, int]:
    """``stats.dropped`` split by reason (``stats.dropped_by_reason`` when it exists)."""
    total = int(getattr(stats, "dropped", 0))
    given = getattr(stats, "dropped_by_reason", None) or {}
    by_reason = dict.fromkeys(DROP_REASONS, 0)
    by_reason.update({str(reason): int(count) for reason, count in given.items()})
    by_reason[UNATTRIBUTED] += max(0, total - sum(by_reason.values()))
    return by_reason


def producer_counts(pipeline: Any) -> ProducerCounts:
    """The counts of ``pipeline`` (a RecordPipeline, or anything with ``sink.stats()``)."""
    stats = pipeline.sink.stats()
    sampler = getattr(pipeline, "sampler", None)
    return ProducerCounts(
        produced=int(stats.produced),
        delivered=int(stats.delivered),
        dropped_by_reason=drops_by_reason(stats),
        spilled=int(stats.spilled),
        queued=int(stats.queued),
        in_flight=int(stats.in_flight),
        connected=bool(stats.connected),
        sampled_out=int(getattr(sampler, "sampled_out", 0)),
        producer_resets=int(getattr(stats, "producer_resets", 0)),
    )
