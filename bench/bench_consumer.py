"""Indexer throughput against the raw ``_bulk`` ceiling, and produce-to-searchable freshness.

In one run, on the same Elasticsearch, with the same generated documents:

1. **raw _bulk loop** - the ceiling: the documents' NDJSON bodies are built beforehand and
   sent back to back, one request at a time, ``--batch-size`` documents each, to a fresh
   index (same template, same daily indices, same ``_id``s).
2. **consumer end to end** - the same records are produced once per run to a fresh
   topic, as the middleware's sink writes them (zstd by default, keyed by user ID; not
   timed). Each round a new indexer reads the whole topic in a group of its own into
   indices of its own, and the clock runs from the moment the group has assigned it
   partitions until every record is indexed (Kafka fetch, decode, validate, bulk, commit).
   The group join before that is timed apart and shown beside.

An untimed raw loop of ``--warmup`` documents runs first, so a freshly started ES has
compiled its indexing path before round 1. Each round runs both, back to back, in
alternating order (raw first in odd rounds, the consumer first in even ones), and yields
one paired ratio consumer / raw. The machine's speed drifts by tens of percent from minute
to minute, so the target is judged on the median of the paired ratios (9 rounds by
default; producing once keeps a round to two timed runs); best against best is shown too.

3. **freshness** - records put into the middleware's own sink (``KafkaSink``, default
   settings) at a steady ``--rate`` per second for ``--seconds`` while the indexer runs,
   each stamped with its produce time as ``@timestamp``; a searcher polls for them and
   notes when each becomes searchable (default refresh interval 1 s).

    python -m bench.bench_consumer                    # services from REQTRAIL_* settings
    python -m bench.bench_consumer --records 100000 --rounds 2
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import threading
import time
import uuid
from datetime import UTC, datetime
from typing import Any, NamedTuple

import orjson
from elasticsearch import ApiError, Elasticsearch

from bench.cpu import CpuMeter, CpuUse, wait_until_idle
from reqtrail.consumers.bulk_http import BulkTransport
from reqtrail.consumers.documents import DocumentBuilder, bulk_body
from reqtrail.consumers.indexer_loop import IndexerConsumer, tune_gc_for_throughput
from reqtrail.consumers.setup import (
    ensure_index_template,
    ensure_topics,
    remove_all,
    remove_indices,
)
from reqtrail.consumers.types import Document, Message
from reqtrail.es import es_client
from reqtrail.producers.kafka_producer import make_kafka_producer
from reqtrail.producers.processors import record_key
from reqtrail.producers.sink import KafkaSink
from reqtrail.schemas.samples import sample_record, sample_records
from reqtrail.settings import Settings, load_settings


def progress(message: str) -> None:
    if sys.stderr.isatty():
        sys.stderr.write(f"\r\x1b[2K  {message}")
    else:
        sys.stderr.write(f"  {message}\n")
    sys.stderr.flush()


def done_line() -> None:
    if sys.stderr.isatty():
        sys.stderr.write("\n")


def settle(settings: Settings) -> None:
    """Let ES finish the previous run's merges before the clock starts (see wait_until_idle)."""
    waited = wait_until_idle(
        settings,
        on_wait=lambda s, cores: progress(
            f"waiting for ES to go idle: {cores:.2f} cores busy, {s:.0f} s"
        ),
    )
    if waited > 1:
        progress(f"ES idle after {waited:.1f} s")
        done_line()


def isolated(base: Settings, label: str, source: Settings | None = None) -> Settings:
    """Throw-away names for one run: its own group and indices, and its own topics unless
    it reads ``source``'s."""
    name = f"bench-{label}-{uuid.uuid4().hex[:6]}"
    topics = source or base.replace(topic=f"{name}.requests", dlq_topic=f"{name}.requests.dlq")
    return base.replace(
        topic=topics.topic,
        dlq_topic=topics.dlq_topic,
        consumer_group=f"{name}-indexer",
        index_prefix=name,
        stats_interval_s=3600.0,
    )


def produce(settings: Settings, values: list[bytes]) -> None:
    """Write ``values`` as reqtrail's producers do: the sink's KafkaProducer (compressed with
    REQTRAIL_KAFKA_COMPRESSION, zstd by default), each record keyed by its user ID."""
    producer = make_kafka_producer(settings.replace(kafka_delivery_timeout_ms=120_000))
    try:
        for i, value in enumerate(values):
            producer.send(settings.topic, value=value, key=record_key(orjson.loads(value)))
            if i % 10000 == 0:
                progress(f"producing {i:,}/{len(values):,}")
        producer.flush(timeout=120)
    finally:
        producer.close(timeout=10)
    progress(f"produced {len(values):,} records to {settings.topic}")
    done_line()


