"""Which headers the middlewares read, and the processor that makes record fields of them.

On the request thread a middleware reads only what the request itself needs: the request,
user, device and session IDs (for ``X-Request-ID``, structlog's context and Sentry's scope).
It hands every other header over as it is, and ``HeaderFields`` (the first processor after
the sampler, so on the sink's thread when the sink renders there) makes the fields:

* ``_headers``: ``{lower-case name: value}`` of the wanted headers (WSGI, Django);
* ``_raw_headers``: ASGI's request headers as received, ``[(name, value), ...]`` bytes (every
  header: the middleware only looks for the four IDs in them);
* ``_raw_response_headers``: ASGI's response ``[(name, value), ...]`` as sent;
* ``_response_header_pairs``: WSGI's or Django's response ``[(name, value), ...]`` as sent.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from structlog.typing import EventDict, WrappedLogger

from reqtrail.producers.ids import usable_id
from reqtrail.settings import ProducerSettings

# Headers the middleware reads for record fields, whether or not they are allow-listed.
REQUEST_ID_HEADER = "x-request-id"
DEVICE_ID_HEADER = "x-device-id"
SESSION_ID_HEADER = "x-session-id"
CLIENT_VERSION_HEADER = "x-client-version"
PLATFORM_HEADER = "x-platform"
USER_AGENT_HEADER = "user-agent"
CONTENT_TYPE_HEADER = "content-type"
REPLAY_OF_HEADER = "x-reqtrail-replay-of"  # set by `reqtrail replay`: the original request_id
# Headers copied into record fields of their own when present (and not empty).
_HEADER_FIELDS = (
    (USER_AGENT_HEADER, "user_agent"),
    (CLIENT_VERSION_HEADER, "client_version"),
    (PLATFORM_HEADER, "platform"),
)


@dataclass(frozen=True)
class CaptureConfig:
    """What the middlewares read from each request, derived once from the settings."""

    user_id_header: str
    app_version_header: str
    header_allowlist: frozenset[str]
    wanted_headers: frozenset[str]
    body_max_bytes: int
    # For ASGI's raw headers: latin-1 bytes -> position in (request ID, user ID, device ID,
    # session ID) of the four the middleware reads, and latin-1 bytes -> name of the wanted
    # and the allow-listed ones (picked without decoding names).
    raw_id_headers: dict[bytes, int]
    raw_wanted_names: dict[bytes, str]
    raw_allowlist_names: dict[bytes, str]

    @classmethod
    def from_settings(cls, settings: ProducerSettings) -> CaptureConfig:
        allow = frozenset(h.strip().lower() for h in settings.header_allowlist if h.strip())
        user_header = settings.user_id_header.strip().lower()
        version_header = settings.app_version_header.strip().lower()
        specials = {
            REQUEST_ID_HEADER,
            DEVICE_ID_HEADER,
            SESSION_ID_HEADER,
            CLIENT_VERSION_HEADER,
            PLATFORM_HEADER,
            USER_AGENT_HEADER,
            CONTENT_TYPE_HEADER,
            REPLAY_OF_HEADER,
            user_header,
            version_header,
        }
        wanted = frozenset(h for h in allow | specials if h)
        return cls(
            user_id_header=user_header,
            app_version_header=version_header,
            header_allowlist=allow,
            wanted_headers=wanted,
            body_max_bytes=settings.body_max_bytes,
            raw_id_headers={
                h.encode("latin-1"): i
                for i, h in enumerate(
                    (REQUEST_ID_HEADER, user_header, DEVICE_ID_HEADER, SESSION_ID_HEADER)
                )
                if h
            },
            raw_wanted_names={h.encode("latin-1"): h for h in wanted},
            raw_allowlist_names={h.encode("latin-1"): h for h in allow},
        )


class HeaderFields:
    """Record fields from the headers a middleware handed over (see the module docstring):
    the allow-listed ``request_headers`` / ``response_headers``, ``user_agent``,
    ``client_version``, ``platform``, ``app_version``, ``replay_of`` and the content-type
    hints the body processors read."""

    def __init__(self, capture: CaptureConfig) -> None:
        self.allowlist = capture.header_allowlist
        self.app_version_header = capture.app_version_header
        self.raw_wanted_names = capture.raw_wanted_names
        self.raw_allowlist_names = capture.raw_allowlist_names

    def __call__(self, logger: WrappedLogger, method_name: str, event: EventDict) -> EventDict:
        headers: Mapping[str, str] | None = event.pop("_headers", None)
        raw: Iterable[tuple[bytes, bytes]] | None = event.pop("_raw_headers", None)
        if raw is not None:  # the last of repeated ones wins, as in the WSGI environ
            names = self.raw_wanted_names
            headers = {names[k]: v.decode("latin-1") for k, v in raw if k in names}
        if headers is not None:
            self._request_fields(event, headers)
        raw_response = event.pop("_raw_response_headers", None)
        pairs = event.pop("_response_header_pairs", None)
        picked: dict[str, str] | None = None
        if raw_response is not None:
            picked = pick_raw_headers(raw_response, self.raw_allowlist_names)
        elif pairs is not None:
            picked = pick_headers(pairs, self.allowlist)
        if picked is not None:
            event["response_headers"] = picked
            content_type = picked.get(CONTENT_TYPE_HEADER)
            if content_type is not None:
                event["_response_content_type"] = content_type
        return event

    def _request_fields(self, event: EventDict, headers: Mapping[str, str]) -> None:
        allow = self.allowlist
        get = headers.get
        event["request_headers"] = {k: v for k, v in headers.items() if v and k in allow}
        for name, field in _HEADER_FIELDS:
            value = get(name)
            if value:
                event[field] = value
        event["_request_content_type"] = get(CONTENT_TYPE_HEADER)
        replay_of = get(REPLAY_OF_HEADER)
        if replay_of is not None:
            event["replay_of"] = usable_id(replay_of)
        if self.app_version_header:
            app_version = get(self.app_version_header)
            if app_version is not None:
                event["app_version"] = app_version


def pick_raw_headers(
    pairs: Iterable[tuple[bytes, bytes]], names: Mapping[bytes, str]
) -> dict[str, str]:
    """``{name: value}`` of the non-empty headers among ASGI ``(name, value)`` pairs whose
    names ``names`` maps (lower-case bytes -> name)."""
    picked: dict[str, str] = {}
    for name, value in pairs:
        key = names.get(name)
        if key is not None and value:
            picked[key] = value.decode("latin-1")
    return picked


def pick_headers(pairs: Iterable[tuple[str, str]], wanted: frozenset[str]) -> dict[str, str]:
    """``{lower-case name: value}`` of the wanted headers among ``(name, value)`` pairs."""
    out: dict[str, str] = {}
    for name, value in pairs:
        lowered = name.lower()
        if value and lowered in wanted:
            out[lowered] = value
    return out
