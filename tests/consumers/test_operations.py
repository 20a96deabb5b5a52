"""Integration: write-blocked index, setup, retention, and two processes in one group."""

from __future__ import annotations

import logging
import os
import re
import signal
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import orjson
import pytest
from elasticsearch import Elasticsearch
from typer.testing import CliRunner

from reqtrail.consumers.setup import ensure_index_template, ensure_topics
from reqtrail.es import es_client
from reqtrail.schemas.samples import sample_records
from reqtrail.settings import Settings
from tests.consumers.conftest import (
    cleanup,
    committed_total,
    consumers_app,
    count_docs,
    dead_letters,
    produce,
    record_values,
    running_indexer,
    settings_env,
    wait_for_docs,
    wait_until,
)

pytestmark = pytest.mark.integration


def test_write_blocked_index_is_reported_and_recovers_by_itself(
    pipeline: Settings, es: Elasticsearch, caplog: pytest.LogCaptureFixture
) -> None:
    """With index.blocks.write on, the indexer logs a clear error on every retry, stays
    alive, dead-letters nothing, and indexes everything once the block is lifted."""
    settings = pipeline.replace(retry_backoff_ms=100, retry_backoff_max_ms=400)
    day = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=2)
    values = [orjson.dumps(r) for r in sample_records(50, start=day, span=timedelta(hours=1))]
    index = f"{settings.index_prefix}-{day:%Y.%m.%d}"
    es.indices.create(index=index)
    es.indices.put_settings(index=index, settings={"index.blocks.write": True})
    produce(settings, values)
    with (
        caplog.at_level(logging.ERROR, logger="reqtrail.indexer"),
        running_indexer(settings) as indexer,
    ):

        def blocked_errors() -> list[str]:
            return [r.getMessage() for r in caplog.records if "refuses writes" in r.getMessage()]

        wait_until(lambda: len(blocked_errors()) >= 3, 30, "repeated write-block errors")
        assert index in blocked_errors()[0] and "index.blocks.write" in blocked_errors()[0]
        assert count_docs(es, settings.index_prefix) == 0
        assert committed_total(settings) == 0
        es.indices.put_settings(index=index, settings={"index.blocks.write": None})
        wait_for_docs(es, settings.index_prefix, len(values), timeout_s=30)
        assert indexer.stats.retried_items[403] > 0
    assert dead_letters(settings) == []
    assert committed_total(settings) == len(values)


def test_setup_creates_topics_template_and_first_index(settings: Settings) -> None:
    """`reqtrail setup` creates both topics and a template with refresh_interval set."""
    settings = settings.replace(topic_partitions=2, index_refresh_interval="2s")
    env = settings_env(settings) | {"REQTRAIL_INDEX_REFRESH_INTERVAL": "2s"}
    try:
        result = CliRunner().invoke(consumers_app(), ["setup"], env=env)
        assert result.exit_code == 0, result.output
        assert settings.topic in result.output
        es = es_client(settings)
        template = es.indices.get_index_template(name=settings.index_prefix)
        index_settings = template["index_templates"][0]["index_template"]["template"]["settings"]
        assert index_settings["index"]["refresh_interval"] == "2s"
        today = f"{settings.index_prefix}-{datetime.now(UTC):%Y.%m.%d}"
        assert today in es.indices.get_alias(name=settings.read_alias)
        assert ensure_topics(settings) == []  # idempotent
    finally:
        cleanup(settings)


def test_retention_deletes_only_expired_daily_indices(
    pipeline: Settings, es: Elasticsearch
) -> None:
    """retention --keep-days 2 deletes older <prefix>-YYYY.MM.DD indices and nothing else."""
    from reqtrail.consumers.retention import apply_retention

    today = date(2026, 1, 10)
    for day in (7, 8, 9, 10):
        es.indices.create(index=f"{pipeline.index_prefix}-2026.01.{day:02d}")
    es.indices.create(index=f"{pipeline.index_prefix}-keep-me")
    assert apply_retention(es, pipeline.index_prefix, 2, today=today, dry_run=True) == [
        f"{pipeline.index_prefix}-2026.01.07",
        f"{pipeline.index_prefix}-2026.01.08",
    ]
    apply_retention(es, pipeline.index_prefix, 2, today=today)
    left = sorted(es.indices.get(index=f"{pipeline.index_prefix}-*").body)
    assert left == [
        f"{pipeline.index_prefix}-2026.01.09",
        f"{pipeline.index_prefix}-2026.01.10",
        f"{pipeline.index_prefix}-keep-me",
    ]


def _spawn_consume(settings: Settings, log_path: Path) -> subprocess.Popen[bytes]:
    env = os.environ | settings_env(settings)
    return subprocess.Popen(
        [sys.executable, "-m", "reqtrail.cli", "consume"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=log_path.open("wb"),
    )


def _assigned(log_path: Path) -> set[int] | None:
    found = re.findall(r"partitions assigned: \[([0-9, ]*)\]", log_path.read_text())
    if not found:
        return None
    return {int(p) for p in found[-1].split(",") if p.strip()}


def test_two_consume_processes_share_the_partitions(settings: Settings, tmp_path: Path) -> None:
    """Two `reqtrail consume` processes in one group split the partitions; together they
    index exactly N documents; SIGTERM stops each gracefully with exit code 0."""
    settings = settings.replace(topic_partitions=4, stats_interval_s=1.0)
    ensure_topics(settings)
    ensure_index_template(settings)
    es = es_client(settings)
    logs = [tmp_path / "a.log", tmp_path / "b.log"]
    procs = [_spawn_consume(settings, path) for path in logs]
    try:

        def split_evenly() -> bool:
            sets = [_assigned(path) for path in logs]
            return all(s is not None and len(s) == 2 for s in sets)

        wait_until(split_evenly, 60, "both processes to own 2 partitions")
        a, b = (_assigned(path) or set() for path in logs)
        assert a.isdisjoint(b) and a | b == {0, 1, 2, 3}
        values = record_values(800, seed=21)
        produce(settings, values)
        wait_for_docs(es, settings.index_prefix, len(values))
        wait_until(lambda: committed_total(settings) == len(values), 20, "offsets committed")
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        assert [proc.wait(timeout=60) for proc in procs] == [0, 0]
        indexed = [int(re.findall(r"indexed (\d+) ", path.read_text())[-1]) for path in logs]
        assert all(n > 0 for n in indexed) and sum(indexed) == len(values)
        assert count_docs(es, settings.index_prefix) == len(values)
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        cleanup(settings)
        for path in logs:
            if path.exists():
                sys.stderr.write(f"--- {path.name} (tail)\n{path.read_text()[-1500:]}\n")
