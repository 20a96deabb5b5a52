"""Unit tests of chunking, result sorting, backoff and retries (fake bulk client)."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable

import elastic_transport
import pytest

from reqtrail.consumers.errors import (
    DocumentRejectedError,
    EsThrottledError,
    EsUnavailableError,
    IndexWriteBlockedError,
)
from reqtrail.consumers.indexer import (
    Backoff,
    BulkSender,
    RetriesAbandoned,
    chunks,
    settle,
    streaming_index,
)
from reqtrail.consumers.results import answer_outcome, classify, sort_items
from tests.consumers.fakes import FailingBulkClient, api_error, make_documents


def no_wait(delay: float) -> bool:
    return True


def test_chunks_close_on_count_and_bytes() -> None:
    """A chunk closes at max_count documents or before exceeding max_bytes."""
    documents = make_documents(10)
    assert [len(c) for c in chunks(documents, 4, 10**9)] == [4, 4, 2]
    limit = sum(d.nbytes for d in documents[:3])
    by_bytes = list(chunks(documents, 100, limit))
    assert len(by_bytes[0]) == 3 and sum(len(c) for c in by_bytes) == 10
    for chunk, following in zip(by_bytes, by_bytes[1:], strict=False):
        size = sum(d.nbytes for d in chunk)
        assert size <= limit < size + following[0].nbytes
    assert [len(c) for c in chunks(documents[:2], 100, 1)] == [1, 1]  # oversized alone


@pytest.mark.parametrize(
    ("status", "error_type", "expected"),
    [
        (201, "", None),
        (429, "es_rejected_execution_exception", EsThrottledError),
        (503, "unavailable_shards_exception", EsUnavailableError),
        (500, "whatever", EsUnavailableError),
        (403, "cluster_block_exception", IndexWriteBlockedError),
        (400, "document_parsing_exception", DocumentRejectedError),
        (409, "version_conflict_engine_exception", DocumentRejectedError),
    ],
)
def test_classify_says_what_is_retriable(
    status: int, error_type: str, expected: type[Exception] | None
) -> None:
    """429, 5xx and write blocks are retriable; mapping errors and other 4xx are not."""
    assert classify(status, error_type) is expected


def test_sort_items_keeps_the_original_document_with_each_error() -> None:
    """Per-item results land in indexed / retry / rejected with their documents."""
    documents = make_documents(4)
    items = [
        {"index": {"status": 201}},
        {"index": {"status": 429, "error": {"type": "es_rejected_execution_exception"}}},
        {"index": {"status": 400, "error": {"type": "document_parsing_exception", "reason": "x"}}},
        {"index": {"status": 200}},
    ]
    outcome = sort_items(documents, items)
    assert outcome.indexed == [documents[0], documents[3]]
    assert [r.document for r in outcome.retry] == [documents[1]]
    assert [r.document for r in outcome.rejected] == [documents[2]]
    assert outcome.rejected[0].error is DocumentRejectedError
    assert "document_parsing_exception" in outcome.rejected[0].describe()


def test_backoff_grows_exponentially_with_jitter_up_to_the_cap() -> None:
    """Delays double from the base, stay within [d/2, d] and never exceed the cap."""
    low = Backoff(0.1, 1.0, rng=lambda: 0.0)
    assert [round(low.next_delay(), 3) for _ in range(6)] == [0.05, 0.1, 0.2, 0.4, 0.5, 0.5]
    high = Backoff(0.1, 1.0, rng=lambda: 1.0)
    assert [round(high.next_delay(), 3) for _ in range(6)] == [0.1, 0.2, 0.4, 0.8, 1.0, 1.0]
    high.reset()
    assert high.next_delay() == pytest.approx(0.1)


def test_only_throttled_items_are_retried_and_none_is_lost() -> None:
    """Per-item 429s in an otherwise successful response are re-sent alone, then indexed."""
    documents = make_documents(50)
    throttled = {d.doc_id for d in documents[::3]}

    def status(call: int, doc_id: str) -> int | tuple[int, str]:
        if call <= 2 and doc_id in throttled:
            return 429, "es_rejected_execution_exception"
        return 201

    client = FailingBulkClient(item_status=status)
    results = list(
        streaming_index(BulkSender(client), documents, backoff=Backoff(0.01, 0.1), wait=no_wait)
    )
    assert all(ok for ok, _ in results)
    assert sorted(r.document.doc_id for _, r in results) == sorted(d.doc_id for d in documents)
    assert client.sent_ids[1] == client.sent_ids[2] == [d.doc_id for d in documents[::3]]
    assert client.calls == 3 and set(client.stored) == {d.doc_id for d in documents}


def test_whole_request_failures_retry_the_whole_chunk() -> None:
    """Connection errors and whole-request 429/503 retry every document of the chunk."""
    documents = make_documents(5)
    client = FailingBulkClient(
        fail_on={
            1: elastic_transport.ConnectionError("connection refused"),
            2: api_error(429, "es_rejected_execution_exception"),
            3: api_error(503, "master_not_discovered_exception"),
        }
    )
    waits: list[float] = []

    def wait(delay: float) -> bool:
        waits.append(delay)
        return True

    results = list(streaming_index(BulkSender(client), documents, wait=wait))
    assert [ok for ok, _ in results] == [True] * 5
    assert client.calls == 4 and len(waits) == 3
    assert waits[0] < waits[2]  # exponential


def test_rejected_items_are_yielded_with_their_data_and_not_retried() -> None:
    """A mapping error is yielded as (False, result) with the original document, sent once."""
    documents = make_documents(3)
    bad = documents[1].doc_id
    client = FailingBulkClient(
        item_status=lambda call, doc_id: (
            (400, "document_parsing_exception") if doc_id == bad else 201
        )
    )
    results = list(streaming_index(BulkSender(client), documents, wait=no_wait))
    failed = [r for ok, r in results if not ok]
    assert [r.document for r in failed] == [documents[1]]
    assert failed[0].status == 400 and not failed[0].retriable
    assert client.calls == 1


def test_write_blocked_index_is_retried_with_a_clear_error_each_time(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """403 cluster_block_exception is held and retried, logging an error on every retry."""
    documents = make_documents(4)
    client = FailingBulkClient(
        item_status=lambda call, doc_id: (403, "cluster_block_exception") if call <= 3 else 201
    )
    with caplog.at_level(logging.ERROR, logger="reqtrail.indexer"):
        results = list(streaming_index(BulkSender(client), documents, wait=no_wait))
    assert all(ok for ok, _ in results) and client.calls == 4
    # One error per blocked index on each retry (the documents may span two daily indices).
    blocked = [r.getMessage() for r in caplog.records if "refuses writes" in r.getMessage()]
    assert {re.search(r"retry (\d+)", m).group(1) for m in blocked} == {"1", "2", "3"}  # type: ignore[union-attr]
    assert all("index.blocks.write" in m for m in blocked)


def test_giving_up_raises_and_yields_nothing_for_held_documents() -> None:
    """When wait() returns False (shutdown), held documents are neither ok nor failed."""
    documents = make_documents(3)
    client = FailingBulkClient(item_status=lambda call, doc_id: 503)
    seen: list[bool] = []
    with pytest.raises(RetriesAbandoned):
        for ok, _ in streaming_index(BulkSender(client), documents, wait=lambda d: False):
            seen.append(ok)
    assert seen == [] and client.calls == 1


def test_unwanted_documents_are_dropped_from_the_retry() -> None:
    """Documents whose partition was revoked are not retried."""
    documents = make_documents(4)
    client = FailingBulkClient(item_status=lambda call, doc_id: 429 if call == 1 else 201)
    sender = BulkSender(client)
    keep = {documents[0].doc_id}
    results = list(
        settle(
            sender.send(documents),
            sender.send,
            Backoff(0.01, 0.1),
            wait=no_wait,
            wanted=lambda d: d.doc_id in keep,
        )
    )
    assert [r.document.doc_id for _, r in results] == [documents[0].doc_id]
    assert client.sent_ids[1] == [documents[0].doc_id]


def test_http_answers_sort_like_client_answers() -> None:
    """A raw ``_bulk`` answer sorts as elasticsearch-py's would: all indexed by its first
    bytes, per-item errors item by item, an error status for the whole request."""
    documents = make_documents(2)
    ok = b'{"errors":false,"items":[{"index":{"status":201}},{"index":{"status":201}}]}'
    assert answer_outcome(documents, 200, ok).indexed == documents
    mixed = (
        b'{"errors":true,"items":[{"index":{"status":201}},'
        b'{"index":{"status":429,"error":{"type":"es_rejected_execution_exception"}}}]}'
    )
    outcome = answer_outcome(documents, 200, mixed)
    assert outcome.indexed == documents[:1] and outcome.retry[0].error is EsThrottledError
    blocked = b'{"error":{"type":"cluster_block_exception","reason":"blocked"},"status":403}'
    outcome = answer_outcome(documents, 403, blocked)
    assert [r.error for r in outcome.retry] == [IndexWriteBlockedError] * 2
    assert outcome.retry[0].reason == "blocked"
    proxy = answer_outcome(documents, 502, b"<html>Bad Gateway</html>")
    assert proxy.retry[0].status == 502 and "Bad Gateway" in proxy.retry[0].reason
    mapping = b'{"error":{"type":"illegal_argument_exception","reason":"bad"},"status":400}'
    assert answer_outcome(documents, 400, mapping).rejected[0].error is DocumentRejectedError


def _validation_error_for(bad: set[str]) -> Callable[[list[str]], Exception | None]:
    """ES's answer to a bulk holding an _id over 512 bytes: 400 for the whole request."""

    def whole_error(ids: list[str]) -> Exception | None:
        at_fault = [i for i in ids if i in bad]
        if not at_fault:
            return None
        reason = "Validation Failed: " + " ".join(
            f"{n}: id [{i}] is too long;" for n, i in enumerate(at_fault, 1)
        )
        return api_error(400, "action_request_validation_exception", reason)

    return whole_error


