"""The confluent-kafka (librdkafka) producer behind the sink (``REQTRAIL_KAFKA_CLIENT``, the
default; ``kafka-python`` is the other choice, for platforms without its wheels).

librdkafka batches, compresses, sends and retries in its own C threads, without the GIL,
so it takes far less Python time from request threads than kafka-python does per record
(docs/benchmarks.md). The producer has the same settings as kafka-python's
(``reqtrail.producers.kafka_producer``): idempotent, ``acks=all``, the same codec, linger,
delivery timeout and request size limit, and the Java client's murmur2 partitioning, so
both clients put a player's records on the same partition.

Nothing runs in Python per delivered record: librdkafka reports only failed deliveries
(``delivery.report.only.error``), and the sink counts the rest (``settle``): every record
it handed over is settled once librdkafka no longer holds it. A failure comes back with
its payload, so the sink spills exactly what failed. ``close`` purges whatever is still
held after its timeout, and the purged records come back as failures too, for the sink
to count and spill.

librdkafka's log lines and errors go to the ``kafka.producer`` logger, where
``reqtrail.producers.kafka_logs`` folds them into the sink's outage line.
"""

from __future__ import annotations

import logging
from typing import Any

from reqtrail.producers import accounting
from reqtrail.settings import ProducerSettings, SettingsError, env_name

try:
    import confluent_kafka
except ImportError:  # the extra is not installed: checked when a sink is built
    confluent_kafka = None  # type: ignore[assignment]

__all__ = ["ConfluentProducer", "check_available"]

BOOTSTRAP_TIMEOUT_S = 3.0
PURGE_WAIT_S = 1.0  # purged records come back as failures at once; this bounds the wait
librdkafka_log = logging.getLogger("kafka.producer")


def check_available() -> None:
    """A clear error at startup when the setting names a client that is not installed."""
    if confluent_kafka is None:
        raise SettingsError(
            f"{env_name('kafka_client')}=confluent-kafka needs the confluent-kafka package "
            "(pip install confluent-kafka), or set it to kafka-python"
        )


class ConfluentProducer:
    """A confluent-kafka ``Producer`` with the surface the sink uses (``counts_settled``:
    the sink asks it how many records settled instead of polling futures)."""

    counts_settled = True

    def __init__(self, settings: ProducerSettings, compression: str | None) -> None:
        check_available()
        self._failed: list[tuple[bytes, str | None]] = []
        # librdkafka's settings as given (callbacks and logger aside), for a look from outside
        self.config: dict[str, Any] = {
            "bootstrap.servers": settings.kafka_bootstrap,
            "client.id": f"reqtrail-{settings.service}",
            "enable.idempotence": True,  # and with it acks=all
            "acks": "all",
            "compression.type": compression or "none",
            "linger.ms": settings.kafka_linger_ms,
            "batch.size": 256 * 1024,
            "message.timeout.ms": settings.kafka_delivery_timeout_ms,
            "message.max.bytes": settings.kafka_max_request_size,
            "partitioner": "murmur2_random",  # the Java client's (and kafka-python's)
            "reconnect.backoff.max.ms": 2000,
            "delivery.report.only.error": True,
        }
        self._producer = confluent_kafka.Producer(
            {
                **self.config,
                "on_delivery": self._report,
                "error_cb": self._error,
                "logger": librdkafka_log,
            }
        )

    # --- called by the sink, on its thread --------------------------------------------------
    def partitions_for(self, topic: str) -> set[int]:
        """The topic's partitions; raises when Kafka does not answer or lacks the topic."""
        metadata = self._producer.list_topics(topic, timeout=BOOTSTRAP_TIMEOUT_S)
        found = metadata.topics.get(topic)
        if found is None or found.error is not None:
            raise confluent_kafka.KafkaException(
                found.error if found is not None else "no such topic"
            )
        return set(found.partitions)

    def send(self, topic: str, value: bytes, key: bytes | None = None) -> None:
        """Hand one record to librdkafka; ``Refused`` when it will not take it."""
        try:
            self._producer.produce(topic, value, key)
        except confluent_kafka.KafkaException as exc:
            error = exc.args[0]
            raise accounting.Refused(
                drop_reason(error) or accounting.KAFKA_ERROR, str(exc)
            ) from exc
        except BufferError as exc:  # librdkafka's own queue is full
            raise accounting.Refused(accounting.BUFFER_FULL, str(exc)) from exc

    def settle(self, unsettled: int) -> tuple[int, list[tuple[bytes, str | None]]]:
        """Of the ``unsettled`` records handed over and not yet counted: how many settled,
        and the payload and drop reason of each one that failed (reason None: purged by
        ``close``, the sink's to name).  The count may come out low, never high: librdkafka's
        ``len()`` also counts log and error events queued since the ``poll``."""
        self._producer.poll(0)  # serves failure reports: they leave librdkafka's count
        failed, self._failed = self._failed, []
        return unsettled - len(self._producer), failed

    def close(self, timeout: float = 0.0) -> None:
        """Deliver for up to ``timeout`` s, then purge what is still held (it comes back
        from ``settle`` as failed)."""
        if timeout > 0:
            self._producer.flush(timeout)
        if len(self._producer):
            self._producer.purge()
            self._producer.flush(PURGE_WAIT_S)

    # --- librdkafka's callbacks (run inside poll/flush, on the sink's thread) ----------------
    def _report(self, error: Any, message: Any) -> None:
        if error is not None:
            self._failed.append((message.value(), drop_reason(error)))

    @staticmethod
    def _error(error: Any) -> None:
        librdkafka_log.warning("librdkafka: %s", error.str())


def drop_reason(error: Any) -> str | None:
    """The sink's drop reason for a librdkafka delivery error (None: purged by close)."""
    code = error.code()
    KafkaError = confluent_kafka.KafkaError  # noqa: N806
    if code in (KafkaError._PURGE_QUEUE, KafkaError._PURGE_INFLIGHT):
        return None
    if code in (KafkaError._MSG_TIMED_OUT, KafkaError._TIMED_OUT, KafkaError.REQUEST_TIMED_OUT):
        return accounting.DELIVERY_TIMEOUT
    if code == KafkaError.MSG_SIZE_TOO_LARGE:
        return accounting.TOO_LARGE
    return accounting.KAFKA_ERROR
