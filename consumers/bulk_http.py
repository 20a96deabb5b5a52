"""Thin adapter: ``_bulk`` requests over keep-alive HTTP, written now and answered later.

The indexer's loop thread writes a bulk request itself (``start``) and reads the answer
only after it has polled and decoded the next batch (``PendingResponse.wait``).
Elasticsearch works on the request meanwhile, and no worker thread is involved: a worker
thread would need the GIL back after every socket call, and it would wait up to a
switch interval (5 ms) each time while this thread decodes. Measured with a busy thread
beside it, elasticsearch-py's ``bulk`` lost 35-40% of its throughput that way.

Only what the indexer needs: POST ``/_bulk`` with the settings' URLs, auth and TLS, one
connection per request in flight, a timeout per socket operation. Connection failures
and timeouts surface from ``wait`` as ``OSError`` or ``http.client.HTTPException``; an
HTTP error status comes back as it is, with its body.

With several nodes (``REQTRAIL_ES_URL`` lists them, or ``REQTRAIL_ES_SNIFF`` finds them),
each request goes to the next live node (consumers.node_pool). A node that refuses the
connection is set aside and the request goes to the next node at once; a node whose
connection breaks before it answers is set aside too, and the whole request comes back
as failed, to be sent again (to another node) like any retriable bulk: the documents keep
their ``_id``s, so what the dead node had already indexed is overwritten, not doubled.
"""

from __future__ import annotations

import base64
import http.client
import select
import ssl
from collections.abc import Sequence

from elastic_transport import BaseNode, NodeConfig

from reqtrail.consumers.node_pool import EsNodes
from reqtrail.settings import Settings

Answer = tuple[int, bytes]  # (HTTP status, response body)


class PendingResponse:
    """The answer to one bulk request that was written: ``ready()`` never blocks."""

    def __init__(
        self,
        transport: HttpBulkTransport,
        connection: http.client.HTTPConnection | None,
        error: BaseException | None = None,
        node: BaseNode | None = None,
    ) -> None:
        self._transport = transport
        self._connection = connection
        self._error = error
        self._node = node
        self._answer: Answer | None = None

    def ready(self) -> bool:
        """True when ``wait`` would not block (the answer or an error has arrived)."""
        connection = self._connection
        if self._answer is not None or self._error is not None or connection is None:
            return True
        sock = connection.sock
        if sock is None:
            return True
        readable, _, _ = select.select([sock], [], [], 0)
        return bool(readable)

    def wait(self) -> Answer:
        """The status and body; raises what the connection raised (refused, reset, timeout)."""
        if self._answer is not None:
            return self._answer
        if self._error is not None:
            raise self._error
        connection = self._connection
        assert connection is not None
        self._connection = None
        try:
            response = connection.getresponse()
            body = response.read()
        except BaseException as exc:
            connection.close()
            self._error = exc
            if self._node is not None and isinstance(exc, OSError | http.client.HTTPException):
                self._transport.node_failed(self._node, exc)
            raise
        if self._node is not None:
            self._transport.nodes.answered(self._node)
        if response.will_close or self._node is None:
            connection.close()
        else:
            self._transport.give_back(self._node.config, connection)
        self._answer = (response.status, body)
        return self._answer


class HttpBulkTransport:
    """Keep-alive connections to the nodes of one Elasticsearch cluster for ``_bulk``
    requests (``url``: one URL or several)."""

    def __init__(
        self,
        url: str | Sequence[str],
        *,
        timeout_s: float = 30.0,
        api_key: str = "",
        username: str = "",
        password: str = "",
        ca_certs: str = "",
        verify_certs: bool = True,
        sniff: bool = False,
        randomize_nodes: bool = True,
    ) -> None:
        urls = [url] if isinstance(url, str) else list(url)
        self.timeout_s = timeout_s
        auth: dict[str, str] = {}
        if api_key:
            auth["Authorization"] = f"ApiKey {api_key}"
        elif username:
            token = base64.b64encode(f"{username}:{password}".encode()).decode()
            auth["Authorization"] = f"Basic {token}"
        self.headers = {"Content-Type": "application/x-ndjson", "Accept": "application/json"}
        self.headers.update(auth)
        self._tls: ssl.SSLContext | None = None
        if any(u.startswith("https") for u in urls):
            self._tls = ssl.create_default_context(cafile=ca_certs or None)
            if not verify_certs:
                self._tls.check_hostname = False
                self._tls.verify_mode = ssl.CERT_NONE
        self._idle: dict[NodeConfig, list[http.client.HTTPConnection]] = {}
        self.nodes = EsNodes(
            urls,
            sniff=sniff,
            headers=auth,
            ca_certs=ca_certs,
            verify_certs=verify_certs,
            randomize=randomize_nodes,
        )

    @classmethod
    def from_settings(cls, settings: Settings) -> HttpBulkTransport:
        return cls(
            settings.es_urls,
            timeout_s=settings.es_request_timeout,
            api_key=settings.es_api_key,
            username=settings.es_username,
            password=settings.es_password,
            ca_certs=settings.es_ca_certs,
            verify_certs=settings.es_verify_certs,
            sniff=settings.es_sniff,
        )

    def _connect(self, node: NodeConfig) -> http.client.HTTPConnection:
        if node.scheme == "https":
            return http.client.HTTPSConnection(
                node.host, node.port, timeout=self.timeout_s, context=self._tls
            )
        return http.client.HTTPConnection(node.host, node.port, timeout=self.timeout_s)

    def start(self, body: bytes, filter_path: str) -> PendingResponse:
        """Write ``POST /_bulk`` with ``body`` to the next live node; never raises (errors
        come from ``wait``). A node that refuses the connection is set aside and the next
        one is tried, each node once at most."""
        error: BaseException | None = None
        for _ in range(len(self.nodes)):
            node = self.nodes.pick()
            try:
                connection = self._write(node.config, body, filter_path)
            except (OSError, http.client.HTTPException) as exc:
                self.node_failed(node, exc)
                error = exc
                continue
            return PendingResponse(self, connection, node=node)
        return PendingResponse(self, None, error)

    def _write(self, node: NodeConfig, body: bytes, filter_path: str) -> http.client.HTTPConnection:
        """The connection ``POST /_bulk`` was written on. A kept-alive connection that the
        server closed while idle is replaced once, before anything was answered."""
        path = f"{node.path_prefix}/_bulk?filter_path={filter_path}"
        idle = self._idle.get(node)
        reused = bool(idle)
        connection = idle.pop() if idle else self._connect(node)
        for attempt in (1, 2):
            try:
                connection.request("POST", path, body, self.headers)
                return connection
            except (OSError, http.client.HTTPException):
                connection.close()
                if not (reused and attempt == 1):
                    raise
                connection = self._connect(node)
        raise AssertionError("unreachable")

    def node_failed(self, node: BaseNode, error: BaseException) -> None:
        """Set ``node`` aside and drop its kept-alive connections (they died with it)."""
        for connection in self._idle.pop(node.config, []):
            connection.close()
        self.nodes.failed(node, error)

    def give_back(self, node: NodeConfig, connection: http.client.HTTPConnection) -> None:
        self._idle.setdefault(node, []).append(connection)

    def idle_connections(self) -> list[http.client.HTTPConnection]:
        return [connection for idle in self._idle.values() for connection in idle]

    def close(self) -> None:
        for idle in self._idle.values():
            while idle:
                idle.pop().close()
