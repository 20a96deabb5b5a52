"""What an operator reads when Kafka is unreachable: reqtrail's own line first, fast."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import orjson
import pytest

from reqtrail.producers.sink import KafkaSink
from reqtrail.services.ports import free_ports
from reqtrail.settings import load_settings

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def test_unreachable_kafka_is_reported_first_within_5_s_by_reqtrail(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """With nothing listening at the bootstrap address, the first warning is reqtrail's line
    naming REQTRAIL_KAFKA_BOOTSTRAP and the address, within 5 s; kafka-python's are folded."""
    (port,) = free_ports(1)
    address = f"127.0.0.1:{port}"
    settings = load_settings(environ={}).replace(
        kafka_bootstrap=address, topic="t", spill_path=str(tmp_path / "spill.ndjson")
    )
    caplog.set_level(logging.WARNING)
    sink = KafkaSink(settings, register_atexit=False)
    began = time.monotonic()
    try:
        sink.put(orjson.dumps({"request_id": "r-1"}), None)
        deadline = began + 5.0
        while time.monotonic() < deadline and not caplog.records:
            time.sleep(0.01)
        first_after = time.monotonic() - began
        time.sleep(2.0)  # kafka-python keeps retrying meanwhile: its lines must stay folded
    finally:
        stats = sink.close(timeout=0.5)
    assert caplog.records, "no line at all within 5 s"
    first = caplog.records[0]
    assert first.name == "reqtrail.producers", [r.getMessage() for r in caplog.records[:5]]
    assert f"Kafka is not reachable at {address} (REQTRAIL_KAFKA_BOOTSTRAP)" in first.getMessage()
    assert first_after < 5.0
    kafka_lines = [r for r in caplog.records if r.name.startswith("kafka")]
    assert not kafka_lines, [r.getMessage() for r in kafka_lines[:5]]
    assert stats.dropped == 1 and stats.dropped_by_reason == {"shutdown": 1}
