"""One typed settings object for every stage, read from the environment.

Each field is overridable with ``REQTRAIL_<FIELD_NAME_UPPER>``.  Lowest to highest:
defaults, an optional TOML file (``REQTRAIL_CONFIG``, else ``./reqtrail.toml`` when
present), a framework's own configuration (``overrides``: Django's ``settings.REQTRAIL``,
Flask's ``app.config``, keyed by the variable names without ``REQTRAIL_``), then the
environment.  Bad values fail early with a one-line message naming where the value came
from, e.g. ``REQTRAIL_ES_URL is not a URL: 'localhost'``.  An unknown key, or a
``REQTRAIL_*`` variable that is no setting, is named with the closest real one.
"""

from __future__ import annotations

import dataclasses
import difflib
import os
import tomllib
import types
import typing
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

ENV_PREFIX = "REQTRAIL_"


class SettingsError(ValueError):
    """A setting has a value that cannot be used; the message names the variable.

    ``field`` is the settings field at fault (None for an unknown key or unreadable file)
    and ``problem`` the message without the name, so a caller that read the value from
    elsewhere can name its own source (``relabel``).
    """

    def __init__(self, message: str, *, field: str | None = None, problem: str = "") -> None:
        super().__init__(message)
        self.field = field
        self.problem = problem

    @classmethod
    def of(cls, field_name: str, problem: str) -> SettingsError:
        """``REQTRAIL_<FIELD> <problem>``, remembering the field."""
        return cls(f"{env_name(field_name)} {problem}", field=field_name, problem=problem)

    def relabel(self, label: str) -> SettingsError:
        """The same error, naming ``label`` (e.g. ``settings.REQTRAIL["ES_URL"]``)."""
        return SettingsError(f"{label} {self.problem}", field=self.field, problem=self.problem)


class SettingsWarning(UserWarning):
    """A ``REQTRAIL_*`` environment variable that no setting reads (probably a typo)."""


