"""Stage 2: validated record -> bulk ``index`` action for its daily index.

The index is ``<prefix>-YYYY.MM.DD`` from the record's ``@timestamp`` (UTC day), the
``_id`` is ``request_id`` (so redelivered records overwrite themselves), and the source
is the record's original bytes whenever they are one JSON line. With a TimestampWindow,
records dated outside it are dead-lettered, so no index is created for their day.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date
from typing import Any

import orjson

from reqtrail.consumers.decode import Poison, decode_record
from reqtrail.consumers.offsets import PartitionProgress
from reqtrail.consumers.request_fields import request_fields
from reqtrail.consumers.timestamps import TimestampWindow
from reqtrail.consumers.types import DeadLetter, Document, RequestSeries, SourceMessage
from reqtrail.schemas.indices import daily_index, utc_day


class DocumentBuilder:
    """Builds Documents (or DeadLetters) from Kafka messages for one index prefix."""

    def __init__(
        self,
        prefix: str,
        window: TimestampWindow | None = None,
        *,
        request_series: RequestSeries | None = None,
    ) -> None:
        self.prefix = prefix
        self.window = window
        # For request metrics: the series each record counts in, found by its labels.
        self.request_series = request_series
        self._known = request_series.known if request_series is not None else None
        # "YYYY-MM-DD" (as written in Z timestamps) -> (index name, action line head, day)
        self._heads: dict[str, tuple[str, bytes, date]] = {}

    def _head(self, timestamp: str) -> tuple[str, bytes, date] | None:
        key = timestamp[:10] if timestamp[-1:] in ("Z", "z") else timestamp
        head = self._heads.get(key)
        if head is None:
            day = utc_day(timestamp)
            if day is None:
                return None
            index = daily_index(self.prefix, day)
            head = (index, b'{"index":{"_index":' + orjson.dumps(index) + b',"_id":', day)
            if len(self._heads) > 10_000:  # offset timestamps are keyed whole; stay bounded
                self._heads.clear()
            self._heads[key] = head
        return head

    def build(
        self, message: SourceMessage, progress: PartitionProgress | None = None
    ) -> Document | DeadLetter:
        """The bulk action for ``message``, or a DeadLetter saying why there is none."""
        value = message.value
        record = decode_record(value)
        if isinstance(record, Poison):
            return DeadLetter(message, record.kind, record.reason, progress)
        assert value is not None  # decode_record refuses empty values
        timestamp = record.timestamp
        head = self._head(timestamp)
        if head is None:
            reason = f"@timestamp is not a real date: {timestamp!r}"
            return DeadLetter(message, "schema", reason, progress)
        window = self.window
        if window is not None and not (window.first_day <= head[2] < window.last_day):
            out = window.outside(head[2], timestamp)
            if out is not None:
                return DeadLetter(message, "timestamp", out, progress)
        doc_id = record.request_id
        source = value if b"\n" not in value else orjson.dumps(orjson.loads(value))
        action = head[1] + orjson.dumps(doc_id) + b"}}\n"
        known = self._known
        if known is None:
            return Document(head[0], doc_id, action, source, message, progress)
        # Only a reference to the series and the latency stay with the document: the
        # decoded record is freed here. (The validator's slow road decoded IDs only.)
        r: Any = record
        try:
            labels = (r.service, r.environment, r.route, r.method, r.status, r.app_version)
        except AttributeError:  # ValidIds
            r = request_fields(value)
            labels = (r.service, r.environment, r.route, r.method, r.status, r.app_version)
        try:
            series = known[hash(labels)]
        except KeyError:
            series = self.request_series.new(labels)  # type: ignore[union-attr]
        return Document(head[0], doc_id, action, source, message, progress, series, r.latency_ms)

    def build_all(
        self, messages: Iterable[SourceMessage], progress: PartitionProgress | None = None
    ) -> tuple[list[Document], list[DeadLetter]]:
        """Documents and dead letters for ``messages`` (of one partition), in order."""
        documents: list[Document] = []
        dead: list[DeadLetter] = []
        if self.window is not None:
            self.window.refresh()
        for message in messages:
            built = self.build(message, progress)
            if type(built) is Document:
                documents.append(built)
            else:
                assert isinstance(built, DeadLetter)
                dead.append(built)
        return documents, dead


def bulk_body(documents: Sequence[Document]) -> bytes:
    """The NDJSON body of one ``_bulk`` request (action line, source line per document)."""
    parts: list[bytes] = []
    append = parts.append
    for document in documents:
        append(document.action)
        append(document.source)
        append(b"\n")
    return b"".join(parts)
