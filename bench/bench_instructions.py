"""Instructions per request that reqtrail adds, counted by valgrind (callgrind).

Wall time on a shared machine moves with everyone else's load; instruction counts do not.
This bench runs the benchmark apps (``bench.middleware_apps``) under ``valgrind
--tool=callgrind`` with instrumentation switched on only around each measured phase, one
callgrind dump per phase and thread, and prints per request:

* the request thread: the bare app, the app behind reqtrail's middleware with a sink that
  discards each record (the adapter and the record pipeline), and with the real Kafka sink;
* the other threads with Kafka up, per record: reqtrail's sender thread (it takes the GIL
  from request threads while it runs) and the Kafka client's threads: librdkafka's, in C
  without the GIL (``--client confluent-kafka``, the default), or kafka-python's I/O
  thread, in Python (``--client kafka-python``).

    python -m bench.bench_instructions                  # Kafka from REQTRAIL_KAFKA_BOOTSTRAP
    python -m bench.bench_instructions --requests 2000 --only asgi --client kafka-python

Needs ``valgrind`` (Debian: ``apt-get install valgrind``).  Under callgrind Python runs ~50x
slower; the defaults take a few minutes.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

FRAMEWORKS = ("asgi", "wsgi", "django")
WARMUP = 200
# Threads in the order they start: the request thread, the sink's sender (started by the
# first record), the Kafka client's threads (started by the producer the sender builds).
SENDER_THREAD = 2
CLIENTS = ("confluent-kafka", "kafka-python")
CLIENT_THREADS = {
    "confluent-kafka": "librdkafka's, in C, without the GIL",
    "kafka-python": "its I/O thread, in Python, under the GIL",
}
_PART = re.compile(r"\.(\d+)-(\d+)$")


def _control(*args: str) -> None:
    """Tell the callgrind running this process to do something (``callgrind_control``)."""
    subprocess.run(["callgrind_control", *args, str(os.getpid())], check=True, capture_output=True)


class DiscardingSink:
    """Accepts every record and keeps nothing: the pipeline's cost without the sender."""

    def put(self, payload: bytes, key: bytes | None) -> bool:
        return True

    def stats(self) -> None:
        return None

    def flush(self, timeout: float = 0.0) -> bool:
        return True


def _wrapped(framework: str, pipeline: Any) -> Any:
    from bench.middleware_apps import asgi_call, django_app, flask_app, starlette_app, wsgi_call

    if framework == "asgi":
        from reqtrail.asgi import RequestTrailMiddleware

        return asgi_call(RequestTrailMiddleware(starlette_app(), pipeline=pipeline))
    if framework == "wsgi":
        from reqtrail.flask import RequestTrail

        app = flask_app()
        RequestTrail(app, pipeline=pipeline)
        return wsgi_call(app)
    from reqtrail.producers.pipeline import set_pipeline

    set_pipeline(pipeline)
    return wsgi_call(django_app(["reqtrail.django.middleware.RequestTrailMiddleware"]))


def _bare(framework: str) -> Any:
    from bench.middleware_apps import asgi_call, django_app, flask_app, starlette_app, wsgi_call

    if framework == "asgi":
        return asgi_call(starlette_app())
    if framework == "wsgi":
        return wsgi_call(flask_app())
    return wsgi_call(django_app([]))


def child(frameworks: list[str], requests: int, bootstrap: str, client: str) -> int:
    """Under callgrind: one dump per phase, named ``<framework>:<phase>``."""
    from reqtrail.producers.pipeline import RecordPipeline
    from reqtrail.settings import ProducerSettings, load_settings

    settings = load_settings(role=ProducerSettings).replace(
        kafka_bootstrap=bootstrap,
        topic=f"bench-instructions-{uuid.uuid4().hex[:8]}",
        kafka_client=client,
    )
    _control("-i", "on")
    _control("-d", "calibration")  # what a dump itself costs: subtracted below
    _control("-d", "calibration")
    for framework in frameworks:
        bare = _bare(framework)
        discarding = _wrapped(framework, RecordPipeline(settings, sink=DiscardingSink()))
        kafka_pipeline = RecordPipeline(settings)
        kafka = _wrapped(framework, kafka_pipeline)
        kafka_pipeline.sink.put(b'{"warmup": true}', None)
        deadline = time.monotonic() + 120
        while not kafka_pipeline.sink.stats().connected and time.monotonic() < deadline:
            time.sleep(0.05)
        for call in (bare, discarding, kafka):
            for _ in range(WARMUP):
                call()
        kafka_pipeline.flush(timeout=120)
        for phase, call in (("bare", bare), ("discarding", discarding), ("kafka", kafka)):
            _control("-z")
            for _ in range(requests):
                call()
            _control("-d", f"{framework}:{phase}")
        kafka_pipeline.flush(timeout=120)
        _control("-d", f"{framework}:flush")
        stats = kafka_pipeline.stats()
        kafka_pipeline.close(timeout=5)
        print(
            f"{framework}: produced={stats['produced']} delivered={stats['delivered']} "
            f"dropped={stats['dropped']}",
            file=sys.stderr,
        )
    _delete_topics(bootstrap, [settings.topic])  # one topic for every framework
    return 0


