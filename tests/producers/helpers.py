"""Helpers shared by the producer tests: an in-memory sink and reading a real topic."""

from __future__ import annotations

import time
from typing import Any

import orjson
from kafka import KafkaConsumer, TopicPartition

from reqtrail.producers.pipeline import RecordPipeline
from reqtrail.settings import Settings


class ListSink:
    """Collects rendered records in memory (unit tests only)."""

    def __init__(self) -> None:
        self.items: list[tuple[bytes, bytes | None]] = []

    def put(self, payload: bytes, key: bytes | None) -> bool:
        self.items.append((payload, key))
        return True

    @property
    def records(self) -> list[dict[str, Any]]:
        return [orjson.loads(payload) for payload, _key in self.items]

    def stats(self) -> None:
        return None

    def flush(self, timeout: float = 0.0) -> bool:
        return True

    def close(self, timeout: float = 0.0) -> None:
        return None


def memory_pipeline(settings: Settings) -> tuple[RecordPipeline, ListSink]:
    sink = ListSink()
    return RecordPipeline(settings, sink=sink), sink


def read_topic(
    settings: Settings, timeout_s: float = 30.0
) -> list[tuple[bytes | None, dict[str, Any]]]:
    """Every record on ``settings.topic`` (key, decoded value), read from the beginning.

    The topic is fresh per test, so the sum of the end offsets is exactly how many records
    it holds; reading stops when all of them were seen (or fails at the deadline).
    """
    consumer = KafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap,
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    try:
        partitions = [
            TopicPartition(settings.topic, p)
            for p in sorted(consumer.partitions_for_topic(settings.topic) or ())
        ]
        assert partitions, f"topic {settings.topic} has no partitions"
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        expected = sum(consumer.end_offsets(partitions).values())
        out: list[tuple[bytes | None, dict[str, Any]]] = []
        deadline = time.monotonic() + timeout_s
        while len(out) < expected and time.monotonic() < deadline:
            for batch in consumer.poll(timeout_ms=500).values():
                out += [(message.key, orjson.loads(message.value)) for message in batch]
        assert len(out) == expected, f"read {len(out)} of {expected} records in {timeout_s} s"
        return out
    finally:
        consumer.close()


def call_asgi(
    app: Any, method: str, path: str, headers: dict[str, str], body: bytes = b""
) -> tuple[int, float]:
    """Call an ASGI app in-process, without an event loop or network: (status, seconds).

    Works for apps that never really suspend (receive/send here return at once), which
    is what makes the timing the app's own.
    """
    status: list[int] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            status.append(message["status"])

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
    }
    coro = app(scope, receive, send)
    started = time.perf_counter()
    try:
        coro.send(None)
    except StopIteration:
        return status[0], time.perf_counter() - started
    raise AssertionError("the ASGI app suspended")
