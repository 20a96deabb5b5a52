"""The indexer's stable log events, as an IndexerObserver (names and fields are an API).

    bulk_indexed          info, every ``interval_s`` while indexing: bulks, documents,
                          latency_ms_max, interval_s
    retrying              warning, per bulk answer with documents to retry: documents,
                          reasons {reason: count}, statuses {status: count}
    dead_lettered         warning, per dead-letter write: documents, kinds {kind: count},
                          reason (the first one, cut at 300 characters)
    partitions_assigned   info: partitions (the new ones), owned (how many in all)
    partitions_revoked    info: partitions, owned
    offsets_committed     debug
    readiness_changed     info/warning, from the probes: ready, reasons

They go through ``reqtrail.consumers.logs`` (JSON lines by default off a terminal).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

from reqtrail.consumers.logs import events
from reqtrail.consumers.metrics import retry_reasons
from reqtrail.consumers.results import BulkOutcome
from reqtrail.consumers.types import DeadLetter, Document


class EventLog:
    """Emits the indexer's events; ``bulk_indexed`` sums up every ``interval_s``."""

    request_series = None

    def __init__(
        self,
        interval_s: float = 10.0,
        *,
        logger: Any = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.log = logger if logger is not None else events()
        self.interval_s = interval_s
        self.clock = clock
        self._since = clock()
        self._bulks = 0
        self._documents = 0
        self._latency_max_s = 0.0

    def polled(self, records: int) -> None:
        now = self.clock()
        if self._bulks and now - self._since >= self.interval_s:
            self.flush(now)

    def flush(self, now: float | None = None) -> None:
        """Emit ``bulk_indexed`` for the bulks answered since the last one (if any)."""
        now = self.clock() if now is None else now
        if self._bulks:
            self.log.info(
                "bulk_indexed",
                bulks=self._bulks,
                documents=self._documents,
                latency_ms_max=round(self._latency_max_s * 1000, 1),
                interval_s=round(now - self._since, 1),
            )
        self._since = now
        self._bulks = self._documents = 0
        self._latency_max_s = 0.0

    def bulk_answered(self, outcome: BulkOutcome) -> None:
        self._bulks += 1
        self._latency_max_s = max(self._latency_max_s, outcome.latency_s)
        if outcome.retry:
            self.log.warning(
                "retrying",
                documents=len(outcome.retry),
                reasons=dict(retry_reasons(outcome)),
                statuses={str(k): n for k, n in Counter(i.status for i in outcome.retry).items()},
            )

    def indexed(self, documents: Sequence[Document]) -> None:
        self._documents += len(documents)

    def dead_lettered(self, letters: Sequence[DeadLetter]) -> None:
        if letters:
            self.log.warning(
                "dead_lettered",
                documents=len(letters),
                kinds=dict(Counter(letter.kind for letter in letters)),
                reason=letters[0].reason[:300],
            )

    def committed(self) -> None:
        self.log.debug("offsets_committed")

    def partitions_assigned(self, partitions: Sequence[int], owned: frozenset[int]) -> None:
        self.log.info("partitions_assigned", partitions=sorted(partitions), owned=len(owned))

    def partitions_revoked(self, partitions: Sequence[int], owned: frozenset[int]) -> None:
        self.log.info("partitions_revoked", partitions=sorted(partitions), owned=len(owned))
