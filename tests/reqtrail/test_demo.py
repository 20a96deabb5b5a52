"""`reqtrail demo` runs the whole pipeline, loses nothing, and leaves no process behind."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from elasticsearch import Elasticsearch

from reqtrail.consumers.setup import remove_all
from reqtrail.services.ports import free_ports
from reqtrail.settings import Settings
from reqtrail.supervisor import pid_alive

pytestmark = [pytest.mark.integration, pytest.mark.slow]

TOTALS = re.compile(
    r"traffic totals: produced (\d+), delivered (\d+), dropped (\d+), indexed (\d+)"
)
STARTED = re.compile(r"started ([\w-]+) \(pid (\d+)")
PLAYER_500 = re.compile(r"Player (\S+) hit a 500 .*\n\s+request (\S+):")


def test_short_demo_indexes_everything_it_produced_and_cleans_up(
    settings: Settings, tmp_path: Path
) -> None:
    """A 20 s demo: produced = delivered = indexed (demo counters and ES), all children gone."""
    server_port, sentry_port, dashboard_port = free_ports(3)
    env = {
        **os.environ,
        "REQTRAIL_KAFKA_BOOTSTRAP": settings.kafka_bootstrap,
        "REQTRAIL_ES_URL": settings.es_url,
        "REQTRAIL_TOPIC": settings.topic,
        "REQTRAIL_DLQ_TOPIC": settings.dlq_topic,
        "REQTRAIL_CONSUMER_GROUP": settings.consumer_group,
        "REQTRAIL_INDEX_PREFIX": settings.index_prefix,
        "REQTRAIL_DASHBOARD_PORT": str(dashboard_port),
        "REQTRAIL_DEMO_APP_VERSIONS": "1.5.0:1",  # every player on the crashing release
        "REQTRAIL_DEMO_PACE": "0.2",
        "REQTRAIL_DEMO_CRASH_CHANCE": "0.5",
    }
    env.pop("SENTRY_DSN", None)
    result = subprocess.run(
        [
            sys.executable, "-m", "reqtrail.cli", "demo",
            "--duration", "20", "--players", "8", "--spawn-rate", "8",
            "--server-port", str(server_port), "--sentry-port", str(sentry_port),
            "--exit-when-done", "--log-dir", str(tmp_path / "logs"),
        ],
        env=env, capture_output=True, text=True, timeout=240, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    output = result.stdout + result.stderr
    assert result.returncode == 0, output

    totals = TOTALS.search(output)
    assert totals, output
    produced, delivered, dropped, indexed = map(int, totals.groups())
    assert produced > 50, output
    assert produced == delivered == indexed and dropped == 0, output

    es = Elasticsearch(settings.es_url)
    es.indices.refresh(index=settings.read_alias)
    assert es.count(index=settings.read_alias)["count"] == produced

    started = {name: int(pid) for name, pid in STARTED.findall(output)}
    assert set(started) == {"sentry", "game-server", "indexer", "dashboard", "players"}
    assert not [name for name, pid in started.items() if pid_alive(pid)], output

    crash = PLAYER_500.search(output)
    assert crash, output
    user, request_id = crash.groups()
    hit = es.search(index=settings.read_alias, query={"term": {"request_id": request_id}})
    record = hit["hits"]["hits"][0]["_source"]
    assert record["user_id"] == user and record["status"] == 500
    assert record["response_body"] and record["error"]["sentry_event_id"]
    es.close()
    remove_all(settings)  # the demo keeps its data for the dashboard; a test does not
