"""The search page's filter form: widgets start from the URL state, submit gives a new one."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import streamlit as st

from reqtrail.dashboards.queries.filters import QUICK_RANGES, ROUTE_PERCENTILES, FilterError, utc
from reqtrail.dashboards.ui.url_state import (
    CUSTOM_RANGE,
    SearchState,
    parse_status_text,
    status_text,
)

ANY = "(any)"
LATENCY_ANY = "any latency"
LATENCY_MS = "at least … ms"
LATENCY_PCT = {p: f"slower than p{p:g} of its route" for p in ROUTE_PERCENTILES}
RANGE_LABELS = {**{k: f"last {k}" for k in QUICK_RANGES}, CUSTOM_RANGE: "custom (from/to)"}


def _init(key: str, value: Any) -> None:
    """Seed a widget from the URL state unless the user has touched it in this session."""
    if key not in st.session_state:
        st.session_state[key] = value


def _seed_widgets(state: SearchState, now: datetime) -> None:
    _init("f_user", state.user_id or "")
    _init("f_device", state.device_id or "")
    _init("f_rid", state.request_id or "")
    _init("f_range", state.range if state.range in RANGE_LABELS else CUSTOM_RANGE)
    # From/To show the window actually searched, so "last 1h" reads as the hour it is,
    # and switching to a custom range starts from it.
    try:
        window = state.time_range(now)
        since, until = window.start, window.end
    except FilterError:
        since, until = now - timedelta(hours=24), now
    _init("f_since", since.replace(tzinfo=None))
    _init("f_until", until.replace(tzinfo=None))
    _init("f_status", status_text(state))
    _init("f_route", state.route or ANY)
    _init("f_version", state.app_version or "")
    _init("f_error", state.error_type or "")
    if state.route_percentile is not None:
        mode = LATENCY_PCT.get(state.route_percentile, LATENCY_ANY)
    elif state.min_latency_ms is not None:
        mode = LATENCY_MS
    else:
        mode = LATENCY_ANY
    _init("f_latency_mode", mode)
    _init("f_latency_ms", float(state.min_latency_ms or 0.0))


def _text(key: str) -> str | None:
    value = str(st.session_state.get(key) or "")
    return value.strip() or None


def state_from_widgets() -> SearchState:
    """The state the submitted widget values describe (raises ``FilterError``)."""
    status, status_class = parse_status_text(str(st.session_state.get("f_status") or ""))
    mode = st.session_state.get("f_latency_mode", LATENCY_ANY)
    percentile = next((p for p, label in LATENCY_PCT.items() if label == mode), None)
    route = st.session_state.get("f_route")
    quick = str(st.session_state.get("f_range"))
    since = until = None
    if quick == CUSTOM_RANGE:
        since, until = utc(st.session_state["f_since"]), utc(st.session_state["f_until"])
    return SearchState(
        range=quick,
        since=since,
        until=until,
        user_id=_text("f_user"),
        device_id=_text("f_device"),
        request_id=_text("f_rid"),
        route=None if route in (None, ANY) else str(route),
        app_version=_text("f_version"),
        error_type=_text("f_error"),
        status=status,
        status_class=status_class,
        min_latency_ms=float(st.session_state["f_latency_ms"]) if mode == LATENCY_MS else None,
        route_percentile=percentile,
    )


def search_form(state: SearchState, routes: list[str], now: datetime) -> SearchState | None:
    """Draw the form; return the new state when it was submitted and is valid."""
    _seed_widgets(state, now)
    route_options = [ANY, *routes]
    if state.route and state.route not in route_options:
        route_options.append(state.route)
    with st.form("search"):
        c1, c2, c3 = st.columns(3)
        c1.text_input("User ID", key="f_user", placeholder="exact, e.g. player-00042")
        c2.text_input("Device ID", key="f_device")
        c3.text_input("Request ID", key="f_rid")
        c1, c2, c3 = st.columns(3)
        c1.selectbox(
            "Time range", list(RANGE_LABELS), key="f_range", format_func=RANGE_LABELS.__getitem__
        )
        c2.datetime_input("From (custom, UTC)", key="f_since", step=timedelta(minutes=5))
        c3.datetime_input("To (custom, UTC)", key="f_until", step=timedelta(minutes=5))
        c1, c2, c3, c4 = st.columns([1, 2, 2, 1])
        c1.text_input("Status", key="f_status", placeholder="500 or 5xx")
        c2.selectbox("Route", route_options, key="f_route")
        c3.selectbox(
            "Latency", [LATENCY_ANY, LATENCY_MS, *LATENCY_PCT.values()], key="f_latency_mode"
        )
        c4.number_input("ms", min_value=0.0, step=50.0, key="f_latency_ms")
        with st.expander("More filters"):
            c1, c2 = st.columns(2)
            c1.text_input("App version", key="f_version")
            c2.text_input("Error type", key="f_error")
        submitted = st.form_submit_button("Search", type="primary")
    if not submitted:
        return None
    try:
        new_state = state_from_widgets()
        new_state.to_filter(now)
    except FilterError as exc:
        st.warning(f"Check the filters: {exc}")
        return None
    return new_state
