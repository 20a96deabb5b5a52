"""Steady request traffic into an in-process ASGI app, from a background thread.

``Traffic(app, rate_per_s=200)`` calls ``POST /units/{id}/upgrade`` through the app (and so
through reqtrail's middleware) at a fixed rate, each request with its own ``X-Request-ID``
named after the current ``phase``; ``ids[phase]`` lists what each phase produced.
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from typing import Any

from tests.producers.helpers import call_asgi

BODY = b'{"gold": 100}'


class Traffic:
    """Requests at ``rate_per_s`` until ``stop()``; ``pause()`` waits for the current one."""

    def __init__(self, app: Any, rate_per_s: float = 200.0) -> None:
        self.app = app
        self.interval = 1.0 / rate_per_s
        self.phase = "start"
        self.ids: dict[str, list[str]] = defaultdict(list)
        self.failures: list[str] = []
        self._running = threading.Event()
        self._idle = threading.Event()
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="test-traffic", daemon=True)

    def start(self) -> Traffic:
        self._running.set()
        self._thread.start()
        return self

    def pause(self) -> None:
        """Stop sending and wait until the request in progress (if any) has finished."""
        self._idle.clear()
        self._running.clear()
        self._idle.wait(5.0)

    def resume(self) -> None:
        self._running.set()

    def stop(self) -> None:
        self._stopped.set()
        self._running.set()
        self._thread.join(10.0)

    def _loop(self) -> None:
        n = 0
        next_at = time.monotonic()
        while not self._stopped.is_set():
            if not self._running.is_set():
                self._idle.set()
                self._running.wait(0.05)
                next_at = time.monotonic()
                continue
            phase = self.phase
            rid = f"{phase}-{n:06d}"
            headers = {
                "x-user-id": f"player-{n % 37:05d}",
                "x-request-id": rid,
                "content-type": "application/json",
            }
            status, _seconds = call_asgi(
                self.app, "POST", f"/units/u-{n % 50}/upgrade", headers, BODY
            )
            if status != 200:
                self.failures.append(f"{rid}: status {status}")
            self.ids[phase].append(rid)
            n += 1
            next_at += self.interval
            delay = next_at - time.monotonic()
            if delay > 0:
                time.sleep(delay)
        self._idle.set()
