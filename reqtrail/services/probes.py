"""Health probes that ask a service itself, quietly and with short timeouts.

Elasticsearch: ``GET /_cluster/health`` and ``GET /_nodes/_local`` over HTTP.  This
integ-test-zip distribution has no ``rest-root`` module, so ``GET /`` answers 405; the
version comes from ``/_nodes/_local`` instead.

Kafka: one Metadata request (API key 3, version 4, no topics) over a raw socket.  A broker
is healthy when the response lists at least one live broker, which in KRaft means it has
registered and been unfenced, so topics can be created.  Raw bytes instead of a client
library keep the probe silent (no client logging) and fast.
"""

from __future__ import annotations

import json
import socket
import struct
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any

METADATA_API_KEY = 3
METADATA_VERSION = 4  # Kafka 4 removed v0-v3; v4 is the oldest and still non-flexible
CLIENT_ID = b"reqtrail-probe"


def get_json(url: str, timeout_s: float = 2.0) -> Any | None:
    """The decoded JSON body of ``GET url``, or None on any connection or HTTP error."""
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as response:
            return json.loads(response.read())
    except (OSError, urllib.error.URLError, ValueError):
        return None


def es_health(url: str) -> tuple[bool, str]:
    """(healthy, cluster status or reason); healthy means status green or yellow."""
    body = get_json(url.rstrip("/") + "/_cluster/health")
    if not isinstance(body, dict) or "status" not in body:
        return False, "not answering"
    status = str(body["status"])
    return status in ("green", "yellow"), status


def es_version(url: str) -> str | None:
    """The version of the node answering at ``url`` (from ``/_nodes/_local``)."""
    body = get_json(url.rstrip("/") + "/_nodes/_local")
    if isinstance(body, dict):
        for node in (body.get("nodes") or {}).values():
            if isinstance(node, dict) and "version" in node:
                return str(node["version"])
    return None


@dataclass(frozen=True)
class KafkaMetadata:
    """What a Metadata v4 response says about the cluster."""

    brokers: list[tuple[int, str, int]]
    cluster_id: str | None
    controller_id: int


def encode_metadata_request(correlation_id: int) -> bytes:
    """A size-prefixed Metadata v4 request asking for no topics."""
    header = (
        struct.pack(">hhih", METADATA_API_KEY, METADATA_VERSION, correlation_id, len(CLIENT_ID))
        + CLIENT_ID
    )
    body = struct.pack(">i?", 0, False)  # topics: empty array; allow_auto_topic_creation
    message = header + body
    return struct.pack(">i", len(message)) + message


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def take(self, fmt: str) -> Any:
        size = struct.calcsize(fmt)
        (value,) = struct.unpack_from(fmt, self.data, self.pos)
        self.pos += size
        return value

    def string(self) -> str | None:
        length = self.take(">h")
        if length < 0:
            return None
        text = self.data[self.pos : self.pos + length].decode()
        self.pos += length
        return text


def decode_metadata_response(payload: bytes, correlation_id: int) -> KafkaMetadata:
    """Parse a Metadata v4 response (without its size prefix)."""
    reader = _Reader(payload)
    if reader.take(">i") != correlation_id:
        raise ValueError("correlation id mismatch")
    reader.take(">i")  # throttle_time_ms
    brokers = []
    for _ in range(reader.take(">i")):
        node_id = reader.take(">i")
        host = reader.string() or ""
        port = reader.take(">i")
        reader.string()  # rack
        brokers.append((node_id, host, port))
    cluster_id = reader.string()
    controller_id = reader.take(">i")
    return KafkaMetadata(brokers, cluster_id, controller_id)


def kafka_metadata(host: str, port: int, timeout_s: float = 2.0) -> KafkaMetadata | None:
    """Ask one broker for cluster metadata; None when it does not answer properly."""
    correlation_id = 1
    try:
        with socket.create_connection((host, port), timeout=timeout_s) as sock:
            sock.sendall(encode_metadata_request(correlation_id))
            size = struct.unpack(">i", _recv_exactly(sock, 4))[0]
            return decode_metadata_response(_recv_exactly(sock, size), correlation_id)
    except (OSError, ValueError, struct.error):
        return None


def _recv_exactly(sock: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            raise ConnectionError("connection closed")
        data += chunk
    return data


def kafka_health(host: str, port: int) -> tuple[bool, str]:
    """(healthy, detail); healthy when the broker lists at least one live broker."""
    metadata = kafka_metadata(host, port)
    if metadata is None:
        return False, "not answering"
    count = len(metadata.brokers)
    return count > 0, f"{count} broker{'s' if count != 1 else ''}"
