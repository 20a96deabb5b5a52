"""Search page: find a player's requests and open one in full. State lives in the URL."""

from __future__ import annotations

import hashlib
import io
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

import pandas as pd
import streamlit as st

from reqtrail.dashboards.queries.bodies import SortValues
from reqtrail.dashboards.queries.es_client import DataUnavailable
from reqtrail.dashboards.queries.export import write_export
from reqtrail.dashboards.queries.filters import FilterError, SearchFilter
from reqtrail.dashboards.queries.reproduce import reproduce_commands
from reqtrail.dashboards.ui.context import Queries, data_guard, now, settings
from reqtrail.dashboards.ui.detail import request_detail
from reqtrail.dashboards.ui.search_form import search_form
from reqtrail.dashboards.ui.url_state import SearchState

TABLE_KEY_PREFIX = "results-"


def status_colour(status: Any) -> str:
    """CSS for a status cell: green 2xx, blue 3xx, orange 4xx, red 5xx."""
    if pd.isna(status):
        return ""
    code = int(status)
    colour = "#d32f2f" if code >= 500 else "#ef6c00" if code >= 400 else "#1565c0"
    if code < 300:
        colour = "#2e7d32"
    return f"color: {colour}; font-weight: 600"


def share_url(params: dict[str, str]) -> str | None:
    base = st.context.url
    if not base:
        return None
    return f"{base.split('?')[0]}?{urlencode(params)}" if params else base.split("?")[0]


def _search_key(state: SearchState) -> str:
    return repr(sorted(state.with_open(None).to_params().items()))


def _pages(state: SearchState) -> list[SortValues | None]:
    """Cursors of the pages seen for this search (reset when the search changes)."""
    if st.session_state.get("_pages_for") != _search_key(state):
        st.session_state["_pages_for"] = _search_key(state)
        st.session_state["_pages"] = [None]
    pages: list[SortValues | None] = st.session_state["_pages"]
    return pages


def table_key(state: SearchState, page_number: int) -> str:
    """A key per search and page, so a new table never inherits an old row selection."""
    digest = hashlib.sha1(f"{_search_key(state)}#{page_number}".encode()).hexdigest()[:12]
    return f"{TABLE_KEY_PREFIX}{digest}"


def _results(q: Queries, state: SearchState, f: SearchFilter) -> str | None:
    """Show one page of results; return the request ID of the selected row, if any."""
    pages = _pages(state)
    page = q.search(f, q.cfg.dashboard_page_size, pages[-1])
    total = f"{page.total:,}" if page.total_is_exact else f"more than {page.total:,}"
    st.markdown(f"**{total} requests**, newest first · page {len(pages)}")
    if page.thresholds is not None and f.route_percentile is not None:
        limits = ", ".join(f"{r} > {v:,.1f} ms" for r, v in sorted(page.thresholds.items()))
        st.caption(f"p{f.route_percentile:g} of each route over the range: {limits or '-'}")
    if page.rows.empty:
        st.info("No requests match. Widen the time range or check the IDs (they match exactly).")
        return None
    table = page.rows[["time", "user_id", "method", "route", "status", "latency_ms", "request_id"]]
    event = st.dataframe(
        table.style.map(status_colour, subset=["status"]),
        key=table_key(state, len(pages)),
        on_select="rerun",
        selection_mode="single-row",
        hide_index=True,
        width="stretch",
        column_config={
            "time": st.column_config.DatetimeColumn("time (UTC)", format="YYYY-MM-DD HH:mm:ss.SSS"),
            "user_id": "user",
            "latency_ms": st.column_config.NumberColumn("latency (ms)", format="%.1f"),
            "request_id": st.column_config.TextColumn("request ID", width="large"),
        },
    )
    back, forward, _ = st.columns([1, 1, 6])
    if len(pages) > 1 and back.button("← Newer"):
        pages.pop()
        st.rerun()
    if page.next_after is not None and forward.button("Older →"):
        pages.append(page.next_after)
        st.rerun()
    rows = event.selection.rows if event is not None else []
    return str(table.iloc[rows[0]]["request_id"]) if rows else None


def _export_button(q: Queries, f: SearchFilter) -> None:
    if f.user_id is None:
        return
    user_id, time_range = f.user_id, f.time_range

    def build() -> bytes:
        buffer = io.BytesIO()
        limit = q.cfg.dashboard_export_limit
        write_export(buffer, q.es, q.index, user_id, time_range, limit=limit)
        return buffer.getvalue()

    data: Callable[[], bytes] = build
    st.download_button(
        "Export this user's requests (JSON)",
        data=data,
        file_name=f"reqtrail-{user_id[:64]}-{time_range.start:%Y%m%dT%H%M}.json",
        mime="application/json",
        on_click="ignore",
        help="All of this user's requests in the time range, oldest first, full records.",
    )


def _reproduce(q: Queries, f: SearchFilter) -> None:
    """ "Reproduce in dev": the export and replay commands for this player's search."""
    commands = reproduce_commands(f, q.cfg.replay_target)
    if commands is None:
        return
    with st.expander("Reproduce in dev"):
        st.caption(
            "Copy this player's requests to your machine and replay them in order against "
            f"your dev server ({q.cfg.replay_target}, REQTRAIL_REPLAY_TARGET). Run where "
            "`reqtrail` reaches this Elasticsearch (or `reqtrail import` the file into yours)."
        )
        st.code(commands.text, language="bash")
        if commands.not_carried:
            st.caption(
                "Not carried over (replay has no such filter): " + ", ".join(commands.not_carried)
            )
        st.caption(
            "Django: copy the player's game data first with "
            "`python manage.py reqtrail_userdata export <user pk> -o player-data.json`, then "
            "`reqtrail_userdata import player-data.json --as-user <dev pk>` (docs/replay.md)."
        )


def main() -> None:
    cfg = settings()
    st.title("Search requests")
    try:
        state = SearchState.from_params(st.query_params.to_dict())
    except FilterError as exc:
        st.warning(f"The link has a bad parameter and was ignored: {exc}")
        state = SearchState()
    moment = now(cfg)
    q = Queries(cfg)
    with data_guard():
        routes = q.values(state.time_range(moment), "route")
    submitted = search_form(state, routes, moment)
    if submitted is not None:
        state = submitted
        st.query_params.from_dict(state.to_params())
    with data_guard():
        f = state.to_filter(moment)
        _export_button(q, f)
        _reproduce(q, f)
        selected = _results(q, state, f)
        if selected is not None and selected != st.session_state.get("_last_selected"):
            st.session_state["_last_selected"] = selected
            state = state.with_open(selected)
            st.query_params.from_dict(state.to_params())
        if state.open_request:
            _detail(q, state)


def _detail(q: Queries, state: SearchState) -> None:
    st.divider()
    record = q.request(state.open_request or "")
    if record is None:
        st.warning(f"No request with ID {state.open_request!r} in the index.")
        return
    link = share_url(SearchState(open_request=state.open_request).to_params())
    request_detail(
        record,
        q.cfg.sentry_base_url,
        link,
        replay_target=q.cfg.replay_target,
        user_id_header=q.cfg.user_id_header,
        replays=q.replays(str(record.get("request_id", ""))),
    )
    if st.button("Close detail"):
        # The row stays selected; "_last_selected" keeps it from reopening the detail.
        st.query_params.from_dict(state.with_open(None).to_params())
        st.rerun()


try:
    main()
except DataUnavailable as exc:  # e.g. raised lazily inside a download callback
    st.error(str(exc))
