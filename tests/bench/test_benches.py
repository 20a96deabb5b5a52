"""The benchmarks still run: each one, at a tiny size, against the real services.

They are not timed here (speed is measured by running them in full, see README); these
tests catch a bench that crashes, prints no table or leaves its throw-away data behind.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from kafka.admin import KafkaAdminClient

from reqtrail.consumers.setup import remove_indices
from reqtrail.es import es_client
from reqtrail.settings import Settings
from tests.conftest import LocalCluster

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.integration


def run_bench(module: str, settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "REQTRAIL_KAFKA_BOOTSTRAP": settings.kafka_bootstrap,
        "REQTRAIL_ES_URL": settings.es_url,
    }
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def bench_leftovers(settings: Settings) -> set[str]:
    """Indices, templates and topics named like the consumer bench's throw-away ones."""
    es = es_client(settings)
    try:
        names = {f"index {n}" for n in es.indices.get(index="bench-*").body}
        templates = es.options(ignore_status=404).indices.get_index_template(name="bench-*")
        names |= {f"template {t['name']}" for t in templates.body.get("index_templates", [])}
    finally:
        es.close()
    admin = KafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap.split(","))
    try:
        names |= {f"topic {t}" for t in admin.list_topics() if t.startswith("bench-")}
    finally:
        admin.close()
    return names


def test_bench_consumer_prints_its_tables_and_removes_what_it_made(settings: Settings) -> None:
    before = bench_leftovers(settings)
    args = ["--records", "3000", "--rounds", "2", "--warmup", "1000"]
    done = run_bench("bench.bench_consumer", settings, *args, "--rate", "50", "--seconds", "2")
    assert done.returncode == 0, done.stderr[-3000:]
    out = done.stdout
    assert "indexer benchmark: 3,000 records" in out
    assert "2 round(s)" in out
    for row in (
        "raw _bulk loop (ceiling)",
        "consumer, Kafka -> ES end to end",
        "ratio consumer / raw, median of rounds",
        "consumer alone, no-op ES sink",
        "freshness at 50/s, produce -> searchable",
    ):
        assert row in out, out
    assert "throughput target (median paired ratio >= 0.9): " in out
    assert "CPU seconds per 10k documents" in out
    assert bench_leftovers(settings) <= before


@pytest.mark.slow
def test_bench_cluster_prints_its_tables_and_removes_what_it_made(
    settings: Settings, cluster: LocalCluster
) -> None:
    """The cluster bench, on the shared node and the session's 3-node cluster, prints every
    (target, run) row and the ratios, and leaves no index or topic behind on either."""
    on_cluster = settings.replace(es_url=cluster.es_url)

    def leftovers() -> set[str]:  # only this bench's names (others may run benches meanwhile)
        found = bench_leftovers(settings) | bench_leftovers(on_cluster)
        mine = ("bench-source-", "bench-raw-", "bench-idx-", "bench-warmup-")
        return {name for name in found if name.split()[1].startswith(mine)}

    before = leftovers()
    args = ["--records", "2000", "--rounds", "1", "--warmup", "500"]
    targets = ["--single-url", settings.es_url, "--cluster-urls", cluster.es_url]
    done = run_bench("bench.bench_cluster", settings, *args, *targets)
    assert done.returncode == 0, done.stderr[-3000:]
    out = done.stdout
    assert "indexer on a 3-node ES cluster vs one node: 2,000 records" in out
    for target in ("1 node", "3 nodes, 1 replica", "3 nodes, no replica"):
        for run in (
            "raw _bulk loop (ceiling)",
            "indexer, split-phase",
            "indexer, elasticsearch-py",
        ):
            assert any(line.startswith(target) and run in line for line in out.splitlines()), out
    assert "split-phase / elasticsearch-py on 3 nodes, 1 replica" in out
    assert "3 nodes, 1 replica / 1 node, indexer, split-phase" in out
    assert leftovers() <= before


def test_bench_queries_prints_its_table(settings: Settings) -> None:
    prefix = settings.index_prefix
    try:
        args = ["--docs", "2000", "--runs", "3", "--warmup", "1", "--prefix", prefix]
        done = run_bench("bench.bench_queries", settings, *args)
        # 1 means a latency target was missed: a result, not a crash
        assert done.returncode in (0, 1), done.stderr[-3000:]
        assert "2,000 documents" in done.stdout
        for query in ("search by user ID", "per-route p50/p95/p99 trend", "request by ID"):
            assert query in done.stdout, done.stdout
    finally:
        remove_indices(settings)  # the seeded <prefix>-* indices and the template <prefix>


