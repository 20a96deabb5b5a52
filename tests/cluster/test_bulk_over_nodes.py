"""The indexer's bulk transport on the 3-node ES cluster: found by sniffing from one URL,
bulks spread over every node."""

from __future__ import annotations

import pytest

from reqtrail.consumers.bulk_http import HttpBulkTransport
from reqtrail.consumers.indexer import BulkSender
from reqtrail.consumers.setup import ensure_index_template, remove_indices
from reqtrail.es import es_client
from reqtrail.settings import Settings
from tests.conftest import LocalCluster
from tests.consumers.conftest import count_docs
from tests.consumers.fakes import make_documents

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_sniffing_from_one_url_spreads_bulks_over_every_node(
    cluster: LocalCluster, settings: Settings
) -> None:
    """Given only the first node's URL and REQTRAIL_ES_SNIFF, the transport finds all three
    nodes and sends each a third of 9 bulk requests, all indexed."""
    first = cluster.es_url.split(",")[0]
    local = cluster.settings_for(settings).replace(es_url=first, es_sniff=True)
    ensure_index_template(local)
    transport = HttpBulkTransport.from_settings(local)
    es = es_client(local)
    try:
        assert sorted(transport.nodes.urls()) == sorted(cluster.es_url.split(","))
        sender = BulkSender(transport)
        documents = make_documents(90, prefix=local.index_prefix)
        for start in range(0, 90, 10):
            outcome = sender.send(documents[start : start + 10])
            assert outcome.indexed == documents[start : start + 10], outcome.retry[:1]
        assert sorted(transport.nodes.sent.values()) == [3, 3, 3]
        assert count_docs(es, local.index_prefix) == 90
    finally:
        transport.close()
        es.close()
        remove_indices(local)
