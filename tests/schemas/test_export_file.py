"""Export files are read back record by record, and refused in one line when they do not fit."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest

from reqtrail.schemas.export_file import (
    EXPORT_FORMAT,
    EXPORT_FORMAT_VERSION,
    ExportFileError,
    open_export,
    read_export_file,
)
from reqtrail.schemas.record import SCHEMA_VERSION
from reqtrail.schemas.samples import sample_records


def _header(**changes: object) -> dict[str, object]:
    header: dict[str, object] = {
        "format": EXPORT_FORMAT,
        "format_version": EXPORT_FORMAT_VERSION,
        "schema_version": SCHEMA_VERSION,
        "user_id": "player-1",
    }
    header.update(changes)
    return header


def _written(path: Path, records: list[dict[str, object]], **changes: object) -> Path:
    """A file laid out as ``write_export`` writes it (header line, one record per line)."""
    out = io.BytesIO()
    out.write(orjson.dumps(_header(**changes))[:-1] + b',\n"records":[')
    for i, record in enumerate(records):
        out.write(b"\n" if i == 0 else b",\n")
        out.write(orjson.dumps(record))
    out.write(b"\n],\n" + orjson.dumps({"count": len(records), "truncated": False})[1:] + b"\n")
    path.write_bytes(out.getvalue())
    return path


def test_line_layout_is_read_record_by_record(tmp_path: Path) -> None:
    """The writer's layout yields every record in order, then the count from the tail."""
    records = list(sample_records(25, seed=3, start=datetime(2025, 1, 1, tzinfo=UTC)))
    path = _written(tmp_path / "x.json", records)
    with path.open("rb") as handle:
        reader = open_export(path, handle)
        assert reader.header.user_id == "player-1"
        assert list(reader) == records
    assert reader.tail == {"count": 25, "truncated": False}
    assert reader.bytes_read == path.stat().st_size


def test_other_json_layouts_are_read_whole(tmp_path: Path) -> None:
    """A pretty-printed export (any valid JSON of the same document) reads the same."""
    records = list(sample_records(3, seed=4))
    path = tmp_path / "pretty.json"
    path.write_bytes(orjson.dumps({**_header(), "records": records}, option=orjson.OPT_INDENT_2))
    header, read = read_export_file(path)
    assert read == records and header.fields["format"] == EXPORT_FORMAT


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"format_version": 2}, "format_version 2 is not supported (this reqtrail reads 1)"),
        ({"format": "other"}, "not a reqtrail export"),
        ({"schema_version": 99}, "records have schema_version 99"),
    ],
)
def test_wrong_format_or_version_is_one_line_naming_the_file(
    tmp_path: Path, changes: dict[str, object], message: str
) -> None:
    """A header that does not fit raises before any record, naming the file."""
    path = _written(tmp_path / "bad.json", list(sample_records(2, seed=5)), **changes)
    with pytest.raises(ExportFileError) as caught:
        read_export_file(path)
    assert message in str(caught.value) and str(path) in str(caught.value)
    assert "\n" not in str(caught.value)


def test_a_file_cut_short_is_refused(tmp_path: Path) -> None:
    """A file that ends inside its records list is an error, not a silently short read."""
    path = _written(tmp_path / "cut.json", list(sample_records(5, seed=6)))
    path.write_bytes(path.read_bytes()[:-40])
    with pytest.raises(ExportFileError, match="cut short|not JSON"):
        read_export_file(path)


def test_not_json_and_missing_files_are_one_line(tmp_path: Path) -> None:
    """Garbage and a missing path both give one line naming the file."""
    garbage = tmp_path / "garbage.json"
    garbage.write_text("hello")
    with pytest.raises(ExportFileError, match="garbage.json: not JSON"):
        read_export_file(garbage)
    with pytest.raises(ExportFileError, match="cannot be read"):
        read_export_file(tmp_path / "missing.json")