# --- 1. the raw _bulk loop ------------------------------------------------------------------
class Measured(NamedTuple):
    """One timed run: documents per second, and who used the CPU meanwhile.

    ``startup_s``: for the consumer, the seconds from its start until the group assigned
    it partitions (connect, join, sync), before the clock of ``rate`` starts."""

    rate: float
    cpu: CpuUse
    startup_s: float = 0.0

    def rate_with_startup(self, records: int) -> float:
        return records / (records / self.rate + self.startup_s)


def raw_bulk(es: Elasticsearch, settings: Settings, values: list[bytes]) -> Measured:
    """Documents per second of a plain back-to-back _bulk loop (bodies prebuilt)."""
    ensure_index_template(settings, es)
    builder = DocumentBuilder(settings.index_prefix)
    documents = []
    for offset, value in enumerate(values):
        built = builder.build(Message(settings.topic, 0, offset, value))
        assert isinstance(built, Document)
        documents.append(built)
    size = settings.batch_size
    bodies = [bulk_body(documents[i : i + size]) for i in range(0, len(documents), size)]
    send_bulk: Any = es.bulk  # typed for lists of dicts; the raw NDJSON bytes work too
    settle(settings)
    meter = CpuMeter(settings)
    meter.start()
    began = time.perf_counter()
    for number, body in enumerate(bodies, 1):
        response = send_bulk(operations=body, filter_path="errors")
        if response.get("errors"):
            raise RuntimeError("raw bulk loop: some documents failed")
        if number % 10 == 0:
            progress(f"raw _bulk: {number * size:,}/{len(values):,}")
    elapsed = time.perf_counter() - began
    cpu = meter.stop()
    done_line()
    return Measured(len(values) / elapsed, cpu)


# --- 2. the consumer end to end -------------------------------------------------------------
class NoOpAnswer:
    """The answer of a bulk request that nothing indexed: ready at once, no errors."""

    def ready(self) -> bool:
        return True

    def wait(self) -> tuple[int, bytes]:
        return 200, b'{"errors":false}'


class NoOpBulkTransport:
    """Accepts every bulk request at once: the indexer's own cost, without Elasticsearch."""

    def start(self, body: bytes, filter_path: str) -> NoOpAnswer:
        return NoOpAnswer()

    def close(self) -> None:
        pass


def consumer_run(
    settings: Settings, records: int, transport: BulkTransport | None = None
) -> Measured:
    """Documents per second of a new indexer reading ``settings.topic`` (which holds
    ``records`` records) from the start, from the moment it has partitions to the last
    record indexed: Kafka fetch, decode, validate, bulk, commit. The group join before it
    (a one-time cost of a long-running service) is measured apart, as ``startup_s``."""
    ensure_index_template(settings)
    indexer = IndexerConsumer(settings, transport=transport)
    settle(settings)
    started = time.perf_counter()
    thread = threading.Thread(target=indexer.run, name="indexer")
    thread.start()
    try:
        wait_assigned(indexer, thread, started)
        meter = CpuMeter(settings)
        meter.start()
        began = indexer.assigned_at or time.perf_counter()  # the clock starts at assignment
        while indexer.stats.indexed < records:
            if not thread.is_alive():
                raise RuntimeError("the indexer stopped early")
            time.sleep(0.005)
            if int((time.perf_counter() - began) * 200) % 100 == 0:
                progress(f"consumer: {indexer.stats.indexed:,}/{records:,}")
        elapsed = time.perf_counter() - began
        cpu = meter.stop()
    finally:
        indexer.stop()
        thread.join()
    done_line()
    if indexer.stats.dead_lettered:
        raise RuntimeError(f"unexpected dead letters: {indexer.stats.dead_lettered}")
    return Measured(records / elapsed, cpu, began - started)


def wait_assigned(indexer: IndexerConsumer, thread: threading.Thread, since: float) -> None:
    """Until the group has assigned ``indexer`` partitions; raises if its thread ended."""
    while not indexer.assigned.wait(0.05):
        if not thread.is_alive():
            raise RuntimeError("the indexer stopped before it was assigned partitions")
        progress(f"consumer: joining its group, {time.perf_counter() - since:.1f} s")


