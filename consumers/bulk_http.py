"""Thin adapter: ``_bulk`` requests over keep-alive HTTP, written now and answered later.

The indexer's loop thread writes a bulk request itself (``start``) and reads the answer
only after it has polled and decoded the next batch (``PendingResponse.wait``).
Elasticsearch works on the request meanwhile, and no worker thread is involved: a worker
thread would need the GIL back after every socket call, and it would wait up to a
switch interval (5 ms) each time while this thread decodes. Measured with a busy thread
beside it, elasticsearch-py's ``bulk`` lost 35-40% of its throughput that way.

Only what the indexer needs: POST ``/_bulk`` with the settings' URL, auth and TLS, one
connection per request in flight, a timeout per socket operation. Connection failures
and timeouts surface from ``wait`` as ``OSError`` or ``http.client.HTTPException``; an
HTTP error status comes back as it is, with its body.
"""

from __future__ import annotations

import base64
import http.client
import select
import ssl
from urllib.parse import urlsplit

from reqtrail.settings import Settings

Answer = tuple[int, bytes]  # (HTTP status, response body)


class PendingResponse:
    """The answer to one bulk request that was written: ``ready()`` never blocks."""

    def __init__(
        self,
        transport: HttpBulkTransport,
        connection: http.client.HTTPConnection | None,
        error: BaseException | None = None,
    ) -> None:
        self._transport = transport
        self._connection = connection
        self._error = error
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
            raise
        if response.will_close:
            connection.close()
        else:
            self._transport.give_back(connection)
        self._answer = (response.status, body)
        return self._answer


class HttpBulkTransport:
    """Keep-alive connections to one Elasticsearch URL for ``_bulk`` requests."""

    def __init__(
        self,
        url: str,
        *,
        timeout_s: float = 30.0,
        api_key: str = "",
        username: str = "",
        password: str = "",
        ca_certs: str = "",
        verify_certs: bool = True,
    ) -> None:
        parts = urlsplit(url)
        self.scheme = parts.scheme
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or (443 if parts.scheme == "https" else 9200)
        self.path_prefix = parts.path.rstrip("/")
        self.timeout_s = timeout_s
        self.headers = {
            "Content-Type": "application/x-ndjson",
            "Accept": "application/json",
        }
        if api_key:
            self.headers["Authorization"] = f"ApiKey {api_key}"
        elif username:
            token = base64.b64encode(f"{username}:{password}".encode()).decode()
            self.headers["Authorization"] = f"Basic {token}"
        self._tls: ssl.SSLContext | None = None
        if parts.scheme == "https":
            self._tls = ssl.create_default_context(cafile=ca_certs or None)
            if not verify_certs:
                self._tls.check_hostname = False
                self._tls.verify_mode = ssl.CERT_NONE
        self._idle: list[http.client.HTTPConnection] = []

    @classmethod
    def from_settings(cls, settings: Settings) -> HttpBulkTransport:
        return cls(
            settings.es_url,
            timeout_s=settings.es_request_timeout,
            api_key=settings.es_api_key,
            username=settings.es_username,
            password=settings.es_password,
            ca_certs=settings.es_ca_certs,
            verify_certs=settings.es_verify_certs,
        )

    def _connect(self) -> http.client.HTTPConnection:
        if self._tls is not None:
            return http.client.HTTPSConnection(
                self.host, self.port, timeout=self.timeout_s, context=self._tls
            )
        return http.client.HTTPConnection(self.host, self.port, timeout=self.timeout_s)

    def start(self, body: bytes, filter_path: str) -> PendingResponse:
        """Write ``POST /_bulk`` with ``body``; never raises (errors come from ``wait``).

        A kept-alive connection that the server closed while idle is replaced once,
        before anything of this request was answered.
        """
        path = f"{self.path_prefix}/_bulk?filter_path={filter_path}"
        reused = bool(self._idle)
        connection = self._idle.pop() if reused else self._connect()
        for attempt in (1, 2):
            try:
                connection.request("POST", path, body, self.headers)
                return PendingResponse(self, connection)
            except (OSError, http.client.HTTPException) as exc:
                connection.close()
                if not (reused and attempt == 1):
                    return PendingResponse(self, None, exc)
                connection = self._connect()
        raise AssertionError("unreachable")

    def give_back(self, connection: http.client.HTTPConnection) -> None:
        self._idle.append(connection)

    def close(self) -> None:
        while self._idle:
            self._idle.pop().close()