# REQTRAIL_* variables read by other parts of the project (tools, demo, tests), not settings.
OTHER_VARIABLES = frozenset(
    {
        "REQTRAIL_CONFIG",
        "REQTRAIL_VENV",
        "REQTRAIL_TEST_SERVICES",
        "REQTRAIL_DOCS_SCREENSHOTS",
        "REQTRAIL_ES_PORT",  # docker-compose.yml
        "REQTRAIL_KAFKA_PORT",
    }
)
OTHER_VARIABLE_PREFIXES = ("REQTRAIL_DEMO_",)


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
    es_url: str = _doc("Elasticsearch URL.", "http://127.0.0.1:9200")
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
    index_replicas: int = _doc("index.number_of_replicas of new daily indices.", 0)
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
        "A record not acknowledged by Kafka within this time counts as dropped (and spilled); "
        "a producer that holds records longer than this (plus a margin) is replaced.",
        30000,
    )
    kafka_max_request_size: int = _doc(
        "Largest record the producer sends, in bytes (kafka-python's max_request_size; keep it "
        "at most the broker's message.max.bytes): bodies are cut further to fit.",
        1048576,
    )
    shutdown_timeout_s: float = _doc(
        "When the server stops, how long the sink waits for Kafka to take what it holds; the "
        "rest is spilled.",
        5.0,
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
    retention_days: int = _doc(
        "Days of daily indices kept: `reqtrail retention` deletes older ones by default, and "
        "the indexer dead-letters records dated before them.",
        30,
    )
    timestamp_max_age_days: int = _doc(
        "Records dated before the last this many days (today included) go to the DLQ as "
        "'timestamp out of range' (0: REQTRAIL_RETENTION_DAYS).",
        0,
    )
    timestamp_max_future_s: int = _doc(
        "Records dated more than this many seconds ahead of the indexer's clock go to the DLQ "
        "as 'timestamp out of range'.",
        86400,
    )
    # --- Dashboard ---------------------------------------------------------------------
    dashboard_port: int = _doc("Port of the Streamlit dashboard.", 8501)
    dashboard_address: str = _doc(
        "Interface the dashboard binds; other than loopback it needs a password.", "127.0.0.1"
    )
    dashboard_password: str = _doc("If set, the dashboard asks for this password.", "")
    sentry_base_url: str = _doc(
        "Sentry web URL for links, e.g. "
        "https://sentry.io/organizations/acme/issues/ (empty: no links).",
        "",
    )
    replay_target: str = _doc(
        "Dev server `reqtrail replay` sends to, and the dashboard's reproduce commands name.",
        "http://127.0.0.1:8000",
    )
    indexer_metrics_urls: str = _doc(
        "The indexers' /metrics URLs, comma separated, for the Ingest page's rate, lag and "
        "dead letters (empty: that page shows what Elasticsearch holds only).",
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
        "Transport port of the local Elasticsearch (0: the REQTRAIL_ES_URL port + 100).", 0
    )
    kafka_controller_port: int = _doc(
        "KRaft controller port of the local Kafka (0: the REQTRAIL_KAFKA_BOOTSTRAP port + 1).", 0
    )
    es_heap: str = _doc("Heap of the local Elasticsearch (-Xms/-Xmx).", "1g")
    kafka_heap: str = _doc("Heap of the local Kafka broker.", "512m")
    service_user: str = _doc(
        "Unprivileged user that runs Elasticsearch and Kafka when invoked as root.", "reqtrail"
    )
    startup_timeout_s: float = _doc("How long `services up` waits for health.", 180.0)

    # ------------------------------------------------------------------------------------
    def __post_init__(self) -> None:
        _check_url("es_url", self.es_url)
        _check_url("replay_target", self.replay_target)
        for hostport in self.kafka_bootstrap.split(","):
            host, _, port = hostport.strip().rpartition(":")
            if not host or not port.isdigit():
                raise SettingsError.of(
                    "kafka_bootstrap", f"is not host:port[,host:port]: {self.kafka_bootstrap!r}"
                )
        if not 0.0 <= self.sample_rate <= 1.0:
            raise SettingsError.of("sample_rate", f"must be within 0..1: {self.sample_rate}")
        for name in (
            "body_max_bytes",
            "buffer_size",
            "batch_size",
            "batch_max_bytes",
            "topic_partitions",
            "retention_days",
        ):
            if getattr(self, name) <= 0:
                raise SettingsError.of(name, f"must be positive: {getattr(self, name)}")
        for name in ("es_transport_port", "kafka_controller_port"):
            if not 0 <= getattr(self, name) <= 65535:
                raise SettingsError.of(
                    name, f"must be a port (1-65535, 0: derived): {getattr(self, name)}"
                )
        if self.shutdown_timeout_s < 0:
            raise SettingsError.of(
                "shutdown_timeout_s", f"must not be negative: {self.shutdown_timeout_s}"
            )
        if self.kafka_max_request_size < 16384:
            raise SettingsError.of(
                "kafka_max_request_size",
                f"must be at least 16384 (bytes): {self.kafka_max_request_size}",
            )
        for name in ("timestamp_max_age_days", "timestamp_max_future_s"):
            if getattr(self, name) < 0:
                raise SettingsError.of(name, f"must not be negative: {getattr(self, name)}")

    @property
    def es_port(self) -> int:
        return urlparse(self.es_url).port or 9200

    @property
    def kafka_port(self) -> int:
        return int(self.kafka_bootstrap.split(",")[0].rpartition(":")[2])

    @property
    def read_alias(self) -> str:
        return self.index_prefix

    @property
    def timestamp_window_days(self) -> int:
        """Days of records the indexer accepts, today included (the retention by default)."""
        return self.timestamp_max_age_days or self.retention_days

    def replace(self, **changes: Any) -> Settings:
        return dataclasses.replace(self, **changes)


def env_name(field_name: str) -> str:
    return ENV_PREFIX + field_name.upper()


def _check_url(name: str, value: str) -> None:
    parsed = urlparse(value)
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise SettingsError.of(name, f"is not a URL: {value!r}")


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
        raise SettingsError.of(name, f"is not a valid {pretty}: {raw!r}") from None


def setting_keys() -> list[str]:
    """Every setting's key as frameworks spell it: the variable name without ``REQTRAIL_``."""
    return [f.name.upper() for f in fields(Settings)]


def closest(name: str, candidates: list[str]) -> str | None:
    """The candidate most like ``name`` (case-insensitive), if any is close."""
    by_upper = {c.upper(): c for c in candidates}
    match = difflib.get_close_matches(name.upper(), list(by_upper), n=1, cutoff=0.6)
    return by_upper[match[0]] if match else None


def _unknown(where: str, key: str, candidates: list[str], prefix: str = "") -> SettingsError:
    suggestion = closest(key.removeprefix(prefix), candidates)
    hint = f"; did you mean {prefix + suggestion!r}?" if suggestion else ""
    return SettingsError(f"unknown setting {key!r} in {where}{hint}")


_warned: set[str] = set()


def _warn_unknown_variables(env: Mapping[str, str], names: set[str]) -> None:
    """Warn once per process about each ``REQTRAIL_*`` variable that is no setting."""
    known = {env_name(name) for name in names}
    for variable in env:
        if (
            not variable.startswith(ENV_PREFIX)
            or variable in known
            or variable in OTHER_VARIABLES
            or variable.startswith(OTHER_VARIABLE_PREFIXES)
            or variable in _warned
        ):
            continue
        _warned.add(variable)
        suggestion = closest(variable.removeprefix(ENV_PREFIX), setting_keys())
        hint = (
            f"; did you mean {ENV_PREFIX}{suggestion}?"
            if suggestion
            else " (`reqtrail settings --table` lists them)"
        )
        warnings.warn(f"{variable} is not a reqtrail setting{hint}", SettingsWarning, stacklevel=3)


def load_settings(
    environ: Mapping[str, str] | None = None,
    config_file: str | Path | None = None,
    *,
    overrides: Mapping[str, Any] | None = None,
    overrides_source: str = "overrides",
    overrides_prefix: str = "",
) -> Settings:
    """Build settings from the TOML file, then ``overrides``, then ``REQTRAIL_*`` variables.

    ``overrides`` is a framework's own configuration, keyed like the variables without
    ``REQTRAIL_`` plus ``overrides_prefix`` (``{"SERVICE": "match"}`` for Django's
    ``settings.REQTRAIL``; ``{"REQTRAIL_SERVICE": "match"}`` with prefix ``REQTRAIL_`` for
    Flask's ``app.config``).  Errors name the value as ``<overrides_source>["<key>"]``;
    unknown keys are errors naming the closest real key.
    """
    env = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    path = config_file or env.get("REQTRAIL_CONFIG") or None
    if path is None and Path("reqtrail.toml").is_file():
        path = "reqtrail.toml"
    names = {f.name for f in fields(Settings)}
    _warn_unknown_variables(env, names)
    if path is not None:
        try:
            data = tomllib.loads(Path(path).read_text())
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise SettingsError(
                f"REQTRAIL_CONFIG file {str(path)!r} cannot be read: {exc}"
            ) from None
        for key, raw in data.items():
            if key not in names:
                raise _unknown(str(path), key, sorted(names))
            sources[key] = f"{key} in {path}"
            try:
                values[key] = _coerce(key, raw)
            except SettingsError as exc:
                raise exc.relabel(sources[key]) from None
    for key, raw in (overrides or {}).items():
        bare = key.removeprefix(overrides_prefix) if key.startswith(overrides_prefix) else ""
        name = bare.lower()
        if bare != name.upper() or name not in names:
            raise _unknown(overrides_source, key, setting_keys(), overrides_prefix)
        sources[name] = f'{overrides_source}["{key}"]'
        try:
            values[name] = _coerce(name, raw)
        except SettingsError as exc:
            raise exc.relabel(sources[name]) from None
    for name in names:
        raw_env = env.get(env_name(name))
        if raw_env is not None:
            values[name] = _coerce(name, raw_env)
            sources.pop(name, None)
    try:
        return Settings(**values)
    except SettingsError as exc:
        if exc.field in sources:
            raise exc.relabel(sources[exc.field]) from None
        raise


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
