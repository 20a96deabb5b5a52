"""One request in full: bodies, headers, timings, error, Sentry links, the ID to copy."""

from __future__ import annotations

import json
from typing import Any

import pandas as pd
import streamlit as st

from reqtrail.dashboards.queries.reproduce import REPLAY_OF_HEADER, curl_command, recorded_request
from reqtrail.dashboards.ui.links import sentry_event_url, sentry_request_search_url
from reqtrail.dashboards.ui.url_state import SearchState, search_link

CONTEXT_FIELDS = (
    "user_id",
    "device_id",
    "session_id",
    "app_version",
    "client_version",
    "platform",
    "user_agent",
    "client_ip",
    "service",
    "host",
    "environment",
    "sample_rate",
)


def pretty_body(body: str | None) -> tuple[str, str]:
    """``(text, language)``: JSON bodies indented, anything else as it was."""
    if body is None or body == "":
        return "(empty)", "text"
    try:
        return json.dumps(json.loads(body), indent=2, ensure_ascii=False), "json"
    except ValueError:
        return body, "text"


def _body(record: dict[str, Any], name: str) -> None:
    text, language = pretty_body(record.get(f"{name}_body"))
    size = record.get(f"{name}_body_size")
    note = f"{size:,} bytes" if isinstance(size, int) else "size unknown"
    if record.get(f"{name}_body_truncated"):
        note += " — truncated when logged"
    st.caption(note)
    st.code(text, language=language)


def _headers(headers: dict[str, str] | None) -> None:
    if not headers:
        st.caption("(none recorded)")
        return
    st.table(pd.DataFrame(sorted(headers.items()), columns=["header", "value"]))


def request_link(request_id: str) -> str:
    """A relative link opening one request's detail."""
    return search_link(SearchState(open_request=request_id))


def replay_links(record: dict[str, Any], replays: list[dict[str, Any]] | None) -> None:
    """ "Replay of …" for a replayed request; the list of replays for an original."""
    original = record.get("replay_of")
    if original:
        st.markdown(f"Replay of [{original}]({request_link(original)}) (`reqtrail replay`)")
    if replays:
        st.markdown(f"**Replayed {len(replays)} time{'s' if len(replays) != 1 else ''}:**")
        lines = [
            f"- [{r.get('request_id')}]({request_link(str(r.get('request_id')))}) · "
            f"{str(r.get('@timestamp', '')).replace('T', ' ').rstrip('Z')} UTC · "
            f"status {r.get('status')} · {float(r.get('latency_ms', 0.0)):,.1f} ms"
            + (f" · {(r.get('error') or {}).get('type')}" if r.get("error") else "")
            for r in replays
        ]
        st.markdown("\n".join(lines))


def curl_expander(record: dict[str, Any], target: str, user_id_header: str) -> None:
    """The request as a curl command for the dev server, ready to copy."""
    request = recorded_request(record, user_id_header=user_id_header)
    with st.expander("Copy as curl"):
        st.caption(f"Sends this request to {target} (REQTRAIL_REPLAY_TARGET).")
        if request.problems:
            st.warning("Not replayable as recorded: " + "; ".join(request.problems))
        if request.redacted_headers:
            st.caption("Redacted headers left out: " + ", ".join(request.redacted_headers))
        st.code(
            curl_command(request, target, {REPLAY_OF_HEADER: request.request_id}), language="bash"
        )


def request_detail(
    record: dict[str, Any],
    sentry_base_url: str,
    share_link: str | None,
    *,
    replay_target: str | None = None,
    user_id_header: str = "x-user-id",
    replays: list[dict[str, Any]] | None = None,
) -> None:
    """Render ``record`` (a full request document)."""
    status = int(record.get("status", 0))
    colour = "red" if status >= 500 else "orange" if status >= 400 else "green"
    st.subheader(f"{record.get('method')} {record.get('path')}  :{colour}[{status}]")
    when = str(record.get("@timestamp", "")).replace("T", " ").rstrip("Z")
    st.caption(
        f"{when} UTC · user {record.get('user_id') or '-'} · "
        f"server {record.get('app_version') or '-'} · host {record.get('host') or '-'}"
    )
    st.caption("Request ID (copy with the button on the right)")
    st.code(record.get("request_id", ""), language=None)
    c1, c2, c3, c4 = st.columns(4)
    c1.metric("Latency", f"{float(record.get('latency_ms', 0.0)):,.1f} ms")
    c2.metric("Status", status)
    c3.metric("Route", record.get("route") or "-")
    size = record.get("response_body_size")
    c4.metric("Response size", f"{size:,} B" if isinstance(size, int) else "-")
    error = record.get("error")
    event_id = (error or {}).get("sentry_event_id")
    links = []
    if event_url := sentry_event_url(sentry_base_url, event_id or ""):
        links.append(f"[Sentry event {event_id}]({event_url})")
    if search_url := sentry_request_search_url(sentry_base_url, record.get("request_id", "")):
        links.append(f"[Sentry events of this request]({search_url})")
    if links:
        st.markdown(" · ".join(links))
    elif not sentry_base_url:
        st.caption("Set REQTRAIL_SENTRY_BASE_URL to link requests to Sentry.")
    if share_link:
        st.caption("Link to this request")
        st.code(share_link, language=None)
    replay_links(record, replays)
    if replay_target:
        curl_expander(record, replay_target, user_id_header)
    if error:
        st.error(f"**{error.get('type')}**: {error.get('message')}")
        if error.get("stack"):
            with st.expander("Stack trace"):
                st.code(error["stack"], language="python")
    response_tab, request_tab, headers_tab, context_tab = st.tabs(
        ["Response body", "Request body", "Headers", "Context"]
    )
    with response_tab:
        _body(record, "response")
    with request_tab:
        query = record.get("query")
        if query:
            st.caption(f"Query string: {query}")
        _body(record, "request")
    with headers_tab:
        st.markdown("**Request headers**")
        _headers(record.get("request_headers"))
        st.markdown("**Response headers**")
        _headers(record.get("response_headers"))
    with context_tab:
        rows = [(name, str(record.get(name))) for name in CONTEXT_FIELDS if record.get(name)]
        st.table(pd.DataFrame(rows, columns=["field", "value"]))
        with st.expander("Raw record (JSON)"):
            st.json(record, expanded=False)