def test_a_bulk_rejected_as_a_whole_is_split_until_the_bad_documents_stand_alone() -> None:
    """Two bad documents among 1,000 make ES reject the whole bulk: bisecting indexes the
    998 others and rejects only the two, each with the reason ES gave for it alone."""
    documents = make_documents(1000)
    bad = {documents[10].doc_id, documents[777].doc_id}
    client = FailingBulkClient(whole_error=_validation_error_for(bad))
    sender = BulkSender(client)
    results = list(settle(sender.send(documents), sender.send, Backoff(0, 0), no_wait))
    ok = [r.document.doc_id for good, r in results if good]
    rejected = [r for good, r in results if not good]
    assert len(ok) == 998 and set(client.stored) == set(ok) and not bad & set(ok)
    assert sorted(r.document.doc_id for r in rejected) == sorted(bad)
    for result in rejected:
        assert result.status == 400 and result.error is DocumentRejectedError
        assert f"1: id [{result.document.doc_id}] is too long" in result.reason
        assert "2: id" not in result.reason  # its own reason, not the whole bulk's
    assert client.calls <= 1 + 2 * 2 * 10  # about 2 log2(n) requests per bad document


def test_only_validation_and_size_rejections_are_split() -> None:
    """A 401 for the whole request is no document's fault: it is not split."""
    documents = make_documents(8)
    client = FailingBulkClient(fail_on={1: api_error(401, "security_exception")})
    sender = BulkSender(client)
    results = list(settle(sender.send(documents), sender.send, Backoff(0, 0), no_wait))
    assert client.calls == 1 and len(results) == 8 and not any(ok for ok, _ in results)


def test_a_split_half_that_is_throttled_is_retried_not_dead_lettered() -> None:
    """While a rejected bulk is split, a half answered 429 is retried like any other."""
    documents = make_documents(4)
    bad = {documents[0].doc_id}
    client = FailingBulkClient(
        fail_on={3: api_error(429, "es_rejected_execution_exception")},
        whole_error=_validation_error_for(bad),
    )
    sender = BulkSender(client)
    results = list(settle(sender.send(documents), sender.send, Backoff(0, 0), no_wait))
    assert sorted(r.document.doc_id for ok, r in results if ok) == sorted(
        d.doc_id for d in documents[1:]
    )
    assert [r.document.doc_id for ok, r in results if not ok] == [documents[0].doc_id]