# --- 3. freshness ---------------------------------------------------------------------------
def freshness(settings: Settings, rate: float, seconds: float) -> list[float]:
    """Seconds from produce to searchable, per record, at a steady produce rate."""
    ensure_topics(settings)
    es = es_client(settings)
    ensure_index_template(settings, es)
    indexer = IndexerConsumer(settings)
    thread = threading.Thread(target=indexer.run, name="indexer")
    thread.start()
    sent: dict[str, float] = {}
    seen: dict[str, float] = {}
    producing = threading.Event()
    producing.set()
    lock = threading.Lock()

    def produce_steadily() -> None:
        sink = KafkaSink(settings, register_atexit=False)  # the middleware's own sink
        rng = random.Random(5)
        total = int(rate * seconds)
        began = time.monotonic()
        for i in range(total):
            pause = began + i / rate - time.monotonic()
            if pause > 0:
                time.sleep(pause)
            now = datetime.now(UTC)
            record = sample_record(rng, now)
            with lock:
                sent[record["request_id"]] = time.time()
            sink.put(orjson.dumps(record), record_key(record))
        sink.flush(timeout=30)
        sink.close(timeout=5)
        producing.clear()

    wait_assigned(indexer, thread, time.perf_counter())  # produce once it has partitions
    producer_thread = threading.Thread(target=produce_steadily, name="steady-producer")
    producer_thread.start()
    try:
        deadline = None
        while True:
            with lock:
                pending = [rid for rid in sent if rid not in seen]
            if not producing.is_set():
                deadline = deadline or time.monotonic() + 15
                if not pending or time.monotonic() > deadline:
                    break
            if pending:
                hits: list[Any] = []
                try:
                    found = es.search(
                        index=settings.read_alias,
                        query={"terms": {"request_id": pending[:5000]}},
                        size=len(pending[:5000]),
                        source=False,
                        docvalue_fields=[{"field": "request_id"}],
                        allow_no_indices=True,
                        ignore_unavailable=True,
                    )
                    hits = found["hits"]["hits"]
                except ApiError:  # e.g. 503 while a new daily index starts its shard
                    pass
                now = time.time()
                for hit in hits:
                    seen.setdefault(hit["fields"]["request_id"][0], now)
            progress(f"freshness: {len(seen):,}/{int(rate * seconds):,} searchable")
            time.sleep(0.05)
    finally:
        producer_thread.join()
        indexer.stop()
        thread.join()
        es.close()
    done_line()
    missing = len(sent) - len(seen)
    if missing:
        raise RuntimeError(f"{missing} records never became searchable")
    return [seen[rid] - sent[rid] for rid in sent]


def run(args: argparse.Namespace) -> int:
    tune_gc_for_throughput()  # as `reqtrail consume` does
    base = load_settings()
    if args.batch_size:
        base = base.replace(batch_size=args.batch_size)
    es = es_client(base)
    print(f"generating {args.records:,} records ...", file=sys.stderr)
    values = [orjson.dumps(r) for r in sample_records(args.records, seed=17)]
    raw: list[Measured] = []
    consumer: list[Measured] = []
    used: list[Settings] = []
    source = isolated(base, "source")  # the consumer rounds' topic, produced once

    def remove(settings: Settings) -> None:
        """A run's indices, and its topics unless they are the shared source's."""
        (remove_indices if settings.topic == source.topic else remove_all)(settings)

    def fresh(label: str, reads: Settings | None = None) -> Settings:
        """Throw-away names for one run (reading ``reads``'s topic, if given); the previous
        run's indices and topics go first, so its merges do not tax this one."""
        while used:
            remove(used.pop())
        used.append(isolated(base, label, reads))
        return used[-1]

    try:
        ensure_topics(source)
        produce(source, values)
        if args.warmup:
            # Untimed: a freshly started ES compiles its indexing path during the first
            # bulks, which would slow whichever run came first in round 1.
            print(f"warm-up: {args.warmup:,} documents through the raw loop", file=sys.stderr)
            raw_bulk(es, fresh("warmup"), values[: args.warmup])
        for round_number in range(1, args.rounds + 1):
            print(f"round {round_number}/{args.rounds}", file=sys.stderr)
            if round_number % 2:
                raw.append(raw_bulk(es, fresh("raw"), values))
                consumer.append(consumer_run(fresh("consumer", source), len(values)))
            else:
                consumer.append(consumer_run(fresh("consumer", source), len(values)))
                raw.append(raw_bulk(es, fresh("raw"), values))
        alone = consumer_run(fresh("alone", source), len(values), transport=NoOpBulkTransport())
        latencies: list[float] = []
        if args.seconds > 0:
            latencies = freshness(fresh("fresh"), args.rate, args.seconds)
    finally:
        for settings in used:
            remove(settings)
        remove_all(source)
    print_table(args, raw, consumer, alone, latencies)
    return 0


