"""`reqtrail demo`: the whole pipeline on local services, with simulated players.

Order of work: services (reused when healthy) -> topics and index template -> a local
Sentry collector -> the demo game server (middleware -> Kafka) -> the indexer (Kafka -> ES)
-> the dashboard -> locust players. A progress line every few seconds compares what the
server produced with what ES holds; three example searches are printed once the data
supports them. Ctrl-C / SIGTERM (or the end of traffic with ``exit_when_done``) stops
every process it started, services included when it started them.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from types import FrameType
from typing import Any

from reqtrail.consumers.setup import setup_all
from reqtrail.dashboards.queries.es_client import make_client
from reqtrail.demo_examples import Example, find_examples
from reqtrail.demo_server import LOCUSTFILE
from reqtrail.services import LocalStack
from reqtrail.services.ports import port_is_free, port_owner
from reqtrail.settings import Settings
from reqtrail.supervisor import Child, Supervisor, describe_exit, wait_until

PLAYERS = "players"  # the locust child


def describe_players_exit(code: int | None) -> str:
    """How locust ended; its exit 1 means failed requests, which the deliberate 500s always are."""
    hint = ": locust counts the demo's deliberate 500s as failures" if code == 1 else ""
    return describe_exit(code) + hint


Say = Callable[[str], None]


class DemoError(RuntimeError):
    """The demo cannot start or keep running; the message says why in one line."""


class DemoStopped(Exception):
    """Raised in the main thread by SIGTERM/SIGINT to unwind into the clean-up."""


@dataclass(frozen=True)
class DemoOptions:
    duration_s: float = 0.0  # 0: traffic until stopped
    players: int = 40
    spawn_rate: float = 4.0
    traffic: bool = True
    server_port: int = 8000
    sentry_port: int = 9400
    exit_when_done: bool = False
    keep_services: bool = False
    progress_every_s: float = 10.0
    log_dir: Path | None = None


@dataclass
class DemoSummary:
    produced: int = 0
    delivered: int = 0
    dropped: int = 0
    indexed: int = 0  # documents added to the read alias during this run
    sentry_events: int = 0
    examples: list[Example] = field(default_factory=list)
    child_pids: list[int] = field(default_factory=list)
    exit_codes: dict[str, int | None] = field(default_factory=dict)
    services_started: list[str] = field(default_factory=list)


def get_json(url: str, timeout: float = 2.0) -> Any | None:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return json.loads(response.read())
    except (OSError, ValueError):
        return None


def http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2.0) as response:
            return bool(response.status == 200)
    except OSError:
        return False


class Demo:
    def __init__(self, settings: Settings, options: DemoOptions, say: Say) -> None:
        self.settings = settings
        self.options = options
        self.say = say
        self.supervisor = Supervisor()
        self.summary = DemoSummary()
        self.log_dir = options.log_dir or Path(settings.state_dir) / "demo-logs"
        self.server_url = f"http://127.0.0.1:{options.server_port}"
        self.sentry_url = f"http://127.0.0.1:{options.sentry_port}"
        self.dashboard_url = f"http://127.0.0.1:{settings.dashboard_port}"
        self.stack = LocalStack(settings, report=say)
        self.es = make_client(settings)
        self._last_progress = 0.0
        self._indexed_before = 0
        self._began = time.monotonic()

    # -- lifecycle ---------------------------------------------------------------------
    def run(self) -> DemoSummary:
        previous = {s: signal.signal(s, self._on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
        try:
            self._start_everything()
            self._watch()
        except DemoStopped:
            self.say("stopping (signal received)")
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            self._stop_everything()
        return self.summary

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        raise DemoStopped(signal.Signals(signum).name)

    def _start_everything(self) -> None:
        if self.stack.endpoints_healthy():
            self.say(
                f"services: reusing Kafka {self.settings.kafka_bootstrap} and ES "
                f"{self.settings.es_url}"
            )
        else:
            result = self.stack.up()
            self.summary.services_started = list(result.started)
        self._check_ports()
        self.say(f"setup: topics, index template and alias '{self.settings.read_alias}'")
        setup_all(self.settings)
        self._indexed_before = self._es_count() or 0
        env = self._child_env()
        python = sys.executable
        self._start(
            "sentry",
            [python, "-m", "reqtrail.sentry_collector", "--port", str(self.options.sentry_port)],
            env,
            health=f"{self.sentry_url}/stats",
        )
        self._start(
            "game-server",
            [python, "-m", "reqtrail.cli", "demo-server", "--port", str(self.options.server_port)],
            env,
            health=f"{self.server_url}/health",
        )
        self._start("indexer", [python, "-m", "reqtrail.cli", "consume"], env)
        self._start(
            "dashboard",
            [python, "-m", "reqtrail.cli", "dashboard", "--address", "127.0.0.1"],
            env,
            health=f"{self.dashboard_url}/_stcore/health",
            timeout=90,
        )
        self.say(f"dashboard: {self.dashboard_url}")
        if self.options.traffic:
            self._start(PLAYERS, self._locust_argv(), env)
            what = (
                f"for {self.options.duration_s:.0f} s"
                if self.options.duration_s
                else "until Ctrl-C"
            )
            self.say(f"traffic: {self.options.players} simulated players {what}")
        else:
            self.say(
                f"no traffic: point your own server's middleware at Kafka "
                f"{self.settings.kafka_bootstrap}, topic {self.settings.topic}"
            )

    def _check_ports(self) -> None:
        wanted = {
            "game server (--server-port)": self.options.server_port,
            "Sentry collector (--sentry-port)": self.options.sentry_port,
            "dashboard (REQTRAIL_DASHBOARD_PORT)": self.settings.dashboard_port,
        }
        for what, port in wanted.items():
            if not port_is_free(port):
                raise DemoError(f"port {port} for the {what} is taken by {port_owner(port)}")

    def _child_env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            {
                "REQTRAIL_KAFKA_BOOTSTRAP": self.settings.kafka_bootstrap,
                "REQTRAIL_ES_URL": self.settings.es_url,
                "REQTRAIL_TOPIC": self.settings.topic,
                "REQTRAIL_DLQ_TOPIC": self.settings.dlq_topic,
                "REQTRAIL_CONSUMER_GROUP": self.settings.consumer_group,
                "REQTRAIL_INDEX_PREFIX": self.settings.index_prefix,
                "REQTRAIL_DASHBOARD_PORT": str(self.settings.dashboard_port),
                "REQTRAIL_SENTRY_BASE_URL": self.settings.sentry_base_url
                or f"{self.sentry_url}/issues/",
                "SENTRY_DSN": env.get("SENTRY_DSN")
                or f"http://demo@127.0.0.1:{self.options.sentry_port}/1",
                "PYTHONUNBUFFERED": "1",
            }
        )
        return env

    def _locust_argv(self) -> list[str]:
        argv = [
            sys.executable,
            "-m",
            "locust",
            "-f",
            str(LOCUSTFILE),
            "--headless",
            "--only-summary",
            "-u",
            str(self.options.players),
            "-r",
            str(self.options.spawn_rate),
            "--host",
            self.server_url,
        ]
        if self.options.duration_s:
            argv += ["--run-time", f"{int(self.options.duration_s)}s", "--stop-timeout", "5"]
        return argv

    def _start(
        self,
        name: str,
        argv: list[str],
        env: dict[str, str],
        *,
        health: str | None = None,
        timeout: float = 60.0,
    ) -> Child:
        child = self.supervisor.start(Child(name, argv, self.log_dir / f"{name}.log", env))
        self.say(f"started {name} (pid {child.pid}, log {child.log_path})")
        if health is not None:
            ok = wait_until(lambda: http_ok(health) or not child.is_running(), timeout)
            child.check_alive()
            if not ok:
                raise DemoError(
                    f"{name} did not answer {health} within {timeout:.0f} s; see {child.log_path}"
                )
        return child

    # -- watching ----------------------------------------------------------------------
    def _watch(self) -> None:
        began = time.monotonic()
        players = next((c for c in self.supervisor.children if c.name == PLAYERS), None)
        while True:
            time.sleep(min(self.options.progress_every_s, 2.0))
            for child in self.supervisor.children:
                if child is not players:
                    child.check_alive()
            elapsed = time.monotonic() - began
            if elapsed - self._last_progress >= self.options.progress_every_s:
                self._progress(elapsed)
            if not self.summary.examples and self.summary.indexed >= 300:
                self._print_examples()
            if players is not None and not players.is_running():
                code = players.process.returncode if players.process else None
                self.say(f"traffic finished ({describe_players_exit(code)})")
                self._drain()
                self._print_examples()
                if self.options.exit_when_done:
                    return
                self.say(
                    f"pipeline and dashboard keep running at {self.dashboard_url}; Ctrl-C to stop"
                )
                players = None

    def _refresh_counts(self) -> None:
        stats = get_json(f"{self.server_url}/_reqtrail/stats") or {}
        self.summary.produced = int(stats.get("produced", self.summary.produced))
        self.summary.delivered = int(stats.get("delivered", self.summary.delivered))
        self.summary.dropped = int(stats.get("dropped", self.summary.dropped))
        sentry = get_json(f"{self.sentry_url}/stats") or {}
        self.summary.sentry_events = int(sentry.get("received", self.summary.sentry_events))
        count = self._es_count()
        if count is not None:
            self.summary.indexed = count - self._indexed_before

    def _es_count(self) -> int | None:
        try:
            self.es.indices.refresh(index=self.settings.read_alias)
            return int(self.es.count(index=self.settings.read_alias)["count"])
        except Exception:  # noqa: BLE001 - a progress line must not end the demo
            return None

    def _progress(self, elapsed: float) -> None:
        self._last_progress = elapsed
        self._refresh_counts()
        s = self.summary
        self.say(
            f"[{elapsed:5.0f} s] produced {s.produced}  delivered {s.delivered}  "
            f"dropped {s.dropped}  indexed {s.indexed}  sentry events {s.sentry_events}"
        )

    def _drain(self, timeout: float = 90.0) -> None:
        """Wait until everything produced is delivered and indexed (or time runs out)."""
        self.say("waiting for the indexer to catch up")

        def caught_up() -> bool:
            self._refresh_counts()
            s = self.summary
            return s.produced == s.delivered + s.dropped and s.indexed >= s.delivered

        if not wait_until(caught_up, timeout, interval=1.0):
            self.say("indexer has not caught up yet; counts below are a snapshot")
        s = self.summary
        self.say(
            f"traffic totals: produced {s.produced}, delivered {s.delivered}, "
            f"dropped {s.dropped}, indexed {s.indexed}, sentry events {s.sentry_events}"
        )

    def _print_examples(self) -> None:
        try:
            # Only this run's traffic: its Sentry events are in this run's collector.
            this_run = timedelta(seconds=time.monotonic() - self._began + 60)
            self.summary.examples = find_examples(
                self.es, self.settings.read_alias, self.dashboard_url, window=this_run
            )
        except Exception as exc:  # noqa: BLE001 - examples are a courtesy
            self.say(f"examples not available yet: {exc}")
            return
        if self.summary.examples:
            self.say("try these in the dashboard:")
            for number, example in enumerate(self.summary.examples, 1):
                self.say(f"  {number}. {example.title}\n     {example.detail}\n     {example.url}")

    # -- stopping ----------------------------------------------------------------------
    def _stop_everything(self) -> None:
        self.summary.child_pids = self.supervisor.pids()
        codes = self.supervisor.stop_all()
        self.summary.exit_codes = codes
        for name, code in codes.items():
            ending = describe_players_exit(code) if name == PLAYERS else describe_exit(code)
            self.say(f"stopped {name} ({ending})")
        if self.summary.services_started and not self.options.keep_services:
            for name in self.stack.down():
                self.say(f"stopped service {name}")
        self.say("demo stopped; everything it started has exited")
