"""The one place an Elasticsearch client is built from Settings (URL, credentials, TLS)."""

from __future__ import annotations

from typing import Any

from elasticsearch import Elasticsearch
from elasticsearch.serializer import OrjsonSerializer

from reqtrail.settings import Settings


def es_client(
    settings: Settings,
    *,
    max_retries: int | None = None,
    request_timeout: float | None = None,
    serializer: OrjsonSerializer | None = None,
) -> Elasticsearch:
    """A client for the nodes of ``settings.es_url`` (orjson inside). With several URLs,
    elasticsearch-py spreads requests over them and sets a node that fails to connect aside
    for a while; unless ``max_retries`` says otherwise, a request is retried once per other
    node (so a dead node is skipped), and never with a single URL."""
    options: dict[str, Any] = {
        "request_timeout": request_timeout or settings.es_request_timeout,
        "max_retries": len(settings.es_urls) - 1 if max_retries is None else max_retries,
        "retry_on_timeout": False,
        "serializer": serializer or OrjsonSerializer(),
    }
    if settings.es_api_key:
        options["api_key"] = settings.es_api_key
    elif settings.es_username:
        options["basic_auth"] = (settings.es_username, settings.es_password)
    if any(url.startswith("https") for url in settings.es_urls):
        options["verify_certs"] = settings.es_verify_certs
        if settings.es_ca_certs:
            options["ca_certs"] = settings.es_ca_certs
    return Elasticsearch(list(settings.es_urls), **options)
