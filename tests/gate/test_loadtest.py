"""`reqtrail loadtest` on the real stack: demo server -> Kafka -> indexer -> Elasticsearch.

One demo server serves both releases (the version comes with each request's
``X-App-Version``): A is ``1.4.2``; B is ``1.4.3``, which the server runs with the gate
demo's two regressions (``/battles/start`` 50 % slower, a new 500 when upgrading a unit
with more than 15 materials).
"""

from __future__ import annotations

import itertools
import json
import os
import re
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from elasticsearch import Elasticsearch
from junitparser import Failure, JUnitXml

from reqtrail.consumers.setup import remove_all, setup_all
from reqtrail.demo_server import LOCUSTFILE
from reqtrail.services.ports import free_ports
from reqtrail.settings import Settings
from tests.conftest import isolated_settings

pytestmark = [pytest.mark.integration, pytest.mark.slow]
REPO = Path(__file__).resolve().parents[2]
A, B = "1.4.2", "1.4.3"
A_RUNS = 5  # every pair of them is one A/A comparison: 10
LOAD = ["--users", "70", "--spawn-rate", "35", "--warmup", "5s", "--duration", "20s"]
DEMO_ENV = {
    "REQTRAIL_DEMO_REGRESSED_RELEASES": B,
    "REQTRAIL_DEMO_TIME_SCALE": "8",  # simulated work well above the machine's scheduling noise
    "REQTRAIL_DEMO_PACE": "0.25",
    "REQTRAIL_DEMO_CRASH_CHANCE": "0.01",
}
RUN_LABEL = re.compile(r"^this run: (\S+)$", re.M)


@dataclass
class Stack:
    settings: Settings
    env: dict[str, str]
    host: str
    es: Elasticsearch

    def reqtrail(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "reqtrail.cli", *args],
            cwd=REPO,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
        )

    def loadtest(self, candidate: str, *args: str) -> subprocess.CompletedProcess[str]:
        common = ["loadtest", "-f", str(LOCUSTFILE), "--host", self.host, *LOAD]
        return self.reqtrail(*common, "--candidate", candidate, "--wait", "90", *args)


def _wait_for(url: str, process: subprocess.Popen[bytes], what: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert process.poll() is None, f"{what} exited with {process.returncode}"
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.3)
    pytest.fail(f"{what} did not answer {url} within 60 s")


