"""The kafka-python producer the sink uses, and its key-hash caching partitioner.

Idempotent, ``acks=all``, compressed (``REQTRAIL_KAFKA_COMPRESSION``, zstd by default: on
reqtrail's records it compresses as well as gzip (~14x in 256 KB batches) for about 1 µs of
CPU per record instead of gzip's ~19, and the indexer decompresses it 4x faster),
batched by ``linger_ms`` into large batches, with short blocking limits: ``send()`` runs on
the sink's thread, never on a request thread, but it must not stall the sink for long either.

Two helpers work around kafka-python 3.0 behaviour (docs/kafka-python-notes.md):
``producer_id_lost`` tells when its idempotent producer has reset its producer ID and will
never ask for a new one (it then delivers and expires nothing), and ``abandon`` closes a
producer even when its records cannot be flushed (``close(timeout)`` raises then, and
leaves its I/O thread running).
"""

from __future__ import annotations

import contextlib
import logging
from typing import Any

from kafka import KafkaProducer, codec
from kafka.errors import KafkaTimeoutError
from kafka.partitioner.default import DefaultPartitioner, murmur2

from reqtrail.settings import ProducerSettings, SettingsError, env_name

log = logging.getLogger("reqtrail.producers")

MAX_CACHED_KEYS = 100_000
BOOTSTRAP_TIMEOUT_MS = 3000
CODECS = {
    "none": lambda: True,
    "gzip": codec.has_gzip,
    "snappy": codec.has_snappy,
    "lz4": codec.has_lz4,
    "zstd": codec.has_zstd,
}


def compression_type(settings: ProducerSettings, python_codec: bool = True) -> str | None:
    """kafka-python's ``compression_type`` for the settings; a clear error if unusable.

    Checked when the sink is built (app startup), not when the broker is first reached, so
    a typo or a missing codec package fails loudly instead of dropping every record.
    ``python_codec=False``: the client brings its own codecs (confluent-kafka).
    """
    name = settings.kafka_compression.strip().lower() or "none"
    available = CODECS.get(name)
    if available is None:
        raise SettingsError(
            f"{env_name('kafka_compression')} must be one of {', '.join(CODECS)}: "
            f"{settings.kafka_compression!r}"
        )
    if python_codec and not available():
        raise SettingsError(
            f"{env_name('kafka_compression')}={name} needs its Python package "
            f"(pip install {'python-snappy' if name == 'snappy' else name}"
            f"{'standard' if name == 'zstd' else ''})"
        )
    return None if name == "none" else name


class KeyHashCachingPartitioner(DefaultPartitioner):  # type: ignore[misc]
    """kafka-python's default partitioning (murmur2 of the key, as the Java client does),
    with each key's hash remembered: players send many requests, and the pure-Python
    murmur2 would otherwise be computed for every record."""

    def __init__(self) -> None:
        self._hashes: dict[bytes, int] = {}

    def partition(
        self,
        topic: str,
        key: Any,
        serialized_key: bytes | None,
        value: Any,
        serialized_value: bytes | None,
        cluster: Any,
    ) -> int:
        if serialized_key is None:
            return int(
                super().partition(topic, key, serialized_key, value, serialized_value, cluster)
            )
        hashed = self._hashes.get(serialized_key)
        if hashed is None:
            if len(self._hashes) >= MAX_CACHED_KEYS:
                self._hashes.clear()
            hashed = self._hashes[serialized_key] = murmur2(serialized_key) & 0x7FFFFFFF
        partitions = sorted(cluster.partitions_for_topic(topic))
        return int(partitions[hashed % len(partitions)])


def make_kafka_producer(settings: ProducerSettings) -> KafkaProducer:
    """The producer the sink uses: idempotent, acks=all, compressed, short blocking limits."""
    delivery_ms = settings.kafka_delivery_timeout_ms
    return KafkaProducer(
        bootstrap_servers=[s.strip() for s in settings.kafka_bootstrap.split(",")],
        client_id=f"reqtrail-{settings.service}",
        acks="all",
        enable_idempotence=True,  # the default, said: a leader change must not double a record
        compression_type=compression_type(settings),
        linger_ms=settings.kafka_linger_ms,
        batch_size=256 * 1024,  # few, large batches: fewer wake-ups, better compression
        partitioner=KeyHashCachingPartitioner(),
        delivery_timeout_ms=delivery_ms,
        request_timeout_ms=max(1000, min(30000, delivery_ms - settings.kafka_linger_ms)),
        max_block_ms=2000,
        max_request_size=settings.kafka_max_request_size,
        bootstrap_timeout_ms=BOOTSTRAP_TIMEOUT_MS,
        reconnect_backoff_max_ms=2000,
    )


def producer_id_lost(producer: Any) -> bool:
    """True when kafka-python's idempotent producer reset its producer ID for good.

    kafka-python 3.0.x: after a batch that was already sent expires, ``reset_producer_id``
    sets the ID to -1 but leaves the transaction state at READY, and ``init_producer_id``
    only runs from UNINITIALIZED: the sender then neither sends nor expires anything again.
    False for anything that does not look like that (another client, another version).
    """
    manager = getattr(producer, "_transaction_manager", None)
    if manager is None:
        return False
    try:
        if manager.is_transactional() or manager.has_producer_id():
            return False
        return getattr(manager._current_state, "name", "") == "READY"
    except Exception:
        return False


def abandon(producer: Any, timeout_s: float) -> None:
    """Close ``producer`` within about ``timeout_s``, giving up on what it still holds.

    kafka-python's ``close(timeout)`` first flushes, and when that times out it raises
    ``KafkaTimeoutError`` before stopping its I/O thread; then the thread is force-closed
    here (its unfinished records fail) and the close completed.
    """
    try:
        producer.close(timeout=timeout_s)
        return
    except KafkaTimeoutError:
        pass
    sender = getattr(producer, "_sender", None)
    if sender is not None:
        sender.force_close()
        sender.join(max(0.5, timeout_s))
    with contextlib.suppress(Exception):
        producer.close(timeout=0)
