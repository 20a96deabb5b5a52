"""What the indexer's request metrics cost, in instructions per record (callgrind).

bench_metrics reads CPU time, which on a busy machine spreads by +-20 % from run to run,
more than the cost measured. Instruction counts do not move with the machine's load. This
bench produces records once, then runs, under ``valgrind --tool=callgrind``, one indexer
per variant and repeat (the variants of bench_metrics, in rotating order), each reading
the whole topic into a no-op Elasticsearch sink. Instrumentation is on only between two
bulks of the indexer's loop: after its warm-up (its group joined, its first bulks sent,
the series known) and before its last ``--warmup`` records, so the window holds whole
batches. Every thread of the process counts (the indexer's loop, kafka-python's I/O
threads). Per record, it prints each variant's instructions and
the ratios: (pipeline + request) / pipeline is what the request metrics add, judged
against <= 1.05.

    python -m bench.bench_metrics_instructions                 # services from REQTRAIL_*
    python -m bench.bench_metrics_instructions --records 10000 --repeats 1

Needs ``valgrind`` (Debian: ``apt-get install valgrind``). Python runs ~50x slower under
callgrind while instrumented; the defaults take a few minutes.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import orjson

from bench.bench_consumer import (
    NoOpAnswer,
    NoOpBulkTransport,
    isolated,
    print_rows,
    produce,
    progress,
)
from bench.bench_instructions import _control, read_dumps
from bench.bench_metrics import TARGET, VARIANTS, new_indexer, running, wait_indexed
from reqtrail.consumers.indexer_loop import tune_gc_for_throughput
from reqtrail.consumers.setup import (
    ensure_topics,
    remove_all,
)
from reqtrail.consumers.stats import IndexerStats
from reqtrail.schemas.samples import sample_records
from reqtrail.settings import Settings, load_settings


class CountingSink(NoOpBulkTransport):
    """The no-op Elasticsearch sink, which also switches callgrind's counting on and off.

    It runs on the indexer's loop thread, between two bulks: counting starts once
    ``warmup`` records are indexed and stops (one dump, ``label``) once ``until`` are, so
    the window holds whole batches and the records it covers are known exactly."""

    def __init__(self, warmup: int, until: int, label: str) -> None:
        self.warmup, self.until, self.label = warmup, until, label
        self.stats = IndexerStats()  # the indexer's, once it exists
        self.first: int | None = None
        self.last: int | None = None

    def start(self, body: bytes, filter_path: str) -> NoOpAnswer:
        if self.last is None:
            indexed = self.stats.indexed
            if self.first is None and indexed >= self.warmup:
                _control("-i", "on")
                self.first = indexed
            elif self.first is not None and indexed >= self.until:
                _control("-d", self.label)  # (asked for with instrumentation off: no dump)
                _control("-i", "off")
                self.last = indexed
        return super().start(body, filter_path)


def counted_run(settings: Settings, records: int, warmup: int, label: str, make: int) -> int:
    """Index the topic's ``records`` records with variant ``make``; instructions are counted
    from ``warmup`` records indexed to ``records - warmup``, then dumped as ``label``.
    Returns the records indexed while counted."""
    sink = CountingSink(warmup, records - warmup, label)
    indexer = new_indexer(settings, VARIANTS[make][1](settings), sink)
    sink.stats = indexer.stats
    with running(indexer, settings) as thread:
        wait_indexed(indexer, thread, records, poll_s=0.05)  # (this thread is counted too)
    if sink.first is None or sink.last is None:
        raise RuntimeError("the counting window never closed: raise --records or lower --warmup")
    return sink.last - sink.first


def child(topic: str, records: int, warmup: int, repeats: int) -> int:
    """Under callgrind: every (repeat, variant) run, one dump each, ``v<variant>r<repeat>``.
    Prints the records each counted run covered, one ``label=records`` line per run."""
    tune_gc_for_throughput()  # as `reqtrail consume` does
    base = load_settings()
    source = base.replace(topic=topic, dlq_topic=f"{topic}.dlq")
    for repeat in range(repeats):
        shift = repeat % len(VARIANTS)
        order = list(range(len(VARIANTS)))[shift:] + list(range(len(VARIANTS)))[:shift]
        for make in order:
            label = f"v{make}r{repeat}"  # ("#" in a dump's name loses the dump)
            progress(f"repeat {repeat + 1}/{repeats}: {VARIANTS[make][0]} ...")
            covered = counted_run(
                isolated(base, "metrics-ins", source), records, warmup, label, make
            )
            print(f"{label}={covered}", flush=True)
    return 0


def report(
    dumps: dict[str, dict[int, int]], covered: dict[str, int], args: argparse.Namespace
) -> None:
    per_record: dict[int, list[float]] = {make: [] for make in range(len(VARIANTS))}
    for key, per_thread in dumps.items():
        label = key.split(":", 1)[1]
        if label not in covered:
            continue
        make = int(label[1:].split("r")[0])
        per_record[make].append(sum(per_thread.values()) / covered[label])
    rows = [
        [
            name,
            f"{statistics.median(per_record[make]):,.0f}",
            ", ".join(f"{v:,.0f}" for v in per_record[make]),
        ]
        for make, (name, _) in enumerate(VARIANTS)
    ]
    print()
    print(
        f"indexer metrics cost in instructions (callgrind): {args.records:,} records per run,"
        f" counted after {args.warmup:,}, no-op ES sink, {args.repeats} repeat(s), every thread"
    )
    print_rows(["variant", "instructions / record", "per repeat"], rows)
    none, pipeline, request = (statistics.median(per_record[m]) for m in range(len(VARIANTS)))
    print()
    print_rows(
        ["ratio (medians)", "value"],
        [
            ["request metrics added: (pipeline + request) / pipeline", f"{request / pipeline:.3f}"],
            ["all metrics: (pipeline + request) / none", f"{request / none:.3f}"],
            ["pipeline metrics: pipeline / none", f"{pipeline / none:.3f}"],
        ],
    )
    verdict = "met" if request / pipeline <= TARGET else "MISSED"
    print(f"cost target (request metrics add <= 5% instructions per record): {verdict}")


def run(args: argparse.Namespace) -> int:
    if shutil.which("valgrind") is None or shutil.which("callgrind_control") is None:
        sys.exit("bench_metrics_instructions needs valgrind (Debian: apt-get install valgrind)")
    base = load_settings()
    print(f"generating {args.records:,} records ...", file=sys.stderr)
    values = [orjson.dumps(r) for r in sample_records(args.records, seed=19)]
    source = isolated(base, "metrics-ins-source")
    try:
        ensure_topics(source)
        produce(source, values)
        with tempfile.TemporaryDirectory(prefix="reqtrail-callgrind-") as tmp:
            command = [
                "valgrind",
                "--tool=callgrind",
                "--instr-atstart=no",
                "--separate-threads=yes",  # the file names read_dumps expects
                f"--callgrind-out-file={tmp}/cg.out.%p",
                sys.executable,
                "-m",
                "bench.bench_metrics_instructions",
                "--child",
                source.topic,
                *("--records", str(args.records), "--warmup", str(args.warmup)),
                *("--repeats", str(args.repeats)),
            ]
            print("running the indexers under callgrind ...", file=sys.stderr)
            env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
            done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
            errors = [line for line in done.stderr.splitlines() if not line.startswith("==")]
            for line in errors[-30:] if done.returncode else errors:
                print(line, file=sys.stderr)
            if done.returncode != 0:
                return done.returncode
            covered = dict(
                (label, int(count))
                for label, _, count in (line.partition("=") for line in done.stdout.split())
            )
            report(read_dumps(Path(tmp)), covered, args)
    finally:
        remove_all(source)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--records", type=int, default=30_000)
    parser.add_argument("--warmup", type=int, default=3_000, help="indexed before counting")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--child", metavar="TOPIC", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if 2 * args.warmup >= args.records:
        parser.error("--records must be more than twice --warmup")
    if args.child:
        return child(args.child, args.records, args.warmup, args.repeats)
    return run(args)


if __name__ == "__main__":
    raise SystemExit(main())
