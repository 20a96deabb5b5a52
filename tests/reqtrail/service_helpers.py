"""Small real-client helpers for the services tests (HTTP to ES, admin calls to Kafka)."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path
from typing import Any

from kafka.admin import KafkaAdminClient, NewTopic


def es_request(url: str, method: str = "GET", body: Any | None = None) -> Any:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(
        url, data=data, method=method, headers={"content-type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def index_one_doc(es_url: str, index: str) -> None:
    """Create ``index`` without replicas and index one document, durably and visibly."""
    es_request(f"{es_url}/{index}", "PUT", {"settings": {"number_of_replicas": 0}})
    es_request(f"{es_url}/{index}/_doc/1?refresh=true", "PUT", {"kept": "yes"})


def doc_is_there(es_url: str, index: str) -> bool:
    return bool(es_request(f"{es_url}/{index}/_doc/1").get("found"))


def create_topic_partitions(bootstrap: str, topic: str, partitions: int) -> int:
    """Create ``topic`` and return the partition count the broker reports for it."""
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=20000)
    try:
        admin.create_topics([NewTopic(topic, num_partitions=partitions, replication_factor=1)])
        described = admin.describe_topics([topic])
        return len(described[0]["partitions"])
    finally:
        admin.close()


def processes_mentioning(path: Path) -> list[int]:
    """Pids of live processes whose command line contains ``path``."""
    needle = str(path).encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if needle in (entry / "cmdline").read_bytes():
                found.append(int(entry.name))
        except OSError:
            continue
    return found
