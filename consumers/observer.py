"""What the indexer loop tells an observer (metrics, probes, structured events).

The loop calls these hooks at fixed points; ``NullObserver`` ignores them, and
``reqtrail.consumers.metrics.IndexerMetrics`` turns them into Prometheus metrics, the probes'
state and JSON log events. Each hook is called once per poll, bulk answer, settled
batch, dead-letter write, commit or rebalance (never once per record), so an observer
costs the loop nothing per record unless it gives a ``request_series``.

Threads: ``partitions_assigned`` / ``partitions_revoked`` run on kafka-python's IO
thread, every other hook on the loop's thread.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from reqtrail.consumers.results import BulkOutcome
from reqtrail.consumers.types import DeadLetter, Document, RequestSeries


class IndexerObserver(Protocol):
    """Hooks of the indexer loop (see the module docstring for when each runs)."""

    @property
    def request_series(self) -> RequestSeries | None:
        """Given: the DocumentBuilder finds each record's request-metrics series there (and
        ``indexed`` counts the documents in it); None: no request metrics."""
        ...

    def polled(self, records: int) -> None:
        """One Kafka poll returned ``records`` records (also while partitions are paused)."""

    def bulk_answered(self, outcome: BulkOutcome) -> None:
        """A bulk request (first try or retry) has its answer, sorted."""

    def indexed(self, documents: Sequence[Document]) -> None:
        """These documents are indexed for good (each reported once)."""

    def dead_lettered(self, letters: Sequence[DeadLetter]) -> None:
        """These records were written to the dead-letter topic."""

    def committed(self) -> None:
        """Offsets were committed to Kafka."""

    def partitions_assigned(self, partitions: Sequence[int], owned: frozenset[int]) -> None:
        """The group gave this member ``partitions``; it now owns ``owned`` in all."""

    def partitions_revoked(self, partitions: Sequence[int], owned: frozenset[int]) -> None:
        """``partitions`` were taken away (revoked or lost); the member keeps ``owned``."""


class NullObserver:
    """Observes nothing: the loop's default."""

    request_series = None

    def polled(self, records: int) -> None:
        pass

    def bulk_answered(self, outcome: BulkOutcome) -> None:
        pass

    def indexed(self, documents: Sequence[Document]) -> None:
        pass

    def dead_lettered(self, letters: Sequence[DeadLetter]) -> None:
        pass

    def committed(self) -> None:
        pass

    def partitions_assigned(self, partitions: Sequence[int], owned: frozenset[int]) -> None:
        pass

    def partitions_revoked(self, partitions: Sequence[int], owned: frozenset[int]) -> None:
        pass


class Observers:
    """Hands every hook to each of ``observers``, in order."""

    def __init__(self, *observers: IndexerObserver) -> None:
        self.observers = observers
        given = [o.request_series for o in observers if o.request_series is not None]
        if len(given) > 1:  # a document holds one series, counted by the observer it names
            raise ValueError("only one indexer observer may count request metrics")
        self.request_series = given[0] if given else None

    def polled(self, records: int) -> None:
        for observer in self.observers:
            observer.polled(records)

    def bulk_answered(self, outcome: BulkOutcome) -> None:
        for observer in self.observers:
            observer.bulk_answered(outcome)

    def indexed(self, documents: Sequence[Document]) -> None:
        for observer in self.observers:
            observer.indexed(documents)

    def dead_lettered(self, letters: Sequence[DeadLetter]) -> None:
        for observer in self.observers:
            observer.dead_lettered(letters)

    def committed(self) -> None:
        for observer in self.observers:
            observer.committed()

    def partitions_assigned(self, partitions: Sequence[int], owned: frozenset[int]) -> None:
        for observer in self.observers:
            observer.partitions_assigned(partitions, owned)

    def partitions_revoked(self, partitions: Sequence[int], owned: frozenset[int]) -> None:
        for observer in self.observers:
            observer.partitions_revoked(partitions, owned)
