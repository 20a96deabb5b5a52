"""The spill file and ``reqtrail resend-spill``."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from typer.testing import CliRunner

from reqtrail.commands import app, register_all
from reqtrail.consumers.setup import ensure_topics
from reqtrail.producers.cli import ProgressLine, summary
from reqtrail.producers.spill import ResendResult, SpillFile, resend_spill
from reqtrail.settings import Settings
from tests.producers.helpers import read_topic


def spilled_records(count: int) -> list[bytes]:
    return [
        orjson.dumps({"request_id": f"r-{i}", "user_id": f"player-{i % 3}", "status": 200})
        for i in range(count)
    ]


def test_resend_keeps_the_failures_and_removes_what_was_sent(tmp_path: Path) -> None:
    """Delivered lines leave the spill file; failed ones are written back for next time."""
    path = tmp_path / "spill.ndjson"
    SpillFile(path).append(spilled_records(6))
    seen_keys: list[bytes | None] = []

    def send_batch(records: list[tuple[bytes, bytes | None]]) -> list[bool]:
        seen_keys.extend(key for _value, key in records)
        return [orjson.loads(value)["request_id"] != "r-4" for value, _key in records]

    result = resend_spill(path, send_batch, chunk_size=4)
    assert (result.files, result.sent, result.failed) == (1, 5, 1)
    assert seen_keys == [f"player-{i % 3}".encode() for i in range(6)]
    assert [orjson.loads(line)["request_id"] for line in path.read_bytes().splitlines()] == ["r-4"]
    assert not list(tmp_path.glob("*.resending-*"))


def test_resend_skips_broken_lines(tmp_path: Path) -> None:
    """A torn last line (crash mid-write) goes to the rejects file instead of failing the
    resend."""
    path = tmp_path / "spill.ndjson"
    path.write_bytes(b'{"request_id": "ok"}\n{"request_id": "tor')
    sent: list[bytes] = []
    result = resend_spill(path, lambda recs: [sent.append(v) is None for v, _k in recs])
    assert result.sent == 1 and sent == [b'{"request_id": "ok"}']
    assert result.rejected == {"not_json": 1}


@pytest.mark.integration
def test_resend_spill_command_puts_the_records_on_the_topic(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`reqtrail resend-spill --path F` sends every spilled record, keyed by user ID."""
    ensure_topics(settings)
    path = tmp_path / "spill.ndjson"
    SpillFile(path).append(spilled_records(7))
    monkeypatch.setenv("REQTRAIL_KAFKA_BOOTSTRAP", settings.kafka_bootstrap)
    monkeypatch.setenv("REQTRAIL_TOPIC", settings.topic)
    register_all()
    result = CliRunner().invoke(app, ["resend-spill", "--path", str(path)])
    assert result.exit_code == 0, result.output
    assert "resent 7 records" in result.output
    on_topic = read_topic(settings)
    assert sorted(record["request_id"] for _key, record in on_topic) == [f"r-{i}" for i in range(7)]
    assert all(key == record["user_id"].encode() for key, record in on_topic)
    assert not path.exists()


def test_progress_lines_are_rate_limited_and_the_summary_counts_everything() -> None:
    """Progress prints at most one line per interval; the summary gives sent, rejected by
    reason and what is left for later, with why."""
    now = [0.0]
    lines: list[str] = []
    progress = ProgressLine(every_s=2.0, clock=lambda: now[0], echo=lines.append)
    result = ResendResult(files=2, sent=10, bytes_done=50, bytes_total=200)
    for step in range(10):  # 10 chunks in 4.5 s
        now[0] = step * 0.5
        result.sent += 1
        progress(result)
    assert lines == [
        "  resend-spill 25%: 15 sent, 0 rejected, 0 already on the topic",
        "  resend-spill 25%: 19 sent, 0 rejected, 0 already on the topic",
    ]
    result = ResendResult(
        files=2,
        sent=7,
        confirmed=3,
        rejected={"too_large": 2, "not_json": 1},
        failed=4,
        stopped="Kafka did not confirm 4 records: timed out",
        rejects_path=Path("/s/spill.rejects"),
    )
    assert summary(result, "reqtrail.requests", "/s/spill").splitlines() == [
        "resent 7 records from 2 file(s) to reqtrail.requests",
        "3 records sent by an interrupted run were found on the topic and not sent again",
        "rejected 3 (not_json 1, too_large 2): see /s/spill.rejects",
        "4 left for later (Kafka did not confirm 4 records: timed out): "
        "run `reqtrail resend-spill` again (they stay in /s/spill)",
    ]
