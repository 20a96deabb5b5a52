"""The request metrics derived from indexed records: counts, histogram, folding."""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any

import orjson
import pytest
from prometheus_client import CollectorRegistry
from prometheus_client.core import Metric

from reqtrail.consumers import request_metrics
from reqtrail.consumers.documents import DocumentBuilder
from reqtrail.consumers.metrics import IndexerMetrics
from reqtrail.consumers.observer import Observers
from reqtrail.consumers.request_metrics import BUCKETS_S, OTHER, RequestMetrics
from reqtrail.consumers.types import Document, Message
from reqtrail.schemas.samples import sample_records


def documents_of(records: list[dict[str, Any]], metrics: RequestMetrics | None) -> list[Document]:
    builder = DocumentBuilder("t", request_series=metrics)
    built = [builder.build(Message("topic", 0, i, orjson.dumps(r))) for i, r in enumerate(records)]
    assert all(isinstance(d, Document) for d in built)
    return [d for d in built if isinstance(d, Document)]


def families(metrics: RequestMetrics) -> dict[str, Metric]:
    return {family.name: family for family in metrics.collect()}


def samples(family: Metric, suffix: str = "") -> dict[tuple[tuple[str, str], ...], float]:
    return {
        tuple(sorted(s.labels.items())): s.value
        for s in family.samples
        if s.name == family.name + suffix
    }


def totals_by(family: Metric, label: str, suffix: str = "_total") -> Counter[str]:
    counted: Counter[str] = Counter()
    for labels, value in samples(family, suffix).items():
        counted[dict(labels)[label]] += int(value)
    return counted


def test_every_indexed_record_counts_once_per_route_with_its_latency() -> None:
    """Counts per route, status class and method equal the records', and the histogram's
    sum and +Inf bucket match their latencies."""
    records = list(sample_records(500, seed=4))
    metrics = RequestMetrics(route_limit=1000)
    metrics.observe(documents_of(records, metrics))
    found = families(metrics)
    requests = found["reqtrail_requests"]
    assert totals_by(requests, "route") == Counter(r.get("route") or "" for r in records)
    assert totals_by(requests, "status_class") == Counter(
        f"{r['status'] // 100}xx" for r in records
    )
    assert totals_by(requests, "method") == Counter(r["method"] for r in records)
    duration = found["reqtrail_request_duration_seconds"]
    assert sum(samples(duration, "_sum").values()) == pytest.approx(
        sum(r["latency_ms"] for r in records) / 1000
    )
    infinite = [s.value for s in duration.samples if s.labels.get("le") == "+Inf"]
    assert sum(infinite) == len(records)
    errors = sum(samples(found["reqtrail_request_errors"], "_total").values())
    assert errors == sum(1 for r in records if r["status"] >= 500)


def test_bucket_bounds_count_a_latency_equal_to_the_bound_in_that_bucket() -> None:
    """A request of exactly 100 ms is in le=0.1 and not in le=0.075 (Prometheus's le)."""
    record = list(sample_records(1, seed=1))[0] | {"latency_ms": 100.0, "route": "/r"}
    metrics = RequestMetrics()
    metrics.observe(documents_of([record], metrics))
    duration = families(metrics)["reqtrail_request_duration_seconds"]
    buckets = {s.labels["le"]: s.value for s in duration.samples if "le" in s.labels}
    assert buckets["0.1"] == 1 and buckets["0.075"] == 0
    assert len(buckets) == len(BUCKETS_S) + 1


def test_latencies_past_every_bound_and_at_zero_land_in_their_buckets() -> None:
    """Cumulative buckets for latencies at 0, on and just past a bound, at the last bound,
    and far past it (only +Inf)."""
    latencies = [0.0, 5.0, 5.000001, 10_000.0, 10_000.5, 1e9]
    base = list(sample_records(1, seed=1))[0] | {"route": "/r", "status": 200}
    metrics = RequestMetrics()
    metrics.observe(documents_of([base | {"latency_ms": ms} for ms in latencies], metrics))
    duration = families(metrics)["reqtrail_request_duration_seconds"]
    buckets = {s.labels["le"]: s.value for s in duration.samples if "le" in s.labels}
    assert buckets["0.005"] == 2 and buckets["0.01"] == 3
    assert buckets["10.0"] == 4 and buckets["+Inf"] == 6
    assert sum(samples(duration, "_sum").values()) == pytest.approx(sum(latencies) / 1000)