def _delete_topics(bootstrap: str, topics: list[str]) -> None:
    from kafka.admin import KafkaAdminClient

    try:
        admin = KafkaAdminClient(bootstrap_servers=bootstrap.split(","))
        try:
            admin.delete_topics(topics)
        finally:
            admin.close()
    except Exception as exc:
        print(f"  (could not delete topics {topics}: {exc})", file=sys.stderr)


def read_dumps(directory: Path) -> dict[str, dict[int, int]]:
    """``{dump label: {thread number: instructions}}`` from callgrind's output files."""
    out: dict[str, dict[int, int]] = defaultdict(dict)
    for path in directory.glob("cg.out.*"):
        match = _PART.search(path.name)
        if match is None:
            continue
        thread = int(match.group(2))
        label, total = "", 0
        for line in path.read_text(errors="replace").splitlines():
            if line.startswith("desc: Trigger: dump "):
                label = line.removeprefix("desc: Trigger: dump ").strip()
            elif line.startswith("summary:") or line.startswith("totals:"):
                total = int(line.split()[1])
        out[f"{match.group(1)}:{label}"][thread] = total
    return out


def report(
    dumps: dict[str, dict[int, int]], frameworks: list[str], requests: int, client: str
) -> None:
    by_label: dict[str, dict[int, int]] = {}
    for key, per_thread in dumps.items():
        label = key.split(":", 1)[1]
        if label == "calibration":
            by_label.setdefault("calibration", per_thread)
        else:
            by_label[label] = per_thread
    calibration = by_label.get("calibration", {}).get(1, 0)

    def main_thread(label: str) -> float:
        return (by_label[label].get(1, 0) - calibration) / requests

    def threads(labels: tuple[str, ...], wanted: Callable[[int], bool]) -> float:
        total = sum(n for label in labels for t, n in by_label[label].items() if wanted(t))
        return total / requests

    header = (
        f"{'framework':10} {'bare':>9} {'+reqtrail, discarding sink':>27} "
        f"{'+reqtrail, Kafka':>17} {'sender thread':>14} {'Kafka client':>17}"
    )
    print(f"\ninstructions per request (callgrind, {requests} requests per phase, {client})")
    print(header)
    print("-" * len(header))
    for framework in frameworks:
        bare = main_thread(f"{framework}:bare")
        discarding = main_thread(f"{framework}:discarding")
        kafka = main_thread(f"{framework}:kafka")
        labels = (f"{framework}:kafka", f"{framework}:flush")
        sender = threads(labels, lambda t: t == SENDER_THREAD)
        kafka_io = threads(labels, lambda t: t > SENDER_THREAD)
        print(
            f"{framework:10} {bare:9,.0f} {discarding - bare:+27,.0f} {kafka - bare:+17,.0f} "
            f"{sender:14,.0f} {kafka_io:17,.0f}"
        )
    print(
        "\n+reqtrail: added on the request thread; sender thread and Kafka client: per record, "
        "on the sink's thread (which renders the records) and the client's own threads "
        f"({CLIENT_THREADS[client]}), while requests ran and during the flush after"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--requests", type=int, default=3000, help="per phase")
    parser.add_argument("--only", choices=FRAMEWORKS, default=None)
    parser.add_argument("--client", choices=CLIENTS, default=CLIENTS[0], help="Kafka client")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    frameworks = [args.only] if args.only else list(FRAMEWORKS)
    bootstrap = os.environ.get("REQTRAIL_KAFKA_BOOTSTRAP", "127.0.0.1:9092")
    if args.child:
        return child(frameworks, args.requests, bootstrap, args.client)
    if shutil.which("valgrind") is None or shutil.which("callgrind_control") is None:
        sys.exit("bench_instructions needs valgrind (Debian: apt-get install valgrind)")
    with tempfile.TemporaryDirectory(prefix="reqtrail-callgrind-") as tmp:
        command = [
            "valgrind",
            "--tool=callgrind",
            "--instr-atstart=no",
            "--separate-threads=yes",
            f"--callgrind-out-file={tmp}/cg.out.%p",
            sys.executable,
            "-m",
            "bench.bench_instructions",
            "--child",
            "--requests",
            str(args.requests),
            "--client",
            args.client,
            *(["--only", args.only] if args.only else []),
        ]
        print(f"running under callgrind ({len(frameworks)} framework(s)) ...", file=sys.stderr)
        env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
        done = subprocess.run(command, env=env, stderr=subprocess.PIPE, text=True, check=False)
        errors = [line for line in done.stderr.splitlines() if not line.startswith("==")]
        if done.returncode != 0:
            print("\n".join(errors[-30:]), file=sys.stderr)
            return done.returncode
        for line in errors:
            print(line, file=sys.stderr)
        report(read_dumps(Path(tmp)), frameworks, args.requests, args.client)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
