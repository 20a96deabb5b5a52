"""Export a user's requests in a time range as one JSON document a replay tool can load.

The document's shape is defined (and read back) in ``reqtrail.schemas.export_file``. Each
record is exactly the indexed document (method, path, query, headers, bodies as text,
status, latency...), so ``reqtrail replay`` can re-issue ``method path?query`` with
``request_headers`` and ``request_body`` in order, and ``reqtrail import`` can load it into
another cluster. Records are read with ``search_after`` pages and written as they arrive,
so exports of any size use constant memory.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import IO, Any

import orjson
from elasticsearch import Elasticsearch

from reqtrail.dashboards.queries.bodies import search_body
from reqtrail.dashboards.queries.es_client import search
from reqtrail.dashboards.queries.filters import SearchFilter, TimeRange, iso_millis
from reqtrail.schemas.export_file import EXPORT_FORMAT, EXPORT_FORMAT_VERSION, read_export
from reqtrail.schemas.record import SCHEMA_VERSION

__all__ = ["iter_records", "iter_user_records", "read_export", "write_export"]


def iter_records(
    es: Elasticsearch, index: str, f: SearchFilter, *, page_size: int = 1000
) -> Iterator[dict[str, Any]]:
    """Every record matching ``f``, oldest first, page by page (``search_after``)."""
    after: list[Any] | None = None
    while True:
        body = search_body(f, size=page_size, search_after=after, oldest_first=True)
        body["track_total_hits"] = False
        hits = search(es, index, body)["hits"]["hits"]
        for hit in hits:
            yield hit["_source"]
        if len(hits) < page_size:
            return
        after = hits[-1]["sort"]


def iter_user_records(
    es: Elasticsearch,
    index: str,
    user_id: str,
    time_range: TimeRange,
    *,
    page_size: int = 1000,
) -> Iterator[dict[str, Any]]:
    """Every record of ``user_id`` in ``time_range``, oldest first, page by page."""
    f = SearchFilter(time_range=time_range, user_id=user_id)
    return iter_records(es, index, f, page_size=page_size)


def write_export(
    out: IO[bytes],
    es: Elasticsearch,
    index: str,
    user_id: str,
    time_range: TimeRange,
    *,
    limit: int | None = None,
    page_size: int = 1000,
) -> int:
    """Stream the export document to ``out``; return the number of records written."""
    header = {
        "format": EXPORT_FORMAT,
        "format_version": EXPORT_FORMAT_VERSION,
        "schema_version": SCHEMA_VERSION,
        "exported_at": iso_millis(datetime.now(UTC)),
        "user_id": user_id,
        "since": iso_millis(time_range.start),
        "until": iso_millis(time_range.end),
        "order": "@timestamp ascending, then request_id",
    }
    records = iter_user_records(es, index, user_id, time_range, page_size=page_size)
    first = next(records, None)  # fail (e.g. ES unreachable) before writing anything
    out.write(orjson.dumps(header)[:-1] + b',\n"records":[')
    written = 0
    truncated = False
    for record in itertools.chain([first] if first is not None else [], records):
        if limit is not None and written >= limit:
            truncated = True
            break
        out.write(b"\n" if written == 0 else b",\n")
        out.write(orjson.dumps(record))
        written += 1
    tail = {"count": written, "truncated": truncated}
    out.write(b"\n],\n" + orjson.dumps(tail)[1:] + b"\n")
    return written
