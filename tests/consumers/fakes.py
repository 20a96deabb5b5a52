"""Small fakes for unit tests of the indexer's pure logic."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

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


class HttpError:
    """An HTTP error answer to a whole ``_bulk`` request, as Elasticsearch writes it."""

    def __init__(self, status: int, error_type: str, reason: str = "boom") -> None:
        self.status = status
        body = {"error": {"type": error_type, "reason": reason}, "status": status}
        self.body = orjson.dumps(body)


class Answered:
    """A pending answer that has arrived: an HTTP answer, or the connection's failure."""

    def __init__(self, answer: tuple[int, bytes] | None, error: OSError | None = None) -> None:
        self.answer = answer
        self.error = error

    def ready(self) -> bool:
        return True

    def wait(self) -> tuple[int, bytes]:
        if self.error is not None:
            raise self.error
        assert self.answer is not None
        return self.answer


Failure = HttpError | OSError


class FailingBulkTransport:
    """Answers ``_bulk`` requests like ES, through the indexer's own transport interface.

    ``fail_on`` maps call numbers (1-based) to a failure of the whole request (an HTTP error
    answer, or a connection error raised when the answer is read), ``item_status`` decides
    each item's status per call (default: 201 created), and ``whole_error`` may fail a
    request as a whole for the ``_id``s it holds."""

    def __init__(
        self,
        fail_on: dict[int, Failure] | None = None,
        item_status: ItemStatus | None = None,
        whole_error: Callable[[list[str]], HttpError | None] | None = None,
    ) -> None:
        self.fail_on = fail_on or {}
        self.item_status = item_status or (lambda call, doc_id: 201)
        self.whole_error = whole_error  # _ids of a request -> an error for all of it
        self.calls = 0
        self.sent_ids: list[list[str]] = []
        self.stored: dict[str, bytes] = {}
        self.filter_paths: set[str] = set()

    def start(self, body: bytes, filter_path: str) -> Answered:
        self.calls += 1
        self.filter_paths.add(filter_path)
        failure = self.fail_on.get(self.calls)
        if isinstance(failure, OSError):
            return Answered(None, failure)
        if isinstance(failure, HttpError):
            return Answered((failure.status, failure.body))
        lines = bytes(body).split(b"\n")
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
        whole = self.whole_error(ids) if self.whole_error is not None else None
        if whole is not None:
            for doc_id in ids:
                self.stored.pop(doc_id, None)
            return Answered((whole.status, whole.body))
        errors = any(i["index"]["status"] >= 300 for i in items)
        return Answered((200, orjson.dumps({"errors": errors, "items": items})))

    def close(self) -> None:
        pass
