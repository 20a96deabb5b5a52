"""Links out of the dashboard: Sentry events and searches (pure, no Streamlit).

``REQTRAIL_SENTRY_BASE_URL`` is the Sentry issues URL of the organisation, e.g.
``https://sentry.io/organizations/acme/issues/`` (or ``https://acme.sentry.io/issues/``).
An event ID pasted into Sentry's issue search opens that event; a request ID is found
through the ``request_id`` tag that the reqtrail Sentry integration sets on events.
"""

from __future__ import annotations

from urllib.parse import urlencode


def _with_query(base: str, query: str) -> str:
    joiner = "&" if "?" in base else "?"
    return f"{base}{joiner}{urlencode({'query': query})}"


def sentry_event_url(base_url: str, event_id: str) -> str | None:
    """Sentry's issue search for one event ID, or None when Sentry is not configured."""
    if not base_url or not event_id:
        return None
    return _with_query(base_url, event_id)


def sentry_request_search_url(base_url: str, request_id: str) -> str | None:
    """Sentry's issue search for events tagged with ``request_id``, or None."""
    if not base_url or not request_id:
        return None
    escaped = request_id.replace("\\", "\\\\").replace('"', '\\"')
    return _with_query(base_url, f'request_id:"{escaped}"')
