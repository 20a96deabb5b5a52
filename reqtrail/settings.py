"""One typed settings object for every stage, read from the environment.

Each field is overridable with ``REQTRAIL_<FIELD_NAME_UPPER>``; an optional TOML file
(``REQTRAIL_CONFIG``, else ``./reqtrail.toml`` when present) supplies values that the
environment then overrides.  Bad values fail early with a one-line message naming the
variable, e.g. ``REQTRAIL_ES_URL is not a URL: 'localhost'``.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

ENV_PREFIX = "REQTRAIL_"


class SettingsError(ValueError):
    """A setting has a value that cannot be used; the message names the variable."""


def _default_state_dir() -> str:
    # ES must not run as root; when we are root its files must be reachable by an
    # unprivileged user, which rules out /root (mode 700). Use the site data dir then.
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        return "/var/lib/reqtrail"
    try:
        import platformdirs  # reqtrail[local]: only the local stack needs a state directory
    except ModuleNotFoundError:
        data_home = os.environ.get("XDG_DATA_HOME") or os.path.expanduser("~/.local/share")
        return os.path.join(data_home, "reqtrail")
    return platformdirs.user_data_dir("reqtrail")


def _doc(text: str, default: Any = dataclasses.MISSING, **kw: Any) -> Any:
    if callable(default):
        return field(default_factory=default, metadata={"doc": text}, **kw)
    return field(default=default, metadata={"doc": text}, **kw)


@dataclass(frozen=True)
class Settings:
    # --- Kafka -------------------------------------------------------------------------
    kafka_bootstrap: str = _doc("Kafka bootstrap servers, comma separated.", "127.0.0.1:9092")
    topic: str = _doc("Topic that request records are produced to.", "reqtrail.requests")
    dlq_topic: str = _doc(
        "Dead-letter topic for records the indexer cannot index.", "reqtrail.requests.dlq"
    )
    topic_partitions: int = _doc("Partitions when reqtrail creates the topics.", 6)
    consumer_group: str = _doc("Consumer group of the indexer.", "reqtrail-indexer")
    # --- Elasticsearch -----------------------------------------------------------------
    es_url: str = _doc(
        "Elasticsearch URL, or the URLs of several nodes of one cluster (comma separated): "
        "the indexer spreads its bulk requests over them.",
        "http://127.0.0.1:9200",
    )
    es_sniff: bool = _doc(
        "Also ask the cluster for its other HTTP nodes (sniffing), at start and after a node "
        "fails; the indexer then spreads its bulk requests over all of them.",
        False,
    )
    es_username: str = _doc("Basic-auth user for Elasticsearch (empty: none).", "")
    es_password: str = _doc("Basic-auth password for Elasticsearch.", "")
    es_api_key: str = _doc("API key for Elasticsearch (takes precedence over basic auth).", "")
    es_ca_certs: str = _doc("Path to a CA bundle for TLS to Elasticsearch.", "")
    es_verify_certs: bool = _doc("Verify Elasticsearch TLS certificates.", True)
    es_request_timeout: float = _doc("Seconds before an Elasticsearch request times out.", 30.0)
    index_prefix: str = _doc(
        "Daily indices are <prefix>-YYYY.MM.DD; the read alias is <prefix>.", "reqtrail"
    )
    index_refresh_interval: str = _doc("index.refresh_interval of new daily indices.", "1s")
    index_replicas: int = _doc(
        "index.number_of_replicas of new daily indices (-1: 1 when the cluster has more than "
        "one data node, else 0).",
        -1,
    )
    index_shards: int = _doc("index.number_of_shards of new daily indices.", 1)
    # --- Producer (middleware) ---------------------------------------------------------
    service: str = _doc("Service name stamped on each record.", "game-server")
    environment: str = _doc("Environment stamped on each record (dev, staging, prod...).", "dev")
    body_max_bytes: int = _doc("Request/response bodies are truncated beyond this size.", 16384)
    redact_keys: tuple[str, ...] = _doc(
        "Keys whose values are redacted in headers, query and JSON bodies (comma separated).",
        (
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
        ),
    )
    header_allowlist: tuple[str, ...] = _doc(
        "Request/response headers copied into the record (comma separated, case-insensitive).",
        (
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
        ),
    )
    user_id_header: str = _doc("Header the middleware reads the user ID from.", "x-user-id")
    hash_client_ip: bool = _doc("Store a salted SHA-256 of the client IP instead of the IP.", False)
    client_ip_salt: str = _doc("Salt for hashed client IPs.", "reqtrail")
    sample_rate: float = _doc(
        "Fraction of ordinary requests kept (errors and slow ones always).", 1.0
    )
    slow_threshold_ms: float = _doc("Requests at least this slow are always kept.", 1000.0)
    buffer_size: int = _doc(
        "Records held in memory while Kafka is slow; beyond it they drop.", 10000
    )
    spill_path: str = _doc(
        "File where dropped records are appended for a later resend (empty: do not spill).", ""
    )
    app_version: str = _doc("Server build / release version stamped on each record.", "")
    app_version_header: str = _doc(
        "Request header that overrides app_version per request (demo: x-app-version; empty: off).",
        "",
    )
    kafka_compression: str = _doc(
        "Codec of produced batches: zstd, gzip, lz4, snappy or none (lz4 and snappy need "
        "extra packages).",
        "zstd",
    )
    kafka_linger_ms: int = _doc(
        "How long the producer waits to fill a batch (longer: fewer GIL-holding wake-ups).", 200
    )
    kafka_delivery_timeout_ms: int = _doc(
        "A record not acknowledged by Kafka within this time counts as dropped (and spilled).",
        30000,
    )
    # --- Consumer (indexer) ------------------------------------------------------------
    batch_size: int = _doc("Records per bulk request at most.", 1000)
    batch_max_bytes: int = _doc("Bytes per bulk request at most.", 5 * 1024 * 1024)
    batch_max_wait_ms: int = _doc("A partial batch is flushed after this long.", 500)
    retry_backoff_ms: int = _doc("First retry delay for 429/5xx/connection errors.", 200)
    retry_backoff_max_ms: int = _doc("Cap of the exponential retry delay.", 10000)
    stats_interval_s: float = _doc("Seconds between the consumer's one-line stats.", 10.0)
    commit_interval_ms: int = _doc(
        "Finished offsets are committed at most this often (and always on rebalance/exit).",
        1000,
    )
    bulk_in_flight: int = _doc(
        "Bulk requests one indexer keeps in flight while it decodes the next batch.", 1
    )
    # --- Dashboard ---------------------------------------------------------------------
    dashboard_port: int = _doc("Port of the Streamlit dashboard.", 8501)
    dashboard_password: str = _doc("If set, the dashboard asks for this password.", "")
    sentry_base_url: str = _doc(
        "Sentry web URL for links, e.g. "
        "https://sentry.io/organizations/acme/issues/ (empty: no links).",
        "",
    )
    cache_ttl_s: int = _doc("Seconds the dashboard caches query results.", 15)
    dashboard_page_size: int = _doc("Rows per page of the dashboard's search results.", 100)
    dashboard_export_limit: int = _doc(
        "Most records one JSON export from the dashboard holds (`reqtrail export`: no limit).",
        100000,
    )
    # --- Local services ----------------------------------------------------------------
    state_dir: str = _doc(
        "Where local services keep downloads, data, logs and pid files.", _default_state_dir
    )
    download_dir: str = _doc(
        "Cache of the Elasticsearch and Kafka downloads (empty: <state_dir>/downloads).", ""
    )
    es_version: str = _doc("Elasticsearch version `reqtrail services` runs.", "9.5.0")
    kafka_version: str = _doc("Kafka version `reqtrail services` runs.", "4.1.1")
    es_transport_port: int = _doc(
        "Transport port of the local Elasticsearch (0: its HTTP port + 100); node i of a "
        "local cluster (`services up --es-nodes N`) uses this + i, and HTTP port i of "
        "REQTRAIL_ES_URL, else the first one + i.",
        0,
    )
    kafka_controller_port: int = _doc(
        "KRaft controller port of the local Kafka (0: its broker port + 1); node i of a "
        "local cluster (`services up --kafka-brokers N`) uses this + i, and broker port i of "
        "REQTRAIL_KAFKA_BOOTSTRAP, else the first one + 2i.",
        0,
    )
    es_heap: str = _doc(
        "Heap of each local Elasticsearch node (-Xms/-Xmx; empty: 1g alone, 512m per node "
        "of a cluster).",
        "",
    )
    kafka_heap: str = _doc(
        "Heap of each local Kafka broker (empty: 512m alone, 384m per broker of a cluster).", ""
    )
    service_user: str = _doc(
        "Unprivileged user that runs Elasticsearch and Kafka when invoked as root.", "reqtrail"
    )
    startup_timeout_s: float = _doc("How long `services up` waits for health.", 180.0)

    # ------------------------------------------------------------------------------------
    def __post_init__(self) -> None:
        for url in self.es_url.split(","):
            _check_url("es_url", url.strip(), self.es_url)
        for hostport in self.kafka_bootstrap.split(","):
            host, _, port = hostport.strip().rpartition(":")
            if not host or not port.isdigit():
                raise SettingsError(
                    f"{env_name('kafka_bootstrap')} is not host:port[,host:port]: "
                    f"{self.kafka_bootstrap!r}"
                )
        if not 0.0 <= self.sample_rate <= 1.0:
            raise SettingsError(
                f"{env_name('sample_rate')} must be within 0..1: {self.sample_rate}"
            )
        for name in (
            "body_max_bytes",
            "buffer_size",
            "batch_size",
            "batch_max_bytes",
            "topic_partitions",
        ):
            if getattr(self, name) <= 0:
                raise SettingsError(f"{env_name(name)} must be positive: {getattr(self, name)}")

        if self.index_replicas < -1:
            raise SettingsError(
                f"{env_name('index_replicas')} must be -1 (automatic) or more: "
                f"{self.index_replicas}"
            )
        for name in ("es_transport_port", "kafka_controller_port"):
            if not 0 <= getattr(self, name) <= 65535:
                raise SettingsError(
                    f"{env_name(name)} must be a port (1-65535, 0: derived): {getattr(self, name)}"
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
    def kafka_ports(self) -> tuple[int, ...]:
        return tuple(int(hp.rpartition(":")[2]) for hp in self.kafka_bootstrap.split(","))

    @property
    def kafka_port(self) -> int:
        return self.kafka_ports[0]

    @property
    def read_alias(self) -> str:
        return self.index_prefix

    def replace(self, **changes: Any) -> Settings:
        return dataclasses.replace(self, **changes)


def env_name(field_name: str) -> str:
    return ENV_PREFIX + field_name.upper()


def _check_url(name: str, value: str, whole: str | None = None) -> None:
    parsed = urlparse(value)
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        listed = f" (in {whole!r})" if whole is not None and whole != value else ""
        raise SettingsError(f"{env_name(name)} is not a URL: {value!r}{listed}")


def _field_type(name: str) -> Any:
    hints = typing.get_type_hints(Settings)
    return hints[name]


def _coerce(name: str, raw: Any) -> Any:
    kind = _field_type(name)
    try:
        if kind is bool:
            if isinstance(raw, bool):
                return raw
            text = str(raw).strip().lower()
            if text in ("1", "true", "yes", "on"):
                return True
            if text in ("0", "false", "no", "off", ""):
                return False
            raise ValueError(text)
        if kind is int:
            return int(raw)
        if kind is float:
            return float(raw)
        if typing.get_origin(kind) is tuple or isinstance(kind, types.GenericAlias):
            items = raw if isinstance(raw, list | tuple) else str(raw).split(",")
            return tuple(str(item).strip() for item in items if str(item).strip())
        return str(raw)
    except ValueError:
        pretty = getattr(kind, "__name__", str(kind))
        raise SettingsError(f"{env_name(name)} is not a valid {pretty}: {raw!r}") from None


def load_settings(
    environ: Mapping[str, str] | None = None, config_file: str | Path | None = None
) -> Settings:
    """Build settings from an optional TOML file, then ``REQTRAIL_*`` variables."""
    env = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    path = config_file or env.get("REQTRAIL_CONFIG") or None
    if path is None and Path("reqtrail.toml").is_file():
        path = "reqtrail.toml"
    names = {f.name for f in fields(Settings)}
    if path is not None:
        try:
            data = tomllib.loads(Path(path).read_text())
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise SettingsError(
                f"REQTRAIL_CONFIG file {str(path)!r} cannot be read: {exc}"
            ) from None
        for key, raw in data.items():
            if key not in names:
                raise SettingsError(f"unknown setting {key!r} in {path}")
            values[key] = _coerce(key, raw)
    for name in names:
        raw_env = env.get(env_name(name))
        if raw_env is not None:
            values[name] = _coerce(name, raw_env)
    return Settings(**values)


def settings_table() -> str:
    """The Markdown table of every setting, as the README shows it."""
    rows = ["| Variable | Default | Meaning |", "|---|---|---|"]
    for f in fields(Settings):
        if f.name == "state_dir":
            default = "`/var/lib/reqtrail` as root, else the user data dir"
        else:
            value = f.default
            if isinstance(value, tuple):
                value = ",".join(value)
            default = f"`{value}`" if value != "" else "(empty)"
        rows.append(f"| `{env_name(f.name)}` | {default} | {f.metadata['doc']} |")
    return "\n".join(rows)
