"""Run a locustfile headless through locust's library API: the child of ``reqtrail loadtest``.

    python -m reqtrail.gate.locust_runner --locustfile F --host URL --users N
        --spawn-rate R [--warmup S] --duration S --candidate VERSION --ids FILE

It runs in a process of its own because importing locust monkey-patches sockets, threads
and SSL with gevent for the whole process. ``reqtrail loadtest`` itself then waits for
Elasticsearch and compares with ordinary sockets and threads.

With ``--warmup``, the players first run unmeasured for that long (ramp-up, cold caches);
then locust's statistics are reset and only requests started after that are measured.
It talks to its parent in JSON lines on stdout: ``progress`` every ``--every`` seconds
(requests, failures, current p95), then one ``done`` with the totals and a few failures
with their request IDs. Each answered request's ID goes to ``--ids``, one per line.
Exit 0 when the run happened (failed requests are a result, not an error); 2 when the
locustfile cannot be loaded or has no ``ReqtrailUser``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import IO, Any

import locust  # noqa: F401 - first: gevent patches the process before anything opens a socket

from reqtrail.producers.locust_user import VERSION_ENV

FAILURE_EXAMPLES = 20


def emit(event: str, **fields: Any) -> None:
    print(json.dumps({"event": event, **fields}), flush=True)


class Recorder:
    """Listens to locust's request event: request IDs of answered requests, failures."""

    def __init__(self, ids: IO[str], measure_from: float = 0.0) -> None:
        self.ids = ids
        self.measure_from = measure_from  # epoch seconds; earlier requests are the warm-up
        self.answered = 0
        self.unanswered = 0
        self.failures: list[dict[str, Any]] = []

    def on_request(
        self,
        request_type: str,
        name: str,
        response: Any = None,
        exception: BaseException | None = None,
        start_time: float | None = None,
        **_: Any,
    ) -> None:
        if start_time is not None and start_time < self.measure_from:
            return
        request = getattr(response, "request", None)
        request_id = request.headers.get("X-Request-ID") if request is not None else None
        status = int(getattr(response, "status_code", 0) or 0)
        if status and request_id:
            self.answered += 1
            self.ids.write(request_id + "\n")
        else:
            self.unanswered += 1
        if exception is not None and len(self.failures) < FAILURE_EXAMPLES:
            self.failures.append(
                {
                    "method": request_type,
                    "name": name,
                    "status": status,
                    "request_id": request_id,
                    "error": str(exception)[:300],
                }
            )


def _load_users(path: str) -> list[type[Any]]:
    from locust.util.load_locustfile import load_locustfile

    from reqtrail.producers.locust_user import ReqtrailUser

    users, _shapes = load_locustfile(path)
    classes = list(users.values())
    if not classes:
        raise SystemExit(f"reqtrail loadtest: {path} defines no locust User class")
    untraced = [c.__name__ for c in classes if not issubclass(c, ReqtrailUser)]
    if untraced:
        raise SystemExit(
            f"reqtrail loadtest: {', '.join(untraced)} in {path} must derive from "
            "reqtrail.locust.ReqtrailUser, so their requests carry request IDs and the "
            "candidate version"
        )
    return classes


def run(args: argparse.Namespace) -> int:
    import gevent
    from locust import events
    from locust.env import Environment

    os.environ[VERSION_ENV] = args.candidate
    if not Path(args.locustfile).is_file():
        raise SystemExit(f"reqtrail loadtest: locustfile {args.locustfile} does not exist")
    classes = _load_users(args.locustfile)
    env = Environment(user_classes=classes, host=args.host, events=events)
    began = time.monotonic()
    with open(args.ids, "w", encoding="utf-8") as ids:
        recorder = Recorder(ids, measure_from=float("inf") if args.warmup else 0.0)
        env.events.request.add_listener(recorder.on_request)  # type: ignore[no-untyped-call]
        runner = env.create_local_runner()
        env.events.init.fire(environment=env, runner=runner, web_ui=None)  # type: ignore[no-untyped-call]

        def report() -> None:
            while True:
                gevent.sleep(args.every)
                total = env.stats.total
                emit(
                    "progress",
                    warmup=recorder.measure_from > time.time(),
                    seconds=round(time.monotonic() - began, 1),
                    users=runner.user_count,
                    requests=total.num_requests,
                    failures=total.num_failures,
                    p95_ms=total.get_current_response_time_percentile(0.95),
                )

        reporter = gevent.spawn(report)
        runner.start(args.users, spawn_rate=args.spawn_rate)
        if args.warmup:
            gevent.sleep(args.warmup)
            env.stats.reset_all()
            recorder.measure_from = time.time()
        gevent.sleep(args.duration)
        runner.quit()  # stops the players; a request in flight is not counted
        reporter.kill()
    total = env.stats.total
    emit(
        "done",
        seconds=round(time.monotonic() - began, 1),
        requests=total.num_requests,
        failures=total.num_failures,
        p95_ms=total.get_response_time_percentile(0.95) if total.num_requests else None,
        answered=recorder.answered,
        unanswered=recorder.unanswered,
        failure_examples=recorder.failures,
        errors=[str(e.error)[:300] for e in list(runner.errors.values())[:5]],
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--locustfile", required=True)
    parser.add_argument("--host", required=True)
    parser.add_argument("--users", type=int, required=True)
    parser.add_argument("--spawn-rate", type=float, required=True)
    parser.add_argument("--duration", type=float, required=True, help="Seconds.")
    parser.add_argument("--candidate", required=True, help="Version every request is tagged with.")
    parser.add_argument("--ids", required=True, help="File for the answered requests' IDs.")
    parser.add_argument("--every", type=float, default=2.0, help="Seconds between progress.")
    parser.add_argument("--warmup", type=float, default=0.0, help="Unmeasured seconds first.")
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
