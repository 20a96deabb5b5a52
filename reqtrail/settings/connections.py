"""The sections several roles share: Kafka, Elasticsearch, and how requests name a player."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlparse

from reqtrail.settings.base import SettingsBase, are_urls, is_host_ports, setting


@dataclass(frozen=True)
class KafkaConnection(SettingsBase):
    """Where the records go: the broker and the topic (producer, indexer)."""

    kafka_bootstrap: str = setting(
        "Kafka bootstrap servers, comma separated.", "127.0.0.1:9092", check=is_host_ports
    )
    topic: str = setting("Topic that request records are produced to.", "reqtrail.requests")

    @property
    def kafka_ports(self) -> tuple[int, ...]:
        return tuple(int(hp.rpartition(":")[2]) for hp in self.kafka_bootstrap.split(","))

    @property
    def kafka_port(self) -> int:
        return self.kafka_ports[0]


@dataclass(frozen=True)
class ElasticsearchConnection(SettingsBase):
    """Where the records are searched: the node and the indices (indexer, dashboard)."""

    es_url: str = setting(
        "Elasticsearch URL, or the URLs of several nodes of one cluster (comma separated): "
        "the indexer spreads its bulk requests over them.",
        "http://127.0.0.1:9200",
        check=are_urls,
    )
    es_sniff: bool = setting(
        "Also ask the cluster for its other HTTP nodes (sniffing), at start and after a node "
        "fails; the indexer then spreads its bulk requests over all of them.",
        False,
    )
    es_username: str = setting("Basic-auth user for Elasticsearch (empty: none).", "")
    es_password: str = setting("Basic-auth password for Elasticsearch.", "")
    es_api_key: str = setting("API key for Elasticsearch (takes precedence over basic auth).", "")
    es_ca_certs: str = setting("Path to a CA bundle for TLS to Elasticsearch.", "")
    es_verify_certs: bool = setting("Verify Elasticsearch TLS certificates.", True)
    es_request_timeout: float = setting("Seconds before an Elasticsearch request times out.", 30.0)
    index_prefix: str = setting(
        "Daily indices are <prefix>-YYYY.MM.DD; the read alias is <prefix>.", "reqtrail"
    )

    @property
    def es_urls(self) -> tuple[str, ...]:
        """Every URL of REQTRAIL_ES_URL, in the order given."""
        return tuple(url.strip() for url in self.es_url.split(","))

    @property
    def es_ports(self) -> tuple[int, ...]:
        return tuple(urlparse(url).port or 9200 for url in self.es_urls)

    @property
    def es_port(self) -> int:
        return self.es_ports[0]

    @property
    def read_alias(self) -> str:
        return self.index_prefix


@dataclass(frozen=True)
class PlayerHeader(SettingsBase):
    """The header that names the player: read by the middleware, rewritten by replays."""

    user_id_header: str = setting("Header the middleware reads the user ID from.", "x-user-id")
