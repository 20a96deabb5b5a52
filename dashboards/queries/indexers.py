"""What the running indexers report on their ``/metrics`` (``consume --metrics-port``).

The dashboard has no Kafka client: consumer lag, dead letters and the indexing rate come
from the indexers themselves. Each URL of ``REQTRAIL_INDEXER_METRICS_URLS`` is read with a
short timeout; one that does not answer is reported with its error, not hidden. The rate
is measured between two reads (``indexing_rates``).
"""

from __future__ import annotations

import time
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from prometheus_client.parser import text_string_to_metric_families

TIMEOUT_S = 2.0


@dataclass(frozen=True)
class IndexerReading:
    """One indexer's totals and state at one moment (``error`` set when unreadable)."""

    url: str
    error: str | None = None
    indexed: float = 0.0
    consumed: float = 0.0
    dead_lettered: dict[str, float] = field(default_factory=dict)
    lag: float = 0.0
    in_flight: float = 0.0
    partitions: int = 0
    ready: bool | None = None
    seconds_since_bulk: float | None = None


def parse_metrics(url: str, text: str) -> IndexerReading:
    """An IndexerReading from the Prometheus text of one indexer."""
    values: dict[str, float] = {}
    dead: dict[str, float] = {}
    lag = 0.0
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "reqtrail_indexer_records_dead_lettered_total":
                dead[sample.labels.get("reason", "")] = sample.value
            elif sample.name == "reqtrail_indexer_consumer_lag":
                lag += sample.value
            elif not sample.labels:
                values[sample.name] = sample.value
    ready = values.get("reqtrail_indexer_ready")
    return IndexerReading(
        url=url,
        indexed=values.get("reqtrail_indexer_records_indexed_total", 0.0),
        consumed=values.get("reqtrail_indexer_records_consumed_total", 0.0),
        dead_lettered=dead,
        lag=lag,
        in_flight=values.get("reqtrail_indexer_documents_in_flight", 0.0),
        partitions=int(values.get("reqtrail_indexer_partitions_assigned", 0.0)),
        ready=None if ready is None else ready == 1.0,
        seconds_since_bulk=values.get("reqtrail_indexer_seconds_since_last_successful_bulk"),
    )


def read_indexer(url: str, timeout_s: float = TIMEOUT_S) -> IndexerReading:
    """Read one indexer's ``/metrics`` (never raises: failures come back as ``error``)."""
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as answer:
            text = answer.read().decode("utf-8", "replace")
        return parse_metrics(url, text)
    except Exception as exc:  # unreachable, refused, not Prometheus text...
        return IndexerReading(url, error=f"{type(exc).__name__}: {exc}")


def metrics_urls(setting: str) -> list[str]:
    """The URLs of ``REQTRAIL_INDEXER_METRICS_URLS`` (``/metrics`` added to bare hosts)."""
    urls = []
    for part in setting.split(","):
        url = part.strip()
        if not url:
            continue
        if "://" not in url:
            url = f"http://{url}"
        if url.rstrip("/").count("/") == 2:  # scheme://host[:port] only
            url = url.rstrip("/") + "/metrics"
        urls.append(url)
    return urls


def indexing_rates(
    urls: Sequence[str],
    gap_s: float = 1.0,
    read: Callable[[str], IndexerReading] = read_indexer,
    sleep: Callable[[float], None] = time.sleep,
) -> list[tuple[IndexerReading, float | None]]:
    """Each indexer's second reading and its records indexed per second between the two."""
    first = {url: read(url) for url in urls}
    began = time.monotonic()
    sleep(gap_s)
    elapsed = max(time.monotonic() - began, 1e-3)
    result: list[tuple[IndexerReading, float | None]] = []
    for url in urls:
        second = read(url)
        before = first[url]
        rate = None
        if second.error is None and before.error is None and second.indexed >= before.indexed:
            rate = (second.indexed - before.indexed) / elapsed
        result.append((second, rate))
    return result
