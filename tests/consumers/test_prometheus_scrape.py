"""A real Prometheus scrapes a running `reqtrail consume --metrics-port`, and a real
Alertmanager routes a 5xx spike to a webhook (Debian prometheus, prometheus-alertmanager)."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest
from elasticsearch import Elasticsearch
from kafka import KafkaProducer

from reqtrail.schemas.samples import sample_records
from reqtrail.services.ports import free_ports
from reqtrail.settings import Settings
from tests.consumers.conftest import count_docs, produce, wait_for_docs
from tests.consumers.prometheus_tools import (
    Alertmanager,
    Prometheus,
    Webhook,
    consume_process,
    http_get,
    shortened_rules,
    wait_for,
)

pytestmark = pytest.mark.integration


def es_route_counts(es: Elasticsearch, prefix: str) -> dict[str, int]:
    count_docs(es, prefix)  # refreshes
    answer = es.search(
        index=f"{prefix}-*",
        size=0,
        aggs={"routes": {"terms": {"field": "route", "size": 1000}}},
    )
    return {b["key"]: b["doc_count"] for b in answer["aggregations"]["routes"]["buckets"]}


def test_promql_counts_equal_what_elasticsearch_holds(
    pipeline: Settings, es: Elasticsearch, tmp_path: Path
) -> None:
    """N records through a running indexer: Prometheus (scraping every 1 s) reports N
    indexed records, and per-route request counts equal Elasticsearch's own per route."""
    values = [orjson.dumps(r) for r in sample_records(2_400, seed=31)]
    (port,) = free_ports(1)
    target = f"127.0.0.1:{port}"
    with consume_process(pipeline, tmp_path / "consume.log", port):
        wait_for(lambda: http_get(f"http://{target}/healthz")[0] == 200, 60, "the endpoint")
        prometheus = Prometheus(
            tmp_path,
            {
                "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
                "scrape_configs": [
                    {"job_name": "reqtrail-indexer", "static_configs": [{"targets": [target]}]}
                ],
            },
            [],
        )
        try:
            prometheus.wait_ready()
            wait_for(lambda: http_get(f"http://{target}/readyz")[0] == 200, 60, "the indexer ready")
            produce(pipeline, values)
            wait_for_docs(es, pipeline.index_prefix, len(values))
            indexed = "sum(reqtrail_indexer_records_indexed_total)"
            wait_for(lambda: prometheus.scalar(indexed) == len(values), 30, f"{indexed} = N")
            in_es = es_route_counts(es, pipeline.index_prefix)
            in_prometheus = prometheus.values_by(
                "sum by (route) (reqtrail_requests_total)", "route"
            )
            assert {r: int(n) for r, n in in_prometheus.items() if r} == in_es
            assert sum(in_prometheus.values()) == len(values)
            consumed = prometheus.scalar("sum(reqtrail_indexer_records_consumed_total)")
            assert consumed == len(values)
            lag = "sum(reqtrail_indexer_consumer_lag)"  # the broker's: end - committed
            wait_for(lambda: prometheus.scalar(lag) == 0, 30, f"{lag} = 0")
            assert prometheus.scalar('up{job="reqtrail-indexer"}') == 1
            assert prometheus.scalar("reqtrail_indexer_ready") == 1
        finally:
            prometheus.stop()
    assert count_docs(es, pipeline.index_prefix) == len(values)


class Traffic:
    """Produces records for two routes at ~``rate``/s each until stopped; ``failing``
    is the share of /spiky that answers 500 (changeable while it runs)."""

    def __init__(self, settings: Settings, rate: float = 20.0) -> None:
        self.settings = settings
        self.rate = rate
        self.failing = 0.0
        self.sent = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._template = next(iter(sample_records(1, seed=8)))

    def _record(self, n: int, route: str, status: int) -> bytes:
        record = self._template | {
            "@timestamp": datetime.now(UTC)
            .isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "request_id": f"traffic-{n}-{route}",
            "route": route,
            "path": route,
            "status": status,
        }
        record.pop("error", None)
        return orjson.dumps(record)

    def _run(self) -> None:
        producer = KafkaProducer(bootstrap_servers=self.settings.kafka_bootstrap, linger_ms=5)
        try:
            n = 0
            while not self._stop.is_set():
                n += 1
                spiky_fails = (n % 100) < self.failing * 100
                producer.send(self.settings.topic, self._record(n, "/steady", 200))
                producer.send(
                    self.settings.topic, self._record(n, "/spiky", 500 if spiky_fails else 200)
                )
                self.sent += 2
                time.sleep(1 / self.rate)
            producer.flush(10)
        finally:
            producer.close(5)

    def __enter__(self) -> Traffic:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(30)


@pytest.mark.slow
def test_a_5xx_spike_fires_one_alert_through_alertmanager_and_resolves(
    pipeline: Settings, tmp_path: Path
) -> None:
    """Steady traffic fires nothing; when half of /spiky answers 500, the shipped
    ReqtrailRouteErrorRatioHigh (windows cut to 10 s) reaches the webhook through a real
    Alertmanager, for /spiky only, and is resolved once the spike ends."""
    (port,) = free_ports(1)
    target = f"127.0.0.1:{port}"
    webhook = Webhook()
    alertmanager = Alertmanager(tmp_path, webhook.url)
    prometheus: Prometheus | None = None
    try:
        alertmanager.wait_ready()
        with consume_process(pipeline, tmp_path / "consume.log", port):
            prometheus = Prometheus(
                tmp_path,
                {
                    "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
                    "alerting": {
                        "alertmanagers": [{"static_configs": [{"targets": [alertmanager.url[7:]]}]}]
                    },
                    "scrape_configs": [
                        {"job_name": "reqtrail-indexer", "static_configs": [{"targets": [target]}]}
                    ],
                },
                [shortened_rules(tmp_path)],
            )
            prometheus.wait_ready()
            wait_for(lambda: http_get(f"http://{target}/readyz")[0] == 200, 60, "indexer ready")
            with Traffic(pipeline) as traffic:
                ratio = "reqtrail:route_5xx_ratio:rate5m"
                wait_for(lambda: prometheus and prometheus.query(ratio), 30, "the ratio recorded")
                time.sleep(20)  # steady: twice the window plus the hold, and nothing fires
                assert webhook.alerts() == []
                assert prometheus.query("ALERTS") == []
                traffic.failing = 0.5
                wait_for(webhook.alerts, 60, "a notification", every_s=0.5)
                traffic.failing = 0.0
                resolved = ("resolved", "ReqtrailRouteErrorRatioHigh", "/spiky")
                wait_for(lambda: resolved in webhook.alerts(), 90, "the resolution", every_s=0.5)
            alerts = webhook.alerts()
            firing = [a for a in alerts if a[0] == "firing"]
            assert set(firing) == {("firing", "ReqtrailRouteErrorRatioHigh", "/spiky")}
            assert alerts.index(firing[0]) < alerts.index(resolved)
            url = webhook.notifications[0]["alerts"][0]["annotations"]["dashboard_url"]
            assert "route=%2Fspiky&class=5xx&since=" in url
    finally:
        if prometheus is not None:
            prometheus.stop()
        alertmanager.stop()
        webhook.close()
