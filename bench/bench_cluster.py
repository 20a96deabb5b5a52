"""Indexer throughput on a 3-node Elasticsearch cluster against a single node, and the
indexer's split-phase bulk transport against elasticsearch-py's client on each.

In one run, on the same machine, with the same records (produced once, zstd, keyed by user
ID, as the middleware's sink writes them):

* targets: a **single node**; the **cluster** with 1 replica (what ``reqtrail setup`` picks
  on more than one node); the **cluster** with no replica (its raw capacity). Every node
  has the same heap (``--heap``) and the daily indices one shard per node. Unless given
  (``--single-url``, ``--cluster-urls``), the nodes are started here, through the same code
  as ``reqtrail services up``, on free ports in a state directory of their own, and
  removed at the end.
* per target: the **raw _bulk loop** (elasticsearch-py, bodies prebuilt, back to back: the
  target's ceiling), and the **indexer** end to end (Kafka fetch, decode, bulk, commit)
  with each of its two bulk clients: the **split-phase** transport (consumers.bulk_http;
  on a cluster through the first node's URL, as when one URL is given) and
  **elasticsearch-py's client** over every node (its own node pool; each bulk blocks the
  loop). ``reqtrail consume`` takes the first for one URL and the second for several
  (consumers.clients.indexer_bulk_transport); the table marks which one a target gets.

Each round runs every combination once, in a rotated order; ratios are taken within a
round (paired) and their median is reported, as the machine's speed drifts between
minutes. CPU seconds per 10k documents (all ES nodes, the Kafka broker, this process) show
where the time went: on a small machine the cluster's three JVMs share its cores with
everything else, so the table says when the machine, not the design, is the limit.

    python -m bench.bench_cluster                      # 30k records, 3 rounds
    python -m bench.bench_cluster --records 100000 --rounds 5 --heap 1g
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path

import orjson

from bench.bench_consumer import (
    Measured,
    consumer_run,
    isolated,
    print_rows,
    produce,
    raw_bulk,
)
from reqtrail.consumers.bulk_client import ClientBulkTransport
from reqtrail.consumers.bulk_http import BulkTransport, HttpBulkTransport
from reqtrail.consumers.indexer_loop import tune_gc_for_throughput
from reqtrail.consumers.setup import ensure_topics, remove_all, remove_indices
from reqtrail.es import es_client
from reqtrail.schemas.samples import sample_records
from reqtrail.services import ElasticsearchService, ServiceError
from reqtrail.services.cluster import elasticsearch_nodes
from reqtrail.services.ports import free_port_base
from reqtrail.settings import Settings, load_settings

CLIENTS = ("raw _bulk loop (ceiling)", "indexer, split-phase", "indexer, elasticsearch-py")


@dataclass
class Target:
    """An ES deployment to index into: its URLs, nodes and replicas."""

    label: str
    urls: str
    nodes: int
    replicas: int
    runs: dict[str, list[Measured]] = field(default_factory=dict)

    def settings(self, base: Settings) -> Settings:
        return base.replace(es_url=self.urls, index_replicas=self.replicas, index_shards=self.nodes)


@contextmanager
def local_nodes(base: Settings, count: int, heap: str, label: str) -> Iterator[str]:
    """``count`` ES nodes started as ``reqtrail services up --es-nodes`` does, on free ports
    in a throw-away state directory; yields their URLs (comma separated)."""
    port = free_port_base([*range(count), *range(100, 100 + count)])
    state_dir = Path(base.state_dir) / "dedicated" / f"bench-{label}-{uuid.uuid4().hex[:6]}"
    settings = base.replace(
        state_dir=str(state_dir),
        download_dir=base.download_dir or str(Path(base.state_dir) / "downloads"),
        es_url=f"http://127.0.0.1:{port}",
        es_transport_port=0,
        es_heap=heap,
    )
    nodes: list[ElasticsearchService] = elasticsearch_nodes(settings, count, report=note)
    try:
        began = time.monotonic()
        for node in nodes:
            node.start(wait=False)
        for node in nodes:
            node.wait_healthy()
        note(f"{label}: {count} node(s) healthy in {time.monotonic() - began:.0f} s")
        yield ",".join(node.url for node in nodes)
    finally:
        for node in nodes:
            node.kill()
        shutil.rmtree(state_dir, ignore_errors=True)


def note(message: str) -> None:
    print(f"  {message}", file=sys.stderr, flush=True)


def one_round(
    base: Settings, source: Settings, targets: list[Target], values: list[bytes], n: int
) -> None:
    """Every (target, client) once, the order rotated by round ``n``."""
    combos = [(t, c) for t in targets for c in CLIENTS]
    shift = (n * len(CLIENTS) + n) % len(combos)
    for target, client in combos[shift:] + combos[:shift]:
        settings = target.settings(base)
        note(f"round {n + 1}: {target.label}, {client}")
        if client == CLIENTS[0]:
            run = isolated(settings, "raw")
            raw_client = es_client(run)
            try:
                measured = raw_bulk(raw_client, run, values)
            finally:
                raw_client.close()
                remove_all(run)
        else:
            run = isolated(settings, "idx", source)
            bulk_client: BulkTransport
            if client == CLIENTS[1]:
                bulk_client = HttpBulkTransport(run.es_urls[0], timeout_s=run.es_request_timeout)
            else:  # as indexer_bulk_transport does for several URLs
                bulk_client = ClientBulkTransport(es_client(run, retry_on_status=()))
            try:
                measured = consumer_run(run, len(values), transport=bulk_client)
            finally:
                bulk_client.close()
                remove_indices(run)
        target.runs.setdefault(client, []).append(measured)


def paired(a: list[Measured], b: list[Measured]) -> list[float]:
    return [x.rate / y.rate for x, y in zip(a, b, strict=True)]


def print_report(args: argparse.Namespace, targets: list[Target]) -> None:
    print()
    print(
        f"indexer on a 3-node ES cluster vs one node: {args.records:,} records of ~"
        f"{args.avg_bytes} B, batch {args.batch_size}, {args.rounds} round(s), heap "
        f"{args.heap} per node, daily indices with one shard per node, {os.cpu_count()} cores"
    )
    rows: list[list[str]] = []
    for target in targets:
        for client in CLIENTS:
            runs = target.runs[client]
            best = max(runs, key=lambda m: m.rate)
            default = CLIENTS[1] if target.nodes == 1 else CLIENTS[2]
            rows.append(
                [
                    target.label,
                    f"{client} (default)" if client == default else client,
                    f"{best.rate:,.0f}",
                    ", ".join(f"{m.rate:,.0f}" for m in runs),
                    *best.cpu.cells(args.records),
                ]
            )
    header = ["target", "run", "docs/s best", "rounds", "ES", "Kafka", "this process", "busy"]
    print_rows(header, rows)
    print("(ES, Kafka, this process: CPU seconds per 10k documents in the best run; busy:")
    print(" cores busy on average, of this machine's; all ES nodes summed)")
    print()
    single = targets[0]
    ratios: list[list[str]] = []
    for target in targets:
        split = target.runs[CLIENTS[1]]
        ratio = paired(split, target.runs[CLIENTS[2]])
        ratios.append(
            [
                f"split-phase / elasticsearch-py on {target.label}",
                f"{statistics.median(ratio):.2f}",
                ", ".join(f"{r:.2f}" for r in ratio),
            ]
        )
        ceiling = paired(split, target.runs[CLIENTS[0]])
        ratios.append(
            [
                f"indexer / raw loop on {target.label}",
                f"{statistics.median(ceiling):.2f}",
                ", ".join(f"{r:.2f}" for r in ceiling),
            ]
        )
    for target in targets[1:]:
        for client in CLIENTS[:2]:
            ratio = paired(target.runs[client], single.runs[client])
            ratios.append(
                [
                    f"{target.label} / {single.label}, {client.split(' (')[0]}",
                    f"{statistics.median(ratio):.2f}",
                    ", ".join(f"{r:.2f}" for r in ratio),
                ]
            )
    print_rows(["ratio (median of paired rounds)", "value", "rounds"], ratios)


def run(args: argparse.Namespace) -> int:
    tune_gc_for_throughput()  # as `reqtrail consume` does
    base = load_settings().replace(batch_size=args.batch_size, stats_interval_s=3600.0)
    note(f"generating {args.records:,} records ...")
    values = [orjson.dumps(r) for r in sample_records(args.records, seed=17)]
    with (
        (
            nullcontext(args.single_url)
            if args.single_url
            else local_nodes(base, 1, args.heap, "one")
        ) as single,
        (
            nullcontext(args.cluster_urls)
            if args.cluster_urls
            else local_nodes(base, 3, args.heap, "three")
        ) as cluster,
    ):
        targets = [
            target
            for key, target in (
                ("one", Target("1 node", single, 1, 0)),
                ("replica", Target("3 nodes, 1 replica", cluster, 3, 1)),
                ("no-replica", Target("3 nodes, no replica", cluster, 3, 0)),
            )
            if key in args.targets.split(",")
        ]
        source = isolated(base, "source")
        try:
            ensure_topics(source)
            produce(source, values)
            if args.warmup:
                note(f"warm-up: {args.warmup:,} documents through each target's raw loop")
                for target in targets:
                    run_settings = isolated(target.settings(base), "warmup")
                    es = es_client(run_settings)
                    try:
                        raw_bulk(es, run_settings, values[: args.warmup])
                    finally:
                        es.close()
                        remove_all(run_settings)
            for n in range(args.rounds):
                one_round(base, source, targets, values, n)
        finally:
            remove_all(source)
    print_report(args, targets)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--records", type=int, default=30_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument("--warmup", type=int, default=10_000, help="untimed raw-loop documents")
    parser.add_argument("--heap", default="512m", help="heap of each ES node started here")
    parser.add_argument(
        "--targets",
        default="one,replica,no-replica",
        help="which of one (node), replica (3 nodes, 1 replica), no-replica (3 nodes) to run",
    )
    parser.add_argument("--single-url", default="", help="use this node instead of starting one")
    parser.add_argument(
        "--cluster-urls", default="", help="use these nodes (comma separated) instead of 3 new"
    )
    args = parser.parse_args(argv)
    chosen = set(args.targets.split(","))
    if "one" not in chosen or not chosen <= {"one", "replica", "no-replica"}:
        parser.error("--targets: one, and replica and/or no-replica (the ratios need one node)")
    sample = [len(orjson.dumps(r)) for r in sample_records(200, seed=17)]
    args.avg_bytes = sum(sample) // len(sample)
    try:
        return run(args)
    except ServiceError as exc:
        print(f"bench_cluster: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