def test_observed_latencies_wait_for_at_most_tally_every_records(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Latencies observed are held until TALLY_EVERY more have come (then that observe
    tallies them) or until the metrics are read: what is held stays bounded."""
    monkeypatch.setattr(request_metrics, "TALLY_EVERY", 300)
    metrics = RequestMetrics()
    records = list(sample_records(200, seed=8))
    metrics.observe(documents_of(records, metrics))
    held = {id(lst): lst for lst in metrics.known.values()}
    assert sum(len(lst) for lst in held.values()) == 200
    metrics.observe(documents_of(records, metrics))
    assert sum(len(lst) for lst in held.values()) == 0
    metrics.observe(documents_of(records, metrics))
    infinite = [
        s.value
        for s in families(metrics)["reqtrail_request_duration_seconds"].samples
        if s.labels.get("le") == "+Inf"
    ]
    assert sum(infinite) == 600
    assert sum(len(lst) for lst in held.values()) == 0


def test_reading_while_the_loop_observes_loses_no_request() -> None:
    """A scrape thread tallying and reading while the loop observes: every record counts
    exactly once in the end."""
    metrics = RequestMetrics()  # TALLY_EVERY is above the 4,000 records: the reader tallies
    batches = [documents_of(list(sample_records(100, seed=i)), metrics) for i in range(40)]
    done = threading.Event()

    def read() -> None:
        while not done.is_set():
            families(metrics)

    reader = threading.Thread(target=read)
    reader.start()
    try:
        for batch in batches:
            metrics.observe(batch)
    finally:
        done.set()
        reader.join()
    requests = families(metrics)["reqtrail_requests"]
    assert sum(samples(requests, "_total").values()) == 4000


def test_only_one_observer_may_count_request_metrics() -> None:
    """Two observers each with request metrics are refused: a document holds one series."""
    with pytest.raises(ValueError, match="only one indexer observer"):
        Observers(IndexerMetrics("t"), IndexerMetrics("t"))


def test_ten_thousand_routes_export_at_most_the_limit_plus_other() -> None:
    """10,000 distinct routes with a limit of 50 give 50 route values plus "other", and the
    folded counter says 9,950 routes were folded; no record is lost from the totals."""
    base = list(sample_records(1, seed=2))[0]
    records = [base | {"route": f"/items/{i}", "request_id": f"r{i}"} for i in range(10_000)]
    metrics = RequestMetrics(route_limit=50)
    metrics.observe(documents_of(records, metrics))
    routes = metrics.route_values()
    assert len(routes) == 51 and OTHER in routes
    found = families(metrics)
    assert sum(totals_by(found["reqtrail_requests"], "route").values()) == 10_000
    assert samples(found["reqtrail_request_routes_folded"], "_total") == {(): 9_950.0}
    registry = CollectorRegistry()
    registry.register(metrics)
    exported = {
        s.labels["route"]
        for family in registry.collect()
        for s in family.samples
        if "route" in s.labels
    }
    assert len(exported) <= 51


def test_odd_methods_and_absent_labels_get_safe_values() -> None:
    """A made-up method counts as "other"; absent route, environment and version are ""."""
    base = list(sample_records(1, seed=3))[0]
    record = {k: v for k, v in base.items() if k not in ("route", "environment", "app_version")}
    record["method"] = "BREW"
    metrics = RequestMetrics()
    metrics.observe(documents_of([record], metrics))
    ((labels, _value),) = samples(families(metrics)["reqtrail_requests"], "_total").items()
    assert dict(labels) | {"service": "-"} == {
        "service": "-",
        "environment": "",
        "route": "",
        "method": OTHER,
        "status_class": f"{record['status'] // 100}xx",
        "app_version": "",
    }


def test_records_on_the_validators_slow_road_still_carry_their_labels() -> None:
    """A status written as 200.0 is refused by the fast decoder and accepted by the JSON
    Schema; its document still counts, under 2xx."""
    base = list(sample_records(1, seed=5))[0] | {"route": "/slow-road"}
    value = orjson.dumps(base).replace(f'"status":{base["status"]}'.encode(), b'"status":200.0')
    metrics = RequestMetrics()
    built = DocumentBuilder("t", request_series=metrics).build(Message("topic", 0, 0, value))
    assert isinstance(built, Document)
    metrics.observe([built])
    requests = families(metrics)["reqtrail_requests"]
    assert totals_by(requests, "status_class") == Counter({"2xx": 1})
    assert totals_by(requests, "route") == Counter({"/slow-road": 1})


def test_without_request_metrics_the_builder_attaches_nothing() -> None:
    """The default builder attaches no series (and keeps no latency)."""
    documents = documents_of(list(sample_records(5, seed=6)), None)
    assert all(d.request is None and d.latency_ms == 0.0 for d in documents)


def test_a_route_limit_below_one_is_refused() -> None:
    """route_limit=0 is an error naming the limit."""
    with pytest.raises(ValueError, match="route limit"):
        RequestMetrics(route_limit=0)
