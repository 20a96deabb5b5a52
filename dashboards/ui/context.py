"""What every page needs: settings, the ES client, cached queries and friendly failures.

Query results are cached for ``REQTRAIL_CACHE_TTL_S`` seconds; "now" is rounded down to
that step so relative ranges (last 24 h) hit the cache between reruns.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import pandas as pd
import streamlit as st
from elasticsearch import Elasticsearch

from reqtrail.dashboards.queries import latency
from reqtrail.dashboards.queries.bodies import SortValues
from reqtrail.dashboards.queries.compare import compare_releases
from reqtrail.dashboards.queries.errors import TopErrors, error_trend, top_errors
from reqtrail.dashboards.queries.es_client import DataUnavailable, make_client
from reqtrail.dashboards.queries.extent import data_window
from reqtrail.dashboards.queries.filters import Cohort, FilterError, SearchFilter, TimeRange
from reqtrail.dashboards.queries.gate_rules import GateRules, rules_from_table
from reqtrail.dashboards.queries.ingest import Freshness, freshness
from reqtrail.dashboards.queries.replays import replays_of
from reqtrail.dashboards.queries.search import SearchPage, get_request, search_requests
from reqtrail.dashboards.queries.traffic import TrafficReport, traffic
from reqtrail.settings import DashboardSettings, SettingsError, config_section, load_settings


def settings() -> DashboardSettings:
    """Settings from the environment (and config file); a bad value stops with its message."""
    try:
        return load_settings(role=DashboardSettings)
    except SettingsError as exc:
        st.error(f"Configuration error: {exc}")
        st.stop()
        raise  # unreachable: st.stop() raises


def gate_rules() -> GateRules:
    """The release gate's rules (``[gate]`` of the config file), as ``reqtrail compare`` reads
    them, so the release comparison shows the same verdicts."""
    table, path = config_section("gate")
    return rules_from_table(table, f"[gate] of {path}" if path else "[gate]")


def now(cfg: DashboardSettings) -> datetime:
    step = max(cfg.cache_ttl_s, 1)
    seconds = int(datetime.now(UTC).timestamp()) // step * step
    return datetime.fromtimestamp(seconds, UTC)


@st.cache_resource(show_spinner=False)
def _client(_cfg: DashboardSettings, key: str) -> Elasticsearch:
    return make_client(_cfg)


def _key(cfg: DashboardSettings) -> str:
    parts = (cfg.es_url, cfg.es_username, cfg.es_password, cfg.es_api_key, cfg.es_ca_certs)
    return hashlib.sha256(repr(parts).encode()).hexdigest()


def client(cfg: DashboardSettings) -> Elasticsearch:
    return _client(cfg, _key(cfg))


@contextmanager
def data_guard() -> Iterator[None]:
    """Show unreadable data and bad filters as a message and stop the page, not a trace."""
    try:
        yield
    except DataUnavailable as exc:
        if exc.missing_index:
            st.info(str(exc))
        else:
            st.error(str(exc))
        st.stop()
    except FilterError as exc:
        st.warning(f"Check the filters: {exc}")
        st.stop()


class Queries:
    """The query layer bound to this app's ES client and read alias, with caching.

    Cached functions take the client as ``_es`` (not hashed) and ``es_key`` (hashed),
    so two apps with different clusters never share cache entries.
    """

    def __init__(self, cfg: DashboardSettings) -> None:
        self.cfg = cfg
        self.es = client(cfg)
        self.key = _key(cfg)
        self.index = cfg.read_alias

    def search(self, f: SearchFilter, page_size: int, after: SortValues | None) -> SearchPage:
        return _search(self.es, self.key, self.index, f, page_size, after)

    def request(self, request_id: str) -> dict[str, Any] | None:
        return _request(self.es, self.key, self.index, request_id)

    def replays(self, request_id: str) -> list[dict[str, Any]]:
        return _replays(self.es, self.key, self.index, request_id)

    def window(self, time_range: TimeRange) -> TimeRange:
        """The part of the range that holds records: what the time charts span."""
        return _window(self.es, self.key, self.index, time_range)

    def latency_trend(self, time_range: TimeRange, route: str | None) -> pd.DataFrame:
        return _latency_trend(self.es, self.key, self.index, time_range, route)

    def route_stats(self, time_range: TimeRange) -> pd.DataFrame:
        return _route_stats(self.es, self.key, self.index, time_range)

    def compare(self, baseline: Cohort, candidate: Cohort) -> pd.DataFrame:
        """The release gate's comparison (``compare_releases``) as a table, with verdicts."""
        rules = gate_rules()
        return _compare(self.es, self.key, self.index, baseline, candidate, rules, repr(rules))

    def values(self, time_range: TimeRange, field: str) -> list[str]:
        return _values(self.es, self.key, self.index, time_range, field)

    def error_trend(self, time_range: TimeRange) -> pd.DataFrame:
        return _error_trend(self.es, self.key, self.index, time_range)

    def top_errors(self, time_range: TimeRange) -> TopErrors:
        return _top_errors(self.es, self.key, self.index, time_range)

    def traffic(self, time_range: TimeRange) -> TrafficReport:
        return _traffic(self.es, self.key, self.index, time_range)

    def freshness(self, at: datetime) -> Freshness:
        return _freshness(self.es, self.key, self.index, at)