def test_bench_middleware_prints_its_table(settings: Settings) -> None:
    """bench_middleware times reqtrail, sentry-sdk and OpenTelemetry in all three frameworks."""
    args = ["--requests", "200", "--rounds", "1", "--idle-ms", "1", "--warmup", "20"]
    done = run_bench("bench.bench_middleware", settings, *args)
    assert done.returncode == 0, done.stderr[-3000:]
    out = done.stdout
    for table in ("ASGI (Starlette)", "WSGI (Flask)", "Django (WSGI)"):
        assert table in out, out
    for row in (
        "reqtrail (Kafka up)",
        "reqtrail (Kafka up, kafka-python)",
        "reqtrail, request path only",
        "reqtrail (Kafka down)",
        "sentry-sdk, errors only",
        "sentry-sdk, with tracing",
        "OpenTelemetry, batch exporter",
    ):
        assert out.count(row) == 3, out
    assert out.count("(no SDK in the process)") == 3, out
    for client in ("kafka-python", "confluent-kafka"):
        assert f"target ASGI added p50 <= 45 µs, p99 <= 150 µs ({client}): " in out
        assert (
            f"target ASGI reqtrail / sentry-sdk errors only (added p50) <= 0.2 ({client}): " in out
        )
    assert "  reqtrail: produced=" in out
    assert "  reqtrail-kafka-python: produced=" in out


def test_bench_metrics_prints_its_tables_and_removes_what_it_made(settings: Settings) -> None:
    """bench_metrics runs its three variants at a tiny size and leaves no topic or index."""
    before = bench_leftovers(settings)
    args = ["--records", "2000", "--rounds", "1", "--micro-pairs", "5"]
    done = run_bench("bench.bench_metrics", settings, *args)
    assert done.returncode == 0, done.stderr[-3000:]
    out = done.stdout
    assert "indexer metrics cost: 2,000 records per run" in out
    for row in (
        "none",
        "pipeline metrics",
        "pipeline + request metrics",
        "request metrics added: (pipeline + request) / pipeline",
        "the same, indexer thread CPU only (stricter)",
        "all metrics: (pipeline + request) / none",
    ):
        assert row in out, out
    assert "cost target (request metrics add <= 5% CPU per record): " in out
    assert "on the indexer thread's CPU alone (stricter): " in out
    assert bench_leftovers(settings) <= before


@pytest.mark.slow
@pytest.mark.skipif(
    shutil.which("valgrind") is None, reason="needs valgrind (./dev test installs it)"
)
def test_bench_metrics_instructions_counts_each_variant_and_removes_what_it_made(
    settings: Settings,
) -> None:
    """The callgrind bench runs the three variants under valgrind at a tiny size, prints the
    instructions per record of each and the ratios, and leaves no topic or index."""
    before = bench_leftovers(settings)
    args = ["--records", "6000", "--warmup", "2000", "--repeats", "1"]
    done = run_bench("bench.bench_metrics_instructions", settings, *args)
    assert done.returncode == 0, done.stderr[-3000:]
    out = done.stdout
    assert "indexer metrics cost in instructions (callgrind): 6,000 records per run" in out
    variants = ("none", "pipeline metrics", "pipeline + request metrics")
    rows = [line for line in out.splitlines() if line.split("|")[0].strip() in variants]
    assert len(rows) == 3, out
    for row in rows:  # a count, in the thousands per record
        assert int(row.split("|")[1].strip().replace(",", "")) > 1000, row
    assert "request metrics added: (pipeline + request) / pipeline" in out
    assert "cost target (request metrics add <= 5% instructions per record): " in out
    assert bench_leftovers(settings) <= before


def test_bench_compare_prints_its_tables_and_removes_its_data(settings: Settings) -> None:
    """bench_compare at 4,000 documents: both tables, and its seeded indices are gone after."""
    args = ["--docs", "4000", "--runs", "2", "--warmup", "1", "--prefix", settings.index_prefix]
    done = run_bench("bench.bench_compare", settings, *args)
    # 1 means the 2 s target was missed: a result, not a crash
    assert done.returncode in (0, 1), done.stderr[-3000:]
    for row in (
        "4,000 documents, 20 routes",
        "dashboard's comparison aggregation",
        "reqtrail compare (compare_releases)",
        "24 h verdict: regressed",
        "A/A: hour h vs hour h+1 of 1.41.0",
        "A/B: 1.42.0 vs 1.41.0, same hour",
    ):
        assert row in done.stdout, done.stdout
    es = es_client(settings)
    try:
        assert not es.indices.get(index=f"{settings.index_prefix}-*", allow_no_indices=True).body
    finally:
        es.close()


def test_bench_gate_noise_prints_its_table() -> None:
    """bench_gate_noise with 5 pairs per row: every scenario row and the pooled line."""
    done = subprocess.run(
        [sys.executable, "-m", "bench.bench_gate_noise", "--pairs", "5"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    for row in ("log-normal", "heavy tail", "stalls, 200-s runs", "A/A false alarms, all rows"):
        assert row in done.stdout, done.stdout
