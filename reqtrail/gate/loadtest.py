"""``reqtrail loadtest``: drive the candidate with locust, then find every request it made.

Locust runs in a child process (``reqtrail.gate.locust_runner``): importing locust
monkey-patches the whole process with gevent, and this process goes on to talk to
Elasticsearch with ordinary sockets. The child reports progress as JSON lines, which
become a progress line here (requests, failures, current p95), and writes the request ID
of every answered request to a file. Once locust is done, this process waits (bounded)
until all of those requests are searchable, reads their time span on the server's
clock, and checks that the server stamped them with the candidate version.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from elasticsearch import Elasticsearch

from reqtrail.dashboards.queries.filters import Cohort
from reqtrail.dashboards.ui.url_state import window_state
from reqtrail.gate.run import GateError, Say
from reqtrail.gate.searchable import missing_ids, run_records, wait_searchable
from reqtrail.gate.sides import Side, run_window


@dataclass(frozen=True)
class LoadOptions:
    locustfile: Path
    host: str
    users: int
    spawn_rate: float
    duration_s: float
    candidate: str
    warmup_s: float = 0.0
    wait_s: float = 120.0
    progress_every_s: float = 5.0
    dashboard_url: str = ""


@dataclass
class LoadRun:
    """What the locust child reported, and the IDs of the requests that got an answer."""

    requests: int = 0
    failures: int = 0
    p95_ms: float | None = None
    unanswered: int = 0
    failure_examples: list[dict[str, Any]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    ids: list[str] = field(default_factory=list)


def locust_argv(options: LoadOptions, ids_path: Path) -> list[str]:
    return [
        sys.executable,
        "-m",
        "reqtrail.gate.locust_runner",
        "--locustfile",
        str(options.locustfile),
        "--host",
        options.host,
        "--users",
        str(options.users),
        "--spawn-rate",
        str(options.spawn_rate),
        "--duration",
        str(options.duration_s),
        "--candidate",
        options.candidate,
        "--ids",
        str(ids_path),
        "--every",
        "1",
        "--warmup",
        str(options.warmup_s),
    ]


def _progress(event: dict[str, Any]) -> str:
    p95 = event.get("p95_ms")
    phase = " warm-up:" if event.get("warmup") else ""
    return (
        f"[{event['seconds']:5.0f} s]{phase} {event['users']} users, "
        f"{event['requests']:,} requests, "
        f"{event['failures']:,} failures, current p95 {p95 if p95 is not None else '-'} ms"
    )


def run_locust(options: LoadOptions, say: Say) -> LoadRun:
    """Run the locustfile in a child process; its totals and answered request IDs."""
    with tempfile.TemporaryDirectory(prefix="reqtrail-loadtest-") as tmp:
        ids_path = Path(tmp) / "request-ids.txt"
        child = subprocess.Popen(
            locust_argv(options, ids_path), stdout=subprocess.PIPE, text=True, bufsize=1
        )
        assert child.stdout is not None
        done: dict[str, Any] | None = None
        last_said = time.monotonic()
        for line in child.stdout:
            try:
                event = json.loads(line)
            except ValueError:
                sys.stderr.write(line)  # a print() in the locustfile
                continue
            if event.get("event") == "done":
                done = event
            elif time.monotonic() - last_said >= options.progress_every_s:
                last_said = time.monotonic()
                say(_progress(event))
        code = child.wait()
        if done is None:
            raise GateError(
                f"locust ended without a result (exit code {code}); see its messages above"
            )
        ids = ids_path.read_text(encoding="utf-8").split()
    return LoadRun(
        requests=done["requests"],
        failures=done["failures"],
        p95_ms=done["p95_ms"],
        unanswered=done["unanswered"],
        failure_examples=done["failure_examples"],
        errors=done["errors"],
        ids=ids,
    )


def find_run(es: Elasticsearch, index: str, run: LoadRun, options: LoadOptions, say: Say) -> Side:
    """Wait until the run's requests are searchable; the side holding exactly them."""
    if not run.ids:
        raise GateError(
            f"no request got an answer from {options.host} ({run.unanswered:,} without one)"
        )
    say(f"waiting until all {len(run.ids):,} requests are searchable in {index!r}")
    missing = wait_searchable(es, index, run.ids, timeout_s=options.wait_s, say=say)
    if missing:
        examples = ", ".join(missing_ids(es, index, run.ids))
        raise GateError(
            f"{missing:,} of {len(run.ids):,} requests are not searchable in {index!r} after "
            f"{options.wait_s:.0f} s (e.g. request IDs {examples}): is the indexer running and "
            "keeping up, does the server log these paths, and does it keep every request "
            "(REQTRAIL_SAMPLE_RATE=1)?"
        )
    records = run_records(es, index, run.ids)
    others = {v: n for v, n in records.versions.items() if v != options.candidate}
    if others:
        stamped = ", ".join(f"{v!r} ({n:,})" for v, n in others.items())
        raise GateError(
            f"the server stamped this run's records with app_version {stamped}, not the "
            f"candidate {options.candidate!r}: run the candidate build with "
            f"REQTRAIL_APP_VERSION={options.candidate}, or let it take the version from the "
            "request with REQTRAIL_APP_VERSION_HEADER=x-app-version"
        )
    return Side(Cohort(run_window(records.first, records.last), options.candidate))


def failure_lines(run: LoadRun, side: Side, dashboard_url: str, limit: int = 5) -> list[str]:
    """The first failures, each with its request ID (and a dashboard link when known)."""
    lines = []
    for failure in run.failure_examples[:limit]:
        rid = failure.get("request_id")
        line = (
            f"  {failure['method']} {failure['name']} -> {failure['status'] or 'no answer'}: "
            f"request {rid}"
        )
        if dashboard_url and rid:
            state = replace(window_state(side.cohort.time_range), request_id=rid, open_request=rid)
            line += f"\n    {dashboard_url.rstrip('/')}/?{urlencode(state.to_params())}"
        lines.append(line)
    return lines
