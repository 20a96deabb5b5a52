"""The Streamlit pages, driven by AppTest against the real node and the seeded index."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

import reqtrail.dashboards
from reqtrail.dashboards.queries.compare import compare_releases
from reqtrail.dashboards.queries.filters import Cohort, TimeRange
from reqtrail.dashboards.queries.gate_rules import rules_from_table
from reqtrail.dashboards.queries.search import route_thresholds
from reqtrail.services.ports import free_ports
from tests.dashboards.conftest import ALICE, HOSTILE_USER, Seeded
from tests.dashboards.test_search_queries import as_float32, newest_first

pytestmark = pytest.mark.integration

APP = Path(reqtrail.dashboards.__file__).resolve().parent / "app.py"
SENTRY = "https://sentry.example/organizations/acme/issues/"


@pytest.fixture
def app(seeded: Seeded, monkeypatch: pytest.MonkeyPatch) -> AppTest:
    """An AppTest of the dashboard reading the seeded index (settings via REQTRAIL_* vars)."""
    monkeypatch.setenv("REQTRAIL_ES_URL", seeded.settings.es_url)
    monkeypatch.setenv("REQTRAIL_INDEX_PREFIX", seeded.prefix)
    monkeypatch.setenv("REQTRAIL_SENTRY_BASE_URL", SENTRY)
    monkeypatch.delenv("REQTRAIL_DASHBOARD_PASSWORD", raising=False)
    return AppTest.from_file(str(APP), default_timeout=60)


def results(at: AppTest) -> pd.DataFrame:
    assert not at.exception, at.exception
    tables = [d.value for d in at.dataframe if "request_id" in d.value.columns]
    assert tables, "no results table on the page"
    return tables[0]


def texts(at: AppTest) -> str:
    parts = [
        e.value
        for kind in ("markdown", "code", "error", "info", "warning", "caption")
        for e in getattr(at, kind)
    ]
    return "\n".join(str(p) for p in parts)


def test_search_by_user_id_from_the_form_lists_their_requests(app: AppTest) -> None:
    """Typing a user ID and pressing Search lists exactly their requests and updates the URL."""
    app.run()
    app.text_input(key="f_user").input(ALICE)
    next(b for b in app.button if b.label == "Search").click().run()
    table = results(app)
    assert set(table["user_id"]) == {ALICE} and len(table) == 12
    assert app.query_params["user"] == ALICE
    assert "**12 requests**" in texts(app)


def test_from_and_to_show_the_window_of_a_quick_range(app: AppTest) -> None:
    """With "last 1h" picked, the From/To fields show that hour, not a default day."""
    app.query_params["range"] = "1h"
    app.run()
    assert not app.exception, app.exception
    assert app.session_state["f_range"] == "1h"
    since, until = app.session_state["f_since"], app.session_state["f_until"]
    assert until - since == timedelta(hours=1)
    assert abs(until - datetime.now(UTC).replace(tzinfo=None)) < timedelta(minutes=5)


def test_a_shared_search_link_shows_the_same_results(app: AppTest, seeded: Seeded) -> None:
    """Opening ?user=... runs that search at once, newest first; hostile IDs match literally."""
    app.query_params["user"] = ALICE
    app.run()
    assert list(results(app)["request_id"]) == newest_first(seeded.of_user(ALICE))
    app.query_params["user"] = HOSTILE_USER
    app.run()
    assert list(results(app)["user_id"]) == [HOSTILE_USER]


def test_selecting_a_row_opens_the_detail_with_the_response_body(
    app: AppTest, seeded: Seeded
) -> None:
    """Selecting a failed request shows its pretty response body, error and Sentry link."""
    app.query_params.update({"user": ALICE, "class": "5xx"})
    app.run()
    table = results(app)
    key = next(d.key for d in app.dataframe if d.key and d.key.startswith("results-"))
    app.session_state[key] = {"selection": {"rows": [0], "columns": [], "cells": []}}
    app.run()
    chosen = table.iloc[0]["request_id"]
    record = next(r for r in seeded.records if r["request_id"] == chosen)
    assert app.query_params["open"] == chosen
    page = texts(app)
    assert '{\n  "error": "inventory_full"\n}' in page
    assert chosen in [c.value for c in app.code]
    assert record["error"]["message"] in page
    assert f"{SENTRY}?query={record['error']['sentry_event_id']}" in page
    # a new search through the form: the old selection must not carry over
    app.text_input(key="f_status").input("4xx")
    next(b for b in app.button if b.label == "Search").click().run()
    assert "open" not in app.query_params and app.query_params["class"] == "4xx"
    assert set(results(app)["status"]) == {404}


def test_a_request_link_opens_its_detail(app: AppTest, seeded: Seeded) -> None:
    """?open=<request_id> shows that request's detail, e.g. its response body and headers."""
    record = seeded.of_user(ALICE)[0]
    app.query_params["open"] = record["request_id"]
    app.run()
    assert not app.exception
    bodies = [c.value for c in app.code]
    assert any('"gems"' in b or '"error"' in b for b in bodies)
    assert record["request_id"] in bodies


