"""The indexer's lag as the broker sees it: end offset minus the group's committed offset.

The indexer's own view (fetch position, offsets in flight) is stale while Elasticsearch
is down: the loop is paused and fetches nothing, so records produced meanwhile are not
known to it, and it read "lag 0" with 30k records behind. The broker knows. A probe
thread asks it every few seconds with clients of its own (the indexer's consumer is not
thread-safe), so a slow or unreachable broker never holds the stats line back: the line
then says the lag is unknown, and since when.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Collection
from typing import Any

from kafka import TopicPartition
from kafka.admin import KafkaAdminClient, OffsetSpec

from reqtrail.consumers.clients import client_id
from reqtrail.settings import Settings

Lag = dict[int, int]  # partition -> records not yet committed


class LagUnknown(Exception):
    """The lag cannot be told now; the message says why (for the stats line)."""


class BrokerLag:
    """``__call__`` asks the broker for the lag of ``partitions()`` (a snapshot of the
    member's assignment); raises what the Kafka client raises."""

    def __init__(
        self, settings: Settings, partitions: Callable[[], Collection[TopicPartition]]
    ) -> None:
        self.settings = settings
        self.partitions = partitions
        self._admin: Any = None

    def __call__(self) -> Lag:
        tps = sorted(self.partitions())
        if not tps:
            return {}
        admin = self._client()
        ends = admin.list_partition_offsets({tp: OffsetSpec.LATEST for tp in tps})
        group = self.settings.consumer_group
        committed = admin.list_group_offsets({group: tps}).get(group, {})
        done = {tp: committed[tp].offset for tp in tps if tp in committed}
        never = [tp for tp in tps if done.get(tp, -1) < 0]  # no commit yet: from the start
        if never:
            starts = admin.list_partition_offsets({tp: OffsetSpec.EARLIEST for tp in never})
            done.update({tp: starts[tp].offset for tp in never})
        return {tp.partition: max(0, ends[tp].offset - done[tp]) for tp in tps}

    def topics(self) -> set[str]:
        """Every topic on the broker (asked without creating any)."""
        return set(self._client().list_topics())

    def _client(self) -> Any:
        if self._admin is None:
            self._admin = KafkaAdminClient(
                bootstrap_servers=self.settings.kafka_bootstrap.split(","),
                client_id=client_id("lag"),
                request_timeout_ms=5000,
                bootstrap_timeout_ms=5000,
                reconnect_backoff_max_ms=2000,
            )
        return self._admin

    def close(self) -> None:
        if self._admin is not None:
            admin, self._admin = self._admin, None
            admin.close()


class LagProbe:
    """Runs ``measure`` every ``period_s`` on a thread; ``current()`` is the last answer."""

    def __init__(
        self,
        measure: Callable[[], Lag],
        period_s: float,
        *,
        stale_after_s: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.measure = measure
        self.period_s = period_s
        self.stale_after_s = stale_after_s
        self.clock = clock
        self._lag: Lag | None = None
        self._measured_at = clock()
        self._error = "not asked yet"
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="reqtrail-lag", daemon=True)

    def start(self) -> LagProbe:
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.is_set():
            self.probe()
            self._stop.wait(self.period_s)

    def probe(self) -> None:
        """One measurement (the thread calls it; tests may too)."""
        try:
            lag = self.measure()
        except Exception as exc:  # any client failure only makes the lag unknown
            self._error = f"Kafka: {type(exc).__name__}: {exc}"[:200]
        else:
            self._lag, self._measured_at, self._error = lag, self.clock(), ""

    def current(self) -> Lag:
        """The last lag, if measured within ``stale_after_s``; else raises LagUnknown."""
        age = self.clock() - self._measured_at
        if self._lag is not None and age <= self.stale_after_s:
            return self._lag
        why = self._error or "Kafka has not answered"
        raise LagUnknown(f"{why}; last known {age:.0f} s ago" if self._lag is not None else why)

    def stop(self, timeout_s: float = 10.0) -> None:
        """Stop the thread (``probe()`` still works afterwards)."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout_s)
