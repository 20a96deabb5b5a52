"""`reqtrail resend-spill` against a real broker: oversized records, kills, a broker outage."""

from __future__ import annotations

import base64
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path

import orjson
import pytest
from kafka.admin import KafkaAdminClient, NewTopic

from reqtrail.consumers.setup import ensure_topics
from reqtrail.producers.resend_kafka import KafkaResend
from reqtrail.producers.spill import SpillFile, resend_spill
from reqtrail.producers.spill_outcomes import SendOutcome
from reqtrail.producers.spill_progress import Progress
from reqtrail.services import KafkaService
from reqtrail.settings import Settings
from tests.producers.helpers import read_topic

pytestmark = pytest.mark.integration

TOPIC_MAX_MESSAGE_BYTES = 100_000


class Crash(Exception):
    """Stands for the resend process dying mid-chunk."""


def records(first: int, count: int) -> list[bytes]:
    return [
        orjson.dumps({"request_id": f"r-{i}", "user_id": f"player-{i % 7}", "status": 200})
        for i in range(first, first + count)
    ]


def run_resend(
    settings: Settings, path: Path, *args: str, **env: str
) -> subprocess.CompletedProcess[str]:
    """`reqtrail resend-spill --path PATH ARGS` in a subprocess, as an operator runs it."""
    return subprocess.run(
        resend_command(path, *args),
        env=resend_env(settings, **env),
        capture_output=True,
        text=True,
        timeout=300,
    )


def resend_command(path: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "reqtrail.cli", "resend-spill", "--path", str(path), *args]


def resend_env(settings: Settings, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("REQTRAIL_")}
    env.update(REQTRAIL_KAFKA_BOOTSTRAP=settings.kafka_bootstrap, REQTRAIL_TOPIC=settings.topic)
    env.update(extra)
    return env


def request_ids_on_topic(settings: Settings) -> Counter[str]:
    return Counter(record["request_id"] for _key, record in read_topic(settings))


def create_small_message_topic(settings: Settings) -> None:
    """The records topic, with a broker-side limit of 100 kB per message."""
    admin = KafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    try:
        topic = NewTopic(
            settings.topic,
            num_partitions=3,
            replication_factor=1,
            topic_configs={"max.message.bytes": str(TOPIC_MAX_MESSAGE_BYTES)},
        )
        admin.create_topics([topic])
    finally:
        admin.close()


def progress_of(path: Path) -> Progress | None:
    found = sorted(path.parent.glob(path.name + ".resending-*.progress"))
    return Progress.load(found[0]) if found else None


def test_oversized_records_are_rejected_and_every_other_record_is_sent_once(
    settings: Settings, tmp_path: Path
) -> None:
    """A 2 MB record (over the client's and broker's 1 MB), a 300 kB one (over the topic's
    100 kB) and a torn line amid 150 records: over two runs each record reaches the topic
    exactly once, the three bad ones land in the rejects file with their reasons, and a
    second run sends only what was spilled since."""
    create_small_message_topic(settings)
    path = tmp_path / "spill.ndjson"
    spill = SpillFile(path)
    spill.append(records(0, 50))
    spill.append([orjson.dumps({"request_id": "big-2mb", "body": "x" * 2_000_000})])
    spill.append(records(50, 50))
    noise = base64.b64encode(os.urandom(225_000)).decode()  # does not compress below 100 kB
    spill.append([orjson.dumps({"request_id": "big-300kb", "body": noise})])
    spill.append([b'{"request_id": "torn-line", "sta'])
    spill.append(records(100, 50))

    first = run_resend(settings, path, "--chunk-size", "40")
    assert first.returncode == 0, first.stderr
    assert "resent 150 records" in first.stdout
    assert "rejected 3 (not_json 1, too_large 2)" in first.stdout
    assert "0 left for later" in first.stdout and "Traceback" not in first.stderr

    spill.append(records(150, 10))  # the server spilled more meanwhile
    second = run_resend(settings, path, "--chunk-size", "40")
    assert second.returncode == 0, second.stderr
    assert "resent 10 records" in second.stdout

    assert request_ids_on_topic(settings) == Counter(f"r-{i}" for i in range(160))
    lines = (tmp_path / "spill.ndjson.rejects").read_bytes().splitlines()
    rejects = {
        entry["record"]["request_id"] if "record" in entry else "torn": entry
        for entry in map(orjson.loads, lines)
    }
    assert set(rejects) == {"big-2mb", "big-300kb", "torn"}
    assert rejects["big-2mb"]["reason"] == rejects["big-300kb"]["reason"] == "too_large"
    assert "MessageSizeTooLargeError" in rejects["big-300kb"]["detail"]
    assert len(rejects["big-2mb"]["record"]["body"]) == 2_000_000
    assert (rejects["torn"]["line"], rejects["torn"]["reason"]) == (
        '{"request_id": "torn-line", "sta',
        "not_json",
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "spill.ndjson.lock",
        "spill.ndjson.rejects",
    ]
    third = run_resend(settings, path)
    assert third.returncode == 0 and "nothing to resend" in third.stdout


