"""Integration: one bad document never sinks a bulk, and re-drives can be chosen."""

from __future__ import annotations

import logging
import re
from datetime import UTC, datetime, timedelta

import orjson
import pytest
from elasticsearch import Elasticsearch
from typer.testing import CliRunner

from reqtrail.consumers import documents
from reqtrail.consumers.decode import ValidIds, decode_record
from reqtrail.schemas import is_valid
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


def test_one_bad_document_among_1000_is_the_only_dead_letter(
    pipeline: Settings,
    es: Elasticsearch,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A bulk of 1,000 holding one _id of 1,024 bytes (ES: 400 for the whole bulk) indexes
    the 999 others and dead-letters that one alone, with ES's reason for it.

    Such an ID is refused at the source twice (the middleware replaces it, the schema caps
    request_id at 128 characters), so this test passes it through the indexer's decoding:
    the record is produced with a marker ID, which the decoded IDs then carry as 256 emoji.
    """
    settings = pipeline.replace(batch_max_wait_ms=5000)
    records = list(sample_records(1000, seed=31))
    bad_id = "\U0001f600" * 256  # 1,024 bytes
    marker = "oversized-id-501"
    records[500] = dict(records[500], request_id=marker)
    assert is_valid(records[500]) and len(bad_id.encode()) == 1024
    assert not is_valid(dict(records[500], request_id=bad_id))  # the schema's own guard

    def decode_with_oversized_id(value: bytes | None) -> object:
        decoded = decode_record(value)
        if getattr(decoded, "request_id", None) == marker:
            return ValidIds(decoded.timestamp, bad_id)  # type: ignore[union-attr]
        return decoded

    monkeypatch.setattr(documents, "decode_record", decode_with_oversized_id)
    produce(settings, [orjson.dumps(r) for r in records], partition=0)  # one bulk
    with (
        caplog.at_level(logging.WARNING, logger="reqtrail.indexer"),
        running_indexer(settings) as indexer,
    ):
        wait_for_docs(es, settings.index_prefix, 999)
        wait_until(lambda: committed_total(settings) == 1000, 30, "1,000 offsets committed")
        assert indexer.stats.indexed == 999
        assert indexer.stats.dead_lettered == {"rejected": 1}
    splits = [r.getMessage() for r in caplog.records if "rejected as a whole" in r.getMessage()]
    assert splits and splits[0].startswith("a bulk of 1000 documents was rejected as a whole")
    assert count_docs(es, settings.index_prefix) == 999
    (letter,) = dead_letters(settings)
    assert orjson.loads(letter.message.value or b"")["request_id"] == marker
    assert letter.kind == "rejected" and letter.reason.startswith("400 ")
    assert "action_request_validation_exception" in letter.reason
    assert "is too long, must be no longer than 512 bytes" in letter.reason
    assert letter.reason.count("is too long") == 1  # its own reason, no other document's


def test_a_filtered_redrive_redrives_only_the_chosen_dead_letters(
    pipeline: Settings, es: Elasticsearch
) -> None:
    """--kind and --limit pick which dead letters go back, the report counts what was
    re-driven and skipped, and what a filter left behind is still there for later."""
    day = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=4)
    rejected = [orjson.dumps(r) for r in sample_records(4, start=day, span=timedelta(hours=1))]
    bad_index = f"{pipeline.index_prefix}-{day:%Y.%m.%d}"
    es.indices.create(index=bad_index, mappings={"properties": {"status": {"type": "boolean"}}})
    undecodable = [b"\xff\xfe not a record %d" % i for i in range(3)]
    produce(pipeline, rejected + undecodable)
    app, env = consumers_app(), settings_env(pipeline)

    def redrive(*args: str) -> str:
        result = CliRunner().invoke(app, ["dlq", "redrive", *args], env=env)
        assert result.exit_code == 0, result.output
        return result.output

    with running_indexer(pipeline):
        wait_until(lambda: len(dead_letters(pipeline)) == 7, 30, "7 dead letters")
        kinds = sorted(info.kind for info in dead_letters(pipeline))
        assert kinds == ["rejected"] * 4 + ["undecodable"] * 3
        assert all(
            i.reason.startswith("not UTF-8: byte ff at position 0")
            for i in dead_letters(pipeline)
            if i.kind == "undecodable"
        )
        es.indices.delete(index=bad_index)  # the fix: the template creates it again
        first = redrive("--kind", "rejected", "--reason", "STATUS", "--since", "1h", "--limit=3")
        assert "re-drove 3 dead letters" in first and "(rejected 3)" in first
        assert re.search(r"skipped 4 .*3 not matching --kind rejected --reason 'STATUS'", first)
        assert "1 over --limit 3" in first
        wait_for_docs(es, pipeline.index_prefix, 3)
        second = redrive("--kind", "rejected")
        assert "re-drove 1 dead letters" in second and "3 not matching --kind rejected" in second
        wait_for_docs(es, pipeline.index_prefix, 4)
        nothing = redrive("--since", "2099-01-01T00:00:00")
        assert "re-drove 0 dead letters" in nothing and "7 not matching" not in nothing
        rest = redrive("--dry-run")
        assert "would re-drive 3 dead letters" in rest and "(undecodable 3)" in rest, rest
    assert count_docs(es, pipeline.index_prefix) == 4
    assert len(dead_letters(pipeline)) == 7  # the re-driven ones were indexed this time


def test_redrive_of_a_missing_dlq_topic_is_one_line_and_creates_nothing(
    settings: Settings,
) -> None:
    """`dlq` and `dlq redrive` on a topic that does not exist say to run setup, exit 1."""
    from kafka.admin import KafkaAdminClient

    for args in (["dlq"], ["dlq", "redrive"]):
        result = CliRunner().invoke(consumers_app(), args, env=settings_env(settings))
        assert result.exit_code == 1, result.output
        lines = result.output.strip().splitlines()
        assert len(lines) == 1 and "REQTRAIL_DLQ_TOPIC" in lines[0], result.output
        assert "reqtrail setup" in lines[0]
    admin = KafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    try:
        assert not {settings.topic, settings.dlq_topic} & set(admin.list_topics())
    finally:
        admin.close()


def test_records_dated_1970_and_9999_land_in_the_dlq_and_create_no_index(
    pipeline: Settings, es: Elasticsearch
) -> None:
    """Far-off timestamps are dead letters of kind "timestamp"; no daily index is created
    for their days, and the records around them are indexed."""
    good = record_values(50, seed=33)
    template = orjson.loads(good[0])
    far = [
        orjson.dumps(dict(template, request_id="from-1970", **{"@timestamp": stamp}))
        if stamp.startswith("1970")
        else orjson.dumps(dict(template, request_id="from-9999", **{"@timestamp": stamp}))
        for stamp in ("1970-01-01T00:00:00.000Z", "9999-12-31T23:59:59.999Z")
    ]
    produce(pipeline, good[:25] + far + good[25:])
    with running_indexer(pipeline):
        wait_for_docs(es, pipeline.index_prefix, len(good))
        wait_until(lambda: len(dead_letters(pipeline)) == 2, 30, "2 dead letters")
    letters = {
        orjson.loads(i.message.value or b"")["request_id"]: i for i in dead_letters(pipeline)
    }
    assert set(letters) == {"from-1970", "from-9999"}
    for info in letters.values():
        assert info.kind == "timestamp" and info.reason.startswith("timestamp out of range")
    assert "REQTRAIL_RETENTION_DAYS=30" in letters["from-1970"].reason
    assert "REQTRAIL_TIMESTAMP_MAX_FUTURE_S" in letters["from-9999"].reason
    indices = sorted(es.indices.get(index=f"{pipeline.index_prefix}-*").body)
    far_days = ("-1970.01.01", "-9999.12.31")  # the test's own name holds 1970 and 9999
    assert indices and not [i for i in indices if i.endswith(far_days)], indices
    aliased = es.indices.get_alias(name=pipeline.read_alias).body
    assert not [i for i in aliased if i.endswith(far_days)]
    assert count_docs(es, pipeline.index_prefix) == len(good)
