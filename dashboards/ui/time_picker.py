"""The quick time-range picker of the overview pages, kept in the URL as ``?range=24h``."""

from __future__ import annotations

import streamlit as st

from reqtrail.dashboards.queries.filters import DEFAULT_RANGE, QUICK_RANGES, TimeRange
from reqtrail.dashboards.ui.context import now
from reqtrail.settings import DashboardSettings


def range_picker(cfg: DashboardSettings, *, label: str = "Time range") -> TimeRange:
    """A select box of quick ranges; the choice is mirrored into ``?range=``."""
    options = list(QUICK_RANGES)
    current = st.query_params.get("range", DEFAULT_RANGE)
    if current not in QUICK_RANGES:
        current = DEFAULT_RANGE
    choice = st.selectbox(
        label,
        options,
        index=options.index(current),
        format_func=lambda key: f"last {key}",
        key="overview_range",
    )
    if choice == DEFAULT_RANGE:
        st.query_params.pop("range", None)
    else:
        st.query_params["range"] = choice
    return TimeRange.last(QUICK_RANGES[choice], now=now(cfg))
