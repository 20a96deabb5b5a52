"""The checked-in JSON Schema and index template match the one definition."""

from __future__ import annotations

import pytest

from reqtrail.schemas import (
    REQUIRED_FIELDS,
    SCHEMA_VERSION,
    IndexOptions,
    index_template,
    json_schema,
)
from reqtrail.schemas.generate import generated_files
from reqtrail.schemas.validate import is_valid, record_errors


def _minimal_record() -> dict[str, object]:
    return {
        "schema_version": SCHEMA_VERSION,
        "@timestamp": "2026-11-25T03:00:00.123Z",
        "request_id": "01JD0000000000000000000000",
        "method": "GET",
        "path": "/home",
        "status": 200,
        "latency_ms": 12.5,
        "service": "game-server",
    }


def test_checked_in_files_do_not_drift() -> None:
    """Every generated file on disk equals what the definition generates now."""
    for path, text in generated_files().items():
        assert path.read_text() == text, f"{path.name} drifted: run `python -m schemas`"


def test_minimal_record_is_valid() -> None:
    """A record with only the required fields validates."""
    assert is_valid(_minimal_record())
    assert record_errors(_minimal_record()) is None


@pytest.mark.parametrize("missing", REQUIRED_FIELDS)
def test_each_required_field_is_required(missing: str) -> None:
    """Dropping any required field makes the record invalid, with a reason naming it."""
    record = _minimal_record()
    del record[missing]
    assert not is_valid(record)
    assert missing in (record_errors(record) or "")


def test_unknown_fields_and_bad_types_are_rejected() -> None:
    """Extra fields and a non-integer status are schema violations."""
    assert not is_valid({**_minimal_record(), "surprise": 1})
    assert not is_valid({**_minimal_record(), "status": "200"})
    assert not is_valid({**_minimal_record(), "status": 999})


def test_index_template_uses_prefix_alias_and_log_settings() -> None:
    """The template matches <prefix>-*, aliases <prefix>, sorts by time, sets refresh."""
    body = index_template(IndexOptions(prefix="acme", refresh_interval="2s", replicas=1))
    assert body["index_patterns"] == ["acme-*"]
    assert body["template"]["aliases"] == {"acme": {}}
    index = body["template"]["settings"]["index"]
    assert index["refresh_interval"] == "2s" and index["number_of_replicas"] == 1
    assert index["sort.field"] == ["@timestamp", "request_id"]
    assert index["sort.order"] == ["desc", "desc"]
    props = body["template"]["mappings"]["properties"]
    assert props["request_body"]["index"] is False
    assert index_template(IndexOptions(index_bodies=True))["template"]["mappings"]["properties"][
        "request_body"
    ] == {"type": "text"}


def test_schema_version_is_pinned() -> None:
    """The JSON Schema pins schema_version to the current version."""
    assert json_schema()["properties"]["schema_version"]["const"] == SCHEMA_VERSION
