"""Added latency per request of reqtrail's middleware, beside sentry-sdk's and OpenTelemetry's.

The same small game endpoint (``POST /units/{unit_id}/upgrade`` with JSON in and out) is
called in-process, without network, in Starlette (ASGI), Flask (WSGI) and Django
(``bench.middleware_apps``).  Each contender (``bench.middleware_contenders``) runs in a
process of its own, so one SDK's global state never touches another's numbers, and
alternates blocks of its bare app and its wrapped app.  The contenders take turns round by
round (in rotating order), so all of them see the same stretch of machine load; a round
ends with each contender's background work flushed (not timed).  Each request is timed on
its own; a figure is the median over the rounds of that round's p50 or p99, and "added"
is wrapped minus bare.

Load shape: blocks of 200 back-to-back requests separated by ``--idle-ms`` (default 20)
of idleness, i.e. a busy server with breathing room, where background threads (reqtrail's
Kafka sender, Sentry's transport worker, OpenTelemetry's batch exporter) work while
requests are served and in the gaps.  ``--idle-ms 0`` is a saturated server.

    python -m bench.bench_middleware                     # Kafka from REQTRAIL_KAFKA_BOOTSTRAP
    python -m bench.bench_middleware --only asgi --contenders reqtrail,sentry-errors
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import statistics
import sys
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

from bench.middleware_contenders import BASELINE, CONTENDERS, FRAMEWORKS, LABELS, build

BLOCK = 200
TARGET_ADDED_P50_US = 45.0
TARGET_ADDED_P99_US = 150.0
TARGET_RATIO = 0.2  # reqtrail / sentry-sdk errors only, ASGI
SENDING = ("reqtrail", "reqtrail-kafka-python")  # judged against the targets, with Kafka up
CLIENTS = {"reqtrail": "confluent-kafka", "reqtrail-kafka-python": "kafka-python"}


# --- the contender's process ---------------------------------------------------------------
def contender_main(
    conn: Connection, frameworks: list[str], contender: str, kafka_up: str, warmup: int
) -> None:
    """Build one contender, then time blocks on request until told to stop."""
    built = build(frameworks, contender, kafka_up)
    clock = time.perf_counter_ns
    for framework, calls in built.apps.items():
        for side, call in zip(("bare", "wrapped"), calls, strict=True):
            built.before_block(framework, side)
            for _ in range(warmup):
                call()
    built.settle()
    conn.send(("ready", os.getpid()))
    while True:
        command, framework, requests, idle_s = conn.recv()
        if command == "stop":
            conn.send(("closed", built.close()))
            return
        times: dict[str, list[float]] = {"bare": [], "wrapped": []}
        done = 0
        while done < requests:
            size = min(BLOCK, requests - done)
            for side, call in zip(("bare", "wrapped"), built.apps[framework], strict=True):
                built.before_block(framework, side)
                if idle_s:
                    time.sleep(idle_s)
                out = times[side]
                for _ in range(size):
                    start = clock()
                    call()
                    out.append((clock() - start) / 1000.0)
            done += size
        built.settle()
        conn.send(("times", times))


# --- the parent --------------------------------------------------------------------------
@dataclass
class Result:
    """Per round: p50 and p99 of bare and wrapped, in µs."""

    rounds: list[dict[str, float]]

    def figure(self, key: str) -> float:
        return statistics.median(r[key] for r in self.rounds)

    @property
    def added_p50(self) -> float:
        return statistics.median(r["w50"] - r["b50"] for r in self.rounds)

    @property
    def added_p99(self) -> float:
        return statistics.median(r["w99"] - r["b99"] for r in self.rounds)

    def added_over(self, baseline: Result, q: str) -> float:
        """Wrapped here minus the baseline process's bare app, round by round (median)."""
        pairs = zip(self.rounds, baseline.rounds, strict=True)
        return statistics.median(mine[f"w{q}"] - base[f"b{q}"] for mine, base in pairs)


def quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def measure(
    frameworks: list[str], contenders: list[str], args: argparse.Namespace, kafka_up: str
) -> tuple[dict[str, dict[str, Result]], dict[str, dict[str, Any]]]:
    """``{framework: {contender: Result}}`` and each contender's closing counters."""
    context = multiprocessing.get_context("spawn")
    procs: dict[str, tuple[Any, Connection]] = {}
    contenders = [*contenders, BASELINE]
    for name in contenders:
        parent, child = context.Pipe()
        proc = context.Process(
            target=contender_main,
            args=(child, frameworks, name, kafka_up, args.warmup),
            daemon=True,
        )
        proc.start()
        procs[name] = (proc, parent)
    try:
        for name, (_proc, conn) in procs.items():
            if not conn.poll(300):
                raise RuntimeError(f"{name}: its process did not get ready")
            conn.recv()
        per_round = max(BLOCK, args.requests // args.rounds)
        rounds: dict[str, dict[str, list[dict[str, float]]]] = {
            f: {name: [] for name in contenders} for f in frameworks
        }
        for r in range(args.rounds):
            order = contenders[r % len(contenders) :] + contenders[: r % len(contenders)]
            for framework in frameworks:
                for name in order:
                    conn = procs[name][1]
                    conn.send(("run", framework, per_round, args.idle_ms / 1000.0))
                    _kind, times = conn.recv()
                    rounds[framework][name].append(
                        {
                            "b50": quantile(times["bare"], 0.5),
                            "w50": quantile(times["wrapped"], 0.5),
                            "b99": quantile(times["bare"], 0.99),
                            "w99": quantile(times["wrapped"], 0.99),
                        }
                    )
            print(
                f"  round {r + 1}/{args.rounds} done ({per_round} requests per side, contender "
                f"and framework), load average {os.getloadavg()[0]:.1f}",
                file=sys.stderr,
                flush=True,
            )
        closed = {}
        for name, (_proc, conn) in procs.items():
            conn.send(("stop", "", 0, 0.0))
            closed[name] = conn.recv()[1] if conn.poll(60) else {}
        results = {
            f: {name: Result(per) for name, per in by_name.items()} for f, by_name in rounds.items()
        }
        return results, closed
    finally:
        for proc, _conn in procs.values():
            proc.join(timeout=30)
            if proc.is_alive():
                proc.terminate()


def print_table(framework: str, results: dict[str, Result]) -> list[str]:
    """Prints one framework's table; returns the target lines it judged."""
    names = {"asgi": "ASGI (Starlette)", "wsgi": "WSGI (Flask)", "django": "Django (WSGI)"}
    ours = results.get("reqtrail")
    base = results.pop(BASELINE)
    header = (
        f"{'middleware':32} {'bare p50':>9} {'added p50':>10} {'bare p99':>9} "
        f"{'added p99':>10} {'reqtrail/it p50':>16} {'p99':>6} {'vs no-SDK p50':>14} {'p99':>6}"
    )
    print(f"\n{names[framework]}: µs per request")
    print(header)
    print("-" * len(header))
    for name, result in results.items():
        ratio50 = ratio99 = "-"
        if ours is not None and not name.startswith("reqtrail"):
            ratio50 = _ratio(ours.added_p50, result.added_p50)
            ratio99 = _ratio(ours.added_p99, result.added_p99)
        print(
            f"{LABELS[name]:32} {result.figure('b50'):9.1f} {result.added_p50:10.1f} "
            f"{result.figure('b99'):9.1f} {result.added_p99:10.1f} {ratio50:>16} {ratio99:>6} "
            f"{result.added_over(base, '50'):14.1f} {result.added_over(base, '99'):6.1f}"
        )
    print(
        f"{'(no SDK in the process)':32} {base.figure('b50'):9.1f} {'':10} "
        f"{base.figure('b99'):9.1f}"
    )
    verdicts = []
    for name in SENDING if framework == "asgi" else ():
        judged = results.get(name)
        if judged is None:
            continue
        client = CLIENTS[name]
        ok = judged.added_p50 <= TARGET_ADDED_P50_US and judged.added_p99 <= TARGET_ADDED_P99_US
        verdicts.append(
            f"target ASGI added p50 <= {TARGET_ADDED_P50_US:g} µs, p99 <= "
            f"{TARGET_ADDED_P99_US:g} µs ({client}): {judged.added_p50:.1f} / "
            f"{judged.added_p99:.1f} -> {'met' if ok else 'MISSED'}"
        )
        sentry = results.get("sentry-errors")
        if sentry is not None and sentry.added_p50 > 0:
            ratio = judged.added_p50 / sentry.added_p50
            verdicts.append(
                f"target ASGI reqtrail / sentry-sdk errors only (added p50) <= {TARGET_RATIO:g} "
                f"({client}): {ratio:.2f} -> {'met' if ratio <= TARGET_RATIO else 'MISSED'}"
            )
    return verdicts


def _ratio(ours: float, theirs: float) -> str:
    return f"{ours / theirs:.2f}" if theirs > 0 else "-"


def run(args: argparse.Namespace) -> int:
    kafka_up = os.environ.get("REQTRAIL_KAFKA_BOOTSTRAP", "127.0.0.1:9092")
    frameworks = [args.only] if args.only else list(FRAMEWORKS)
    contenders = args.contenders.split(",") if args.contenders else list(CONTENDERS)
    unknown = [c for c in contenders if c not in CONTENDERS]
    if unknown:
        sys.exit(f"--contenders: unknown {', '.join(unknown)}; choose from {', '.join(CONTENDERS)}")
    load_before = os.getloadavg()[0]
    started = time.monotonic()
    all_results, closed = measure(frameworks, contenders, args, kafka_up)
    print(
        f"\nmiddleware added latency: {args.requests} requests per side, contender and "
        f"framework in {args.rounds} rounds, blocks of {BLOCK} with {args.idle_ms:g} ms idle "
        f"between blocks, Python {sys.version.split()[0]}; load average {load_before:.1f} "
        f"before, {os.getloadavg()[0]:.1f} after ({time.monotonic() - started:.0f} s)"
    )
    print(
        "each figure: median over rounds of that round's quantile; added: wrapped minus the "
        "bare app in the same process; reqtrail/it: reqtrail's added latency over the "
        "contender's; vs no-SDK: wrapped minus the bare app in a process without any SDK "
        "(background work that lands in a contender's own bare blocks counts here)"
    )
    verdicts: list[str] = []
    for framework, results in all_results.items():
        verdicts += print_table(framework, results)
    print()
    for line in verdicts:
        print(line)
    for name, counters in closed.items():
        if counters:
            print(f"  {name}: " + " ".join(f"{k}={v}" for k, v in counters.items()))
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--requests", type=int, default=10_000, help="per side and contender")
    parser.add_argument(
        "--idle-ms", type=float, default=20.0, help="idle time between blocks; 0 = saturated"
    )
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=300, help="untimed requests per app")
    parser.add_argument("--only", choices=FRAMEWORKS, default=None)
    parser.add_argument(
        "--contenders", default="", help=f"comma-separated subset of {','.join(CONTENDERS)}"
    )
    return run(parser.parse_args())


if __name__ == "__main__":
    raise SystemExit(main())
