"""One settings class per role, over the shared connection sections.

A game server builds ``ProducerSettings`` only; the indexer ``IndexerSettings``; the
dashboard ``DashboardSettings``; ``reqtrail services`` ``LocalStackSettings``. ``Settings``
holds all of them, for the commands that span roles (the demo, ``reqtrail settings``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from reqtrail.settings.base import (
    at_least,
    at_least_minus_one,
    is_fraction,
    is_not_negative,
    is_port_or_zero,
    is_positive,
    is_url,
    one_of,
    setting,
)
from reqtrail.settings.connections import ElasticsearchConnection, KafkaConnection, PlayerHeader

REDACT_KEYS = (
    "password",
    "passwd",
    "token",
    "secret",
    "authorization",
    "cookie",
    "set-cookie",
    "api_key",
    "apikey",
    "access_token",
    "refresh_token",
    "session_token",
)
HEADER_ALLOWLIST = (
    "content-type",
    "content-length",
    "user-agent",
    "x-request-id",
    "x-user-id",
    "x-device-id",
    "x-session-id",
    "x-app-version",
    "x-client-version",
    "x-platform",
    "accept",
    "accept-encoding",
    "content-encoding",
)


@dataclass(frozen=True)
class ProducerSettings(KafkaConnection, PlayerHeader):
    """The middleware in the game server: what goes into a record, and how it reaches Kafka."""

    service: str = setting("Service name stamped on each record.", "game-server")
    environment: str = setting("Environment stamped on each record (dev, staging, prod...).", "dev")
    body_max_bytes: int = setting(
        "Request/response bodies are truncated beyond this size.", 16384, check=is_positive
    )
    redact_keys: tuple[str, ...] = setting(
        "Keys whose values are redacted in headers, query and JSON bodies (comma separated).",
        REDACT_KEYS,
    )
    header_allowlist: tuple[str, ...] = setting(
        "Request/response headers copied into the record (comma separated, case-insensitive).",
        HEADER_ALLOWLIST,
    )
    hash_client_ip: bool = setting(
        "Store a salted SHA-256 of the client IP instead of the IP.", False
    )
    client_ip_salt: str = setting("Salt for hashed client IPs.", "reqtrail")
    sample_rate: float = setting(
        "Fraction of ordinary requests kept (errors and slow ones always).", 1.0, check=is_fraction
    )
    slow_threshold_ms: float = setting("Requests at least this slow are always kept.", 1000.0)
    buffer_size: int = setting(
        "Records held in memory while Kafka is slow; beyond it they drop.",
        10000,
        check=is_positive,
    )
    spill_path: str = setting(
        "File where dropped records are appended for a later resend (empty: do not spill).", ""
    )
    app_version: str = setting("Server build / release version stamped on each record.", "")
    app_version_header: str = setting(
        "Request header that overrides app_version per request (demo: x-app-version; empty: off).",
        "",
    )
    kafka_compression: str = setting(
        "Codec of produced batches: zstd, gzip, lz4, snappy or none (lz4 and snappy need "
        "extra packages).",
        "zstd",
    )
    kafka_client: str = setting(
        "Kafka client the sink uses: confluent-kafka (librdkafka: sends from C threads, taking "
        "little Python time from requests), or kafka-python (pure Python: where no "
        "confluent-kafka wheel exists).",
        "confluent-kafka",
        check=one_of("confluent-kafka", "kafka-python"),
    )
    kafka_linger_ms: int = setting(
        "How long the producer waits to fill a batch (the sink already hands records over in "
        "bursts; longer: fewer wake-ups, later in Elasticsearch).",
        50,
    )
    kafka_delivery_timeout_ms: int = setting(
        "A record not acknowledged by Kafka within this time counts as dropped (and spilled); "
        "a producer that holds records longer than this (plus a margin) is replaced.",
        30000,
    )
    kafka_max_request_size: int = setting(
        "Largest record the producer sends, in bytes (librdkafka's message.max.bytes, "
        "kafka-python's max_request_size; keep it at most the broker's message.max.bytes): "
        "bodies are cut further to fit.",
        1048576,
        check=at_least(16384, "bytes"),
    )
    shutdown_timeout_s: float = setting(
        "When the server stops, how long the sink waits for Kafka to take what it holds; the "
        "rest is spilled.",
        5.0,
        check=is_not_negative,
    )


@dataclass(frozen=True)
class IndexerSettings(KafkaConnection, ElasticsearchConnection):
    """``reqtrail setup`` and ``reqtrail consume``: topics, daily indices, bulks, retries."""

    dlq_topic: str = setting(
        "Dead-letter topic for records the indexer cannot index.", "reqtrail.requests.dlq"
    )
    topic_partitions: int = setting(
        "Partitions when reqtrail creates the topics.", 6, check=is_positive
    )
    consumer_group: str = setting("Consumer group of the indexer.", "reqtrail-indexer")
    index_refresh_interval: str = setting("index.refresh_interval of new daily indices.", "1s")
    index_replicas: int = setting(
        "index.number_of_replicas of new daily indices (-1: 1 when the cluster has more than "
        "one data node, else 0).",
        -1,
        check=at_least_minus_one,
    )
    index_shards: int = setting("index.number_of_shards of new daily indices.", 1)
    batch_size: int = setting("Records per bulk request at most.", 1000, check=is_positive)
    batch_max_bytes: int = setting(
        "Bytes per bulk request at most.", 5 * 1024 * 1024, check=is_positive
    )
    batch_max_wait_ms: int = setting(
        "A partial batch is flushed after this long (a full one goes at once).", 200
    )
    retry_backoff_ms: int = setting("First retry delay for 429/5xx/connection errors.", 200)
    retry_backoff_max_ms: int = setting("Cap of the exponential retry delay.", 10000)
    stats_interval_s: float = setting("Seconds between the consumer's one-line stats.", 10.0)
    commit_interval_ms: int = setting(
        "Finished offsets are committed at most this often (and always on rebalance/exit).",
        1000,
    )
    bulk_in_flight: int = setting(
        "Bulk requests one indexer keeps in flight while it decodes the next batch.", 1
    )
    retention_days: int = setting(
        "Days of daily indices kept: `reqtrail retention` deletes older ones by default, and "
        "the indexer dead-letters records dated before them.",
        30,
        check=is_positive,
    )
    timestamp_max_age_days: int = setting(
        "Records dated before the last this many days (today included) go to the DLQ as "
        "'timestamp out of range' (0: REQTRAIL_RETENTION_DAYS).",
        0,
        check=is_not_negative,
    )
    timestamp_max_future_s: int = setting(
        "Records dated more than this many seconds ahead of the indexer's clock go to the DLQ "
        "as 'timestamp out of range'.",
        86400,
        check=is_not_negative,
    )

    log_format: str = setting(
        "Log format of `reqtrail consume`: json, console, or empty (json unless stdout is a "
        "terminal).",
        "",
    )
    metrics_port: int = setting(
        "Port where `reqtrail consume` serves /metrics, /healthz and /readyz (0: off).",
        0,
        check=is_port_or_zero,
    )
    metrics_host: str = setting("Address the metrics port binds.", "0.0.0.0")
    metrics_route_limit: int = setting(
        'Distinct routes in the request metrics; later ones count as route="other".',
        200,
        check=is_positive,
    )
    request_metrics: bool = setting(
        "Export per-route request metrics (the RED view) derived from indexed records.", True
    )
    ready_bulk_age_s: float = setting(
        "/readyz fails when records wait and no bulk succeeded for this many seconds.",
        60.0,
        check=is_positive,
    )

    @property
    def timestamp_window_days(self) -> int:
        """Days of records the indexer accepts, today included (the retention by default)."""
        return self.timestamp_max_age_days or self.retention_days


@dataclass(frozen=True)
class DashboardSettings(ElasticsearchConnection, PlayerHeader):
    """``reqtrail dashboard`` and the reproduce commands it shows."""

    dashboard_port: int = setting("Port of the Streamlit dashboard.", 8501)
    dashboard_address: str = setting(
        "Interface the dashboard binds; other than loopback it needs a password.", "127.0.0.1"
    )
    dashboard_password: str = setting("If set, the dashboard asks for this password.", "")
    sentry_base_url: str = setting(
        "Sentry web URL for links, e.g. "
        "https://sentry.io/organizations/acme/issues/ (empty: no links).",
        "",
    )
    replay_target: str = setting(
        "Dev server `reqtrail replay` sends to, and the dashboard's reproduce commands name.",
        "http://127.0.0.1:8000",
        check=is_url,
    )
    indexer_metrics_urls: str = setting(
        "The indexers' /metrics URLs, comma separated, for the Ingest page's rate, lag and "
        "dead letters (empty: that page shows what Elasticsearch holds only).",
        "",
    )
    cache_ttl_s: int = setting("Seconds the dashboard caches query results.", 15)
    dashboard_page_size: int = setting("Rows per page of the dashboard's search results.", 100)
    dashboard_export_limit: int = setting(
        "Most records one JSON export from the dashboard holds (`reqtrail export`: no limit).",
        100000,
    )


def default_state_dir() -> str:
    """``/var/lib/reqtrail`` as root (ES must not run as root, and /root is mode 700, so its
    files must live where an unprivileged user reaches them), else the user data dir."""
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        return "/var/lib/reqtrail"
    try:
        import platformdirs  # reqtrail[local]
    except ModuleNotFoundError:  # `reqtrail settings` still prints where it would be
        data_home = os.environ.get("XDG_DATA_HOME") or os.path.expanduser("~/.local/share")
        return os.path.join(data_home, "reqtrail")
    return platformdirs.user_data_dir("reqtrail")


@dataclass(frozen=True)
class LocalStackSettings(KafkaConnection, ElasticsearchConnection):
    """``reqtrail services``: the local Kafka and Elasticsearch (ports from the connections)."""

    state_dir: str = setting(
        "Where local services keep downloads, data, logs and pid files.", default_state_dir
    )
    download_dir: str = setting(
        "Cache of the Elasticsearch and Kafka downloads (empty: <state_dir>/downloads).", ""
    )
    es_version: str = setting("Elasticsearch version `reqtrail services` runs.", "9.5.0")
    kafka_version: str = setting("Kafka version `reqtrail services` runs.", "4.1.1")
    es_transport_port: int = setting(
        "Transport port of the local Elasticsearch (0: its HTTP port + 100); node i of a "
        "local cluster (`services up --es-nodes N`) uses this + i, and HTTP port i of "
        "REQTRAIL_ES_URL, else the first one + i.",
        0,
        check=is_port_or_zero,
    )
    kafka_controller_port: int = setting(
        "KRaft controller port of the local Kafka (0: its broker port + 1); node i of a "
        "local cluster (`services up --kafka-brokers N`) uses this + i, and broker port i of "
        "REQTRAIL_KAFKA_BOOTSTRAP, else the first one + 2i.",
        0,
        check=is_port_or_zero,
    )
    es_heap: str = setting(
        "Heap of each local Elasticsearch node (-Xms/-Xmx; empty: 1g alone, 512m per node "
        "of a cluster).",
        "",
    )
    kafka_heap: str = setting(
        "Heap of each local Kafka broker (empty: 512m alone, 384m per broker of a cluster).", ""
    )
    service_user: str = setting(
        "Unprivileged user that runs Elasticsearch and Kafka when invoked as root.", "reqtrail"
    )
    startup_timeout_s: float = setting("How long `services up` waits for health.", 180.0)


@dataclass(frozen=True)
class Settings(LocalStackSettings, DashboardSettings, IndexerSettings, ProducerSettings):
    """Every role's settings at once, for commands that span roles (demo, tests)."""


ROLES: tuple[tuple[str, type], ...] = (
    ("Kafka connection (producer, indexer, local stack)", KafkaConnection),
    ("Elasticsearch connection (indexer, dashboard, local stack)", ElasticsearchConnection),
    ("Player header (producer, dashboard, replay)", PlayerHeader),
    ("Producer: the middleware in your game server", ProducerSettings),
    ("Indexer: `reqtrail setup`, `reqtrail consume`", IndexerSettings),
    ("Dashboard: `reqtrail dashboard`", DashboardSettings),
    ("Local stack: `reqtrail services`, `reqtrail demo`", LocalStackSettings),
)
