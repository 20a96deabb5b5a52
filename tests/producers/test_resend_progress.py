"""Resending a spill file at most once per record, whatever step a run dies at (fakes only)."""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import orjson
import pytest

import reqtrail.producers.spill as spill_module
import reqtrail.producers.spill_progress as progress_module
from reqtrail.producers.spill import Rejected, Retry, SpillBusyError, resend_lock, resend_spill
from reqtrail.producers.spill_outcomes import SendOutcome
from reqtrail.producers.spill_progress import Mark, Progress


class Crash(Exception):
    """Stands for a kill of the resend process at one step."""


class FakeTopic:
    """A one-partition topic in memory that also answers the resend's delivery checks."""

    def __init__(self) -> None:
        self.records: list[bytes] = []

    def mark(self) -> Mark:
        return {"0": len(self.records)}

    def delivered(self, mark: Mark, payloads: list[bytes]) -> list[bool]:
        on_topic = Counter(self.records[mark["0"] :])
        flags = []
        for payload in payloads:
            flags.append(on_topic[payload] > 0)
            on_topic[payload] -= 1
        return flags

    def request_ids(self) -> Counter[str]:
        return Counter(orjson.loads(record)["request_id"] for record in self.records)


class FakeBroker:
    """Delivers to a FakeTopic; rejects "big" records; r-5 fails once; r-3's first delivery
    is reported as a timeout (it arrived, the client does not know)."""

    def __init__(self, topic: FakeTopic) -> None:
        self.topic = topic
        self.tries: Counter[str] = Counter()
        self.crash_after: int | None = None  # deliver this many records of a chunk, then die

    def send_batch(self, records: list[tuple[bytes, bytes | None]]) -> Sequence[SendOutcome]:
        outcomes: list[SendOutcome] = []
        for index, (value, _key) in enumerate(records):
            if self.crash_after is not None and index == self.crash_after:
                raise Crash("killed mid-chunk")
            request_id = orjson.loads(value)["request_id"]
            self.tries[request_id] += 1
            if request_id == "big":
                outcomes.append(Rejected("too_large", "bigger than max.message.bytes"))
            elif request_id == "r-5" and self.tries[request_id] == 1:
                outcomes.append(False)
            elif request_id == "r-3" and self.tries[request_id] == 1:
                self.topic.records.append(value)
                outcomes.append(Retry("timed out", maybe_delivered=True))
            else:
                self.topic.records.append(value)
                outcomes.append(True)
        return outcomes


def write_spill(path: Path) -> list[str]:
    """Ten good records, a not-JSON line and a too-large record in the middle."""
    ids = [f"r-{i}" for i in range(10)]
    lines = [orjson.dumps({"request_id": rid, "user_id": f"p{i % 3}"}) for i, rid in enumerate(ids)]
    lines.insert(4, b'{"request_id": "torn')
    lines.insert(7, orjson.dumps({"request_id": "big", "body": "x" * 100}))
    path.write_bytes(b"\n".join(lines) + b"\n")
    return ids


def crash_on_call(monkeypatch: pytest.MonkeyPatch, module: Any, name: str, at: list[int]) -> None:
    """Make ``module.name`` do its work, then raise Crash when the shared countdown hits 0."""
    real: Callable[..., Any] = getattr(module, name)

    def step(*args: Any, **kwargs: Any) -> Any:
        value = real(*args, **kwargs)
        at[0] -= 1
        if at[0] == 0:
            raise Crash(f"killed after {name}")
        return value

    monkeypatch.setattr(module, name, step)


def run_until_done(path: Path, broker: FakeBroker, topic: FakeTopic) -> int:
    """Rerun the resend until nothing is left; returns how many runs it took."""
    for run in range(1, 6):
        result = resend_spill(path, broker.send_batch, chunk_size=3, check=topic)
        if not result.failed and not result.stopped:
            return run
    raise AssertionError("records still left after 5 runs")


