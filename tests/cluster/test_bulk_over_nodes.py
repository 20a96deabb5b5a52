"""The indexer's bulk client on the 3-node ES cluster: found by sniffing from one URL,
bulks spread over every node."""

from __future__ import annotations

import pytest

from reqtrail.consumers.bulk_client import ClientBulkTransport
from reqtrail.consumers.bulk_sender import BulkSender
from reqtrail.consumers.clients import indexer_bulk_transport
from reqtrail.consumers.setup import ensure_index_template, remove_indices
from reqtrail.es import es_client
from reqtrail.services.probes import get_json
from reqtrail.settings import Settings
from tests.conftest import LocalCluster
from tests.consumers.conftest import count_docs
from tests.consumers.fakes import make_documents

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def bulk_client_requests(url: str) -> int:
    """Requests the node at ``url`` has served to elasticsearch-py clients so far (its HTTP
    client stats; this probe's own urllib connection is not counted)."""
    stats = get_json(f"{url}/_nodes/_local/stats/http", timeout_s=10)
    assert isinstance(stats, dict), f"{url} did not answer"
    (node,) = stats["nodes"].values()
    clients = node["http"]["clients"]
    return sum(
        c.get("request_count", 0)
        for c in clients
        if c.get("agent", "").startswith("elasticsearch-py")
    )


def test_sniffing_from_one_url_spreads_bulks_over_every_node(
    cluster: LocalCluster, settings: Settings
) -> None:
    """Given only the first node's URL and REQTRAIL_ES_SNIFF, the indexer's client finds all
    three nodes and sends each a third of 9 bulk requests, all indexed."""
    urls = cluster.es_url.split(",")
    local = cluster.settings_for(settings).replace(es_url=urls[0], es_sniff=True)
    ensure_index_template(local)
    client = indexer_bulk_transport(local)
    es = es_client(local)
    try:
        assert isinstance(client, ClientBulkTransport)
        pool = client.client.transport.node_pool
        assert sorted(node.base_url for node in pool.all()) == sorted(urls)
        before = [bulk_client_requests(url) for url in urls]
        sender = BulkSender(client)
        documents = make_documents(90, prefix=local.index_prefix)
        for start in range(0, 90, 10):
            outcome = sender.send(documents[start : start + 10])
            assert outcome.indexed == documents[start : start + 10], outcome.retry[:1]
        served = [bulk_client_requests(url) - b for url, b in zip(urls, before, strict=True)]
        assert served == [3, 3, 3]
        assert count_docs(es, local.index_prefix) == 90
    finally:
        client.close()
        es.close()
        remove_indices(local)
