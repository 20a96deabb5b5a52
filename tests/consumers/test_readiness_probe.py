"""/readyz follows Elasticsearch going away and coming back; /healthz stays up throughout."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from reqtrail.consumers.setup import ensure_index_template
from reqtrail.es import es_client
from reqtrail.services import ElasticsearchService
from reqtrail.services.ports import free_ports
from reqtrail.settings import Settings
from tests.consumers.conftest import produce, record_values, wait_for_docs
from tests.consumers.prometheus_tools import consume_process, http_get, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.slow]


class LivenessWatch:
    """Asks /healthz every half second on a thread; keeps every status."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.statuses: list[int] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(0.5):
            self.statuses.append(http_get(self.url)[0])

    def stop(self) -> list[int]:
        self._stop.set()
        self._thread.join(5)
        return self.statuses


def test_readyz_fails_within_10s_of_es_stopping_and_recovers(
    dedicated_es: Callable[..., ElasticsearchService], pipeline: Settings, tmp_path: Path
) -> None:
    """With its own Elasticsearch node stopped, the indexer's /readyz answers 503 naming
    Elasticsearch within 10 s, and 200 again once the node is back (the records produced
    meanwhile are then indexed); /healthz answers 200 the whole time."""
    node = dedicated_es()
    settings = pipeline.replace(es_url=node.url)
    ensure_index_template(settings)
    es = es_client(settings)
    (port,) = free_ports(1)
    base = f"http://127.0.0.1:{port}"
    first, during = record_values(200, seed=41), record_values(100, seed=42)
    with consume_process(settings, tmp_path / "consume.log", port):
        wait_for(lambda: http_get(f"{base}/readyz")[0] == 200, 90, "ready at start")
        liveness = LivenessWatch(f"{base}/healthz")
        produce(settings, first)
        wait_for_docs(es, settings.index_prefix, len(first))
        node.stop()
        stopped = time.monotonic()
        status, body = wait_for(
            lambda: (answer := http_get(f"{base}/readyz"))[0] == 503 and answer, 10, "not ready"
        )
        assert time.monotonic() - stopped <= 10
        assert "Elasticsearch at" in body and "unreachable" in body, body
        produce(settings, during)  # the indexer retries them while the node is down
        time.sleep(5)
        assert http_get(f"{base}/readyz")[0] == 503
        node.start()
        wait_for(lambda: http_get(f"{base}/readyz")[0] == 200, 120, "ready again")
        wait_for_docs(es, settings.index_prefix, len(first) + len(during), timeout_s=120)
        statuses = liveness.stop()
    es.close()
    assert statuses and set(statuses) == {200}, statuses
