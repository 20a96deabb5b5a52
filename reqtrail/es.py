"""The one place an Elasticsearch client is built from the settings (URLs, credentials, TLS)."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from elasticsearch import Elasticsearch
from elasticsearch.serializer import OrjsonSerializer

from reqtrail.settings import ElasticsearchConnection

SNIFF_MIN_INTERVAL_S = 10.0


def es_client(
    settings: ElasticsearchConnection,
    *,
    max_retries: int | None = None,
    request_timeout: float | None = None,
    serializer: OrjsonSerializer | None = None,
    retry_on_status: Collection[int] | None = None,
) -> Elasticsearch:
    """A client for the nodes of ``settings.es_url`` (orjson inside).

    With several URLs, elasticsearch-py's node pool sends each request to the next live
    node and sets a node that fails to connect aside (1 s, then 2, 4, ... up to 30 s) before
    trying it again. Unless ``max_retries`` says otherwise, a request that cannot reach its
    node is retried on the others (once per other node, at least twice with sniffing), and
    never with a single URL. With REQTRAIL_ES_SNIFF the client also asks the cluster for
    its HTTP nodes, at start and after a node fails (at most every 10 s).
    """
    urls = settings.es_urls
    default_retries = max(len(urls) - 1, 2 if settings.es_sniff else 0)
    options: dict[str, Any] = {
        "request_timeout": request_timeout or settings.es_request_timeout,
        "max_retries": default_retries if max_retries is None else max_retries,
        "retry_on_timeout": False,
        "serializer": serializer or OrjsonSerializer(),
    }
    if retry_on_status is not None:
        options["retry_on_status"] = tuple(retry_on_status)
    if settings.es_sniff:
        options.update(
            sniff_on_start=True,
            sniff_on_node_failure=True,
            min_delay_between_sniffing=SNIFF_MIN_INTERVAL_S,
        )
    if settings.es_api_key:
        options["api_key"] = settings.es_api_key
    elif settings.es_username:
        options["basic_auth"] = (settings.es_username, settings.es_password)
    if any(url.startswith("https") for url in urls):
        options["verify_certs"] = settings.es_verify_certs
        if settings.es_ca_certs:
            options["ca_certs"] = settings.es_ca_certs
    return Elasticsearch(list(urls), **options)
