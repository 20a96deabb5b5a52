"""Types shared by the indexer's stages: source messages, documents and dead letters."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol

if TYPE_CHECKING:
    from reqtrail.consumers.offsets import PartitionProgress

Headers = Sequence[tuple[str, bytes | None]]
DeadLetterKind = Literal["undecodable", "schema", "timestamp", "rejected"]


class RequestSeries(Protocol):
    """Where the DocumentBuilder finds a record's request-metrics series (an opaque object)
    by the hash of the tuple (service, environment, route, method, status, app_version) as
    decoded: ``known[hash(labels)]``, else ``new(labels)`` (see consumers.request_metrics).
    ``known`` is one mapping for the object's life: the builder keeps it."""

    @property
    def known(self) -> Mapping[int, Any]: ...

    def new(self, labels: tuple[object, ...]) -> Any: ...


class SourceMessage(Protocol):
    """What the indexer reads from a Kafka record (kafka-python's ConsumerRecord fits)."""

    @property
    def topic(self) -> str: ...
    @property
    def partition(self) -> int: ...
    @property
    def offset(self) -> int: ...
    @property
    def timestamp(self) -> int: ...
    @property
    def key(self) -> bytes | None: ...
    @property
    def value(self) -> bytes | None: ...
    @property
    def headers(self) -> Headers: ...


@dataclass(frozen=True, slots=True)
class Message:
    """A concrete SourceMessage, for tests and for records read back from the DLQ."""

    topic: str
    partition: int
    offset: int
    value: bytes | None
    key: bytes | None = None
    headers: Headers = ()
    timestamp: int = 0


class Document:
    """One bulk ``index`` action: the action line and the JSON source, plus where it came from.

    ``source`` is the record's original bytes whenever they are a single JSON line, so the
    bulk body is built without re-serializing the record. ``request`` (the record's series
    in consumers.request_metrics) and ``latency_ms`` are set only when request metrics
    are wanted.
    """

    __slots__ = (
        "index", "doc_id", "action", "source", "message", "progress", "request", "latency_ms"
    )  # fmt: skip

    def __init__(
        self,
        index: str,
        doc_id: str,
        action: bytes,
        source: bytes,
        message: SourceMessage,
        progress: PartitionProgress | None = None,
        request: Any = None,
        latency_ms: float = 0.0,
    ) -> None:
        self.index = index
        self.doc_id = doc_id
        self.action = action
        self.source = source
        self.message = message
        self.progress = progress
        self.request = request
        self.latency_ms = latency_ms

    @property
    def nbytes(self) -> int:
        """Bytes this document adds to a bulk body."""
        return len(self.action) + len(self.source) + 1

    def __repr__(self) -> str:
        return f"Document({self.index}/{self.doc_id} from {_where(self.message)})"


@dataclass(slots=True)
class DeadLetter:
    """A record that cannot be indexed, with the reason, bound for the dead-letter topic."""

    message: SourceMessage
    kind: DeadLetterKind
    reason: str
    progress: PartitionProgress | None = field(default=None, repr=False)

    def describe(self) -> str:
        return f"{self.kind} record at {_where(self.message)}: {self.reason}"


def _where(message: SourceMessage) -> str:
    return f"{message.topic}[{message.partition}]@{message.offset}"
