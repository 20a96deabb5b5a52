"""The indexer's HTTP endpoint (``reqtrail consume --metrics-port P``).

    GET /metrics   Prometheus text format (prometheus-client; OpenMetrics when asked)
    GET /healthz   200 while the loop turns, else 503  (liveness)
    GET /readyz    200 when ready, else 503 with one reason per line  (readiness)

A small threaded WSGI server in a daemon thread: a scrape or probe never waits for the
loop, and the loop never waits for them.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import CollectorRegistry, Gauge, make_wsgi_app

from reqtrail.consumers.probes import Probes, Verdict

StartResponse = Callable[..., Any]


class _ThreadingServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """Scrapes and probes every few seconds are not worth a log line each."""


def health_app(registry: CollectorRegistry, probes: Probes) -> Callable[..., Iterable[bytes]]:
    """The WSGI application serving the three paths."""
    metrics_app = make_wsgi_app(registry)

    def answer(verdict: Verdict, start_response: StartResponse) -> list[bytes]:
        body = verdict.body().encode()
        status = "200 OK" if verdict.ok else "503 Service Unavailable"
        start_response(
            status,
            [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(body)))],
        )
        return [body]

    def app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path == "/metrics":
            return metrics_app(environ, start_response)  # type: ignore[no-any-return]
        if path == "/healthz":
            return answer(probes.liveness(), start_response)
        if path == "/readyz":
            return answer(probes.readiness(), start_response)
        body = b"reqtrail indexer: /metrics, /healthz, /readyz\n"
        start_response("404 Not Found", [("Content-Type", "text/plain; charset=utf-8")])
        return [body]

    return app


class HealthServer:
    """Serves ``health_app`` on ``host:port`` (port 0: any free port) until ``close()``."""

    def __init__(self, registry: CollectorRegistry, probes: Probes, host: str, port: int) -> None:
        Gauge(
            "reqtrail_indexer_ready",
            "1 while /readyz answers ready, else 0.",
            registry=registry,
        ).set_function(lambda: 1.0 if probes.readiness().ok else 0.0)
        try:
            self._server = make_server(
                host,
                port,
                health_app(registry, probes),
                server_class=_ThreadingServer,
                handler_class=_QuietHandler,
            )
        except OSError as exc:
            raise OSError(
                f"--metrics-port {port}: cannot listen on {host}:{port} ({exc.strerror or exc})"
            ) from exc
        self.host = host
        self.port = self._server.server_port
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="reqtrail-metrics", daemon=True
        )

    def start(self) -> HealthServer:
        self._thread.start()
        return self

    def close(self) -> None:
        if self._thread.is_alive():
            self._server.shutdown()  # waits for serve_forever: only when it runs
            self._thread.join(timeout=5)
        self._server.server_close()
