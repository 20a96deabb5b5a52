"""Which client the indexer sends its bulks through, and a node that refuses connections."""

from __future__ import annotations

import logging
import socket

import pytest

from reqtrail.consumers.bulk_client import ClientBulkTransport
from reqtrail.consumers.bulk_http import HttpBulkTransport
from reqtrail.consumers.bulk_sender import BulkSender
from reqtrail.consumers.clients import indexer_bulk_transport
from reqtrail.consumers.setup import ensure_index_template, remove_indices
from reqtrail.settings import Settings, load_settings
from tests.consumers.fakes import make_documents


def closed_port() -> int:
    """A port nothing listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_one_url_gets_the_split_phase_transport_and_several_the_client_pool() -> None:
    """A single URL is the split-phase transport; several URLs are elasticsearch-py's client
    with a node per URL."""
    one = load_settings(environ={"REQTRAIL_ES_URL": "http://127.0.0.1:9200"})
    assert isinstance(indexer_bulk_transport(one), HttpBulkTransport)
    three = one.replace(es_url="http://a:9200,http://b:9200,http://c:9200")
    transport = indexer_bulk_transport(three)
    assert isinstance(transport, ClientBulkTransport)
    assert sorted(n.base_url for n in transport.client.transport.node_pool.all()) == [
        "http://a:9200",
        "http://b:9200",
        "http://c:9200",
    ]


@pytest.mark.integration
def test_a_node_refusing_connections_is_set_aside_and_its_bulks_go_elsewhere(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    """With a dead URL beside the real node, every bulk is indexed without an item to retry:
    the client sets the dead node aside (and says so) and sends the request to the live one."""
    dead = f"http://127.0.0.1:{closed_port()}"
    local = settings.replace(es_url=f"{dead},{settings.es_url}")
    ensure_index_template(local)
    client = indexer_bulk_transport(local)
    sender = BulkSender(client)
    try:
        documents = make_documents(40, prefix=local.index_prefix)
        with caplog.at_level(logging.WARNING, logger="elastic_transport.node_pool"):
            for start in range(0, 40, 10):
                outcome = sender.send(documents[start : start + 10])
                assert outcome.indexed == documents[start : start + 10] and not outcome.retry
        set_aside = [r.getMessage() for r in caplog.records if dead in r.getMessage()]
        assert set_aside and "has failed for 1 times in a row" in set_aside[0]
    finally:
        client.close()
        remove_indices(local)
