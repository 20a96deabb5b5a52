"""Bytes per record: on Kafka (as the middleware's sink writes it) and in an Elasticsearch
daily index (as the indexer writes it), the figures the sizing guide (docs/scaling.md)
multiplies by requests per day.

One run, the same generated records everywhere:

1. **JSON** - the record as the middleware renders it (what a request costs before any
   compression).
2. **Kafka** - produced to a fresh topic with the sink's producer (zstd by default, keyed
   by user ID, large batches), then the size of the topic's log segments on the broker.
3. **Elasticsearch** - indexed with ``_bulk`` into one daily index made from reqtrail's
   template (one shard, no replica: the size of one copy), refreshed: the primary store
   size per document as indexed, then after a force merge to one segment (what a day's
   index shrinks to once it is no longer written).

    python -m bench.bench_storage                     # 100k records
    python -m bench.bench_storage --records 300000
"""

from __future__ import annotations

import argparse
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from kafka.admin import KafkaAdminClient

from bench.bench_consumer import print_rows, produce
from reqtrail.consumers.documents import DocumentBuilder, bulk_body
from reqtrail.consumers.setup import ensure_index_template, ensure_topics, remove_all
from reqtrail.consumers.types import Document, Message
from reqtrail.es import es_client
from reqtrail.schemas.samples import sample_records
from reqtrail.settings import Settings, load_settings

# ES refreshes a shard's store size at most every index.store.stats_refresh_interval (10 s)
STORE_STATS_S = 11.0


def kafka_bytes(settings: Settings) -> int:
    """Bytes of the topic's partitions on every broker's log dirs (one copy per replica)."""
    admin = KafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap.split(","))
    try:
        answers: Any = admin.describe_log_dirs()
    finally:
        admin.close()
    total = 0
    for answer in answers:
        for log_dir in answer["log_dirs"]:
            for topic in log_dir.get("topics", []):
                if topic.get("name") == settings.topic:
                    total += sum(p["partition_size"] for p in topic["partitions"])
    return total


def es_bytes(settings: Settings, values: list[bytes], batch: int) -> tuple[int, int, int]:
    """(documents, primary store bytes as indexed, after a force merge to one segment)."""
    es = es_client(settings, request_timeout=600)
    ensure_index_template(settings, es)
    builder = DocumentBuilder(settings.index_prefix)
    documents: list[Document] = []
    for offset, value in enumerate(values):
        built = builder.build(Message(settings.topic, 0, offset, value))
        assert isinstance(built, Document)
        documents.append(built)
    send: Any = es.bulk
    for start in range(0, len(documents), batch):
        response = send(
            operations=bulk_body(documents[start : start + batch]), filter_path="errors"
        )
        if response.get("errors"):
            raise RuntimeError("some documents were not indexed")
        progress(f"indexed {min(start + batch, len(documents)):,}/{len(documents):,}")
    pattern = f"{settings.index_prefix}-*"
    es.indices.flush(index=pattern)
    time.sleep(STORE_STATS_S)
    indexed = es.indices.stats(index=pattern)["_all"]["primaries"]
    progress(f"force-merging {indexed['segments']['count']} segments to one")
    es.indices.forcemerge(index=pattern, max_num_segments=1)
    time.sleep(STORE_STATS_S)
    merged = es.indices.stats(index=pattern)["_all"]["primaries"]
    es.close()
    return (
        int(indexed["docs"]["count"]),
        int(indexed["store"]["size_in_bytes"]),
        int(merged["store"]["size_in_bytes"]),
    )


def progress(message: str) -> None:
    sys.stderr.write(f"  {message}\n")
    sys.stderr.flush()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--batch-size", type=int, default=1000)
    args = parser.parse_args(argv)
    name = f"bench-storage-{uuid.uuid4().hex[:6]}"
    settings = load_settings().replace(
        topic=f"{name}.requests",
        dlq_topic=f"{name}.requests.dlq",
        index_prefix=name,
        index_replicas=0,
        index_shards=1,
        topic_partitions=6,
    )
    midnight = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    records = sample_records(args.records, seed=41, start=midnight, span=timedelta(hours=23))
    values = [orjson.dumps(record) for record in records]  # one UTC day: one daily index
    json_bytes = sum(map(len, values))
    try:
        ensure_topics(settings)
        produce(settings, values)
        one_copy = kafka_bytes(settings) / topic_copies(settings)
        docs, indexed, merged = es_bytes(settings, values, args.batch_size)
    finally:
        remove_all(settings)
    n = len(values)
    print()
    print(f"storage per record: {n:,} generated records ({docs:,} documents in one daily index)")
    print_rows(
        ["where", "bytes per record", "total", "vs JSON"],
        [
            ["JSON as rendered", f"{json_bytes / n:,.0f}", mb(json_bytes), "1.00"],
            [
                "Kafka log, one copy (zstd)",
                f"{one_copy / n:,.0f}",
                mb(one_copy),
                ratio(one_copy, json_bytes),
            ],
            [
                "ES primary, as indexed",
                f"{indexed / docs:,.0f}",
                mb(indexed),
                ratio(indexed, json_bytes),
            ],
            ["ES primary, merged", f"{merged / docs:,.0f}", mb(merged), ratio(merged, json_bytes)],
        ],
    )
    return 0


def topic_copies(settings: Settings) -> int:
    """How many copies of the topic the brokers hold (its replication factor)."""
    admin = KafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap.split(","))
    try:
        (topic,) = admin.describe_topics([settings.topic])
        return max(1, len(topic["partitions"][0]["replica_nodes"]))
    finally:
        admin.close()


def mb(size: float) -> str:
    return f"{size / 1e6:,.1f} MB"


def ratio(size: float, json_bytes: int) -> str:
    return f"{size / json_bytes:.2f}"


if __name__ == "__main__":
    raise SystemExit(main())
