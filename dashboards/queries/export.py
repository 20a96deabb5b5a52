"""Export a user's requests in a time range as one JSON document a replay tool can load.

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

Each record is exactly the indexed document (method, path, query, headers, bodies as
text, status, latency...), so a replay tool can re-issue ``method path?query`` with
``request_headers`` and ``request_body`` in order. Records are read with ``search_after``
pages and written as they arrive, so exports of any size use constant memory.
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
from reqtrail.dashboards.queries.filters import SearchFilter, TimeRange
from reqtrail.schemas.record import SCHEMA_VERSION

EXPORT_FORMAT = "reqtrail.export"
EXPORT_FORMAT_VERSION = 1


def _iso(moment: datetime) -> str:
    return (
        moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
    )


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
        "exported_at": _iso(datetime.now(UTC)),
        "user_id": user_id,
        "since": _iso(time_range.start),
        "until": _iso(time_range.end),
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


def read_export(data: bytes) -> dict[str, Any]:
    """Load an export document and check its format; raise ValueError if it is not one."""
    document = orjson.loads(data)
    if not isinstance(document, dict) or document.get("format") != EXPORT_FORMAT:
        raise ValueError("not a reqtrail export document")
    if document.get("format_version") != EXPORT_FORMAT_VERSION:
        raise ValueError(f"unsupported export format_version: {document.get('format_version')}")
    return document