def print_table(
    args: argparse.Namespace,
    raw: list[Measured],
    consumer: list[Measured],
    alone: Measured,
    latencies: list[float],
) -> None:
    raw_best = max(raw, key=lambda measured: measured.rate)
    consumer_best = max(consumer, key=lambda measured: measured.rate)
    pairs = list(zip(raw, consumer, strict=True))
    paired = [c.rate / r.rate for r, c in pairs]
    ratio = statistics.median(paired)
    joined = [c.rate_with_startup(args.records) / r.rate for r, c in pairs]
    rows: list[list[str]] = [
        ["raw _bulk loop (ceiling)", f"{raw_best.rate:,.0f} docs/s", _all(raw)],
        ["consumer, Kafka -> ES end to end", f"{consumer_best.rate:,.0f} docs/s", _all(consumer)],
        [
            "ratio consumer / raw, median of rounds",
            f"{ratio:.2f}",
            "rounds: " + ", ".join(f"{r:.2f}" for r in paired) + "; target >= 0.9",
        ],
        ["  best against best", f"{consumer_best.rate / raw_best.rate:.2f}", "noisier: see above"],
        [
            "  with the group join timed too",
            f"{statistics.median(joined):.2f}",
            "joins took " + ", ".join(f"{c.startup_s:.2f}" for c in consumer) + " s",
        ],
        ["consumer alone, no-op ES sink", f"{alone.rate:,.0f} docs/s", "its own cost, ES excluded"],
    ]
    if latencies:
        cuts = statistics.quantiles(latencies, n=100)
        rows.append(
            [
                f"freshness at {args.rate:.0f}/s, produce -> searchable",
                f"p50 {statistics.median(latencies):.2f} s  p95 {cuts[94]:.2f} s",
                f"max {max(latencies):.2f} s; target p95 <= 1.5 s",
            ]
        )
    print()
    print(
        f"indexer benchmark: {args.records:,} records of ~"
        f"{args.avg_bytes} B, batch {args.batch_size or load_settings().batch_size}, "
        f"{args.rounds} round(s)"
    )
    print_rows(["measurement", "value", "notes"], rows)
    verdict = "met" if ratio >= 0.9 else "MISSED"
    print(f"throughput target (median paired ratio >= 0.9): {verdict}")
    print()
    print("CPU seconds per 10k documents during each fastest run (all on this machine's cores)")
    print_rows(
        ["run", "Elasticsearch", "Kafka broker", "this process", "cores busy"],
        [
            ["raw _bulk loop", *raw_best.cpu.cells(args.records)],
            ["consumer end to end", *consumer_best.cpu.cells(args.records)],
            ["consumer alone, no-op ES sink", *alone.cpu.cells(args.records)],
        ],
    )


def print_rows(header: list[str], rows: list[list[str]]) -> None:
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    print(" | ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)))
    print("-+-".join("-" * w for w in widths))
    for row in rows:
        print(" | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)))


def _all(measured: list[Measured]) -> str:
    return "rounds: " + ", ".join(f"{m.rate:,.0f}" for m in measured)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--records", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--batch-size", type=int, default=0, help="default: REQTRAIL_BATCH_SIZE")
    parser.add_argument(
        "--warmup", type=int, default=50_000, help="untimed raw-loop documents first (0: none)"
    )
    parser.add_argument("--rate", type=float, default=200.0, help="freshness produce rate /s")
    parser.add_argument("--seconds", type=float, default=20.0, help="freshness duration (0: skip)")
    args = parser.parse_args(argv)
    sample = [len(orjson.dumps(r)) for r in sample_records(200, seed=17)]
    args.avg_bytes = sum(sample) // len(sample)
    return run(args)


if __name__ == "__main__":
    raise SystemExit(main())
