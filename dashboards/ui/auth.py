"""Optional shared-password gate (``REQTRAIL_DASHBOARD_PASSWORD``).

One password for everyone, checked in constant time and remembered for the browser
session. It keeps casual visitors out of a shared deployment; it is not per-user access
control, so serve the dashboard over HTTPS (e.g. behind a reverse proxy) when using it.
"""

from __future__ import annotations

import hmac

import streamlit as st

AUTH_KEY = "_reqtrail_authenticated"


def password_matches(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode(), expected.encode())


def require_password(expected: str) -> None:
    """Stop the page behind a password form unless none is configured or it was given."""
    if not expected or st.session_state.get(AUTH_KEY):
        return
    st.title("reqtrail")
    with st.form("login"):
        given = st.text_input("Password", type="password", key="login_password")
        submitted = st.form_submit_button("Sign in")
    if submitted:
        if password_matches(given, expected):
            st.session_state[AUTH_KEY] = True
            st.session_state.pop("login_password", None)
            st.rerun()
        st.error("Wrong password.")
    st.stop()
