"""Stage 3c: a bulk rejected as a whole is split until the documents at fault stand alone.

Elasticsearch answers some bulks with one error for the whole request, although a
single document is at fault: an ``_id`` over 512 bytes fails validation for all 1,000
(400 ``action_request_validation_exception``). Dead-lettering them all under that
reason would lose 999 good documents to the dead-letter topic; bisecting finds the one.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

from reqtrail.consumers.results import BulkOutcome
from reqtrail.consumers.types import Document

log = logging.getLogger("reqtrail.indexer")

# Whole-request answers that can come from what one document holds: a validation error
# such as an ``_id`` over 512 bytes (400), or a body over http.max_content_length (413).
SPLIT_STATUSES = frozenset({400, 413})


def isolate_rejected(
    outcome: BulkOutcome, send: Callable[[Sequence[Document]], BulkOutcome]
) -> BulkOutcome:
    """Split a bulk that ES rejected as a whole (400, 413) until each failing document
    stands alone.

    The halves are sent again, and halves rejected as a whole are split again, so only
    the documents at fault stay rejected, each with the reason ES gave for it alone; the
    others end indexed (or to be retried). One bad document among 1,000 costs about
    20 more requests, and this only runs on such a rejection: other outcomes come back
    as they are.
    """
    if not _rejected_as_a_whole(outcome):
        return outcome
    sample = outcome.rejected[0]
    log.warning(
        "a bulk of %d documents was rejected as a whole (%s); splitting it to find the "
        "documents at fault",
        len(outcome.rejected), sample.describe()[:300],
    )  # fmt: skip
    isolated = _bisect([item.document for item in outcome.rejected], send)
    isolated.latency_s = outcome.latency_s
    log.warning(
        "split bulk: %d indexed, %d rejected on their own, %d to retry",
        len(isolated.indexed), len(isolated.rejected), len(isolated.retry),
    )  # fmt: skip
    return isolated


def _rejected_as_a_whole(outcome: BulkOutcome) -> bool:
    return (
        outcome.whole and len(outcome.rejected) > 1 and outcome.rejected[0].status in SPLIT_STATUSES
    )


def _bisect(
    documents: Sequence[Document], send: Callable[[Sequence[Document]], BulkOutcome]
) -> BulkOutcome:
    merged = BulkOutcome()
    middle = len(documents) // 2
    for half in (documents[:middle], documents[middle:]):
        outcome = send(half)
        if _rejected_as_a_whole(outcome):
            outcome = _bisect([item.document for item in outcome.rejected], send)
        merged.indexed.extend(outcome.indexed)
        merged.retry.extend(outcome.retry)
        merged.rejected.extend(outcome.rejected)
    return merged
