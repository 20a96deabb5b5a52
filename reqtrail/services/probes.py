"""Health probes that ask a service itself, quietly and with short timeouts.

Elasticsearch: ``GET /_cluster/health`` and ``GET /_nodes/_local`` over HTTP.  This
integ-test-zip distribution has no ``rest-root`` module, so ``GET /`` answers 405; the
version comes from ``/_nodes/_local`` instead.

Kafka: one Metadata request (API key 3, version 4, no topics) over a raw socket.  A broker
is healthy when the response lists it among the live brokers (any broker, when its id is
not known), which in KRaft means it has registered and been unfenced, so topics can be
created.  Asked for every topic, the same request tells each partition's leader, replicas
and in-sync replicas (a cluster's health).  Raw bytes instead of a client library keep the
probe silent (no client logging) and fast.
"""

from __future__ import annotations

import json
import socket
import struct
import urllib.error
import urllib.request
from dataclasses import dataclass, field
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
    """(healthy, cluster status or reason); healthy means status green or yellow. The
    node count is added when the cluster has more than one node."""
    body = get_json(url.rstrip("/") + "/_cluster/health")
    if not isinstance(body, dict) or "status" not in body:
        return False, "not answering"
    status = str(body["status"])
    nodes = int(body.get("number_of_nodes", 1))
    detail = f"{status}, {nodes} nodes" if nodes > 1 else status
    return status in ("green", "yellow"), detail


def es_version(url: str) -> str | None:
    """The version of the node answering at ``url`` (from ``/_nodes/_local``)."""
    body = get_json(url.rstrip("/") + "/_nodes/_local")
    if isinstance(body, dict):
        for node in (body.get("nodes") or {}).values():
            if isinstance(node, dict) and "version" in node:
                return str(node["version"])
    return None


@dataclass(frozen=True)
class PartitionState:
    """One partition as a Metadata response describes it (leader -1: none)."""

    topic: str
    partition: int
    leader: int
    replicas: tuple[int, ...]
    isr: tuple[int, ...]


@dataclass(frozen=True)
class KafkaMetadata:
    """What a Metadata v4 response says about the cluster (partitions: when asked for)."""

    brokers: list[tuple[int, str, int]]
    cluster_id: str | None
    controller_id: int
    partitions: list[PartitionState] = field(default_factory=list)

    def leaders(self, topic: str) -> dict[int, int]:
        """Partition -> leader's node id, for ``topic``."""
        return {p.partition: p.leader for p in self.partitions if p.topic == topic}


def encode_metadata_request(correlation_id: int, all_topics: bool = False) -> bytes:
    """A size-prefixed Metadata v4 request asking for no topics (or every topic)."""
    header = (
        struct.pack(">hhih", METADATA_API_KEY, METADATA_VERSION, correlation_id, len(CLIENT_ID))
        + CLIENT_ID
    )
    # topics: an empty array, or null for all of them; allow_auto_topic_creation: false
    body = struct.pack(">i?", -1 if all_topics else 0, False)
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
    partitions: list[PartitionState] = []
    for _ in range(reader.take(">i")):
        reader.take(">h")  # topic error code
        topic = reader.string() or ""
        reader.take(">?")  # is_internal
        for _ in range(reader.take(">i")):
            reader.take(">h")  # partition error code
            index, leader = reader.take(">i"), reader.take(">i")
            replicas = tuple(reader.take(">i") for _ in range(reader.take(">i")))
            isr = tuple(reader.take(">i") for _ in range(reader.take(">i")))
            partitions.append(PartitionState(topic, index, leader, replicas, isr))
    return KafkaMetadata(brokers, cluster_id, controller_id, partitions)


def kafka_metadata(
    host: str, port: int, timeout_s: float = 2.0, all_topics: bool = False
) -> KafkaMetadata | None:
    """Ask one broker for cluster metadata (and every topic's partitions, if asked);
    None when it does not answer properly."""
    correlation_id = 1
    try:
        with socket.create_connection((host, port), timeout=timeout_s) as sock:
            sock.sendall(encode_metadata_request(correlation_id, all_topics))
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


def kafka_health(host: str, port: int, node_id: int | None = None) -> tuple[bool, str]:
    """(healthy, detail); healthy when the broker lists itself (``node_id``) among the live
    brokers, or, with no id given, at least one live broker."""
    metadata = kafka_metadata(host, port)
    if metadata is None:
        return False, "not answering"
    ids = {broker[0] for broker in metadata.brokers}
    count = len(ids)
    detail = f"{count} broker{'s' if count != 1 else ''}"
    if node_id is not None and node_id not in ids and count:
        return False, f"{detail}, not yet node {node_id}"
    return count > 0, detail
