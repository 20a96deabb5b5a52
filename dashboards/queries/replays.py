"""Replays and originals: the records ``reqtrail replay`` links with ``replay_of``."""

from __future__ import annotations

from typing import Any

from elasticsearch import Elasticsearch

from reqtrail.dashboards.queries.bodies import NEWEST_FIRST, TABLE_FIELDS, term
from reqtrail.dashboards.queries.es_client import search

MAX_REPLAYS = 100
REPLAY_FIELDS = [*TABLE_FIELDS, "replay_of", "response_body_size"]


def replays_body(request_id: str, size: int = MAX_REPLAYS) -> dict[str, Any]:
    """Records whose ``replay_of`` is ``request_id``, newest first."""
    return {
        "query": {"bool": {"filter": [term("replay_of", request_id)]}},
        "sort": NEWEST_FIRST,
        "size": size,
        "_source": REPLAY_FIELDS,
        "track_total_hits": True,
    }


def replays_of(
    es: Elasticsearch, index: str, request_id: str, *, size: int = MAX_REPLAYS
) -> list[dict[str, Any]]:
    """The replays of the request ``request_id`` (newest first, at most ``size``)."""
    hits = search(es, index, replays_body(request_id, size))["hits"]["hits"]
    return [dict(hit["_source"]) for hit in hits]
