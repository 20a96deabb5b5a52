"""A recorded request as a request again: headers to send, curl, and the reproduce commands.

Pure functions (no Elasticsearch, no Streamlit), shared by the dashboard ("copy as curl",
"Reproduce in dev") and by ``reqtrail replay``, so both rebuild a request the same way:

* ``method``, ``path`` and ``query`` as recorded;
* the recorded (allow-listed) request headers, except those that belong to one connection
  or one request (``host``, ``content-length``, ``x-request-id``...);
* headers the middleware always reads into record fields (``x-device-id``,
  ``x-platform``...; the user-ID header) rebuilt from those fields when not recorded;
* the request body as recorded.

A body or query that was redacted or truncated when it was recorded is not the request
the player sent: :attr:`RecordedRequest.problems` says why, and callers skip it unless told
to send the placeholders. Redacted header values are left out unless asked for.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from reqtrail.dashboards.queries.filters import SearchFilter, iso_millis

# The placeholder reqtrail.producers.redaction writes for a secret value.
REDACTED = "[REDACTED]"
REPLAY_OF_HEADER = "x-reqtrail-replay-of"
REQUEST_ID_HEADER = "x-request-id"
# Headers of one connection or one request: never re-sent as recorded.
NOT_RESENT = frozenset(
    {
        "host",
        "content-length",
        "transfer-encoding",
        "connection",
        "accept-encoding",  # the sending client picks the encodings it can decode
        REQUEST_ID_HEADER,
        REPLAY_OF_HEADER,
    }
)
# Record fields the middleware reads from fixed headers, whether allow-listed or not.
FIELD_HEADERS = {
    "device_id": "x-device-id",
    "session_id": "x-session-id",
    "client_version": "x-client-version",
    "platform": "x-platform",
    "user_agent": "user-agent",
}
DEFAULT_TARGET = "http://127.0.0.1:8000"


@dataclass(frozen=True)
class RecordedRequest:
    """What to send to re-issue one recorded request."""

    request_id: str
    method: str
    path: str
    query: str | None
    headers: dict[str, str]
    body: str | None
    problems: tuple[str, ...] = ()
    redacted_headers: tuple[str, ...] = ()

    @property
    def target(self) -> str:
        """``path?query`` as recorded."""
        return f"{self.path}?{self.query}" if self.query else self.path

    @property
    def replayable(self) -> bool:
        return not self.problems


def _problems(record: Mapping[str, Any]) -> tuple[str, ...]:
    found = []
    body = record.get("request_body")
    if record.get("request_body_truncated"):
        size = record.get("request_body_size")
        kept = len(str(body or "").encode("utf-8"))
        found.append(f"request body truncated when recorded ({kept:,} of {size:,} bytes)")
    if isinstance(body, str) and REDACTED in body:
        found.append("request body redacted when recorded")
    if REDACTED in str(record.get("query") or ""):
        found.append("query string redacted when recorded")
    return tuple(found)


def recorded_request(
    record: Mapping[str, Any],
    *,
    user_id_header: str = "x-user-id",
    send_redacted: bool = False,
) -> RecordedRequest:
    """The request ``record`` describes (see the module docstring for what is re-sent)."""
    headers: dict[str, str] = {}
    redacted: list[str] = []
    for name, value in sorted((record.get("request_headers") or {}).items()):
        lowered = name.lower()
        if lowered in NOT_RESENT:
            continue
        if value == REDACTED and not send_redacted:
            redacted.append(lowered)
            continue
        headers[lowered] = str(value)
    for field_name, header in FIELD_HEADERS.items():
        value = record.get(field_name)
        if value and header not in headers and header not in redacted:
            headers[header] = str(value)
    user_header = user_id_header.strip().lower()
    user_id = record.get("user_id")
    if user_header and user_id and user_header not in headers and user_header not in redacted:
        headers[user_header] = str(user_id)
    body = record.get("request_body")
    return RecordedRequest(
        request_id=str(record.get("request_id", "")),
        method=str(record.get("method", "GET")).upper(),
        path=str(record.get("path", "/")),
        query=record.get("query") or None,
        headers=headers,
        body=body if isinstance(body, str) and body != "" else None,
        problems=_problems(record),
        redacted_headers=tuple(redacted),
    )


def curl_command(
    request: RecordedRequest, base_url: str, headers: Mapping[str, str] | None = None
) -> str:
    """A shell-ready curl command sending ``request`` to ``base_url`` (``headers`` override)."""
    sent = {**request.headers, **{k.lower(): v for k, v in (headers or {}).items()}}
    parts = ["curl", "-sS", "-X", request.method, base_url.rstrip("/") + request.target]
    for name, value in sent.items():
        parts += ["-H", f"{name}: {value}"]
    if request.body is not None:
        parts += ["--data-binary", request.body]
    return " ".join(shlex.quote(part) for part in parts)


_UNSAFE_FILE_CHARS = re.compile(r"[^A-Za-z0-9._-]+")


def export_file_name(user_id: str) -> str:
    """A shell-safe file name for one player's export, e.g. ``reqtrail-player-00042.json``."""
    cleaned = _UNSAFE_FILE_CHARS.sub("_", user_id).strip("._") or "player"
    return f"reqtrail-{cleaned[:64]}.json"


@dataclass(frozen=True)
class ReproduceCommands:
    """The shell commands that reproduce a search in dev, and the filters they cannot carry."""

    commands: tuple[str, ...]
    not_carried: tuple[str, ...]

    @property
    def text(self) -> str:
        return "\n".join(self.commands)


def reproduce_commands(f: SearchFilter, target: str = DEFAULT_TARGET) -> ReproduceCommands | None:
    """``reqtrail export`` + ``reqtrail replay`` for a player's search (None without a user).

    Only the user ID and the time range go into the export (it holds the player's whole
    session); route, status and request ID narrow the replay. Other filters have no
    replay option and are listed in ``not_carried``.
    """
    if f.user_id is None:
        return None
    window = ["--since", iso_millis(f.time_range.start), "--until", iso_millis(f.time_range.end)]
    file_name = export_file_name(f.user_id)
    export = ["reqtrail", "export", "--user", f.user_id, *window, "-o", file_name]
    replay = ["reqtrail", "replay", file_name, "--target", target]
    if f.route is not None:
        replay += ["--route", f.route]
    if f.status is not None:
        replay += ["--status", str(f.status)]
    if f.status_class is not None:
        replay += ["--status", f.status_class.value]
    if f.request_id is not None:
        replay += ["--request-id", f.request_id]
    not_carried = [
        label
        for label, value in (
            ("device ID", f.device_id),
            ("app version", f.app_version),
            ("error type", f.error_type),
            ("latency", f.min_latency_ms if f.min_latency_ms is not None else f.route_percentile),
        )
        if value is not None
    ]
    commands = tuple(shlex.join(command) for command in (export, replay))
    return ReproduceCommands(commands, tuple(not_carried))
