"""The split-phase ``_bulk`` transport against the real node: write now, read the answer later."""

from __future__ import annotations

import base64
import socket
import time

import pytest

from reqtrail.consumers.bulk_http import HttpBulkTransport
from reqtrail.consumers.errors import EsUnavailableError
from reqtrail.consumers.indexer import BULK_FILTER_PATH, BulkSender
from reqtrail.consumers.setup import ensure_index_template, remove_all
from reqtrail.es import es_client
from reqtrail.settings import Settings
from tests.consumers.conftest import count_docs
from tests.consumers.fakes import make_documents

pytestmark = pytest.mark.integration


def test_bulk_is_answered_after_the_caller_moved_on(settings: Settings) -> None:
    """``start`` returns before ES answers; the documents are indexed once ``result()`` says so,
    and the next request reuses the same kept-alive connection."""
    ensure_index_template(settings)
    transport = HttpBulkTransport.from_settings(settings)
    sender = BulkSender(transport)
    es = es_client(settings)
    try:
        documents = make_documents(300, prefix=settings.index_prefix)
        bulk = sender.start(documents[:200])
        deadline = time.monotonic() + 30
        while not bulk.done():
            assert time.monotonic() < deadline, "no answer within 30 s"
            time.sleep(0.001)
        assert bulk.result().indexed == documents[:200]
        assert len(transport._idle) == 1
        connection = transport._idle[0]
        assert sender.send(documents[200:]).indexed == documents[200:]
        assert transport._idle == [connection]
        assert count_docs(es, settings.index_prefix) == 300
    finally:
        transport.close()
        es.close()
        remove_all(settings)


def test_a_connection_closed_while_idle_is_replaced(settings: Settings) -> None:
    """When the kept-alive socket died while idle, the request goes out on a new connection."""
    ensure_index_template(settings)
    transport = HttpBulkTransport.from_settings(settings)
    sender = BulkSender(transport)
    try:
        documents = make_documents(20, prefix=settings.index_prefix)
        assert sender.send(documents[:10]).indexed == documents[:10]
        idle = transport._idle[0]
        assert idle.sock is not None
        idle.sock.shutdown(socket.SHUT_RDWR)  # as if the server had closed it
        outcome = sender.send(documents[10:])
        assert outcome.indexed == documents[10:] and not outcome.retry
    finally:
        transport.close()
        remove_all(settings)


def test_unreachable_node_becomes_a_retriable_outcome() -> None:
    """A refused connection never raises from ``start``; every document waits for a retry."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # nothing listens here once the probe is closed
    transport = HttpBulkTransport(f"http://127.0.0.1:{port}", timeout_s=2)
    documents = make_documents(3)
    bulk = BulkSender(transport).start(documents)
    assert bulk.done()
    outcome = bulk.result()
    assert not outcome.indexed and len(outcome.retry) == 3
    assert outcome.retry[0].error is EsUnavailableError
    assert outcome.retry[0].error_type == "ConnectionRefusedError"


def test_an_error_status_reaches_the_sorting_with_its_reason(settings: Settings) -> None:
    """A whole-request error (here a malformed body) comes back with ES's own reason."""
    transport = HttpBulkTransport.from_settings(settings)
    try:
        status, body = transport.start(b"this is not ndjson\n", BULK_FILTER_PATH).wait()
    finally:
        transport.close()
    assert status == 400 and b"error" in body


def test_credentials_become_the_authorization_header() -> None:
    """An API key wins over basic auth; basic auth is user:password in base64."""
    keyed = HttpBulkTransport("https://es.example:9243/proxy/", api_key="abc", username="u")
    assert keyed.headers["Authorization"] == "ApiKey abc"
    assert (keyed.host, keyed.port, keyed.path_prefix) == ("es.example", 9243, "/proxy")
    basic = HttpBulkTransport("http://es.example", username="elastic", password="pw")
    expected = base64.b64encode(b"elastic:pw").decode()
    assert basic.headers["Authorization"] == f"Basic {expected}"
    assert basic.port == 9200 and basic.path_prefix == ""
