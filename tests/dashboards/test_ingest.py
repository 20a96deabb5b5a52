"""The Ingest page: newest record from Elasticsearch, rate/lag/dead letters from indexers."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

import reqtrail.dashboards
from reqtrail.consumers.health import HealthServer
from reqtrail.consumers.metrics import IndexerMetrics
from reqtrail.consumers.probes import Probes
from reqtrail.consumers.results import BulkOutcome
from reqtrail.consumers.types import DeadLetter, Message
from reqtrail.dashboards.queries.es_client import DataUnavailable
from reqtrail.dashboards.queries.filters import parse_time
from reqtrail.dashboards.queries.indexers import indexing_rates, metrics_urls, read_indexer
from reqtrail.dashboards.queries.ingest import freshness
from reqtrail.services.ports import free_ports
from tests.consumers.fakes import make_documents
from tests.dashboards.conftest import Seeded

APP = Path(reqtrail.dashboards.__file__).resolve().parent / "app.py"


class QuietLog:
    def __getattr__(self, level: str) -> object:
        return lambda *args, **kwargs: None


@pytest.fixture
def indexer_endpoint() -> Iterator[tuple[str, IndexerMetrics]]:
    """A real metrics endpoint of an indexer whose hooks the test drives."""
    metrics = IndexerMetrics("reqs", request_metrics=False)
    metrics.watch(lambda: {0: 40, 1: 2}, lambda: 5)
    metrics.polled(0)
    metrics.sample()
    metrics.partitions_assigned([0, 1], frozenset({0, 1}))
    probes = Probes(metrics, lambda: None, logger=QuietLog())
    server = HealthServer(metrics.registry, probes, "127.0.0.1", 0).start()
    try:
        yield f"http://127.0.0.1:{server.port}/metrics", metrics
    finally:
        server.close()


def index(metrics: IndexerMetrics, count: int) -> None:
    documents = make_documents(count)
    metrics.bulk_answered(BulkOutcome(indexed=documents, latency_s=0.01))
    metrics.indexed(documents)


def test_an_indexer_endpoint_reads_as_totals_lag_and_dead_letters(
    indexer_endpoint: tuple[str, IndexerMetrics],
) -> None:
    """Lag is summed over partitions, dead letters kept by reason, readiness read."""
    url, metrics = indexer_endpoint
    index(metrics, 30)
    metrics.dead_lettered([DeadLetter(Message("reqs", 0, 1, b"x"), "schema", "bad")])
    reading = read_indexer(url)
    assert reading.error is None
    assert (reading.indexed, reading.lag, reading.in_flight, reading.partitions) == (30, 42, 5, 2)
    assert reading.dead_lettered["schema"] == 1 and reading.ready is True
    assert reading.seconds_since_bulk is not None and reading.seconds_since_bulk < 60


def test_the_rate_is_measured_between_two_reads_and_a_dead_indexer_says_why(
    indexer_endpoint: tuple[str, IndexerMetrics],
) -> None:
    """Records indexed between the two reads make the rate; an unreachable URL has no
    rate and carries its error."""
    url, metrics = indexer_endpoint
    (dead_port,) = free_ports(1)
    dead = f"http://127.0.0.1:{dead_port}/metrics"

    def pause(seconds: float) -> None:
        index(metrics, 50)
        time.sleep(seconds)

    (alive, rate), (gone, none) = indexing_rates([url, dead], gap_s=0.5, sleep=pause)
    assert rate is not None and 50 / 1.0 <= rate <= 50 / 0.5
    assert none is None and gone.error and "refused" in gone.error.lower()


def test_metrics_urls_accept_bare_hosts() -> None:
    """host:port becomes http://host:port/metrics; full URLs stay as given."""
    assert metrics_urls(" a:9400, http://b:9400/metrics ,,http://c:1/x") == [
        "http://a:9400/metrics",
        "http://b:9400/metrics",
        "http://c:1/x",
    ]


@pytest.mark.integration
def test_freshness_is_the_newest_record_not_in_the_future(seeded: Seeded) -> None:
    """The newest @timestamp up to now is reported; a missing index is 'no data yet'."""
    fresh = freshness(seeded.es, seeded.settings.read_alias, seeded.now)
    stamps = [parse_time(r["@timestamp"]) for r in seeded.records]
    expected = max(t for t in stamps if t <= seeded.now + timedelta(minutes=1))
    assert fresh.newest is not None and abs(fresh.newest - expected) < timedelta(seconds=1)
    with pytest.raises(DataUnavailable, match="does not exist"):
        freshness(seeded.es, "t-ingest-never-created", datetime.now(UTC))


@pytest.mark.integration
def test_the_ingest_page_tells_no_data_from_data_and_lists_the_indexers(
    seeded: Seeded,
    indexer_endpoint: tuple[str, IndexerMetrics],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With the seeded index and one live indexer, the page shows the newest record and
    the indexer's lag and dead letters; for an index never written it says 'no data'."""
    url, metrics = indexer_endpoint
    metrics.dead_lettered([DeadLetter(Message("reqs", 0, 1, b"x"), "rejected", "mapping")])
    monkeypatch.setenv("REQTRAIL_ES_URL", seeded.settings.es_url)
    monkeypatch.setenv("REQTRAIL_INDEX_PREFIX", seeded.prefix)
    monkeypatch.setenv("REQTRAIL_INDEXER_METRICS_URLS", url)
    monkeypatch.delenv("REQTRAIL_DASHBOARD_PASSWORD", raising=False)
    app = AppTest.from_file(str(APP), default_timeout=60)
    app.run()
    app.switch_page("views/ingest.py").run()
    assert not app.exception, app.exception
    shown = {m.label: m.value for m in app.metric}
    assert shown["Lag"] == "42 records" and shown["Dead letters"] == "1"
    assert shown["Indexers answering"] == "1 of 1" and shown["Newest record"] != "none"
    table = app.dataframe[0].value
    assert list(table["indexer"]) == [url] and list(table["dead letters"]) == ["rejected 1"]
    monkeypatch.setenv("REQTRAIL_INDEX_PREFIX", "t-ingest-never-created")
    monkeypatch.setenv("REQTRAIL_INDEXER_METRICS_URLS", "")
    app.run()
    assert not app.exception
    texts = " ".join(str(e.value) for kind in ("info", "warning") for e in getattr(app, kind))
    assert "does not exist" in texts
