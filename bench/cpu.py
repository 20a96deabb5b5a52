"""Who used the CPU during a measurement: Elasticsearch, the Kafka broker, this process.

On a small shared machine the services and the benchmark compete for the same cores, so a
throughput figure means more next to the CPU seconds each party spent on it. The service
processes are found by the ports they listen on (local services only; a remote or
invisible one is reported as unknown). With several ES URLs or Kafka brokers in the
settings, each service's figure is the sum over its nodes.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from reqtrail.services.ports import listening_pid
from reqtrail.services.processes import cpu_seconds
from reqtrail.settings import Settings


@dataclass(frozen=True)
class CpuUse:
    """CPU seconds spent during one measurement (None: that process was not visible)."""

    wall_s: float
    es_s: float | None
    kafka_s: float | None
    here_s: float

    def cells(self, documents: int) -> list[str]:
        """Per 10k documents: ES, Kafka, this process, and the cores busy on average."""
        per = 10_000 / documents
        parts = [self.es_s, self.kafka_s, self.here_s]
        busy = sum(p for p in parts if p is not None) / self.wall_s if self.wall_s else 0.0
        return [("?" if p is None else f"{p * per:.2f}") for p in parts] + [f"{busy:.2f}"]


class CpuMeter:
    """``start()`` then ``stop()``: the CPU each party used in between."""

    def __init__(self, settings: Settings) -> None:
        self.es_pids = [listening_pid(port) for port in settings.es_ports]
        self.kafka_pids = [listening_pid(port) for port in settings.kafka_ports]
        self._began: tuple[float, float | None, float | None, float] | None = None

    def _now(self) -> tuple[float, float | None, float | None, float]:
        return (
            time.perf_counter(),
            total_cpu_seconds(self.es_pids),
            total_cpu_seconds(self.kafka_pids),
            time.process_time(),
        )

    def start(self) -> None:
        self._began = self._now()

    def stop(self) -> CpuUse:
        if self._began is None:
            raise RuntimeError("CpuMeter.stop() before start()")
        (w0, e0, k0, h0), (w1, e1, k1, h1) = self._began, self._now()
        return CpuUse(
            wall_s=w1 - w0,
            es_s=None if e0 is None or e1 is None else e1 - e0,
            kafka_s=None if k0 is None or k1 is None else k1 - k0,
            here_s=h1 - h0,
        )


def total_cpu_seconds(pids: list[int | None]) -> float | None:
    """CPU seconds of all ``pids`` together (None when one of them is not visible)."""
    seconds = [cpu_seconds(pid) if pid else None for pid in pids]
    return None if any(s is None for s in seconds) else sum(s for s in seconds if s)


def wait_until_idle(
    settings: Settings,
    *,
    busy_below: float = 0.15,
    window_s: float = 0.5,
    timeout_s: float = 30.0,
    on_wait: Callable[[float, float], None] | None = None,
) -> float:
    """Wait until Elasticsearch (all its nodes) uses less than ``busy_below`` of a core over
    ``window_s``.

    Merges and flushes of the previous run's indices go on for seconds after it; a timed
    run that starts meanwhile pays for them. Returns the seconds waited (``timeout_s`` at
    most; an invisible ES process is not waited for). ``on_wait(waited_s, cores)`` is
    called after every busy window.
    """
    pids: list[int | None] = [listening_pid(port) for port in settings.es_ports]
    began = time.perf_counter()
    if None in pids:
        return 0.0
    while True:
        before = total_cpu_seconds(pids)
        time.sleep(window_s)
        after = total_cpu_seconds(pids)
        waited = time.perf_counter() - began
        if before is None or after is None:
            return waited
        cores = (after - before) / window_s
        if cores < busy_below or waited >= timeout_s:
            return waited
        if on_wait is not None:
            on_wait(waited, cores)
