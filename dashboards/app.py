"""The reqtrail dashboard: ``streamlit run dashboards/app.py`` (or ``reqtrail dashboard``).

Pages live in ``dashboards/views/``; they only lay out widgets and call the query layer
(``reqtrail.dashboards.queries``) through ``reqtrail.dashboards.ui.context.Queries``.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from reqtrail.dashboards.ui.auth import require_password
from reqtrail.dashboards.ui.context import settings

VIEWS = Path(__file__).resolve().parent / "views"


def main() -> None:
    st.set_page_config(page_title="reqtrail", page_icon=":mag:", layout="wide")
    cfg = settings()
    require_password(cfg.dashboard_password)
    pages = [
        st.Page(
            VIEWS / "search.py",
            title="Search",
            icon=":material/search:",
            default=True,  # served at the app root: ./?user=...
        ),
        st.Page(
            VIEWS / "slow_apis.py", title="Slow APIs", icon=":material/speed:", url_path="slow-apis"
        ),
        st.Page(VIEWS / "errors.py", title="Errors", icon=":material/error:", url_path="errors"),
        st.Page(
            VIEWS / "traffic.py", title="Traffic", icon=":material/monitoring:", url_path="traffic"
        ),
        st.Page(VIEWS / "ingest.py", title="Ingest", icon=":material/input:", url_path="ingest"),
    ]
    st.navigation(pages).run()


main()