def test_percentile_filter_lists_only_requests_above_their_route_threshold(
    app: AppTest, seeded: Seeded
) -> None:
    """With "slower than p95 of its route" every row is above its route's p95, and none missing."""
    app.query_params["pct"] = "95"
    app.run()
    table = results(app)
    thresholds = route_thresholds(seeded.es, seeded.prefix, seeded.window, 95.0)
    assert (table["latency_ms"] > table["route"].map(thresholds)).all()
    expected = {
        r["request_id"]
        for r in seeded.records
        if as_float32(r["latency_ms"]) > thresholds[r["route"]]
    }
    assert set(table["request_id"]) == expected and len(expected) > 20


def test_a_bad_link_parameter_gives_a_warning_not_a_trace(app: AppTest) -> None:
    """?status=abc is reported and ignored; the default search still shows."""
    app.query_params["status"] = "abc"
    app.run()
    assert "bad parameter" in texts(app)
    assert len(results(app)) > 0


def test_missing_index_shows_a_no_data_message(
    app: AppTest, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Before anything is indexed, each page says so instead of failing."""
    monkeypatch.setenv("REQTRAIL_INDEX_PREFIX", "t-dash-never-created")
    for page in ("views/search.py", "views/slow_apis.py", "views/errors.py", "views/traffic.py"):
        app.switch_page(page).run()
        assert not app.exception, page
        assert "does not exist" in texts(app), page


def test_unreachable_es_shows_a_clear_error(app: AppTest, monkeypatch: pytest.MonkeyPatch) -> None:
    """With ES down the page shows one sentence naming the URL, not a stack trace."""
    (port,) = free_ports(1)
    monkeypatch.setenv("REQTRAIL_ES_URL", f"http://127.0.0.1:{port}")
    app.run()
    assert not app.exception
    assert f"127.0.0.1:{port} is unreachable" in " ".join(e.value for e in app.error)


def test_password_protects_every_page(app: AppTest, monkeypatch: pytest.MonkeyPatch) -> None:
    """With a dashboard password set, nothing shows until the right password is given."""
    monkeypatch.setenv("REQTRAIL_DASHBOARD_PASSWORD", "s3cret")
    app.run()
    assert not app.dataframe and app.text_input(key="login_password")
    app.text_input(key="login_password").input("wrong")
    next(b for b in app.button if b.label == "Sign in").click().run()
    assert "Wrong password." in [e.value for e in app.error] and not app.dataframe
    app.text_input(key="login_password").input("s3cret")
    next(b for b in app.button if b.label == "Sign in").click().run()
    assert len(results(app)) > 0


def test_overview_pages_render_charts_and_drill_down_links(app: AppTest) -> None:
    """Slow APIs, Errors and Traffic render their charts; error rows link to the search page."""
    app.run()
    for page, charts in (
        ("views/slow_apis.py", 3),
        ("views/errors.py", 2),
        ("views/traffic.py", 6),
    ):
        app.switch_page(page).run()
        assert not app.exception, page
        assert len(app.get("vega_lite_chart")) >= charts, page
    app.switch_page("views/errors.py").run()
    by_route = app.dataframe[0].value
    assert all(link.startswith("./?") and "class=5xx" in link for link in by_route["see 5xx"])


def test_older_and_newer_buttons_page_through_results(
    app: AppTest, seeded: Seeded, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With 5 rows per page, "Older" shows the next five requests and "Newer" goes back."""
    monkeypatch.setenv("REQTRAIL_DASHBOARD_PAGE_SIZE", "5")
    expected = newest_first(seeded.of_user(ALICE))
    app.query_params["user"] = ALICE
    app.run()
    assert list(results(app)["request_id"]) == expected[:5]
    assert any(b.label.startswith("Export") for b in app.get("download_button"))
    next(b for b in app.button if b.label == "Older →").click().run()
    assert list(results(app)["request_id"]) == expected[5:10]
    assert "page 2" in texts(app)
    next(b for b in app.button if b.label == "← Newer").click().run()
    assert list(results(app)["request_id"]) == expected[:5]


def test_release_comparison_shows_the_gates_verdicts(
    app: AppTest, seeded: Seeded, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The Slow APIs page's release comparison shows `reqtrail compare`'s verdict per route."""
    config = tmp_path / "reqtrail.toml"
    config.write_text("[gate]\nmin_requests = 40\nmax_p95_increase_pct = 10\n")
    monkeypatch.setenv("REQTRAIL_CONFIG", str(config))
    app.run()
    app.switch_page("views/slow_apis.py").run()
    assert not app.exception
    frames = [d.value for d in app.dataframe]
    shown = next((f for f in frames if "verdict" in f.columns), None)
    assert shown is not None, ([list(f.columns) for f in frames], texts(app))
    rules = rules_from_table({"min_requests": 40, "max_p95_increase_pct": 10})
    window = TimeRange.last(timedelta(hours=24))
    gate = compare_releases(
        seeded.es, seeded.prefix, Cohort(window, "1.41.0"), Cohort(window, "1.42.0"), rules
    )
    expected = {r.route: str(r.verdict) for r in gate.routes}
    assert dict(zip(shown["route"], shown["verdict"], strict=True)) == expected
    assert set(expected.values()) >= {"ok", "too few requests"}
