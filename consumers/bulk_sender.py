"""Stage 3: send documents to Elasticsearch in bulk and sort the results (consumers.results).

Three steps, as in elasticsearch-py's ``streaming_bulk``: chunk (count/bytes), send one
``_bulk`` request, sort every item into indexed / retry / rejected. Only retryable items
are sent again (429 and 5xx per item, write-blocked indices, and whole-request 429/5xx/
connection failures), after a capped exponential backoff with jitter; they are never
dropped or dead-lettered for being throttled. Rejected items (mapping errors and other
4xx) carry their original document so the caller can dead-letter them.
"""

from __future__ import annotations

import http.client
import logging
import random
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence

from reqtrail.consumers.bulk_http import BulkTransport, PendingAnswer
from reqtrail.consumers.documents import bulk_body
from reqtrail.consumers.errors import IndexWriteBlockedError, RetriableError
from reqtrail.consumers.isolate import isolate_rejected
from reqtrail.consumers.results import (
    BulkOutcome,
    answer_outcome,
    unreachable_outcome,
)
from reqtrail.consumers.types import Document

log = logging.getLogger("reqtrail.indexer")

# Only what sorting needs: successful items shrink to {"index": {"status": 201}}.
BULK_FILTER_PATH = "errors,items.*.status,items.*.error"


class InFlightBulk:
    """One bulk request on its way: ``done()`` never blocks, ``result()`` waits and sorts."""

    __slots__ = ("_sender", "documents", "_pending", "_started", "_outcome")

    def __init__(
        self,
        sender: BulkSender,
        documents: Sequence[Document],
        pending: PendingAnswer | None,
        started: float,
        outcome: BulkOutcome | None = None,
    ) -> None:
        self._sender = sender
        self.documents = documents
        self._pending = pending
        self._started = started
        self._outcome = outcome

    def done(self) -> bool:
        return self._outcome is not None or self._pending is None or self._pending.ready()

    def result(self) -> BulkOutcome:
        if self._outcome is None:
            assert self._pending is not None
            try:
                status, body = self._pending.wait()
            except (OSError, http.client.HTTPException) as exc:  # refused, reset, timeout
                outcome = unreachable_outcome(self.documents, exc)
            else:
                outcome = answer_outcome(self.documents, status, body)
            self._outcome = self._sender.finished(outcome, self._started)
        return self._outcome


class BulkSender:
    """Sends one batch as a ``_bulk`` request and sorts the answer; never raises for ES.

    ``start`` returns as soon as the request is written; ``InFlightBulk.result()`` reads
    the answer (``reqtrail.consumers.bulk_http``).
    """

    def __init__(
        self,
        transport: BulkTransport,
        on_outcome: Callable[[BulkOutcome], None] | None = None,
    ) -> None:
        self.transport = transport
        self.on_outcome = on_outcome

    def start(self, documents: Sequence[Document], body: bytes | None = None) -> InFlightBulk:
        """Send ``documents``; ``body``, when given, is their ``bulk_body`` built beforehand."""
        started = time.perf_counter()
        if not documents:
            return InFlightBulk(self, documents, None, started, BulkOutcome())
        if body is None:
            body = bulk_body(documents)
        return InFlightBulk(self, documents, self.transport.start(body, BULK_FILTER_PATH), started)

    def send(self, documents: Sequence[Document]) -> BulkOutcome:
        """``start`` and wait for the outcome."""
        return self.start(documents).result()

    def finished(self, outcome: BulkOutcome, started: float) -> BulkOutcome:
        outcome.latency_s = time.perf_counter() - started
        if self.on_outcome is not None:
            self.on_outcome(outcome)
        return outcome


class Backoff:
    """Capped exponential delay with jitter: half fixed, half random ("equal jitter")."""

    def __init__(
        self, base_s: float, cap_s: float, rng: Callable[[], float] = random.random
    ) -> None:
        self.base_s = base_s
        self.cap_s = cap_s
        self.rng = rng
        self.attempts = 0

    def next_delay(self) -> float:
        ceiling = min(self.cap_s, self.base_s * float(2 ** min(self.attempts, 30)))
        self.attempts += 1
        return ceiling / 2 + self.rng() * ceiling / 2

    def reset(self) -> None:
        self.attempts = 0


def sleep_then_continue(delay: float) -> bool:
    """The plain ``wait`` of ``settle``: sleep, then keep retrying."""
    time.sleep(delay)
    return True


class RetriesAbandoned(RetriableError):
    """The caller stopped waiting (shutdown); the held documents are not finished."""


def retry_until_settled(
    outcome: BulkOutcome,
    send: Callable[[Sequence[Document]], BulkOutcome],
    backoff: Backoff,
    wait: Callable[[float], bool] = sleep_then_continue,
    wanted: Callable[[Document], bool] = lambda document: True,
) -> Iterator[BulkOutcome]:
    """Yield ``outcome``, then the outcome of each retry of its retryable items, until none
    is left: only ``indexed`` and ``rejected`` of the yielded outcomes are final.

    ``wait(delay)`` sleeps between attempts (the consumer polls Kafka with its partitions
    paused meanwhile) and returns False to give up, which raises RetriesAbandoned. Items
    no longer ``wanted`` (their partition was revoked) are dropped from the retry. A bulk
    rejected as a whole is split first (``isolate_rejected``).
    """
    while True:
        outcome = isolate_rejected(outcome, send)
        yield outcome
        if not outcome.retry:
            backoff.reset()
            return
        delay = backoff.next_delay()
        log_retry(outcome, delay, backoff.attempts)
        if not wait(delay):
            raise RetriesAbandoned(f"gave up retrying {len(outcome.retry)} documents")
        held = [item.document for item in outcome.retry if wanted(item.document)]
        if not held:
            return
        outcome = send(held)


def log_retry(outcome: BulkOutcome, delay: float, attempt: int) -> None:
    """One clear line per retry; write-blocked indices are logged as errors with the fix."""
    held = len(outcome.retry)
    total = held + len(outcome.indexed) + len(outcome.rejected)
    groups = Counter(
        (item.error, item.status, item.error_type, item.document.index) for item in outcome.retry
    )
    for (kind, status, error_type, index), count in groups.most_common(3):
        sample = next(i for i in outcome.retry if i.error is kind and i.document.index == index)
        if kind is IndexWriteBlockedError:
            log.error(
                "index %s refuses writes (%s %s: %s); %d documents held, retry %d in %.1f s. "
                'Lift the block: PUT /%s/_settings {"index.blocks.write": null}',
                index, status, error_type, sample.reason, count, attempt, delay, index,
            )  # fmt: skip
        else:
            name = kind.__name__ if kind else "error"
            log.warning(
                "%s: %d of %d documents not indexed (%s %s: %s); retry %d in %.1f s",
                name, count, total, status, error_type, sample.reason[:300], attempt, delay,
            )  # fmt: skip
