"""Unit tests of the per-partition commit position."""

from __future__ import annotations

from reqtrail.consumers.offsets import OffsetTracker, PartitionProgress


def test_position_moves_only_over_contiguous_finished_records() -> None:
    """Finishing out of order never moves the commit position past an unfinished record."""
    progress = PartitionProgress("t", 0)
    progress.start_many(list(range(10, 15)))
    progress.finish(12)
    progress.finish(13)
    assert progress.position is None
    progress.finish(10)
    assert progress.position == 11
    progress.finish(11)
    assert progress.position == 14
    progress.finish(14)
    assert progress.position == 15
    assert progress.in_flight == 0


def test_gaps_in_offsets_do_not_stall_the_position() -> None:
    """Offsets missing from the log (compaction, transaction markers) are skipped over."""
    progress = PartitionProgress("t", 0)
    progress.start_many([3, 7, 8, 20])
    for offset in (20, 8, 7, 3):
        progress.finish(offset)
    assert progress.position == 21


def test_duplicate_and_stale_finishes_are_harmless() -> None:
    """Finishing twice, or finishing an offset never delivered, changes nothing."""
    progress = PartitionProgress("t", 0)
    progress.start_many([5, 6])
    progress.finish(4)
    progress.finish(6)
    progress.finish(6)
    assert progress.position is None
    progress.finish(5)
    progress.finish(5)
    assert progress.position == 7
    progress.start(6)  # a redelivery of something already finished is ignored
    assert progress.in_flight == 0


def test_tracker_commits_only_moved_positions_and_forgets_revoked_partitions() -> None:
    """to_commit lists positions that moved; a revoked partition's late finishes are ignored."""
    tracker = OffsetTracker()
    p0 = tracker.assign("t", 0)
    p1 = tracker.assign("t", 1)
    p0.start_many([0, 1])
    p1.start_many([0])
    p0.finish(0)
    assert tracker.to_commit() == {("t", 0): 1}
    tracker.mark_committed({("t", 0): 1})
    assert tracker.to_commit() == {}
    revoked = tracker.revoke("t", 1)
    assert revoked is p1 and p1.revoked
    p1.finish(0)
    assert p1.position is None and tracker.get("t", 1) is None
    again = tracker.assign("t", 1)
    assert again is not p1 and not again.revoked


def test_overlapping_deliveries_are_tracked_once() -> None:
    """A batch that overlaps offsets already in flight only adds the new ones."""
    progress = PartitionProgress("t", 0)
    progress.start_many([5, 6])
    progress.start_many([6, 7])
    assert progress.in_flight == 3
    for offset in (5, 6, 7):
        progress.finish(offset)
    assert progress.position == 8 and progress.in_flight == 0
