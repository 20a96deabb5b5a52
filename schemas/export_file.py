"""The export document (``reqtrail export``) as a file format: its header, and a reader.

Shape (``format_version`` 1)::

    {
      "format": "reqtrail.export",
      "format_version": 1,
      "schema_version": 1,                 # of every record below (schemas/record.py)
      "exported_at": "2025-03-01T12:00:00.000Z",
      "user_id": "player-00042",
      "since": "2025-03-01T00:00:00.000Z", # inclusive
      "until": "2025-03-02T00:00:00.000Z", # exclusive
      "order": "@timestamp ascending, then request_id",
      "records": [ {<full request record>}, ... ],
      "count": 123,                       # number of records written
      "truncated": false                  # true when a limit stopped the export early
    }

The writer (``reqtrail.dashboards.queries.export``) puts the header on the first line and
one record per line, so :func:`open_export` reads records one at a time in constant memory;
any other valid JSON layout of the same document is read whole. Both ``reqtrail import``
and ``reqtrail replay`` read exports through this module, so they accept and refuse the
same files with the same one-line errors.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import orjson

from reqtrail.schemas.record import SCHEMA_VERSION

EXPORT_FORMAT = "reqtrail.export"
EXPORT_FORMAT_VERSION = 1
_RECORDS_LINE = b'"records":['


class ExportFileError(ValueError):
    """The file is not an export this reqtrail can read; ``str(exc)`` is one line."""


@dataclass(frozen=True)
class ExportHeader:
    """The export's fields other than ``records`` (``count``/``truncated`` once read)."""

    fields: dict[str, Any]

    @property
    def user_id(self) -> str | None:
        value = self.fields.get("user_id")
        return value if isinstance(value, str) else None


def check_header(document: Any, name: str) -> ExportHeader:
    """The header of ``document``, or ``ExportFileError`` naming ``name`` and what is wrong."""
    if not isinstance(document, dict) or document.get("format") != EXPORT_FORMAT:
        raise ExportFileError(f'{name}: not a reqtrail export (no "format": "{EXPORT_FORMAT}")')
    version = document.get("format_version")
    if version != EXPORT_FORMAT_VERSION:
        raise ExportFileError(
            f"{name}: export format_version {version!r} is not supported "
            f"(this reqtrail reads {EXPORT_FORMAT_VERSION})"
        )
    schema = document.get("schema_version")
    if schema != SCHEMA_VERSION:
        raise ExportFileError(
            f"{name}: records have schema_version {schema!r} (this reqtrail reads {SCHEMA_VERSION})"
        )
    return ExportHeader({k: v for k, v in document.items() if k != "records"})


@dataclass
class ExportReader:
    """Records of one export file, in file order; ``header`` is read when opened."""

    name: str
    header: ExportHeader
    _records: Iterator[dict[str, Any]]
    size_bytes: int = 0
    bytes_read: int = 0
    tail: dict[str, Any] = field(default_factory=dict)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return self._records


def open_export(path: Path, handle: IO[bytes]) -> ExportReader:
    """Check ``handle``'s header (``ExportFileError`` if it does not fit) and return a reader.

    Records are not validated here; a line that is not JSON raises ``ExportFileError``
    with its line number when the iteration reaches it.
    """
    name = str(path)
    size = path.stat().st_size if path.exists() else 0
    first = handle.readline()
    second = handle.readline() if first.rstrip().endswith(b",") else b""
    if first.startswith(b"{") and second.strip() == _RECORDS_LINE:
        try:
            fields = orjson.loads(first.rstrip()[:-1] + b"}")
        except orjson.JSONDecodeError:
            raise ExportFileError(f"{name}: line 1 is not JSON") from None
        header = check_header(fields, name)
        reader = ExportReader(name, header, iter(()), size, len(first) + len(second))
        reader._records = _line_records(handle, reader, 3)
        return reader
    try:
        document = orjson.loads(first + second + handle.read())
    except orjson.JSONDecodeError as exc:
        raise ExportFileError(f"{name}: not JSON ({exc})") from None
    header = check_header(document, name)
    records = document.get("records")
    if not isinstance(records, list):
        raise ExportFileError(f'{name}: "records" is not a list')
    return ExportReader(name, header, iter(records), size, size, header.fields)


def _line_records(handle: IO[bytes], reader: ExportReader, line_no: int) -> Iterator[Any]:
    """One record per line until the closing ``],``; then the tail (count, truncated)."""
    for line in handle:
        reader.bytes_read += len(line)
        text = line.strip()
        if text in (b"],", b"]"):
            rest = handle.read()
            reader.bytes_read += len(rest)
            try:
                reader.tail = orjson.loads(b"{" + rest.strip()) if text == b"]," else {}
            except orjson.JSONDecodeError:
                raise ExportFileError(f"{reader.name}: the end of the file is not JSON") from None
            return
        if text:
            try:
                yield orjson.loads(text.removesuffix(b","))
            except orjson.JSONDecodeError:
                raise ExportFileError(f"{reader.name}: line {line_no} is not JSON") from None
        line_no += 1
    raise ExportFileError(f"{reader.name}: ends before its records do (cut short?)")


def read_export_file(path: Path) -> tuple[ExportHeader, list[dict[str, Any]]]:
    """The header and every record of an export file (``ExportFileError`` when unreadable)."""
    try:
        with path.open("rb") as handle:
            reader = open_export(path, handle)
            records = list(reader)
    except OSError as exc:
        raise ExportFileError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    if not all(isinstance(record, dict) for record in records):
        raise ExportFileError(f"{path}: a record is not a JSON object")
    return reader.header, records


def read_export(data: bytes) -> dict[str, Any]:
    """An export document held in memory, checked (``ExportFileError`` is a ValueError)."""
    try:
        document = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise ExportFileError(f"export: not JSON ({exc})") from None
    check_header(document, "export")
    if not isinstance(document, dict):  # pragma: no cover - check_header refuses it
        raise ExportFileError("export: not an object")
    return document
