"""Errors of the indexer; each says whether retrying can help (``retriable``).

Retriable errors never send a record to the dead-letter topic: the consumer keeps the
record, pauses its partitions and tries again later. Non-retriable ones concern a single
record (it cannot be decoded, violates the schema, or Elasticsearch rejects the document)
and send that record to the dead-letter topic.
"""

from __future__ import annotations


class IndexerError(Exception):
    """Base class of the indexer's errors."""

    retriable: bool = False


class RetriableError(IndexerError):
    """Trying again later can succeed; the record is kept and retried."""

    retriable = True


class EsThrottledError(RetriableError):
    """Elasticsearch answered 429 (write queue full, indexing pressure, flood-stage disk)."""


class EsUnavailableError(RetriableError):
    """Elasticsearch is unreachable, timed out, or answered 5xx."""


class EsUnreachableError(EsUnavailableError):
    """No answer from Elasticsearch: connection refused or reset, or a timeout."""


class IndexWriteBlockedError(RetriableError):
    """The target index refuses writes (``index.blocks.write``, read-only); lift the block."""


class IndexMissingError(RetriableError):
    """The target index does not exist and may not be auto-created; fix the cluster settings."""


class DeadLetterError(RetriableError):
    """A record could not be written to the dead-letter topic (Kafka unavailable)."""


class PoisonRecordError(IndexerError):
    """A record cannot be decoded or violates the schema; it goes to the dead-letter topic."""


class DocumentRejectedError(IndexerError):
    """Elasticsearch rejected one document for good (e.g. a mapping error); dead-lettered."""


class StartupError(IndexerError):
    """The indexer cannot start; the one-line message says what to fix."""


class SetupMissingError(StartupError):
    """Something ``reqtrail setup`` creates is missing: a topic, the index template or the
    read alias. The message names it and says to run ``reqtrail setup``."""
