"""Unit tests of decoding records and building bulk actions."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson
import pytest

from reqtrail.consumers.decode import Poison, decode_record
from reqtrail.consumers.documents import DocumentBuilder, bulk_body
from reqtrail.consumers.types import DeadLetter, Document, Message
from reqtrail.schemas.indices import utc_day
from reqtrail.schemas.samples import sample_records


def _record() -> dict[str, object]:
    return next(sample_records(1, start=datetime(2026, 3, 4, 23, 59, tzinfo=UTC)))


def test_valid_record_decodes_to_its_ids() -> None:
    """A valid record gives the two fields the indexer needs: its day and its _id."""
    record = _record()
    ids = decode_record(orjson.dumps(record))
    assert not isinstance(ids, Poison)
    assert (ids.timestamp, ids.request_id) == (record["@timestamp"], record["request_id"])


def test_valid_record_in_a_form_the_fast_path_refuses_is_still_indexed() -> None:
    """JSON Schema counts 200.0 as an integer; the slower validator says so, not a DLQ."""
    record = dict(_record(), status=200.0)
    built = DocumentBuilder("logs").build(Message("t", 0, 9, orjson.dumps(record)))
    assert isinstance(built, Document) and built.doc_id == record["request_id"]


@pytest.mark.parametrize(
    ("value", "kind"),
    [
        (b"", "undecodable"),
        (None, "undecodable"),
        (b"\xff\xfe not json", "undecodable"),
        (b"[1, 2]", "schema"),
        (b'{"status": 200}', "schema"),
    ],
)
def test_poison_records_say_why(value: bytes | None, kind: str) -> None:
    """Undecodable bytes and schema violations come back as Poison with a reason."""
    result = decode_record(value)
    assert isinstance(result, Poison)
    assert result.kind == kind and result.reason


def test_document_goes_to_the_daily_index_with_request_id_as_id() -> None:
    """_index is <prefix>-YYYY.MM.DD of @timestamp (UTC), _id is request_id, source = bytes."""
    record = _record()
    value = orjson.dumps(record)
    built = DocumentBuilder("logs").build(Message("t", 0, 9, value))
    assert isinstance(built, Document)
    assert built.index == "logs-2026.03.04"
    assert built.doc_id == record["request_id"]
    assert built.source is value
    action = orjson.loads(built.action)
    assert action == {"index": {"_index": "logs-2026.03.04", "_id": record["request_id"]}}


def test_offset_timestamps_use_the_utc_day() -> None:
    """A timestamp with a UTC offset lands in the index of its UTC day."""
    assert str(utc_day("2026-03-04T23:30:00.000-02:00")) == "2026-03-05"
    assert str(utc_day("2026-03-04T01:30:00.000+02:00")) == "2026-03-03"
    assert str(utc_day("2026-03-04T01:30:00.000Z")) == "2026-03-04"
    assert utc_day("2026-19-40T01:30:00.000Z") is None


def test_pretty_printed_record_is_reserialized_onto_one_line() -> None:
    """A record with newlines is re-serialized so the NDJSON body stays valid."""
    record = _record()
    value = orjson.dumps(record, option=orjson.OPT_INDENT_2)
    built = DocumentBuilder("logs").build(Message("t", 0, 1, value))
    assert isinstance(built, Document)
    assert b"\n" not in built.source and orjson.loads(built.source) == record


def test_impossible_date_is_a_schema_dead_letter() -> None:
    """A @timestamp that is not a real day is dead-lettered as a schema violation."""
    record = dict(_record(), **{"@timestamp": "2026-02-30T10:00:00.000Z"})
    built = DocumentBuilder("logs").build(Message("t", 0, 1, orjson.dumps(record)))
    assert isinstance(built, DeadLetter) and built.kind == "schema"
    assert "@timestamp" in built.reason


def test_build_all_splits_documents_and_dead_letters_in_order() -> None:
    """build_all returns documents and dead letters, each in delivery order."""
    good = [orjson.dumps(r) for r in sample_records(3)]
    values = [good[0], b"nope", good[1], b"{}", good[2]]
    messages = [Message("t", 0, i, v) for i, v in enumerate(values)]
    documents, dead = DocumentBuilder("logs").build_all(messages)
    assert [d.message.offset for d in documents] == [0, 2, 4]
    assert [(d.message.offset, d.kind) for d in dead] == [(1, "undecodable"), (3, "schema")]


def test_bulk_body_is_ndjson_of_actions_and_sources() -> None:
    """The body alternates action and source lines and ends with a newline."""
    messages = [Message("t", 0, i, orjson.dumps(r)) for i, r in enumerate(sample_records(3))]
    documents, _ = DocumentBuilder("logs").build_all(messages)
    lines = bulk_body(documents).split(b"\n")
    assert lines[-1] == b"" and len(lines) == 7
    assert [orjson.loads(line)["index"]["_id"] for line in lines[0:-1:2]] == [
        d.doc_id for d in documents
    ]


def test_non_utf8_bytes_are_reported_as_not_utf8() -> None:
    """Raw non-UTF-8 bytes say "not UTF-8" and where, not orjson's "surrogates not allowed"."""
    for value, position in ((b"\xff\xfe not json", 0), (b'{"a": "caf\xe9"}', 10)):
        result = decode_record(value)
        assert isinstance(result, Poison) and result.kind == "undecodable"
        assert result.reason.startswith("not UTF-8: ") and f"position {position}" in result.reason
        assert "surrogates" not in result.reason


def test_a_record_missing_several_fields_names_all_of_them() -> None:
    """Every missing required field is named in the one-line reason, not only the first."""
    record = _record()
    for name in ("@timestamp", "request_id", "method"):
        del record[name]
    result = decode_record(orjson.dumps(record))
    assert isinstance(result, Poison) and result.kind == "schema" and "\n" not in result.reason
    for name in ("@timestamp", "request_id", "method"):
        assert f'"{name}"' in result.reason, result.reason
