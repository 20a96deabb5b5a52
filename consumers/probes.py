"""Liveness and readiness of an indexer process, for ``/healthz`` and ``/readyz``.

* **Live**: the loop is turning. It polls Kafka at least every ``batch_max_wait_ms``, and
  every half second while it waits out a failure, so a poll older than ``live_after_s``
  means the loop is stuck. (Before its first poll it is connecting: live.)
* **Ready**: partitions are assigned, Elasticsearch answers, and, while records wait to
  be indexed, Elasticsearch took a bulk request less than ``ready_bulk_age_s`` ago.
  An idle indexer (nothing waiting) stays ready. Not ready comes with the reasons.

Elasticsearch is asked (``GET /_cluster/health``, a 2 s timeout) at most once a second.
"""

from __future__ import annotations

import http.client
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from reqtrail.consumers.bulk_http import HttpBulkTransport
from reqtrail.consumers.logs import events
from reqtrail.settings import IndexerSettings

if TYPE_CHECKING:
    from reqtrail.consumers.metrics import IndexerMetrics

DEFAULT_READY_BULK_AGE_S = 60.0


@dataclass(frozen=True)
class Verdict:
    """A probe's answer: ``ok``, and the reasons when not (or the state when ok)."""

    ok: bool
    reasons: tuple[str, ...]

    def body(self) -> str:
        head = "ok" if self.ok else "not ok"
        return "\n".join([head, *self.reasons]) + "\n"


class EsProbe:
    """Whether Elasticsearch answers ``GET /_cluster/health``; None when it does, else why
    not (asked at most once per ``cache_s``, with a ``timeout_s`` timeout)."""

    def __init__(
        self,
        settings: IndexerSettings,
        *,
        timeout_s: float = 2.0,
        cache_s: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.url = settings.es_url
        self.transport = HttpBulkTransport.from_settings(settings)
        self.transport.timeout_s = timeout_s
        self.cache_s = cache_s
        self.clock = clock
        self._checked_at: float | None = None
        self._answer: str | None = None
        self._lock = threading.Lock()

    def __call__(self) -> str | None:
        with self._lock:
            now = self.clock()
            if self._checked_at is None or now - self._checked_at >= self.cache_s:
                self._answer = self._ask()
                self._checked_at = self.clock()
            return self._answer

    def _ask(self) -> str | None:
        where = f"Elasticsearch at {self.url} (REQTRAIL_ES_URL)"
        try:
            status, body = self.transport.get("/_cluster/health")
        except (OSError, http.client.HTTPException) as exc:
            return f"{where} unreachable: {_short(exc)}"
        if status != 200:
            return f"{where} answered {status}: {body[:200].decode('utf-8', 'replace')}"
        return None


def _short(exc: Exception) -> str:
    text = str(exc).splitlines()[0] if str(exc) else ""
    return f"{type(exc).__name__}: {text[:200]}" if text else type(exc).__name__


class Probes:
    """Answers the two probes from IndexerMetrics' loop state and an EsProbe."""

    def __init__(
        self,
        metrics: IndexerMetrics,
        es_reason: Callable[[], str | None],
        *,
        ready_bulk_age_s: float = DEFAULT_READY_BULK_AGE_S,
        live_after_s: float = 60.0,
        logger: Any = None,
    ) -> None:
        self.metrics = metrics
        self.es_reason = es_reason
        self.ready_bulk_age_s = ready_bulk_age_s
        self.live_after_s = live_after_s
        self.log = logger if logger is not None else events()
        self._was_ready: bool | None = None
        self._lock = threading.Lock()

    def liveness(self) -> Verdict:
        m = self.metrics
        if m.last_poll_at is None:
            return Verdict(True, (f"connecting to Kafka for {m.seconds_since(None):.0f} s",))
        age = m.seconds_since(m.last_poll_at)
        if age > self.live_after_s:
            return Verdict(False, (f"the loop last polled Kafka {age:.0f} s ago",))
        return Verdict(True, (f"the loop polled Kafka {age:.1f} s ago",))

    def readiness(self) -> Verdict:
        m = self.metrics
        reasons: list[str] = []
        owned = m.owned
        if m.last_poll_at is None:
            reasons.append("not consuming yet: connecting to Kafka")
        elif not owned:
            reasons.append("no partitions assigned to this process")
        es = self.es_reason()
        if es is not None:
            reasons.append(es)
        waiting = m.in_flight
        age = m.seconds_since(m.last_good_bulk_at)
        if waiting and age > self.ready_bulk_age_s:
            reasons.append(
                f"no successful bulk request for {age:.0f} s (limit {self.ready_bulk_age_s:g} s)"
                f" while {waiting} records wait"
            )
        verdict = Verdict(not reasons, tuple(reasons))
        if verdict.ok:
            verdict = Verdict(True, (f"partitions {sorted(owned)}", f"{waiting} records waiting"))
        self._note(verdict)
        return verdict

    def _note(self, verdict: Verdict) -> None:
        with self._lock:
            changed = self._was_ready is not verdict.ok
            self._was_ready = verdict.ok
        if changed:
            log = self.log.info if verdict.ok else self.log.warning
            log("readiness_changed", ready=verdict.ok, reasons=list(verdict.reasons))
