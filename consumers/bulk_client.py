"""elasticsearch-py's client as a bulk transport, for an indexer that talks to a cluster.

With several URLs (or sniffing) the library's node pool spreads the bulk requests over the
nodes, sets a node that fails to connect aside, and sends a request that could not reach
its node to another one. The split-phase transport (``reqtrail.consumers.bulk_http``) was no faster
on a 3-node cluster (bench/bench_cluster.py, docs/scaling.md), so a cluster gets the
library's node handling. The request completes inside ``start``; its answer is handed back
in the same (status, body) form as the HTTP transport's, so the indexer sorts both alike.
"""

from __future__ import annotations

import elastic_transport
import elasticsearch
import orjson

from reqtrail.consumers.bulk_http import Answer


class Answered:
    """A bulk request's answer, already here: (status, body), or why no node answered."""

    __slots__ = ("_answer", "_error")

    def __init__(self, answer: Answer | None, error: OSError | None = None) -> None:
        self._answer = answer
        self._error = error

    def ready(self) -> bool:
        return True

    def wait(self) -> Answer:
        if self._error is not None:
            raise self._error
        assert self._answer is not None
        return self._answer


class ClientBulkTransport:
    """``_bulk`` through an ``elasticsearch.Elasticsearch`` client (closed with the transport).

    HTTP statuses are never retried by the client (``retry_on_status=()``): the indexer
    retries them with its own backoff.
    """

    def __init__(self, client: elasticsearch.Elasticsearch) -> None:
        self.client = client

    def start(self, body: bytes, filter_path: str) -> Answered:
        try:
            # the client sends bytes as they are (its serializer passes them through)
            response = self.client.bulk(operations=body, filter_path=filter_path)  # type: ignore[arg-type]
        except elasticsearch.ApiError as exc:  # an HTTP error status for the whole request
            error_body = exc.body
            raw = (
                orjson.dumps(error_body)
                if isinstance(error_body, dict)
                else str(error_body).encode("utf-8", "replace")
            )
            return Answered((exc.meta.status, raw))
        except elastic_transport.TransportError as exc:  # no node could be reached
            return Answered(None, ConnectionError(f"{type(exc).__name__}: {exc}"))
        return Answered((response.meta.status, orjson.dumps(response.body)))

    def close(self) -> None:
        self.client.close()
