"""The producer watchdog: tells the sink when its kafka-python producer must be replaced.

kafka-python settles every record it accepted within the delivery timeout (acknowledged, or
failed with a timeout).  Two states mean it never will again, and the sink then replaces it:

* **stalled**: the oldest record in flight has waited longer than the delivery timeout plus
  a margin, so the producer neither delivers nor expires anything;
* **producer ID lost**: kafka-python 3.0's idempotent producer reset its producer ID and will
  not ask for a new one (``kafka_producer.producer_id_lost``); seen for ``LOST_ID_GRACE_S`` in
  a row, so a reset that kafka-python is about to repair itself is left alone.

The watchdog is pure logic over times and the producer's state, so it is tested with fakes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from reqtrail.producers.kafka_producer import producer_id_lost

CHECK_EVERY_S = 0.25
LOST_ID_GRACE_S = 1.0
MARGIN_MIN_S = 2.0
MARGIN_MAX_S = 30.0


def stall_margin(delivery_timeout_s: float) -> float:
    """Extra time past the delivery timeout before a record in flight counts as stuck."""
    return min(MARGIN_MAX_S, max(MARGIN_MIN_S, delivery_timeout_s / 4))


class ProducerWatchdog:
    """``check(producer, oldest_sent_at, now)`` -> why the producer must go, or None."""

    def __init__(
        self,
        delivery_timeout_s: float,
        lost_id: Callable[[Any], bool] = producer_id_lost,
    ) -> None:
        self.delivery_timeout_s = delivery_timeout_s
        self.limit_s = delivery_timeout_s + stall_margin(delivery_timeout_s)
        self._lost_id = lost_id
        self._lost_since: float | None = None
        self._next_check = 0.0

    def reset(self) -> None:
        """Forget what was seen of the previous producer."""
        self._lost_since = None
        self._next_check = 0.0

    def check(self, producer: Any, oldest_sent_at: float | None, now: float) -> str | None:
        if now < self._next_check:
            return None
        self._next_check = now + CHECK_EVERY_S
        if self._lost_id(producer):
            if self._lost_since is None:
                self._lost_since = now
            elif now - self._lost_since >= LOST_ID_GRACE_S:
                return (
                    "kafka-python reset its producer ID and will not ask for a new one "
                    "(it would hold every record forever)"
                )
        else:
            self._lost_since = None
        if oldest_sent_at is not None and now - oldest_sent_at > self.limit_s:
            return (
                f"no record settled for {now - oldest_sent_at:.1f} s, past the delivery "
                f"timeout of {self.delivery_timeout_s:g} s (REQTRAIL_KAFKA_DELIVERY_TIMEOUT_MS)"
            )
        return None
