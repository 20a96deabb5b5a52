"""Prometheus metrics of reqtrail's producer, for the game server's own registry.

Needs prometheus-client (``pip install prometheus-client``); reqtrail itself never
requires it, and nothing else in the middleware imports it::

    from prometheus_client import REGISTRY
    from reqtrail.metrics import ProducerCollector

    REGISTRY.register(ProducerCollector())  # the process-wide pipeline, read at each scrape

Exported (totals since the process started; the game server's own labels are added by
Prometheus's target labels)::

    reqtrail_producer_records_produced_total           records handed to the sink
    reqtrail_producer_records_delivered_total          acknowledged by Kafka
    reqtrail_producer_records_dropped_total{reason}    never to reach Kafka, by reason
    reqtrail_producer_records_spilled_total            dropped ones written to the spill file
    reqtrail_producer_records_sampled_out_total        not recorded because of sampling
    reqtrail_producer_resets_total                     wedged Kafka producers replaced
    reqtrail_producer_records_queued                   waiting in the sink's queue
    reqtrail_producer_records_in_flight                sent, not yet acknowledged
    reqtrail_producer_connected                        1 while a Kafka producer is up
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

try:
    from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
    from prometheus_client.registry import Collector
except ModuleNotFoundError as exc:  # pragma: no cover - exercised in a subprocess test
    raise ModuleNotFoundError(
        "reqtrail.metrics needs prometheus-client, which reqtrail does not install for a "
        "game server: pip install prometheus-client",
        name=exc.name,
    ) from exc

from reqtrail.producers.metrics import ProducerCounts, producer_counts

__all__ = ["ProducerCollector"]


def _process_pipeline() -> Any:
    from reqtrail.producers.pipeline import get_pipeline

    return get_pipeline()


class ProducerCollector(Collector):
    """Reads the producer's counters at every scrape.

    ``pipeline``: a ``RecordPipeline`` (default: the process-wide one, looked up at each
    scrape, so the collector may be registered before the pipeline is configured).
    """

    def __init__(self, pipeline: Any = None) -> None:
        self._source: Callable[[], Any] = (
            (lambda: pipeline) if pipeline is not None else _process_pipeline
        )

    def describe(self) -> list[Metric]:
        """The families without samples: registering builds no pipeline."""
        return list(_families(None))

    def collect(self) -> Iterator[Metric]:
        return _families(producer_counts(self._source()))


def _families(counts: ProducerCounts | None) -> Iterator[Metric]:
    def counter(name: str, documentation: str, value: int) -> CounterMetricFamily:
        family = CounterMetricFamily(f"reqtrail_producer_{name}", documentation)
        if counts is not None:
            family.add_metric([], float(value))
        return family

    def gauge(name: str, documentation: str, value: float) -> GaugeMetricFamily:
        family = GaugeMetricFamily(f"reqtrail_producer_{name}", documentation)
        if counts is not None:
            family.add_metric([], value)
        return family

    c = counts or ProducerCounts()
    yield counter("records_produced", "Records handed to reqtrail's Kafka sink.", c.produced)
    yield counter("records_delivered", "Records acknowledged by Kafka.", c.delivered)
    dropped = CounterMetricFamily(
        "reqtrail_producer_records_dropped",
        "Records that will never reach Kafka, by reason.",
        labels=["reason"],
    )
    if counts is not None:
        for reason, count in sorted(counts.dropped_by_reason.items()):
            dropped.add_metric([reason], float(count))
    yield dropped
    yield counter("records_spilled", "Dropped records written to the spill file.", c.spilled)
    yield counter("records_sampled_out", "Requests not recorded (sampling).", c.sampled_out)
    yield counter(
        "resets", "Kafka producers replaced because they stopped settling.", c.producer_resets
    )
    yield gauge("records_queued", "Records waiting in the sink's queue.", c.queued)
    yield gauge("records_in_flight", "Records sent to Kafka, not yet acknowledged.", c.in_flight)
    yield gauge("connected", "1 while the sink has a Kafka producer.", float(c.connected))
