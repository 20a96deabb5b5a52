"""The producer's Prometheus collector (``reqtrail.metrics``) and its optional dependency."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass, field
from typing import Any

import orjson
import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from reqtrail.metrics import ProducerCollector
from reqtrail.producers.metrics import DROP_REASONS, UNATTRIBUTED
from reqtrail.producers.pipeline import RecordPipeline, set_pipeline
from reqtrail.settings import Settings


def scrape(registry: CollectorRegistry) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = generate_latest(registry).decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


@pytest.mark.integration
def test_counts_of_a_real_sink_reach_the_registry(settings: Settings) -> None:
    """Records put into a sink with room for 5 against the real broker: produced counts
    all of them, delivered + dropped add up to it after a flush, and the drops show."""
    pipeline = RecordPipeline(settings.replace(buffer_size=5))
    registry = CollectorRegistry()
    registry.register(ProducerCollector(pipeline))
    try:
        for i in range(50):
            pipeline.sink.put(orjson.dumps({"i": i}), None)
        assert pipeline.flush(30)
        got = scrape(registry)
    finally:
        pipeline.close(5)
    produced = got[("reqtrail_producer_records_produced_total", ())]
    delivered = got[("reqtrail_producer_records_delivered_total", ())]
    dropped = sum(v for (name, _), v in got.items() if name.endswith("dropped_total"))
    assert produced == 50
    assert delivered + dropped == produced and delivered >= 5 and dropped > 0
    assert got[("reqtrail_producer_records_queued", ())] == 0
    assert got[("reqtrail_producer_connected", ())] == 1


@dataclass
class StatsWithReasons:
    produced: int = 20
    delivered: int = 14
    dropped: int = 6
    spilled: int = 6
    queued: int = 0
    in_flight: int = 0
    connected: bool = True
    dropped_by_reason: dict[str, int] = field(
        default_factory=lambda: {"buffer_full": 3, "delivery_timeout": 2}
    )


class SinkOf:
    def __init__(self, stats: Any) -> None:
        self._stats = stats

    def stats(self) -> Any:
        return self._stats


class PipelineOf:
    def __init__(self, stats: Any) -> None:
        self.sink = SinkOf(stats)


def test_drops_are_labelled_by_reason_when_the_sink_gives_them() -> None:
    """A sink whose stats carry dropped_by_reason is exported reason by reason; drops it
    does not attribute are 'unspecified'."""
    registry = CollectorRegistry()
    registry.register(ProducerCollector(PipelineOf(StatsWithReasons())))
    got = scrape(registry)
    dropped = {
        dict(labels)["reason"]: value
        for (name, labels), value in got.items()
        if name == "reqtrail_producer_records_dropped_total"
    }
    assert {reason: n for reason, n in dropped.items() if n} == {
        "buffer_full": 3,
        "delivery_timeout": 2,
        UNATTRIBUTED: 1,
    }
    assert set(dropped) >= set(DROP_REASONS)
    assert got[("reqtrail_producer_records_spilled_total", ())] == 6


def test_registering_the_default_collector_builds_no_pipeline() -> None:
    """ProducerCollector() looks the process-wide pipeline up at scrape time only."""
    previous = set_pipeline(None)
    try:
        registry = CollectorRegistry()
        registry.register(ProducerCollector())
        assert set_pipeline(None) is None  # nothing was built by registering
    finally:
        set_pipeline(previous)


def run_python(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )


def test_the_middleware_imports_without_prometheus_client() -> None:
    """With prometheus_client unavailable, the middleware modules import and never try to
    load it, and reqtrail.metrics fails with the pip command to run."""
    done = run_python(
        "import sys\n"
        "sys.modules['prometheus_client'] = None\n"
        "import reqtrail, reqtrail.asgi, reqtrail.wsgi, reqtrail.producers.pipeline\n"
        "import reqtrail.producers.metrics\n"
        "try:\n"
        "    import reqtrail.metrics\n"
        "except ModuleNotFoundError as exc:\n"
        "    print(exc)\n"
    )
    assert done.returncode == 0, done.stderr
    assert "pip install prometheus-client" in done.stdout
