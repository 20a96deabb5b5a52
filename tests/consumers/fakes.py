"""Small fakes for unit tests of the indexer's pure logic."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import elastic_transport
import elasticsearch
import orjson

from reqtrail.consumers.documents import DocumentBuilder
from reqtrail.consumers.types import Document, Message
from reqtrail.schemas.samples import sample_records

ItemStatus = Callable[[int, str], int | tuple[int, str]]  # (call number, _id) -> status[, type]


def make_documents(count: int, prefix: str = "t", seed: int = 3) -> list[Document]:
    """Valid documents built from sample records, offsets 0..count-1 of partition 0."""
    builder = DocumentBuilder(prefix)
    documents: list[Document] = []
    for offset, record in enumerate(sample_records(count, seed=seed)):
        built = builder.build(Message("topic", 0, offset, orjson.dumps(record)))
        assert isinstance(built, Document)
        documents.append(built)
    return documents


def api_error(status: int, error_type: str, reason: str = "boom") -> elasticsearch.ApiError:
    meta = elastic_transport.ApiResponseMeta(
        status=status,
        http_version="1.1",
        headers=elastic_transport.HttpHeaders(),
        duration=0.0,
        node=elastic_transport.NodeConfig("http", "localhost", 9200),
    )
    body = {"error": {"type": error_type, "reason": reason}, "status": status}
    return elasticsearch.ApiError(message=error_type, meta=meta, body=body)


class FailingBulkClient:
    """Answers ``bulk`` like ES; ``fail_on`` maps call numbers (1-based) to an exception,
    ``item_status`` decides each item's status per call (default: 201 created), and
    ``whole_error`` may fail a request as a whole for the ``_id``s it holds."""

    def __init__(
        self,
        fail_on: dict[int, Exception] | None = None,
        item_status: ItemStatus | None = None,
        whole_error: Callable[[list[str]], Exception | None] | None = None,
    ) -> None:
        self.fail_on = fail_on or {}
        self.item_status = item_status or (lambda call, doc_id: 201)
        self.whole_error = whole_error  # _ids of a request -> an error for all of it
        self.calls = 0
        self.sent_ids: list[list[str]] = []
        self.stored: dict[str, bytes] = {}

    def bulk(self, *, operations: Any, filter_path: Any = None) -> dict[str, Any]:
        self.calls += 1
        if self.calls in self.fail_on:
            raise self.fail_on[self.calls]
        lines = bytes(operations).split(b"\n")
        assert lines[-1] == b"", "bulk body must end with a newline"
        items: list[dict[str, Any]] = []
        ids: list[str] = []
        for action_line, source in zip(lines[0:-1:2], lines[1:-1:2], strict=True):
            meta = orjson.loads(action_line)["index"]
            orjson.loads(source)  # every source line is one JSON document
            ids.append(meta["_id"])
            answer = self.item_status(self.calls, meta["_id"])
            status, error_type = answer if isinstance(answer, tuple) else (answer, "")
            if status < 300:
                self.stored[meta["_id"]] = source
                items.append({"index": {"status": status}})
            else:
                error = {"type": error_type or "some_exception", "reason": f"status {status}"}
                items.append({"index": {"status": status, "error": error}})
        self.sent_ids.append(ids)
        failure = self.whole_error(ids) if self.whole_error is not None else None
        if failure is not None:
            for doc_id in ids:
                self.stored.pop(doc_id, None)
            raise failure
        return {"errors": any(i["index"]["status"] >= 300 for i in items), "items": items}
