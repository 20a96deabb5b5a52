"""Pipeline metrics, probes, log events and the metrics endpoint, driven through the hooks."""

from __future__ import annotations

import io
import logging
import urllib.error
import urllib.request
from typing import Any

import orjson
import pytest
from prometheus_client.parser import text_string_to_metric_families

from reqtrail.consumers.errors import EsThrottledError, EsUnavailableError
from reqtrail.consumers.events import EventLog
from reqtrail.consumers.health import HealthServer
from reqtrail.consumers.logs import configure_logging, events
from reqtrail.consumers.metrics import IndexerMetrics
from reqtrail.consumers.observer import Observers
from reqtrail.consumers.probes import Probes
from reqtrail.consumers.results import BulkOutcome, ItemResult
from reqtrail.consumers.types import DeadLetter, Message
from tests.consumers.fakes import make_documents


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class RecordingLogger:
    """Keeps (level, event, fields) of every call."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, dict[str, Any]]] = []

    def __getattr__(self, level: str) -> Any:
        return lambda event, **fields: self.calls.append((level, event, fields))


def scrape(metrics: IndexerMetrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    from prometheus_client import generate_latest

    text = generate_latest(metrics.registry).decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def retried(outcome_docs: int, error: type[Any], status: int) -> BulkOutcome:
    documents = make_documents(outcome_docs)
    return BulkOutcome(
        retry=[ItemResult(d, status, error, "x", "busy") for d in documents], latency_s=0.2
    )


def test_hooks_become_the_pipeline_metrics() -> None:
    """Polls, bulk answers, indexed batches, dead letters, commits and partitions show up
    as the documented counters and gauges, with reasons as labels."""
    clock = Clock()
    metrics = IndexerMetrics("reqs", request_metrics=False, clock=clock)
    metrics.watch(lambda: {0: 7, 2: 0}, lambda: 12)
    metrics.partitions_assigned([0, 2], frozenset({0, 2}))
    metrics.polled(30)
    documents = make_documents(20)
    metrics.bulk_answered(BulkOutcome(indexed=documents, latency_s=0.03))
    metrics.indexed(documents)
    metrics.bulk_answered(retried(3, EsThrottledError, 429))
    metrics.bulk_answered(retried(2, EsUnavailableError, 503))
    letters = [DeadLetter(Message("reqs", 0, i, b"x"), "schema", "bad") for i in range(4)]
    metrics.dead_lettered([*letters, DeadLetter(Message("reqs", 0, 9, b""), "undecodable", "")])
    clock.now += 5
    metrics.committed()
    clock.now += 2
    got = scrape(metrics)
    assert got[("reqtrail_indexer_records_consumed_total", ())] == 30
    assert got[("reqtrail_indexer_records_indexed_total", ())] == 20
    assert got[("reqtrail_indexer_records_retried_total", (("reason", "throttled"),))] == 3
    assert got[("reqtrail_indexer_records_retried_total", (("reason", "unavailable"),))] == 2
    assert got[("reqtrail_indexer_records_dead_lettered_total", (("reason", "schema"),))] == 4
    assert got[("reqtrail_indexer_records_dead_lettered_total", (("reason", "undecodable"),))] == 1
    assert got[("reqtrail_indexer_bulk_duration_seconds_count", ())] == 3
    assert got[("reqtrail_indexer_commits_total", ())] == 1
    lag = (("partition", "0"), ("topic", "reqs"))
    assert got[("reqtrail_indexer_consumer_lag", lag)] == 7
    assert got[("reqtrail_indexer_documents_in_flight", ())] == 12
    assert got[("reqtrail_indexer_partitions_assigned", ())] == 2
    assert got[("reqtrail_indexer_seconds_since_last_commit", ())] == 2
    assert got[("reqtrail_indexer_seconds_since_last_successful_bulk", ())] == 7
    metrics.partitions_revoked([2], frozenset({0}))
    got = scrape(metrics)
    assert got[("reqtrail_indexer_partitions_assigned", ())] == 1


def test_readiness_names_each_reason_and_liveness_follows_the_polls() -> None:
    """Not ready before partitions, with ES down, or with records waiting on a stale bulk;
    ready when all is well or when idle; not live once the loop stops polling."""
    clock = Clock()
    metrics = IndexerMetrics("reqs", request_metrics=False, clock=clock)
    es_down: list[str | None] = [None]
    log = RecordingLogger()
    probes = Probes(metrics, lambda: es_down[0], ready_bulk_age_s=30, live_after_s=60, logger=log)
    assert probes.liveness().ok  # connecting
    assert "connecting" in probes.readiness().body()
    metrics.polled(0)
    assert probes.readiness().reasons == ("no partitions assigned to this process",)
    metrics.partitions_assigned([1], frozenset({1}))
    assert probes.readiness().ok
    es_down[0] = "Elasticsearch at http://x (REQTRAIL_ES_URL) unreachable: refused"
    verdict = probes.readiness()
    assert not verdict.ok and "unreachable: refused" in verdict.body()
    es_down[0] = None
    clock.now += 100  # idle for 100 s: nothing waits, still ready
    metrics.polled(0)
    assert probes.readiness().ok
    metrics.watch(dict, lambda: 50)
    metrics.sample()
    verdict = probes.readiness()
    assert not verdict.ok
    assert verdict.reasons[0].startswith("no successful bulk request for 100 s (limit 30 s)")
    metrics.bulk_answered(BulkOutcome(indexed=make_documents(1)))
    assert probes.readiness().ok
    clock.now += 61
    assert not probes.liveness().ok and "61 s ago" in probes.liveness().body()
    changes = [(f["ready"], f["reasons"][:1]) for _, e, f in log.calls if e == "readiness_changed"]
    assert [ready for ready, _ in changes] == [False, True, False, True, False, True]


def test_event_log_names_its_events_and_gives_counts_as_fields() -> None:
    """bulk_indexed sums up an interval; retrying and dead_lettered carry reasons and
    counts; partition changes list the partitions."""
    clock = Clock()
    log = RecordingLogger()
    events_ = EventLog(10, logger=log, clock=clock)
    observer = Observers(events_)
    observer.partitions_assigned([3, 1], frozenset({1, 3}))
    documents = make_documents(5)
    observer.bulk_answered(BulkOutcome(indexed=documents, latency_s=0.042))
    observer.indexed(documents)
    observer.bulk_answered(retried(2, EsThrottledError, 429))
    observer.dead_lettered([DeadLetter(Message("t", 0, 1, b"x"), "schema", "no route")])
    observer.polled(0)  # not due yet
    clock.now += 10
    observer.polled(0)
    observer.partitions_revoked([1], frozenset({3}))
    assert [(level, name) for level, name, _ in log.calls] == [
        ("info", "partitions_assigned"),
        ("warning", "retrying"),
        ("warning", "dead_lettered"),
        ("info", "bulk_indexed"),
        ("info", "partitions_revoked"),
    ]
    fields = {name: f for _, name, f in log.calls}
    assert fields["partitions_assigned"] == {"partitions": [1, 3], "owned": 2}
    assert fields["retrying"] == {
        "documents": 2,
        "reasons": {"throttled": 2},
        "statuses": {"429": 2},
    }
    assert fields["dead_lettered"] == {"documents": 1, "kinds": {"schema": 1}, "reason": "no route"}
    assert fields["bulk_indexed"] == {
        "bulks": 2,
        "documents": 5,
        "latency_ms_max": 200.0,
        "interval_s": 10.0,
    }
    assert fields["partitions_revoked"] == {"partitions": [1], "owned": 1}


def test_json_logs_render_events_and_plain_lines_alike(
    root_logging: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With --log-format json every line is one JSON object: events with their fields,
    plain stdlib lines with their text as the event."""
    stream = io.StringIO()
    monkeypatch.setattr("sys.stderr", stream)
    assert configure_logging("info", "json") == "json"
    events().info("bulk_indexed", documents=12, bulks=1)
    logging.getLogger("reqtrail.consumer").warning("dead letter: %s", "why")
    events().debug("offsets_committed")  # below the level: not written
    lines = [orjson.loads(line) for line in stream.getvalue().splitlines()]
    assert [(line["event"], line["level"], line["logger"]) for line in lines] == [
        ("bulk_indexed", "info", "reqtrail.events"),
        ("dead letter: why", "warning", "reqtrail.consumer"),
    ]
    assert lines[0]["documents"] == 12 and lines[0]["timestamp"].endswith("Z")