def test_a_resend_that_died_mid_chunk_is_finished_without_duplicates(
    settings: Settings, tmp_path: Path
) -> None:
    """A resend that dies after Kafka took half of its third chunk (an injected failure) is
    finished by `reqtrail resend-spill`: it finds that half on the topic, sends the rest once."""
    ensure_topics(settings)
    path = tmp_path / "spill.ndjson"
    SpillFile(path).append(records(0, 300))
    kafka = KafkaResend(settings)
    calls = [0]

    def dies_in_third_chunk(batch: list[tuple[bytes, bytes | None]]) -> Sequence[SendOutcome]:
        calls[0] += 1
        if calls[0] == 3:
            assert all(outcome is True for outcome in kafka.send_batch(batch[:25]))
            raise Crash("killed")
        return kafka.send_batch(batch)

    try:
        with pytest.raises(Crash):
            resend_spill(path, dies_in_third_chunk, 50, check=kafka)
    finally:
        kafka.close()
    rerun = run_resend(settings, path, "--chunk-size", "50")
    assert rerun.returncode == 0, rerun.stderr
    assert "resent 175 records" in rerun.stdout
    assert "25 records sent by an interrupted run were found on the topic" in rerun.stdout
    assert request_ids_on_topic(settings) == Counter(f"r-{i}" for i in range(300))


def padded_records(count: int) -> list[bytes]:
    """Records of ~1 kB that do not compress: a chunk of them takes several produce requests."""
    return [
        orjson.dumps(
            {"request_id": f"r-{i}", "user_id": f"player-{i % 7}", "pad": os.urandom(500).hex()}
        )
        for i in range(count)
    ]


def test_a_resend_killed_mid_chunk_and_rerun_sends_nothing_twice(
    settings: Settings, tmp_path: Path
) -> None:
    """`reqtrail resend-spill` SIGKILLed while Kafka already holds part of its chunk: the
    rerun finds those records on the topic and sends only the others, and in the end each
    of the 8,000 records is on the topic exactly once."""
    ensure_topics(settings)
    path = tmp_path / "spill.ndjson"
    SpillFile(path).append(padded_records(8000))
    kafka = KafkaResend(settings)

    def partly_delivered() -> bool:
        progress = progress_of(path)
        mark = progress.pending.mark if progress and progress.pending else None
        return mark is not None and sum(kafka.mark().values()) > sum(mark.values())

    proc = subprocess.Popen(
        resend_command(path, "--chunk-size", "2000"),
        env=resend_env(settings),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 120
        while proc.poll() is None and time.monotonic() < deadline:
            if partly_delivered():
                # Freeze the run, then look again: a chunk may have finished between the
                # first look and the stop. Frozen, the run cannot move on, so the kill lands
                # exactly where the second look saw it.
                proc.send_signal(signal.SIGSTOP)
                if partly_delivered():
                    proc.send_signal(signal.SIGKILL)
                    break
                proc.send_signal(signal.SIGCONT)
            time.sleep(0.002)
        proc.wait(timeout=30)
        assert proc.returncode == -signal.SIGKILL, (
            "the resend ended before a kill landed while a chunk was partly delivered",
            proc.communicate(),
        )
        progress = progress_of(path)
        assert progress is not None and progress.pending is not None
        assert progress.pending.mark is not None
        assert sum(kafka.mark().values()) > sum(progress.pending.mark.values())
    finally:
        if proc.poll() is None:
            proc.kill()
        kafka.close()
    rerun = run_resend(settings, path, "--chunk-size", "2000")
    assert rerun.returncode == 0, rerun.stderr
    assert "sent by an interrupted run were found on the topic" in rerun.stdout
    assert request_ids_on_topic(settings) == Counter(f"r-{i}" for i in range(8000))
    assert not list(tmp_path.glob("spill.ndjson.resending-*"))


@pytest.mark.slow
def test_records_kafka_does_not_take_stay_for_the_next_run(
    dedicated_kafka: Callable[..., KafkaService], settings: Settings, tmp_path: Path
) -> None:
    """With its broker killed mid-resend, the run ends with exit 1 and counts what is left
    for later; with the broker back, a rerun delivers every record exactly once."""
    kafka = dedicated_kafka()
    local = settings.replace(kafka_bootstrap=kafka.bootstrap)
    ensure_topics(local)
    path = tmp_path / "spill.ndjson"
    SpillFile(path).append(records(0, 3000))
    env = {"REQTRAIL_KAFKA_DELIVERY_TIMEOUT_MS": "4000"}
    proc = subprocess.Popen(
        resend_command(path, "--chunk-size", "100"),
        env=resend_env(local, **env),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:

        def some_settled() -> bool:
            progress = progress_of(path)
            return progress is not None and progress.done > 0

        deadline = time.monotonic() + 60
        while not some_settled():
            assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
            time.sleep(0.01)
        kafka.kill()
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 1, (out, err)
    assert "Traceback" not in err, err[-4000:]
    left = [
        line
        for line in (out + err).splitlines()
        if "left for later" in line or "run it again" in line
    ]
    assert left, (out, err)

    kafka.start()
    rerun = run_resend(local, path, "--chunk-size", "100", **env)
    assert rerun.returncode == 0, rerun.stderr
    assert "0 left for later" in rerun.stdout
    assert request_ids_on_topic(local) == Counter(f"r-{i}" for i in range(3000))
