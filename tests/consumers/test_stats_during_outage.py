"""Fault injection: the stats line keeps coming, and keeps the lag honest, while ES is down."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable

import pytest

from reqtrail.consumers.setup import ensure_index_template, ensure_topics
from reqtrail.es import es_client
from reqtrail.services import ElasticsearchService
from reqtrail.settings import Settings
from tests.consumers.conftest import (
    cleanup,
    committed_total,
    count_docs,
    produce,
    record_values,
    running_indexer,
    wait_for_docs,
    wait_until,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]

INTERVAL_S = 2.0
OUTAGE_S = 60.0
LAG = re.compile(r"\| lag (\d+) \[")


def test_a_stats_line_every_interval_and_no_lag_0_during_a_60_s_es_outage(
    dedicated_es: Callable[..., ElasticsearchService], settings: Settings
) -> None:
    """ES stopped for 60 s with 3,000 records behind: a stats line comes every 2 s, each
    says "ES unreachable" and none reads "lag 0"; after the restart all are indexed and
    the lag reads 0 again."""
    node = dedicated_es()
    settings = settings.replace(
        es_url=node.url,
        topic_partitions=3,
        stats_interval_s=INTERVAL_S,
        retry_backoff_ms=100,
        retry_backoff_max_ms=2000,
    )
    ensure_topics(settings)
    ensure_index_template(settings)
    es = es_client(settings)
    lines: list[tuple[float, str]] = []
    lock = threading.Lock()

    def collect(line: str) -> None:
        with lock:
            lines.append((time.monotonic(), line))

    before, behind = record_values(1000, seed=41), record_values(3000, seed=42)
    try:
        with running_indexer(settings, emit_stats=collect):
            produce(settings, before)
            wait_for_docs(es, settings.index_prefix, len(before))
            node.stop()
            down_at = time.monotonic()
            produce(settings, behind)
            produced_at = time.monotonic()
            time.sleep(max(0.0, down_at + OUTAGE_S - time.monotonic()))
            up_at = time.monotonic()
            node.start()
            total = len(before) + len(behind)
            wait_for_docs(es, settings.index_prefix, total, timeout_s=120)
            wait_until(lambda: committed_total(settings) == total, 30, "all committed")
            wait_until(lambda: _last_lag(lines, lock) == 0, 3 * INTERVAL_S + 5, "lag 0 again")
        assert count_docs(es, settings.index_prefix) == total
    finally:
        es.close()
        cleanup(settings)
    outage = [(t, line) for t, line in lines if down_at <= t <= up_at]
    report = "\n".join(f"{t - down_at:6.1f} s  {line}" for t, line in outage)
    times = [down_at] + [t for t, _ in outage] + [up_at]
    gaps = [later - earlier for earlier, later in zip(times, times[1:], strict=False)]
    assert len(outage) >= OUTAGE_S / INTERVAL_S - 2, report
    assert max(gaps) < 2 * INTERVAL_S, f"a stats line was skipped:\n{report}"
    # The probe asks the broker every 0.5 s: one interval after the records were produced,
    # every line must count them.
    settled = [line for t, line in outage if t >= produced_at + INTERVAL_S]
    lags = [int(m.group(1)) if (m := LAG.search(line)) else None for line in settled]
    assert settled and all(lag is not None and lag > 0 for lag in lags), report
    assert all(lag is not None and lag <= len(behind) for lag in lags), report
    unreachable = [line for line in settled if "ES unreachable" in line]
    assert len(unreachable) >= len(settled) - 1, report  # the first may precede the first retry
    print(report)


def _last_lag(lines: list[tuple[float, str]], lock: threading.Lock) -> int | None:
    with lock:
        last = lines[-1][1] if lines else ""
    match = LAG.search(last)
    return int(match.group(1)) if match else None