def test_console_logs_are_text_and_the_default_follows_stdout(
    root_logging: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """--log-format console writes text lines; without the option, a non-terminal stdout
    means JSON."""
    stream = io.StringIO()
    monkeypatch.setattr("sys.stderr", stream)
    monkeypatch.setattr("sys.stdout", io.StringIO())
    configure_logging("info", "console")
    events().info("partitions_assigned", partitions=[0, 1])
    assert "partitions_assigned" in stream.getvalue() and "partitions=[0, 1]" in stream.getvalue()
    assert configure_logging("info") == "json"


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def test_the_endpoint_serves_metrics_and_both_probes() -> None:
    """/metrics is Prometheus text with reqtrail_indexer_ready; /healthz and /readyz
    answer 200 or 503 with the reasons; other paths 404."""
    metrics = IndexerMetrics("reqs", request_metrics=True)
    es_reason: list[str | None] = ["Elasticsearch at http://x unreachable: refused"]
    probes = Probes(metrics, lambda: es_reason[0], logger=RecordingLogger())
    server = HealthServer(metrics.registry, probes, "127.0.0.1", 0).start()
    base = f"http://127.0.0.1:{server.port}"
    try:
        metrics.polled(5)
        metrics.partitions_assigned([0], frozenset({0}))
        status, text = get(base + "/metrics")
        assert status == 200
        assert "reqtrail_indexer_records_consumed_total 5.0" in text
        assert "reqtrail_indexer_ready 0.0" in text
        assert "reqtrail_request_routes_folded_total 0.0" in text
        assert get(base + "/healthz")[0] == 200
        status, body = get(base + "/readyz")
        assert status == 503 and body.startswith("not ok\n") and "refused" in body
        es_reason[0] = None
        assert get(base + "/readyz") == (200, "ok\npartitions [0]\n0 records waiting\n")
        assert "reqtrail_indexer_ready 1.0" in get(base + "/metrics")[1]
        assert get(base + "/nope")[0] == 404
    finally:
        server.close()


def test_a_busy_port_is_a_one_line_error_naming_the_option() -> None:
    """Two servers on one port: the second fails with --metrics-port in the message."""
    metrics = IndexerMetrics("reqs")
    probes = Probes(metrics, lambda: None, logger=RecordingLogger())
    first = HealthServer(metrics.registry, probes, "127.0.0.1", 0)
    try:
        with pytest.raises(OSError, match="--metrics-port"):
            HealthServer(IndexerMetrics("reqs").registry, probes, "127.0.0.1", first.port)
    finally:
        first.close()
