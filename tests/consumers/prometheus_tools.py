"""Real Prometheus and Alertmanager (Debian packages) for the metrics tests, and helpers.

Each runs on free ports in a temporary directory and is stopped at the end. Without the
binaries (``./dev test`` installs them when it runs as root) the tests that need them are
skipped with the reason.
"""

from __future__ import annotations

import http.server
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import yaml

from reqtrail.services.ports import free_ports
from reqtrail.settings import Settings
from tests.consumers.conftest import settings_env

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "deploy" / "prometheus"
PROMETHEUS = shutil.which("prometheus")
ALERTMANAGER = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")
PROMTOOL = shutil.which("promtool")


def need(binary: str | None, package: str) -> str:
    if binary is None:
        pytest.skip(f"{package} is not installed (./dev test installs the Debian package as root)")
    return binary


def http_get(url: str, timeout_s: float = 5.0) -> tuple[int, str]:
    """Status and body of a GET (errors included; connection failures are status 0)."""
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()
    except OSError as exc:
        return 0, str(exc)


def wait_for(check: Any, timeout_s: float, what: str, every_s: float = 0.25) -> Any:
    """``check()`` until it returns something truthy (returned), else AssertionError."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s:.0f} s waiting for {what}")
        time.sleep(every_s)


class Process:
    """A service binary started in the background with its output in ``log``."""

    def __init__(self, args: list[str], log: Path, ready_url: str, name: str) -> None:
        self.name = name
        self.log = log
        self.ready_url = ready_url
        self.proc = subprocess.Popen(
            args, stdout=subprocess.DEVNULL, stderr=log.open("wb"), start_new_session=True
        )

    def wait_ready(self, timeout_s: float = 60) -> None:
        def ready() -> bool:
            if self.proc.poll() is not None:
                raise AssertionError(f"{self.name} exited:\n{self.log.read_text()[-3000:]}")
            return http_get(self.ready_url)[0] == 200

        wait_for(ready, timeout_s, f"{self.name} to be ready")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


class Prometheus(Process):
    """``prometheus`` with ``config`` (a dict, written as YAML) on a free port."""

    def __init__(self, workdir: Path, config: dict[str, Any], rule_files: list[Path]) -> None:
        (port,) = free_ports(1)
        self.url = f"http://127.0.0.1:{port}"
        config = {**config, "rule_files": [str(p) for p in rule_files]}
        config_path = workdir / "prometheus.yml"
        config_path.write_text(yaml.safe_dump(config))
        args = [
            need(PROMETHEUS, "prometheus"),
            f"--config.file={config_path}",
            f"--storage.tsdb.path={workdir / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ]
        super().__init__(args, workdir / "prometheus.log", f"{self.url}/-/ready", "prometheus")

    def query(self, promql: str) -> list[dict[str, Any]]:
        """The instant vector of ``promql`` (``[{"metric": {...}, "value": [t, "v"]}]``)."""
        url = f"{self.url}/api/v1/query?" + urllib.parse.urlencode({"query": promql})
        status, body = http_get(url)
        answer = json.loads(body) if status else {}
        assert answer.get("status") == "success", f"{promql}: {status} {body[:500]}"
        return list(answer["data"]["result"])

    def values_by(self, promql: str, label: str) -> dict[str, float]:
        return {r["metric"].get(label, ""): float(r["value"][1]) for r in self.query(promql)}

    def scalar(self, promql: str) -> float | None:
        result = self.query(promql)
        return float(result[0]["value"][1]) if result else None


class Alertmanager(Process):
    """``prometheus-alertmanager`` routing every alert to ``webhook_url`` within ~1 s."""

    def __init__(self, workdir: Path, webhook_url: str) -> None:
        (port,) = free_ports(1)
        self.url = f"http://127.0.0.1:{port}"
        config = {
            "route": {
                "receiver": "test",
                "group_by": ["alertname", "route"],
                "group_wait": "1s",
                "group_interval": "1s",
                "repeat_interval": "1h",
            },
            "receivers": [
                {"name": "test", "webhook_configs": [{"url": webhook_url, "send_resolved": True}]}
            ],
        }
        config_path = workdir / "alertmanager.yml"
        config_path.write_text(yaml.safe_dump(config))
        args = [
            need(ALERTMANAGER, "prometheus-alertmanager"),
            f"--config.file={config_path}",
            f"--storage.path={workdir / 'am-data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--cluster.listen-address=",  # a single instance: no gossip port
        ]
        super().__init__(args, workdir / "alertmanager.log", f"{self.url}/-/ready", "alertmanager")


class Webhook:
    """An HTTP receiver keeping every notification Alertmanager posts."""

    def __init__(self) -> None:
        self.notifications: list[dict[str, Any]] = []
        received = self.notifications

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - the stdlib's name
                length = int(self.headers.get("Content-Length", 0))
                received.append(json.loads(self.rfile.read(length)))
                self.send_response(200)
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def alerts(self) -> list[tuple[str, str, str]]:
        """(status, alertname, route) of every alert in every notification, in order."""
        return [
            (alert["status"], alert["labels"]["alertname"], alert["labels"].get("route", ""))
            for notification in list(self.notifications)
            for alert in notification["alerts"]
        ]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def shortened_rules(workdir: Path, window: str = "10s", hold: str = "3s") -> Path:
    """The shipped request rules (recording rules and route alerts) with every range
    ``window`` and every ``for:`` ``hold``, evaluated every second, so the test sees in
    seconds what production sees in minutes."""
    shipped = yaml.safe_load((RULES / "reqtrail.rules.yml").read_text())
    groups = [g for g in shipped["groups"] if g["name"] == "reqtrail-requests"]
    for group in groups:
        group["interval"] = "1s"
        for rule in group["rules"]:
            rule["expr"] = re.sub(r"\[\d+[smhd]\]", f"[{window}]", rule["expr"])
            if "for" in rule:
                rule["for"] = hold
    path = workdir / "short.rules.yml"
    path.write_text(yaml.safe_dump({"groups": groups}, sort_keys=False))
    return path


@contextmanager
def consume_process(
    settings: Settings, log: Path, metrics_port: int, *extra: str
) -> Iterator[subprocess.Popen[bytes]]:
    """``reqtrail consume --metrics-port`` as a subprocess; SIGTERM (then kill) at the end."""
    env = os.environ | settings_env(settings)
    proc = subprocess.Popen(
        [sys.executable, "-m", "reqtrail.cli", "consume", "--metrics-port", str(metrics_port)]
        + list(extra),
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=log.open("wb"),
    )
    try:
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
