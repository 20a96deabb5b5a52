"""The Elasticsearch nodes the indexer's bulk transport sends to (consumers.bulk_http).

The bookkeeping is elastic-transport's ``NodePool`` (the one elasticsearch-py uses): each
request goes to the next live node in turn (round robin, starting at a random one so that
many indexers do not all start on the same node); a node that fails to connect, or whose
connection breaks before it answers, is set aside for 1 s, then 2, 4, ... up to 30 s,
after which one request tries it again; once it answers it is live again.  When every node
is set aside, one of them is tried anyway.

With ``sniff``, the nodes come from the cluster itself: ``GET /_nodes/_all/http`` on a
given node lists every node's HTTP address (dedicated master nodes are left out), at start
and again after a node fails (at most every ``SNIFF_MIN_INTERVAL_S``).  The given URLs stay
in the pool whatever the cluster says.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

import elastic_transport
import orjson
from elastic_transport import BaseNode, NodeConfig, NodePool, Urllib3HttpNode

log = logging.getLogger("reqtrail.indexer")

DEAD_BACKOFF_S = 1.0
MAX_DEAD_BACKOFF_S = 30.0
SNIFF_MIN_INTERVAL_S = 10.0
SNIFF_TIMEOUT_S = 5.0


def node_config(
    url: str,
    *,
    headers: Mapping[str, str] | None = None,
    ca_certs: str = "",
    verify_certs: bool = True,
) -> NodeConfig:
    """A NodeConfig for ``url`` (port 9200 for http and 443 for https when not given)."""
    parts = urlsplit(url)
    tls: dict[str, Any] = {}
    if parts.scheme == "https":
        tls = {"verify_certs": verify_certs, "ca_certs": ca_certs or None}
    return NodeConfig(
        scheme=parts.scheme,
        host=parts.hostname or "127.0.0.1",
        port=parts.port or (443 if parts.scheme == "https" else 9200),
        path_prefix=parts.path.rstrip("/"),
        headers=dict(headers or {}),
        request_timeout=SNIFF_TIMEOUT_S,
        **tls,
    )


def node_url(config: NodeConfig) -> str:
    return f"{config.scheme}://{config.host}:{config.port}{config.path_prefix}"


def http_addresses(nodes_info: Mapping[str, Any]) -> list[tuple[str, int]]:
    """(host, port) of each node's HTTP publish address in a ``GET /_nodes/_all/http``
    answer, leaving out dedicated master nodes (they should not coordinate bulks)."""
    found: list[tuple[str, int]] = []
    for info in (nodes_info.get("nodes") or {}).values():
        if info.get("roles") == ["master"]:
            continue
        address = str((info.get("http") or {}).get("publish_address") or "")
        if not address:
            continue
        hostname, _, address = address.rpartition("/")  # "name/1.2.3.4:9200" or "1.2.3.4:9200"
        host, _, port = address.rpartition(":")
        if port.isdigit():
            found.append((hostname or host.strip("[]"), int(port)))
    return found


class EsNodes:
    """The nodes of one cluster: ``pick()`` the next live one, report ``failed``/``answered``."""

    def __init__(
        self,
        urls: Sequence[str],
        *,
        sniff: bool = False,
        headers: Mapping[str, str] | None = None,
        ca_certs: str = "",
        verify_certs: bool = True,
        randomize: bool = True,
        dead_backoff_s: float = DEAD_BACKOFF_S,
        max_dead_backoff_s: float = MAX_DEAD_BACKOFF_S,
    ) -> None:
        if not urls:
            raise ValueError("at least one Elasticsearch URL is needed")
        self._seeds = [
            node_config(url, headers=headers, ca_certs=ca_certs, verify_certs=verify_certs)
            for url in urls
        ]
        self._pool = NodePool(
            self._seeds,
            node_class=Urllib3HttpNode,
            dead_node_backoff_factor=dead_backoff_s,
            max_dead_node_backoff=max_dead_backoff_s,
            randomize_nodes=randomize,
        )
        self.sniffing = sniff
        self.sent: Counter[str] = Counter()  # requests started, by node URL
        self.failures: Counter[str] = Counter()  # connection failures, by node URL
        self._last_sniff = 0.0
        if sniff:
            self.sniff()

    def __len__(self) -> int:
        return len(self._pool)

    def configs(self) -> list[NodeConfig]:
        return [node.config for node in self._pool.all()]

    def urls(self) -> list[str]:
        return [node_url(config) for config in self.configs()]

    def pick(self) -> BaseNode:
        """The node for the next request (counted in ``sent``)."""
        node = self._pool.get()
        self.sent[node_url(node.config)] += 1
        return node

    def answered(self, node: BaseNode) -> None:
        """``node`` answered: live again if it had been set aside."""
        self._pool.mark_live(node)

    def failed(self, node: BaseNode, error: BaseException) -> None:
        """``node`` could not be reached or broke off: set it aside (and sniff, if asked)."""
        url = node_url(node.config)
        self.failures[url] += 1
        self._pool.mark_dead(node)
        others = len(self) - 1
        log.warning(
            "Elasticsearch node %s failed (%s: %s); %s",
            url, type(error).__name__, error,
            f"its requests go to the other {others} node(s)" if others else "retrying it",
        )  # fmt: skip
        if self.sniffing and time.monotonic() - self._last_sniff >= SNIFF_MIN_INTERVAL_S:
            self.sniff()

    def sniff(self) -> int:
        """Add the cluster's HTTP nodes to the pool (and drop sniffed ones that left);
        the number of nodes found, 0 when no node answered."""
        self._last_sniff = time.monotonic()
        for node in self._pool.all():
            try:
                response = node.perform_request("GET", "/_nodes/_all/http")
            except elastic_transport.TransportError:
                continue
            if response.meta.status != 200:
                continue
            found = http_addresses(orjson.loads(response.body))
            break
        else:
            log.warning("sniffing found no Elasticsearch node answering at %s", self.urls())
            return 0
        template = self._seeds[0]
        wanted = {template.replace(host=host, port=port, path_prefix="") for host, port in found}
        for config in wanted:
            self._pool.add(config)  # a new node starts set aside: tried on the next pick
        for config in self.configs():
            if config not in wanted:
                self._pool.remove(config)  # never removes a given URL
        log.info("sniffed %d Elasticsearch nodes: %s", len(found), sorted(map(node_url, wanted)))
        return len(found)
