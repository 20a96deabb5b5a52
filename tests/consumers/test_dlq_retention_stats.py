"""Unit tests of dead-letter headers, retention selection and the stats line."""

from __future__ import annotations

import io
import time
from datetime import UTC, date, datetime

import pytest

from reqtrail.consumers.dlq import DeadLetterInfo, dead_letter_headers, dlq_meta, original_headers
from reqtrail.consumers.errors import EsUnreachableError, IndexWriteBlockedError
from reqtrail.consumers.lag import LagProbe, LagUnknown
from reqtrail.consumers.results import BulkOutcome, ItemResult
from reqtrail.consumers.retention import expired
from reqtrail.consumers.stats import IndexerStats, StatsReporter
from reqtrail.consumers.types import DeadLetter, Message
from tests.consumers.fakes import make_documents


def test_dead_letter_keeps_own_headers_and_adds_source_and_reason() -> None:
    """Dead-letter headers carry kind, reason, source topic/partition/offset and time."""
    message = Message("records", 3, 42, b"junk", headers=[("trace", b"abc")], timestamp=7)
    letter = DeadLetter(message, "undecodable", "not JSON")
    headers = dead_letter_headers(letter, now=datetime(2026, 1, 2, tzinfo=UTC))
    assert headers[0] == ("trace", b"abc")
    meta = dlq_meta(headers)
    assert meta["kind"] == "undecodable" and meta["reason"] == "not JSON"
    assert (meta["source_topic"], meta["source_partition"], meta["source_offset"]) == (
        "records",
        "3",
        "42",
    )
    assert meta["failed_at"].startswith("2026-01-02T00:00:00")
    assert original_headers(headers) == [("trace", b"abc")]
    info = DeadLetterInfo.from_message(Message("dlq", 0, 0, b"junk", headers=headers))
    assert info.source == "records[3]@42" and info.kind == "undecodable"


def test_retention_keeps_today_and_the_previous_days() -> None:
    """keep_days=2 keeps today and yesterday; older indices expire."""
    days = {f"p-2026.01.{d:02d}": date(2026, 1, d) for d in range(1, 6)}
    assert expired(days, 2, date(2026, 1, 5)) == ["p-2026.01.01", "p-2026.01.02", "p-2026.01.03"]
    assert expired(days, 30, date(2026, 1, 5)) == []
    with pytest.raises(ValueError):
        expired(days, 0, date(2026, 1, 5))


def test_stats_line_reports_rate_latency_lag_and_dlq() -> None:
    """The periodic line has records/s, bulk latency, lag per partition, DLQ and 429 counts."""
    now = [0.0]
    stats = IndexerStats()
    lines: list[str] = []
    reporter = StatsReporter(
        stats, 10.0, lambda: {0: 5, 1: 0}, lines.append, stream=io.StringIO(), clock=lambda: now[0]
    )
    documents = make_documents(3)
    stats.record_bulk(
        BulkOutcome(indexed=documents[:2], retry=[ItemResult(documents[2], 429)], latency_s=0.04)
    )
    stats.record_dead_letters({"schema": 1})
    now[0] = 1.0
    reporter.tick()
    assert lines == []
    now[0] = 10.0
    reporter.tick()
    assert lines and "indexed 2 (0/s)" in lines[0]
    assert "p50 40 ms" in lines[0] and "lag 5 [p0=5 p1=0]" in lines[0]
    assert "| retrying (429 throttled) for " in lines[0]
    assert "dlq 1" in lines[0] and "429: 1" in lines[0]


def test_stats_line_spells_out_the_state_and_an_unknown_lag() -> None:
    """The line says "ES unreachable" or "blocked" while retrying, "ok" after a success,
    and "lag unknown (why)" rather than a number it does not have."""
    stats = IndexerStats()
    documents = make_documents(2)
    refused = ItemResult(documents[0], 503, EsUnreachableError, "ConnectionRefusedError", "x")
    stats.record_bulk(BulkOutcome(retry=[refused]))
    assert stats.state == "ES unreachable (ConnectionRefusedError)"
    blocked = ItemResult(documents[0], 403, IndexWriteBlockedError, "cluster_block_exception")
    stats.record_bulk(BulkOutcome(retry=[blocked]))
    assert stats.state == f"blocked (index {documents[0].index} refuses writes)"

    def unknown() -> dict[int, int]:
        raise LagUnknown("Kafka: NoBrokersAvailable")

    lines: list[str] = []
    reporter = StatsReporter(stats, 1.0, unknown, lines.append, stream=io.StringIO())
    line = reporter.report()
    assert "| blocked (index " in line and "lag unknown (Kafka: NoBrokersAvailable)" in line
    stats.record_bulk(BulkOutcome(indexed=documents))
    assert "| ok |" in reporter.report()


def test_the_stats_thread_reports_every_interval_without_ticks() -> None:
    """Started, the reporter emits on its own, whatever the loop is doing."""
    lines: list[str] = []
    reporter = StatsReporter(
        IndexerStats(), 0.1, lambda: {0: 1}, lines.append, stream=io.StringIO()
    )
    reporter.start()
    try:
        deadline = time.monotonic() + 5
        while len(lines) < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        reporter.close()
    assert len(lines) >= 3 and all("lag 1 [p0=1]" in line for line in lines)


def test_lag_probe_never_passes_off_an_old_lag_as_current() -> None:
    """The last answer is used while fresh; once stale, or never given, the lag is unknown."""
    now = [0.0]
    answers: list[dict[int, int] | Exception] = [{0: 7}, RuntimeError("broker down")]

    def measure() -> dict[int, int]:
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    probe = LagProbe(measure, 1.0, stale_after_s=5.0, clock=lambda: now[0])
    with pytest.raises(LagUnknown, match="not asked yet"):
        probe.current()
    probe.probe()
    assert probe.current() == {0: 7}
    now[0] = 3.0
    probe.probe()  # fails: the 3 s old answer still stands
    assert probe.current() == {0: 7}
    now[0] = 6.0
    with pytest.raises(LagUnknown, match="RuntimeError: broker down; last known 6 s ago"):
        probe.current()
