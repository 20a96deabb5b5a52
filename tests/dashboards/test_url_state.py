"""Search state <-> URL query parameters, Sentry links and the export CLI's time parsing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest

from reqtrail.dashboards.cli import streamlit_command
from reqtrail.dashboards.queries.filters import FilterError, StatusClass, TimeRange, parse_when
from reqtrail.dashboards.ui.links import sentry_event_url, sentry_request_search_url
from reqtrail.dashboards.ui.url_state import (
    CUSTOM_RANGE,
    SearchState,
    parse_status_text,
    search_link,
    window_state,
)

NOW = datetime(2025, 3, 1, 15, 0, tzinfo=UTC)


def test_default_state_is_the_last_24_hours_with_an_empty_url() -> None:
    """No parameters means the last 24 h, and the default state writes no parameters."""
    state = SearchState.from_params({})
    assert state.is_default() and state.to_params() == {}
    assert state.time_range(NOW) == TimeRange(NOW - timedelta(hours=24), NOW)


def test_every_field_round_trips_through_the_url() -> None:
    """A full search survives to_params -> from_params unchanged, hostile text included."""
    state = SearchState(
        range=CUSTOM_RANGE,
        since=NOW - timedelta(hours=1),
        until=NOW,
        user_id='pla*er"{} & ?x=1#',
        device_id="dev-1",
        request_id="r1",
        route="/units/{unit_id}/upgrade",
        app_version="1.42.0",
        error_type="BattleStateError",
        status_class=StatusClass.S5XX,
        route_percentile=95.0,
        open_request="r1",
    )
    link = search_link(state)
    params = {k: v[0] for k, v in parse_qs(urlsplit(link).query).items()}
    assert SearchState.from_params(params) == state
    assert link.startswith("./?")


def test_exact_status_and_latency_in_ms_round_trip() -> None:
    """An exact status and a latency floor in ms survive the URL."""
    state = SearchState(range="1h", status=503, min_latency_ms=250.0)
    assert state.to_params() == {"range": "1h", "status": "503", "min_ms": "250"}
    assert SearchState.from_params(state.to_params()) == state


@pytest.mark.parametrize(
    "params",
    [
        {"status": "abc"},
        {"class": "6xx"},
        {"range": "forever"},
        {"since": "yesterday"},
        {"status": "500", "class": "5xx"},
        {"min_ms": "10", "pct": "95"},
        {"pct": "150"},
        {"since": "2025-03-01T10:00:00Z", "until": "2025-03-01T09:00:00Z"},
    ],
)
def test_bad_links_raise_filter_error(params: dict[str, str]) -> None:
    """A link with impossible values is refused with FilterError (the page shows a warning)."""
    with pytest.raises(FilterError):
        SearchState.from_params(params)


def test_status_text_accepts_codes_and_classes() -> None:
    """The status box takes 503 or 5xx (any case) and refuses anything else."""
    assert parse_status_text("503") == (503, None)
    assert parse_status_text(" 5XX ") == (None, StatusClass.S5XX)
    assert parse_status_text("") == (None, None)
    with pytest.raises(FilterError):
        parse_status_text("5*")


def test_window_state_pins_the_exact_window() -> None:
    """Drill-down links carry the window the other page showed, not a moving range."""
    window = TimeRange(NOW - timedelta(hours=6), NOW)
    state = window_state(window)
    assert state.time_range(NOW + timedelta(days=3)) == window


def test_sentry_links_quote_their_values() -> None:
    """Sentry links search for the event or request ID; no base URL means no link."""
    base = "https://sentry.io/organizations/acme/issues/"
    assert sentry_event_url(base, "abc123") == f"{base}?query=abc123"
    url = sentry_request_search_url(base, 'r"1 &x')
    assert url is not None
    assert parse_qs(urlsplit(url).query)["query"] == ['request_id:"r\\"1 &x"']
    assert sentry_event_url("", "abc") is None and sentry_request_search_url(base, "") is None


def test_export_times_accept_now_durations_and_iso() -> None:
    """`reqtrail export --since/--until` take now, 24h-style durations or ISO times."""
    assert parse_when("now", now=NOW) == NOW
    assert parse_when("2h", now=NOW) == NOW - timedelta(hours=2)
    assert parse_when("2025-03-01T10:00:00+01:00", now=NOW) == datetime(2025, 3, 1, 9, tzinfo=UTC)
    with pytest.raises(FilterError):
        parse_when("later", now=NOW)


def test_dashboard_command_runs_streamlit_headless_on_the_port() -> None:
    """`reqtrail dashboard` runs `streamlit run dashboards/app.py` headless on the port."""
    command = streamlit_command(8123)
    assert command[1:4] == ["-m", "streamlit", "run"] and command[4].endswith("dashboards/app.py")
    assert "--server.headless=true" in command and "--server.port=8123" in command
