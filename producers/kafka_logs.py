"""The Kafka client's own log lines, folded into reqtrail's one line while Kafka is away.

When a broker goes away, kafka-python logs a WARNING or ERROR for every failed connection,
metadata refresh and retry: dozens of lines before anything says what is wrong.  The sink
reports the state itself instead (one line naming ``REQTRAIL_KAFKA_BOOTSTRAP`` and the
address, then one when Kafka answers again), and this filter, on every ``kafka.*`` logger:

* while a sink reports an outage, counts and suppresses kafka-python's WARNING and ERROR
  lines (the sink's recovery line says how many);
* otherwise hands the first such line about the connection (refused, reset, timed out...)
  from the network, cluster or producer loggers to the sinks (``watch``); a sink that takes
  it as the start of an outage logs its own line at once, with kafka-python's message in
  it, and the original is suppressed.  Other warnings (a leader that moved) pass through.

librdkafka's lines (``REQTRAIL_KAFKA_CLIENT=confluent-kafka``) come through the
``kafka.producer`` logger and are folded the same way.

Set the ``kafka`` logger to DEBUG to see every kafka-python line unfolded.
"""

from __future__ import annotations

import contextlib
import logging
import re
import threading
import time
import weakref
from collections.abc import Iterator
from typing import Any

from reqtrail.settings import ProducerSettings

log = logging.getLogger("reqtrail.producers")

# Loggers whose warnings, when they are about the connection, mean the brokers are away.
TROUBLE_LOGGERS = ("kafka.net", "kafka.conn", "kafka.client", "kafka.cluster", "kafka.producer")
CONNECTION_TROUBLE = re.compile(
    r"connect|socket|ECONN|Errno|NoBrokersAvailable|timed out|Timeout", re.IGNORECASE
)


class KafkaLogFolder(logging.Filter):
    """The filter; one per process (``folder``)."""

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()
        self._holders: set[int] = set()
        self._watchers: weakref.WeakSet[Any] = weakref.WeakSet()
        self.folded = 0
        self._attached: set[str] = set()

    # --- the sinks' side ----------------------------------------------------------------
    def watch(self, watcher: Any) -> None:
        """``watcher.kafka_trouble(message) -> bool`` is called with kafka-python's first
        warning; True means the watcher reports an outage now (the line is then folded)."""
        self._watchers.add(watcher)
        self.attach()

    def hold(self, token: int) -> None:
        """Fold kafka-python's warnings until ``release(token)``."""
        with self._lock:
            self._holders.add(token)

    def release(self, token: int) -> None:
        with self._lock:
            self._holders.discard(token)

    @contextlib.contextmanager
    def quiet(self) -> Iterator[None]:
        """Fold kafka-python's warnings meanwhile (a producer being closed on purpose)."""
        token = object()
        self.hold(id(token))
        try:
            yield
        finally:
            self.release(id(token))

    def attach(self) -> None:
        """Add the filter to ``kafka`` and every ``kafka.*`` logger that exists by now."""
        names = [
            name
            for name in list(logging.Logger.manager.loggerDict)
            if (name == "kafka" or name.startswith("kafka.")) and name not in self._attached
        ]
        for name in names:
            logger = logging.getLogger(name)
            if self not in logger.filters:
                logger.addFilter(self)
            self._attached.add(name)

    # --- logging's side -----------------------------------------------------------------
    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING or logging.getLogger("kafka").isEnabledFor(
            logging.DEBUG
        ):
            return True
        if self._holders:
            self.folded += 1
            return False
        if not record.name.startswith(TROUBLE_LOGGERS):
            return True
        try:
            message = record.getMessage()
        except Exception:
            return True
        if CONNECTION_TROUBLE.search(message) is None:
            return True  # e.g. a leader moved: kafka-python retries, the line is worth seeing
        taken = False
        for watcher in list(self._watchers):
            try:
                taken = bool(watcher.kafka_trouble(message)) or taken
            except Exception:
                continue
        if taken:
            self.folded += 1
        return not taken


folder = KafkaLogFolder()


class OutageReport:
    """A sink's view of Kafka: one line when it goes away, one when it answers again, and
    kafka-python's own lines folded (``folder.hold``) in between."""

    def __init__(self, settings: ProducerSettings) -> None:
        self.settings = settings
        self._lock = threading.Lock()
        self._since: float | None = None
        self._folded_before = 0
        # A sink dropped while it reported an outage must not keep the lines folded.
        weakref.finalize(self, folder.release, id(self))

    def begin(self, detail: str) -> bool:
        """Report an outage (once: later calls only return True)."""
        with self._lock:
            if self._since is not None:
                return True
            self._since = time.monotonic()
            self._folded_before = folder.folded
            folder.hold(id(self))
        s = self.settings
        fate = f"dropped and spilled to {s.spill_path}" if s.spill_path else "dropped"
        first_line = detail.strip().splitlines()[0][:300] if detail.strip() else "no answer"
        log.warning(
            "reqtrail: Kafka is not reachable at %s (REQTRAIL_KAFKA_BOOTSTRAP), topic %s: %s. "
            "Records wait in memory (at most %d, REQTRAIL_BUFFER_SIZE), then are %s; "
            "the Kafka client's own messages are folded into this line until Kafka answers.",
            s.kafka_bootstrap,
            s.topic,
            first_line,
            s.buffer_size,
            fate,
        )
        return True

    def end(self, answered: bool = True) -> None:
        """End a reported outage: Kafka answered again (a line says so), or the sink stops."""
        with self._lock:
            since, self._since = self._since, None
            if since is None:
                return
            folder.release(id(self))
            folded = folder.folded - self._folded_before
        if answered:
            log.warning(
                "reqtrail: Kafka at %s answers again after %.1f s (%d Kafka client messages "
                "folded)",
                self.settings.kafka_bootstrap,
                time.monotonic() - since,
                folded,
            )
