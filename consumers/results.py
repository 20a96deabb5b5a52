"""Stage 3b: a ``_bulk`` answer sorted into indexed / retry / rejected, document by document.

Pure functions: every document of a request ends in exactly one bucket, with its error
class (retriable or not), status, type and reason, and rejected items keep their original
document so the caller can dead-letter them.
"""

from __future__ import annotations

import http
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from reqtrail.consumers.errors import (
    DocumentRejectedError,
    EsThrottledError,
    EsUnavailableError,
    EsUnreachableError,
    IndexerError,
    IndexMissingError,
    IndexWriteBlockedError,
)
from reqtrail.consumers.types import Document


@dataclass(frozen=True, slots=True)
class ItemResult:
    """What became of one document: ``error`` is None when it is indexed."""

    document: Document
    status: int
    error: type[IndexerError] | None = None
    error_type: str = ""
    reason: str = ""

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def retriable(self) -> bool:
        return self.error is not None and self.error.retriable

    def describe(self) -> str:
        return f"{self.status} {self.error_type}: {self.reason}"


@dataclass(slots=True)
class BulkOutcome:
    """Sorted results of one bulk request; ``whole``: the request failed as a whole, so
    every document shares one status and reason (see consumers.indexer.isolate_rejected)."""

    indexed: list[Document] = field(default_factory=list)
    retry: list[ItemResult] = field(default_factory=list)
    rejected: list[ItemResult] = field(default_factory=list)
    latency_s: float = 0.0
    whole: bool = False


def classify(status: int, error_type: str) -> type[IndexerError] | None:
    """The error class of a bulk item or response status (None: success)."""
    if status < 300:
        return None
    if status == 429:
        return EsThrottledError
    if status >= 500:
        return EsUnavailableError
    if error_type == "cluster_block_exception":  # 403 index.blocks.write / read_only
        return IndexWriteBlockedError
    if error_type == "index_not_found_exception":  # auto-create disabled and no index
        return IndexMissingError
    return DocumentRejectedError


def sort_items(documents: Sequence[Document], items: Sequence[Mapping[str, Any]]) -> BulkOutcome:
    """Sort the ``items`` of a bulk response (same order as ``documents``)."""
    if len(items) != len(documents):
        raise ValueError(f"bulk answered {len(items)} items for {len(documents)} documents")
    outcome = BulkOutcome()
    for document, item in zip(documents, items, strict=True):
        result = next(iter(item.values()))
        status = int(result.get("status", 500))
        if status < 300:
            outcome.indexed.append(document)
            continue
        error = result.get("error") or {}
        if isinstance(error, str):
            error_type, reason = error, error
        else:
            error_type = str(error.get("type", "unknown"))
            reason = str(error.get("reason", ""))
            caused_by = error.get("caused_by")
            if isinstance(caused_by, Mapping) and caused_by.get("reason"):
                reason = f"{reason} (caused by {caused_by.get('type')}: {caused_by['reason']})"
        kind = classify(status, error_type) or EsUnavailableError
        bucket = outcome.retry if kind.retriable else outcome.rejected
        bucket.append(ItemResult(document, status, kind, error_type, reason))
    return outcome


def whole_request_outcome(
    documents: Sequence[Document], status: int, error_type: str, reason: str
) -> BulkOutcome:
    """Every document shares the fate of a failed request."""
    kind = classify(status, error_type) or EsUnavailableError
    items = [ItemResult(d, status, kind, error_type, reason) for d in documents]
    if kind.retriable:
        return BulkOutcome(retry=items, whole=True)
    return BulkOutcome(rejected=items, whole=True)


def unreachable_outcome(documents: Sequence[Document], exc: Exception) -> BulkOutcome:
    """Every document of a request that got no answer (refused, reset, timed out) is
    retried, counted as a 503."""
    error_type, reason = type(exc).__name__, str(exc) or type(exc).__name__
    items = [ItemResult(d, 503, EsUnreachableError, error_type, reason) for d in documents]
    return BulkOutcome(retry=items, whole=True)


def response_outcome(documents: Sequence[Document], response: Mapping[str, Any]) -> BulkOutcome:
    """Sort a parsed, successful ``_bulk`` response: item by item only when ``errors``."""
    if response.get("errors"):
        return sort_items(documents, response["items"])
    return BulkOutcome(indexed=list(documents))


def error_type_and_reason(answer: object) -> tuple[str, str] | None:
    """``error.type`` and ``error.reason`` of an ES error body (None: not one)."""
    error = answer.get("error") if isinstance(answer, Mapping) else None
    if not isinstance(error, Mapping):
        return None
    return str(error.get("type", "unknown")), str(error.get("reason", ""))


def answer_outcome(documents: Sequence[Document], status: int, body: bytes) -> BulkOutcome:
    """Sort the HTTP answer to a ``_bulk`` request with BULK_FILTER_PATH.

    ES writes ``errors`` first, so an all-indexed answer is recognised by its first bytes
    and its per-item statuses are not parsed (about a microsecond per document).
    """
    if status == 200 and body.startswith(ALL_INDEXED):
        return BulkOutcome(indexed=list(documents))
    try:
        answer = orjson.loads(body)
    except orjson.JSONDecodeError:
        answer = None
    if status == 200 and isinstance(answer, dict):
        return response_outcome(documents, answer)
    described = error_type_and_reason(answer)
    if described is not None:
        error_type, reason = described[0], described[1] or described[0]
    else:
        error_type = http.HTTPStatus(status).phrase if status in _KNOWN_STATUSES else "unknown"
        reason = body[:300].decode("utf-8", "replace") or f"HTTP {status}"
    return whole_request_outcome(documents, status if status >= 300 else 500, error_type, reason)


ALL_INDEXED = b'{"errors":false'
_KNOWN_STATUSES = {s.value for s in http.HTTPStatus}