@pytest.fixture(scope="module")
def stack(
    service_endpoints: tuple[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    """Topics, index template, an indexer and the demo server, for this module only."""
    name = f"t-gate-lt-{uuid.uuid4().hex[:6]}"
    settings = isolated_settings(*service_endpoints, name)
    setup_all(settings)
    env = {
        **os.environ,
        "REQTRAIL_KAFKA_BOOTSTRAP": settings.kafka_bootstrap,
        "REQTRAIL_ES_URL": settings.es_url,
        "REQTRAIL_TOPIC": settings.topic,
        "REQTRAIL_DLQ_TOPIC": settings.dlq_topic,
        "REQTRAIL_CONSUMER_GROUP": settings.consumer_group,
        "REQTRAIL_INDEX_PREFIX": settings.index_prefix,
        "REQTRAIL_CONFIG": "",
        **DEMO_ENV,
    }
    env.pop("SENTRY_DSN", None)
    logs = tmp_path_factory.mktemp("gate-logs")
    (port,) = free_ports(1)
    children = [
        subprocess.Popen(
            [sys.executable, "-m", "reqtrail.cli", *argv],
            cwd=REPO,
            env=env,
            stdout=(logs / f"{argv[0]}.log").open("wb"),
            stderr=subprocess.STDOUT,
        )
        for argv in (["consume"], ["demo-server", "--port", str(port)])
    ]
    es = Elasticsearch(settings.es_url)
    try:
        _wait_for(f"http://127.0.0.1:{port}/health", children[1], "the demo server")
        yield Stack(settings, env, f"http://127.0.0.1:{port}", es)
    finally:
        for child in children:
            child.terminate()
        for child in children:
            child.wait(timeout=30)
        es.close()
        remove_all(settings)


@pytest.fixture(scope="module")
def a_runs(stack: Stack) -> list[tuple[str, subprocess.CompletedProcess[str]]]:
    """Five load tests of A, each compared by `reqtrail loadtest` with the run before it."""
    runs: list[tuple[str, subprocess.CompletedProcess[str]]] = []
    for number in range(A_RUNS):
        previous = ["--baseline", runs[-1][0], "--format", "json"] if runs else []
        done = stack.loadtest(A, *previous)
        label = RUN_LABEL.search(done.stderr)
        assert label, done.stderr[-3000:]
        runs.append((label.group(1), done))
        # 1 (a regression against the previous run) is judged by the test below
        assert done.returncode in (0, 1), f"run {number + 1}: {done.stderr[-3000:]}"
    return runs


def _digest(report: dict[str, Any]) -> str:
    """One line per route: verdict, requests, p95 on both sides and the bounds of its change."""
    return "\n".join(
        f"{r['route']}: {r['verdict']}, requests {r['baseline']['requests']} -> "
        f"{r['candidate']['requests']}, p95 {r['baseline']['p95_ms']} -> "
        f"{r['candidate']['p95_ms']}, bounds {r['bounds']}"
        for r in report["routes"]
    )


def _judged(report: dict[str, object]) -> dict[str, str]:
    routes = report["routes"]
    assert isinstance(routes, list)
    return {r["route"]: r["verdict"] for r in routes if r["verdict"] != "too few requests"}


def test_a_against_a_passes_in_ten_of_ten_comparisons(
    stack: Stack, a_runs: list[tuple[str, subprocess.CompletedProcess[str]]]
) -> None:
    """Every pair of five independent runs of A (10 comparisons) exits 0 with routes judged.

    Five load tests of the same release make ten A/A comparisons: each pair compares two
    separate locust runs over disjoint time windows (no request is on both sides), so each
    is a genuine comparison of independent runs. The four of consecutive runs are made by
    `reqtrail loadtest --baseline <previous run>` itself; the other six by `reqtrail compare`
    on the recorded windows. They are not independent of one another (each run takes part
    in four), which makes the test stricter: one unlucky run would fail four comparisons.
    """
    outcomes = {}
    for (i, (old, _)), (j, (new, done)) in itertools.combinations(enumerate(a_runs), 2):
        if j == i + 1:
            report, code, text = json.loads(done.stdout), done.returncode, done.stderr
        else:
            compared = stack.reqtrail("compare", "-b", old, "-c", new, "--format", "json")
            report = json.loads(compared.stdout or "{}")
            code, text = compared.returncode, compared.stderr
        judged = _judged(report)
        assert len(judged) >= 4, (i, j, report)
        outcomes[(i + 1, j + 1)] = (code, _digest(report), text[-500:])
    assert len(outcomes) == 10
    failed = {pair: o for pair, o in outcomes.items() if o[0] != 0}
    assert not failed, failed


def test_b_against_a_names_exactly_the_two_regressions(
    stack: Stack, a_runs: list[tuple[str, subprocess.CompletedProcess[str]]], tmp_path: Path
) -> None:
    """B vs every A run: exit 1, regressed = the slowed and the crashing route; JUnit agrees."""
    junit = tmp_path / "gate.xml"
    done = stack.loadtest(
        B,
        *("--baseline", A, "--format", "json", "--report", f"junit:{junit}"),
        *("--dashboard-url", "http://dash.example"),
    )
    assert done.returncode == 1, done.stdout + done.stderr[-3000:]
    report = json.loads(done.stdout)
    regressed = {r["route"] for r in report["routes"] if r["verdict"] == "regressed"}
    assert regressed == {"/battles/start", "/units/{unit_id}/upgrade"}, _digest(report)
    assert "gate: FAILED, 2 route(s) regressed" in done.stderr
    assert "current p95" in done.stderr  # the progress line
    too_few = [r for r in report["routes"] if r["verdict"] == "too few requests"]
    assert too_few, "expected /login or /shop/purchase below 100 candidate requests"
    for route in too_few:
        assert min(route["baseline"]["requests"], route["candidate"]["requests"]) < 100

    cases = {case.name: case for suite in JUnitXml.fromfile(str(junit)) for case in suite}
    assert set(cases) == {r["route"] for r in report["routes"]}
    failed = {
        name for name, case in cases.items() if any(isinstance(x, Failure) for x in case.result)
    }
    assert failed == regressed

    # a failed request in locust is one click from its record
    link = re.search(r"request (\w+)\n\s+(http://dash\.example/\?\S+)", done.stderr)
    assert link, done.stderr[-3000:]
    assert f"rid={link.group(1)}" in link.group(2)
    hit = stack.es.search(
        index=stack.settings.read_alias, query={"term": {"request_id": link.group(1)}}
    )["hits"]["hits"]
    assert hit and hit[0]["_source"]["status"] == 500
    assert hit[0]["_source"]["app_version"] == B


def test_a_locustfile_without_reqtrail_users_cannot_run(stack: Stack, tmp_path: Path) -> None:
    """Plain HttpUser classes carry no request IDs: exit 2 naming the class and the fix."""
    plain = tmp_path / "plain_locustfile.py"
    plain.write_text(
        "from locust import HttpUser, task\n\n\n"
        "class Plain(HttpUser):\n"
        "    @task\n"
        "    def home(self):\n"
        "        self.client.get('/home')\n"
    )
    done = stack.reqtrail(
        "loadtest", "-f", str(plain), "--host", stack.host, "--candidate", A, "--duration", "2s"
    )
    assert done.returncode == 2, done.stderr[-2000:]
    assert "Plain in" in done.stderr and "reqtrail.locust.ReqtrailUser" in done.stderr


def test_the_locust_helper_tags_every_request(stack: Stack, tmp_path: Path) -> None:
    """ReqtrailUser: a stable player ID, a request ID each and the candidate version."""
    locustfile = tmp_path / "helper_locustfile.py"
    locustfile.write_text(
        "from locust import constant, task\n"
        "from reqtrail.locust import ReqtrailUser\n\n\n"
        "class Visitor(ReqtrailUser):\n"
        "    wait_time = constant(0.2)\n\n"
        "    @task\n"
        "    def home(self):\n"
        "        self.client.get('/home', headers={'X-App-Version': 'ignored'})\n"
    )
    done = stack.reqtrail(
        *("loadtest", "-f", str(locustfile), "--host", stack.host, "--candidate", "9.9.9-helper"),
        *("--users", "3", "--spawn-rate", "3", "--duration", "3s"),
    )
    assert done.returncode == 0, done.stderr[-3000:]
    records = [
        hit["_source"]
        for hit in stack.es.search(
            index=stack.settings.read_alias,
            query={"term": {"app_version": "9.9.9-helper"}},
            size=1000,
        )["hits"]["hits"]
    ]
    assert len(records) >= 10
    assert {r["user_id"] for r in records} == {f"loadtest-player-0000{n}" for n in (1, 2, 3)}
    assert len({r["request_id"] for r in records}) == len(records)
    assert all(len(r["request_id"]) == 26 for r in records)  # ours, not the server's own
    assert "no --baseline: nothing to compare with" in done.stderr
