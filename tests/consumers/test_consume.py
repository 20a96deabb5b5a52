"""Integration: Kafka -> indexer -> Elasticsearch on the real broker and node."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import orjson
import pytest
from elasticsearch import Elasticsearch
from typer.testing import CliRunner

from reqtrail.schemas.samples import sample_records
from reqtrail.settings import Settings
from tests.consumers.conftest import (
    committed_total,
    consumers_app,
    count_docs,
    dead_letters,
    produce,
    record_values,
    running_indexer,
    settings_env,
    wait_for_docs,
    wait_until,
)

pytestmark = pytest.mark.integration


def test_n_records_become_exactly_n_documents(pipeline: Settings, es: Elasticsearch) -> None:
    """Every record is indexed once, in its daily index, with _id = request_id."""
    values = record_values(600)
    produce(pipeline, values)
    with running_indexer(pipeline) as indexer:
        assert indexer.assigned.wait(30), "the group never assigned the indexer partitions"
        assert indexer.assigned_at is not None
        wait_for_docs(es, pipeline.index_prefix, len(values))
        wait_until(lambda: committed_total(pipeline) == len(values), 20, "offsets committed")
    assert count_docs(es, pipeline.index_prefix) == len(values)
    assert indexer.stats.indexed == len(values) and not indexer.stats.dead_lettered
    record = orjson.loads(values[0])
    day = record["@timestamp"][:10].replace("-", ".")
    stored = es.get(index=f"{pipeline.index_prefix}-{day}", id=record["request_id"])
    assert stored["_source"] == record
    hits = es.search(index=pipeline.read_alias, size=0, track_total_hits=True)
    assert hits["hits"]["total"]["value"] == len(values)  # the read alias covers every day
    assert dead_letters(pipeline) == []


def test_the_last_bulk_is_settled_when_answered_not_after_batch_max_wait(
    pipeline: Settings, es: Elasticsearch
) -> None:
    """When the topic runs dry, the last bulk's offsets are committed as soon as ES has
    answered it, even with a 20 s batch_max_wait_ms (the loop used to poll the empty
    topic for all of it before it read the answer). Stopping still takes up to 20 s."""
    settings = pipeline.replace(batch_size=100, batch_max_wait_ms=20_000, commit_interval_ms=0)
    values = record_values(300, seed=23)  # three full batches: none waits to fill
    produce(settings, values)
    with running_indexer(settings) as indexer:
        assert indexer.assigned.wait(30), "the group never assigned the indexer partitions"
        wait_until(lambda: committed_total(settings) == len(values), 10, "all committed")
        assert indexer.stats.indexed == len(values)
    assert count_docs(es, settings.index_prefix) == len(values)


def test_records_delivered_twice_are_still_n_documents(
    pipeline: Settings, es: Elasticsearch
) -> None:
    """The same records produced twice overwrite themselves: still N documents."""
    values = record_values(300, seed=5)
    produce(pipeline, values)
    produce(pipeline, values)
    with running_indexer(pipeline):
        wait_until(lambda: committed_total(pipeline) == 2 * len(values), 60, "all consumed")
    assert count_docs(es, pipeline.index_prefix) == len(values)


def test_poison_records_are_dead_lettered_and_the_pipeline_keeps_going(
    pipeline: Settings, es: Elasticsearch
) -> None:
    """Undecodable, schema-violating and ES-rejected records land in the DLQ with a reason;
    valid records around them are indexed and the indexer keeps consuming."""
    good = record_values(200, seed=8)
    rejected_by_es = dict(orjson.loads(good[0]), request_id="rejected-1")
    rejected_by_es["request_headers"] = {"": "empty header names cannot be mapped"}
    poison = {
        b"\x00\x01 definitely not json": "undecodable",
        orjson.dumps({"status": "200", "path": "/x"}): "schema",
        orjson.dumps(rejected_by_es): "rejected",
    }
    produce(pipeline, good[:100] + list(poison) + good[100:])
    with running_indexer(pipeline) as indexer:
        wait_for_docs(es, pipeline.index_prefix, len(good))
        wait_until(lambda: len(dead_letters(pipeline)) == len(poison), 30, "3 dead letters")
        more = record_values(50, seed=9)
        produce(pipeline, more)  # still running after the poison
        wait_for_docs(es, pipeline.index_prefix, len(good) + len(more))
        assert indexer.stats.dead_lettered == {"undecodable": 1, "schema": 1, "rejected": 1}
    assert count_docs(es, pipeline.index_prefix) == len(good) + len(more)
    letters = {info.message.value: info for info in dead_letters(pipeline)}
    assert set(letters) == set(poison)  # original bytes, byte for byte
    for value, kind in poison.items():
        info = letters[value]
        assert info.kind == kind and info.reason
        assert info.source.startswith(f"{pipeline.topic}[")
    assert "field name cannot be an empty string" in letters[orjson.dumps(rejected_by_es)].reason
    assert committed_total(pipeline) == len(good) + len(poison) + len(more)


def test_dead_letters_can_be_redriven_after_the_cause_is_fixed(
    pipeline: Settings, es: Elasticsearch
) -> None:
    """Records rejected by a hand-made index with a wrong mapping are re-driven after the
    index is deleted, and end up indexed; a second re-drive finds nothing new."""
    from reqtrail.consumers.dlq_admin import summarize
    from reqtrail.consumers.redrive import redrive

    day = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=3)
    values = [orjson.dumps(r) for r in sample_records(20, start=day, span=timedelta(hours=1))]
    bad_index = f"{pipeline.index_prefix}-{day:%Y.%m.%d}"
    es.indices.create(index=bad_index, mappings={"properties": {"status": {"type": "boolean"}}})
    produce(pipeline, values)
    with running_indexer(pipeline):
        wait_until(lambda: len(dead_letters(pipeline)) == 20, 30, "20 dead letters")
        summary = summarize(pipeline, samples=2)
        assert summary.total == 20 and summary.by_kind == {"rejected": 20}
        assert len(summary.samples) == 2 and "status" in summary.samples[0].reason
        shown = CliRunner().invoke(
            consumers_app(), ["dlq", "--samples", "1"], env=settings_env(pipeline)
        )
        assert shown.exit_code == 0, shown.output
        assert f"{pipeline.dlq_topic}: 20 dead letters" in shown.output
        assert "rejected" in shown.output and "document_parsing_exception" in shown.output
        es.indices.delete(index=bad_index)  # the fix: let the template create it again
        dry = CliRunner().invoke(
            consumers_app(), ["dlq", "redrive", "--dry-run"], env=settings_env(pipeline)
        )
        assert "would re-drive 20 dead letters" in dry.output, dry.output
        report = redrive(pipeline)
        assert report.redriven == 20
        wait_for_docs(es, pipeline.index_prefix, 20)
        assert redrive(pipeline).redriven == 0
    assert count_docs(es, pipeline.index_prefix) == 20
    assert len(dead_letters(pipeline)) == 20  # nothing new was dead-lettered