def side_files(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


def test_two_runs_deliver_everything_once_and_reject_the_bad_ones(tmp_path: Path) -> None:
    """Run 1 stops when r-3 times out, run 2 finds r-3 (and r-4) on the topic and stops when
    r-5 fails, run 3 sends the rest: each record once, the bad ones in the rejects file."""
    path = tmp_path / "spill.ndjson"
    ids = write_spill(path)
    topic = FakeTopic()
    broker = FakeBroker(topic)

    first = resend_spill(path, broker.send_batch, chunk_size=3, check=topic)
    assert first.stopped.startswith("Kafka did not confirm 1 records: timed out")
    assert (first.sent, first.failed) == (4, 8)  # r-0..r-2, r-4; the torn and big lines wait
    second = resend_spill(path, broker.send_batch, chunk_size=3, check=topic)
    assert second.confirmed == 2 and second.stopped.startswith("Kafka did not take 1")
    assert second.rejected == {"not_json": 1, "too_large": 1} and second.failed == 4
    third = resend_spill(path, broker.send_batch, chunk_size=3, check=topic)
    assert (third.failed, third.stopped) == (0, "")

    assert topic.request_ids() == Counter(ids)
    rejects = [
        orjson.loads(line) for line in (tmp_path / "spill.ndjson.rejects").read_bytes().splitlines()
    ]
    assert [r["reason"] for r in rejects] == ["not_json", "too_large"]
    assert (
        rejects[0]["line"] == '{"request_id": "torn' and rejects[1]["record"]["request_id"] == "big"
    )
    assert rejects[1]["detail"] == "bigger than max.message.bytes"
    assert side_files(tmp_path) == ["spill.ndjson.lock", "spill.ndjson.rejects"]


@pytest.mark.parametrize(
    "where",
    [
        (progress_module, "write_atomically"),
        (spill_module, "append_durably"),
        (spill_module, "move_back"),
        (os, "link"),
    ],
    ids=lambda where: where[1],
)
def test_a_run_killed_after_any_durable_step_sends_nothing_twice(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, where: tuple[Any, str]
) -> None:
    """Killed right after its k-th progress save / append / move back, for every k, a resend
    and its reruns still put each record on the topic once and each reject in the file once."""
    module, name = where
    for k in range(1, 40):
        directory = tmp_path / f"k{k}"
        directory.mkdir()
        path = directory / "spill.ndjson"
        ids = write_spill(path)
        topic = FakeTopic()
        broker = FakeBroker(topic)
        with monkeypatch.context() as patch:
            countdown = [k]
            crash_on_call(patch, module, name, countdown)
            crashed = False
            try:
                run_until_done(path, broker, topic)
            except Crash:
                crashed = True
        if not crashed:
            assert k > 1, f"{name} was never called"
            return
        run_until_done(path, broker, topic)
        assert topic.request_ids() == Counter(ids), f"killed after {name} #{k}"
        reasons = [
            orjson.loads(line)["reason"]
            for line in (directory / "spill.ndjson.rejects").read_bytes().splitlines()
        ]
        assert sorted(reasons) == ["not_json", "too_large"], f"killed after {name} #{k}"
        assert side_files(directory) == ["spill.ndjson.lock", "spill.ndjson.rejects"]
    raise AssertionError(f"{name} crashed the run at every one of 39 steps")


@pytest.mark.parametrize("delivered_first", [0, 1, 2])
def test_a_run_killed_mid_chunk_is_resumed_from_the_topic(
    tmp_path: Path, delivered_first: int
) -> None:
    """Killed after delivering part of its first chunk, the rerun finds those records on the
    topic and sends only the others."""
    path = tmp_path / "spill.ndjson"
    ids = write_spill(path)
    topic = FakeTopic()
    broker = FakeBroker(topic)
    calls = [0]
    real_send = broker.send_batch

    def dying_send(records: list[tuple[bytes, bytes | None]]) -> Sequence[SendOutcome]:
        calls[0] += 1
        broker.crash_after = delivered_first if calls[0] == 1 else None
        return real_send(records)

    with pytest.raises(Crash):
        resend_spill(path, dying_send, chunk_size=3, check=topic)
    assert Progress.load(next(tmp_path.glob("*.progress"))).pending is not None
    broker.crash_after = None
    run_until_done(path, broker, topic)
    assert topic.request_ids() == Counter(ids)


def test_without_a_check_an_interrupted_chunk_is_sent_again(tmp_path: Path) -> None:
    """With no way to read the topic back, the interrupted chunk is resent whole (at least
    once), and nothing before it."""
    path = tmp_path / "spill.ndjson"
    path.write_bytes(b"".join(orjson.dumps({"request_id": f"r-{i}"}) + b"\n" for i in range(6)))
    sent: list[bytes] = []

    def dies_on_second_chunk(records: list[tuple[bytes, bytes | None]]) -> list[bool]:
        sent.extend(value for value, _key in records[:1])
        if len(sent) > 3:
            raise Crash("killed")
        sent.extend(value for value, _key in records[1:])
        return [True] * len(records)

    with pytest.raises(Crash):
        resend_spill(path, dies_on_second_chunk, chunk_size=3)
    result = resend_spill(path, lambda recs: [sent.append(v) is None for v, _k in recs])
    assert result.sent == 3 and (result.failed, result.stopped) == (0, "")
    assert Counter(orjson.loads(v)["request_id"] for v in sent) == Counter(
        {"r-0": 1, "r-1": 1, "r-2": 1, "r-3": 2, "r-4": 1, "r-5": 1}
    )


def test_a_second_resend_of_the_same_file_is_refused(tmp_path: Path) -> None:
    """While one resend holds the lock, another one fails at once with a one-line error."""
    path = tmp_path / "spill.ndjson"
    path.write_bytes(b'{"request_id": "r-0"}\n')
    with resend_lock(path), pytest.raises(SpillBusyError, match="another resend is working on"):
        resend_spill(path, lambda recs: [True] * len(recs))


def test_records_that_are_not_objects_or_not_utf8_are_kept_in_the_rejects(tmp_path: Path) -> None:
    """A JSON array and a line of raw non-UTF-8 bytes are rejected with their reason, and the
    rejects file keeps their exact bytes."""
    path = tmp_path / "spill.ndjson"
    path.write_bytes(b'[1, 2]\n\xff\xfe{"a": 1}\n{"request_id": "ok"}\n')
    result = resend_spill(path, lambda recs: [True] * len(recs))
    assert result.sent == 1 and result.rejected == {"not_an_object": 1, "not_json": 1}
    lines = [orjson.loads(x) for x in result.rejects_path.read_bytes().splitlines()]
    assert lines[0]["record"] == [1, 2] and lines[0]["source"].endswith(":0")
    assert lines[1]["line_base64"] == "//57ImEiOiAxfQ=="
