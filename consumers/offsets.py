"""Which offset may be committed: per partition, just past the highest contiguous finished one.

A record is *finished* once it is indexed or dead-lettered. Records finish out of order
(retried items finish late), so the commit position only moves over an unbroken run of
finished records in delivery order, never past a record still being retried. Delivery
order (not ``offset + 1``) defines the run, so gaps from compaction or transaction markers
do not stall it. Pure bookkeeping: no I/O.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence

TopicPartitionKey = tuple[str, int]


class PartitionProgress:
    """Delivered and finished offsets of one partition during one assignment."""

    __slots__ = (
        "topic",
        "partition",
        "_delivered",
        "_finished",
        "position",
        "committed",
        "revoked",
    )

    def __init__(self, topic: str, partition: int) -> None:
        self.topic = topic
        self.partition = partition
        self._delivered: deque[int] = deque()
        self._finished: set[int] = set()
        self.position: int | None = None  # next offset to commit (last contiguous finished + 1)
        self.committed: int | None = None  # last position committed to Kafka
        self.revoked = False  # set when the partition is taken away; late finishes are ignored

    def start(self, offset: int) -> None:
        """Record that ``offset`` was delivered and is now in flight."""
        if self._delivered and offset <= self._delivered[-1]:
            return  # redelivered while still in flight: it finishes once
        if self.position is not None and offset < self.position:
            return  # already finished and passed
        self._delivered.append(offset)

    def start_many(self, offsets: Sequence[int]) -> None:
        """``start`` for increasing ``offsets`` (one poll's records of this partition)."""
        if not offsets:
            return
        first = offsets[0]
        if (self._delivered and first <= self._delivered[-1]) or (
            self.position is not None and first < self.position
        ):
            for offset in offsets:
                self.start(offset)
        else:
            self._delivered.extend(offsets)

    def finish(self, offset: int) -> None:
        """Record that ``offset`` is indexed or dead-lettered; advance the commit position."""
        if self.revoked:
            return
        delivered = self._delivered
        if not self._finished and delivered and delivered[0] == offset:  # in order: common
            delivered.popleft()
            self.position = offset + 1
            return
        if self.position is not None and offset < self.position:
            return
        if not delivered or offset < delivered[0]:
            return
        finished = self._finished
        finished.add(offset)
        while delivered and delivered[0] in finished:
            done = delivered.popleft()
            finished.discard(done)
            self.position = done + 1

    @property
    def in_flight(self) -> int:
        """Delivered records not yet finished (or finished behind an unfinished one)."""
        return len(self._delivered)

    @property
    def restart_offset(self) -> int | None:
        """The lowest delivered offset not yet finished: where reading must resume if the
        records in flight are given up (None when every delivered record is finished)."""
        return self._delivered[0] if self._delivered else None

    @property
    def needs_commit(self) -> bool:
        return self.position is not None and self.position != self.committed

    def __repr__(self) -> str:
        return (
            f"PartitionProgress({self.topic}[{self.partition}] position={self.position} "
            f"committed={self.committed} in_flight={self.in_flight})"
        )


class OffsetTracker:
    """PartitionProgress of every partition currently assigned to this consumer."""

    def __init__(self) -> None:
        self._partitions: dict[TopicPartitionKey, PartitionProgress] = {}

    def assign(self, topic: str, partition: int) -> PartitionProgress:
        """Start tracking a newly assigned partition (a fresh record of progress)."""
        key = (topic, partition)
        old = self._partitions.get(key)
        if old is not None:
            return old
        progress = PartitionProgress(topic, partition)
        self._partitions[key] = progress
        return progress

    def revoke(self, topic: str, partition: int) -> PartitionProgress | None:
        """Stop tracking a partition; records of it still in flight no longer count."""
        progress = self._partitions.pop((topic, partition), None)
        if progress is not None:
            progress.revoked = True
        return progress

    def get(self, topic: str, partition: int) -> PartitionProgress | None:
        return self._partitions.get((topic, partition))

    def partitions(self) -> list[PartitionProgress]:
        return list(self._partitions.values())

    def to_commit(self) -> dict[TopicPartitionKey, int]:
        """Positions that moved since the last commit."""
        return {
            key: p.position
            for key, p in self._partitions.items()
            if p.position is not None and p.needs_commit
        }

    def mark_committed(self, positions: dict[TopicPartitionKey, int]) -> None:
        for key, position in positions.items():
            progress = self._partitions.get(key)
            if progress is not None:
                progress.committed = position

    @property
    def in_flight(self) -> int:
        return sum(p.in_flight for p in self._partitions.values())
