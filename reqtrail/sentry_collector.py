"""A local stand-in for Sentry's ingestion and issue search, for the demo and for tests.

sentry-sdk sends real envelopes here (``SENTRY_DSN=http://key@127.0.0.1:<port>/1``); the
collector keeps the newest events in memory and answers the two links the dashboard makes:
``/issues/?query=<event_id>`` and ``/issues/?query=request_id:"<id>"`` (JSON, or a small
HTML page for browsers). ``/stats`` counts what arrived. Loopback only; nothing persists.

    python -m reqtrail.sentry_collector --port 9400
"""

from __future__ import annotations

import argparse
import gzip
import html
import json
import signal
import threading
import zlib
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse


def decode_body(raw: bytes, content_encoding: str) -> bytes:
    """Undo the Content-Encoding sentry-sdk used (br, gzip, deflate, or none).

    sentry-sdk compresses with brotli only when the ``brotli`` module is importable, so it
    is importable here whenever a body arrives encoded that way.
    """
    if content_encoding == "br":
        import brotli  # type: ignore[import-not-found, unused-ignore]

        return bytes(brotli.decompress(raw))
    if content_encoding == "gzip":
        return gzip.decompress(raw)
    if content_encoding == "deflate":
        return zlib.decompress(raw)
    return raw


def parse_envelope(body: bytes) -> list[dict[str, Any]]:
    """The event payloads of one envelope: a header line, then item header/payload pairs."""
    events: list[dict[str, Any]] = []
    pos = body.find(b"\n") + 1 if b"\n" in body else len(body)
    while pos < len(body):
        line_end = body.find(b"\n", pos)
        line_end = len(body) if line_end < 0 else line_end
        header_line = body[pos:line_end].strip()
        pos = line_end + 1
        if not header_line:
            continue
        item_header = json.loads(header_line)
        length = item_header.get("length")
        if length is None:
            payload_end = body.find(b"\n", pos)
            payload_end = len(body) if payload_end < 0 else payload_end
        else:
            payload_end = pos + int(length)
        payload = body[pos:payload_end]
        pos = payload_end + 1
        if item_header.get("type") == "event" and payload.strip():
            events.append(json.loads(payload))
    return events


def event_tags(event: dict[str, Any]) -> dict[str, str]:
    tags = event.get("tags") or {}
    if isinstance(tags, list):  # sentry-sdk may send [[key, value], ...]
        return {str(k): str(v) for k, v in tags}
    return {str(k): str(v) for k, v in tags.items()}


def matches(event: dict[str, Any], query: str) -> bool:
    """Sentry-like search: an event ID, or ``tag:"value"`` / ``tag:value``."""
    query = query.strip()
    key, sep, value = query.partition(":")
    if sep and key.replace(".", "_").isidentifier():
        wanted = value.strip().strip('"').replace('\\"', '"').replace("\\\\", "\\")
        if key == "user.id":
            return str((event.get("user") or {}).get("id")) == wanted
        return event_tags(event).get(key) == wanted
    return str(event.get("event_id", "")).replace("-", "") == query.replace("-", "")


class EventStore:
    """The newest events, thread-safe."""

    def __init__(self, keep: int = 5000) -> None:
        self._events: deque[dict[str, Any]] = deque(maxlen=keep)
        self._lock = threading.Lock()
        self.received = 0

    def add(self, events: list[dict[str, Any]]) -> None:
        with self._lock:
            self._events.extend(events)
            self.received += len(events)

    def search(self, query: str) -> list[dict[str, Any]]:
        with self._lock:
            return [e for e in reversed(self._events) if matches(e, query)]


def make_handler(store: EventStore) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:  # quiet
            return

        def _reply(self, status: int, body: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self) -> None:  # noqa: N802 - http.server's naming
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length)
            if not urlparse(self.path).path.rstrip("/").endswith("/envelope"):
                self._reply(404, b"{}", "application/json")
                return
            try:
                body = decode_body(raw, self.headers.get("Content-Encoding", ""))
                store.add(parse_envelope(body))
            except (ValueError, OSError, zlib.error) as exc:
                self._reply(400, json.dumps({"detail": str(exc)}).encode(), "application/json")
                return
            self._reply(200, b"{}", "application/json")

        def do_GET(self) -> None:  # noqa: N802
            url = urlparse(self.path)
            if url.path == "/stats":
                stats = {"received": store.received}
                self._reply(200, json.dumps(stats).encode(), "application/json")
                return
            if url.path.rstrip("/") != "/issues":
                self._reply(404, b"not found", "text/plain")
                return
            query = parse_qs(url.query).get("query", [""])[0]
            found = store.search(query) if query else []
            if "text/html" in self.headers.get("Accept", ""):
                self._reply(200, render_html(query, found).encode(), "text/html; charset=utf-8")
            else:
                self._reply(200, json.dumps(found).encode(), "application/json")

    return Handler


def render_html(query: str, events: list[dict[str, Any]]) -> str:
    parts = [f"<h1>Local Sentry: {len(events)} event(s) for {html.escape(query)}</h1>"]
    for event in events:
        exc = ((event.get("exception") or {}).get("values") or [{}])[-1]
        parts.append(
            "<section><h2>{}: {}</h2><p>event {} &middot; user {} &middot; tags {}</p>"
            "<pre>{}</pre></section>".format(
                html.escape(str(exc.get("type", "event"))),
                html.escape(str(exc.get("value", ""))),
                html.escape(str(event.get("event_id"))),
                html.escape(str((event.get("user") or {}).get("id"))),
                html.escape(json.dumps(event_tags(event))),
                html.escape(json.dumps(exc.get("stacktrace", {}), indent=1)[:20000]),
            )
        )
    return "<!doctype html><meta charset=utf-8><title>Local Sentry</title>" + "".join(parts)


def serve(host: str, port: int, store: EventStore | None = None) -> ThreadingHTTPServer:
    """A started collector (in a daemon thread); ``server_address`` has the real port."""
    server = ThreadingHTTPServer((host, port), make_handler(store or EventStore()))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9400)
    args = parser.parse_args(argv)
    server = ThreadingHTTPServer((args.host, args.port), make_handler(EventStore()))
    print(f"local Sentry collector on http://{args.host}:{args.port}", flush=True)
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