def _ttl() -> int:
    try:
        return max(load_settings(role=DashboardSettings).cache_ttl_s, 1)
    except SettingsError:
        return 15


cached = st.cache_data(ttl=_ttl(), show_spinner=False, max_entries=500)
Es = Elasticsearch


@cached
def _search(
    _es: Es, es_key: str, index: str, f: SearchFilter, size: int, after: SortValues | None
) -> SearchPage:
    return search_requests(_es, index, f, page_size=size, after=after)


@cached
def _request(_es: Es, es_key: str, index: str, request_id: str) -> dict[str, Any] | None:
    return get_request(_es, index, request_id)


@cached
def _replays(_es: Es, es_key: str, index: str, request_id: str) -> list[dict[str, Any]]:
    return replays_of(_es, index, request_id)


@cached
def _window(_es: Es, es_key: str, index: str, time_range: TimeRange) -> TimeRange:
    return data_window(_es, index, time_range)


@cached
def _latency_trend(
    _es: Es, es_key: str, index: str, time_range: TimeRange, route: str | None
) -> pd.DataFrame:
    return latency.latency_trend(_es, index, time_range, route=route)


@cached
def _route_stats(_es: Es, es_key: str, index: str, time_range: TimeRange) -> pd.DataFrame:
    return latency.route_stats(_es, index, time_range)


@cached
def _compare(
    _es: Es,
    es_key: str,
    index: str,
    baseline: Cohort,
    candidate: Cohort,
    _rules: GateRules,
    rules_key: str,
) -> pd.DataFrame:
    return compare_releases(_es, index, baseline, candidate, _rules).to_frame()


@cached
def _values(_es: Es, es_key: str, index: str, time_range: TimeRange, field: str) -> list[str]:
    return latency.field_values(_es, index, time_range, field)


@cached
def _error_trend(_es: Es, es_key: str, index: str, time_range: TimeRange) -> pd.DataFrame:
    return error_trend(_es, index, time_range)


@cached
def _top_errors(_es: Es, es_key: str, index: str, time_range: TimeRange) -> TopErrors:
    return top_errors(_es, index, time_range)


@cached
def _traffic(_es: Es, es_key: str, index: str, time_range: TimeRange) -> TrafficReport:
    return traffic(_es, index, time_range)


@cached
def _freshness(_es: Es, es_key: str, index: str, at: datetime) -> Freshness:
    return freshness(_es, index, at)
