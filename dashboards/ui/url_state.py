"""The search page's state as URL query parameters, so a search or one request is a link.

Pure (no Streamlit): ``SearchState.from_params(st.query_params)`` on load, and
``state.to_params()`` written back on submit. Parameters::

    range=24h | since=<ISO>&until=<ISO>    time range (quick pick, or custom window)
    user, device, rid, route, version, error   exact values (user_id ... error.type)
    status=503 | class=5xx                 exact status or status class
    min_ms=250 | pct=95                    latency >= ms, or slower than p95 of its route
    open=<request_id>                      the request whose detail is shown
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from datetime import UTC, datetime
from urllib.parse import urlencode

from reqtrail.dashboards.queries.filters import (
    DEFAULT_RANGE,
    QUICK_RANGES,
    FilterError,
    SearchFilter,
    StatusClass,
    TimeRange,
    parse_duration,
    parse_time,
)

CUSTOM_RANGE = "custom"
TEXT_PARAMS: dict[str, str] = {
    "user_id": "user",
    "device_id": "device",
    "request_id": "rid",
    "route": "route",
    "app_version": "version",
    "error_type": "error",
}
SEARCH_PAGE_PATH = "./"  # the default page is served at the app root


def _first(value: str | list[str] | None) -> str | None:
    if isinstance(value, list):
        value = value[0] if value else None
    if value is None or value == "":
        return None
    return value


def _number(name: str, text: str | None) -> float | None:
    if text is None:
        return None
    try:
        return float(text)
    except ValueError:
        raise FilterError(f"{name} is not a number: {text!r}") from None


@dataclass(frozen=True)
class SearchState:
    """Everything the search page shows, as plain values."""

    range: str = DEFAULT_RANGE
    since: datetime | None = None
    until: datetime | None = None
    user_id: str | None = None
    device_id: str | None = None
    request_id: str | None = None
    route: str | None = None
    app_version: str | None = None
    error_type: str | None = None
    status: int | None = None
    status_class: StatusClass | None = None
    min_latency_ms: float | None = None
    route_percentile: float | None = None
    open_request: str | None = None

    def time_range(self, now: datetime) -> TimeRange:
        """The concrete window; quick picks end at ``now``."""
        if self.range == CUSTOM_RANGE:
            if self.since is None or self.until is None:
                raise FilterError("a custom time range needs both since and until")
            return TimeRange(self.since, self.until)
        return TimeRange.last(QUICK_RANGES.get(self.range) or parse_duration(self.range), now=now)

    def to_filter(self, now: datetime) -> SearchFilter:
        """The query layer's filter (raises ``FilterError`` for contradicting values)."""
        return SearchFilter(
            time_range=self.time_range(now),
            user_id=self.user_id,
            device_id=self.device_id,
            request_id=self.request_id,
            route=self.route,
            app_version=self.app_version,
            error_type=self.error_type,
            status=self.status,
            status_class=self.status_class,
            min_latency_ms=self.min_latency_ms,
            route_percentile=self.route_percentile,
        )

    def with_open(self, request_id: str | None) -> SearchState:
        return replace(self, open_request=request_id)

    @classmethod
    def from_params(cls, params: Mapping[str, str | list[str]]) -> SearchState:
        """Read the state from query parameters; bad values raise ``FilterError``."""
        get = {key: _first(params.get(key)) for key in params}
        text = {name: get.get(param) for name, param in TEXT_PARAMS.items()}
        quick, since, until = get.get("range"), get.get("since"), get.get("until")
        if since or until:
            quick = CUSTOM_RANGE
        elif quick is not None and quick not in QUICK_RANGES:
            parse_duration(quick)  # raises FilterError for nonsense
        status = _number("status", get.get("status"))
        status_class: StatusClass | None = None
        if get.get("class"):
            try:
                status_class = StatusClass(str(get["class"]))
            except ValueError:
                raise FilterError(f"class must be 2xx, 3xx, 4xx or 5xx: {get['class']!r}") from None
        state = cls(
            range=quick or DEFAULT_RANGE,
            since=parse_time(since) if since else None,
            until=parse_time(until) if until else None,
            user_id=text["user_id"],
            device_id=text["device_id"],
            request_id=text["request_id"],
            route=text["route"],
            app_version=text["app_version"],
            error_type=text["error_type"],
            status=None if status is None else int(status),
            status_class=status_class,
            min_latency_ms=_number("min_ms", get.get("min_ms")),
            route_percentile=_number("pct", get.get("pct")),
            open_request=get.get("open"),
        )
        state.to_filter(datetime.now(UTC))  # validate the combination early
        return state

    def to_params(self) -> dict[str, str]:
        """Query parameters for this state; defaults are left out to keep links short."""
        params: dict[str, str] = {}
        if self.range == CUSTOM_RANGE and self.since and self.until:
            params["since"] = self.since.isoformat().replace("+00:00", "Z")
            params["until"] = self.until.isoformat().replace("+00:00", "Z")
        elif self.range != DEFAULT_RANGE:
            params["range"] = self.range
        for name, param in TEXT_PARAMS.items():
            value = getattr(self, name)
            if value:
                params[param] = value
        if self.status is not None:
            params["status"] = str(self.status)
        if self.status_class is not None:
            params["class"] = self.status_class.value
        if self.min_latency_ms is not None:
            params["min_ms"] = f"{self.min_latency_ms:g}"
        if self.route_percentile is not None:
            params["pct"] = f"{self.route_percentile:g}"
        if self.open_request:
            params["open"] = self.open_request
        return params

    def is_default(self) -> bool:
        return all(getattr(self, f.name) == f.default for f in fields(self))


def search_link(state: SearchState) -> str:
    """A relative link to the search page showing ``state`` (works under any base path)."""
    query = urlencode(state.to_params())
    return f"{SEARCH_PAGE_PATH}?{query}" if query else SEARCH_PAGE_PATH


def window_state(time_range: TimeRange) -> SearchState:
    """A search state for exactly ``time_range`` (e.g. the window another page shows)."""
    return SearchState(range=CUSTOM_RANGE, since=time_range.start, until=time_range.end)


def parse_status_text(text: str) -> tuple[int | None, StatusClass | None]:
    """``"503"`` -> (503, None); ``"5xx"``/``"5XX"`` -> (None, 5xx); blank -> (None, None)."""
    cleaned = text.strip().lower()
    if not cleaned:
        return None, None
    if cleaned in {c.value for c in StatusClass}:
        return None, StatusClass(cleaned)
    if cleaned.isdigit() and 100 <= int(cleaned) <= 599:
        return int(cleaned), None
    raise FilterError(f"status must be a code like 503 or a class like 5xx: {text!r}")


def status_text(state: SearchState) -> str:
    if state.status is not None:
        return str(state.status)
    return state.status_class.value if state.status_class is not None else ""
