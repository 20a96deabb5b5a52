"""``reqtrail import FILE``: load an export document into the configured Elasticsearch.

Each record goes where the indexer would have put it (the daily index of its
``@timestamp`` under ``REQTRAIL_INDEX_PREFIX``, ``_id`` = ``request_id``), so importing a
file twice, or a file overlapping what the indexer already wrote, changes nothing. The
file's format and schema version are checked before anything is written; every record is
checked against the schema, and the ones that fail are counted by reason, never indexed.
Records stream from the file in constant memory (``reqtrail.schemas.export_file``).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from elasticsearch import Elasticsearch, helpers

from reqtrail.consumers.setup import ensure_index_template
from reqtrail.schemas.export_file import ExportFileError, ExportReader, open_export
from reqtrail.schemas.indices import daily_index, utc_day
from reqtrail.schemas.validate import is_valid, record_errors
from reqtrail.settings import Settings

# progress(records read, bytes read, file size in bytes)
ImportProgress = Callable[[int, int, int], None]
MAX_REASON_CHARS = 200


@dataclass
class ImportResult:
    """What one import did: records read, indexed, and rejected by reason."""

    read: int = 0
    indexed: int = 0
    rejected: Counter[str] = field(default_factory=Counter)
    indices: set[str] = field(default_factory=set)
    seconds: float = 0.0

    @property
    def rejected_total(self) -> int:
        return sum(self.rejected.values())


def _rejection(record: Any) -> str | None:
    """Why ``record`` cannot be indexed (one line), or None when it can."""
    if not isinstance(record, dict):
        return "not a JSON object"
    if is_valid(record):
        return None
    return f"schema: {(record_errors(record) or 'invalid')[:MAX_REASON_CHARS]}"


def _actions(
    reader: ExportReader, prefix: str, result: ImportResult, progress: ImportProgress | None
) -> Iterator[dict[str, Any]]:
    """Bulk ``index`` actions for the valid records; the others are counted and skipped."""
    for record in reader:
        result.read += 1
        if progress is not None:
            progress(result.read, reader.bytes_read, reader.size_bytes)
        reason = _rejection(record)
        if reason is not None:
            result.rejected[reason] += 1
            continue
        day = utc_day(record["@timestamp"])
        if day is None:  # the schema's date-time check lets no such record through
            result.rejected["schema: @timestamp is not a real date"] += 1
            continue
        index = daily_index(prefix, day)
        result.indices.add(index)
        yield {"_op_type": "index", "_index": index, "_id": record["request_id"], "_source": record}


def _item_reason(info: dict[str, Any]) -> str:
    item: Any = next(iter(info.values()), {}) if info else {}
    error = item.get("error") if isinstance(item, dict) else None
    if isinstance(error, dict):
        text = f"{error.get('type')}: {error.get('reason')}"
    else:
        text = str(error or item.get("status", "unknown"))
    return f"elasticsearch: {text[:MAX_REASON_CHARS]}"


def import_records(
    es: Elasticsearch,
    reader: ExportReader,
    prefix: str,
    *,
    chunk_size: int = 1000,
    progress: ImportProgress | None = None,
) -> ImportResult:
    """Index the records of ``reader`` under ``prefix`` (template already in place)."""
    result = ImportResult()
    began = time.monotonic()
    outcomes: Iterable[tuple[bool, Any]] = helpers.streaming_bulk(
        es,
        _actions(reader, prefix, result, progress),
        chunk_size=chunk_size,
        max_retries=5,  # 429s only; other item errors are counted as rejected
        initial_backoff=0.5,
        raise_on_error=False,
        yield_ok=True,
    )
    for ok, info in outcomes:
        if ok:
            result.indexed += 1
        else:
            result.rejected[_item_reason(info)] += 1
    if result.indices:
        es.indices.refresh(index=",".join(sorted(result.indices)))
    result.seconds = time.monotonic() - began
    return result


def import_file(
    settings: Settings,
    es: Elasticsearch,
    path: Path,
    *,
    chunk_size: int = 1000,
    progress: ImportProgress | None = None,
) -> ImportResult:
    """Check ``path``'s header, install the index template, then import every record.

    Raises ``ExportFileError`` (one line, naming the file) before writing anything when
    the file cannot be read or its format or schema version does not fit.
    """
    try:
        handle = path.open("rb")
    except OSError as exc:
        raise ExportFileError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    with handle:
        reader = open_export(path, handle)
        ensure_index_template(settings, es)
        return import_records(
            es, reader, settings.index_prefix, chunk_size=chunk_size, progress=progress
        )
