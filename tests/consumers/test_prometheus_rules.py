"""The shipped Prometheus rules: promtool checks and unit-tests them, every alert has a
firing and a quiet case, and every dashboard link opens a real page with its filters."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import yaml

from reqtrail.dashboards.queries.filters import QUICK_RANGES
from reqtrail.dashboards.ui.url_state import SearchState
from tests.consumers.prometheus_tools import PROMTOOL, RULES, need

RULE_FILES = sorted(RULES.glob("*.rules.yml"))
TEST_FILES = sorted((RULES / "tests").glob("*.test.yml"))
APP = Path(__file__).resolve().parents[2] / "dashboards" / "app.py"


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [need(PROMTOOL, "promtool"), *args],
        cwd=RULES,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def alert_names() -> list[str]:
    return [
        rule["alert"]
        for path in RULE_FILES
        for group in yaml.safe_load(path.read_text())["groups"]
        for rule in group["rules"]
        if "alert" in rule
    ]


def alert_cases() -> list[dict[str, Any]]:
    return [
        case
        for path in TEST_FILES
        for test in yaml.safe_load(path.read_text())["tests"]
        for case in test.get("alert_rule_test", [])
    ]


def test_promtool_check_rules_and_config_pass() -> None:
    """`promtool check rules` accepts every rule file, and `check config` the example."""
    assert RULE_FILES and len(alert_names()) == 7
    checked = promtool("check", "rules", *map(str, RULE_FILES))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    config = promtool("check", "config", "prometheus.yml")
    assert config.returncode == 0, config.stdout + config.stderr


def test_promtool_test_rules_pass() -> None:
    """`promtool test rules` passes for the shipped unit tests."""
    tested = promtool("test", "rules", *map(str, TEST_FILES))
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert "SUCCESS" in tested.stdout


def test_every_alert_has_a_firing_and_a_quiet_case() -> None:
    """Each shipped alert is expected to fire in one test case and to stay quiet in another."""
    cases = alert_cases()
    for name in alert_names():
        mine = [case for case in cases if case["alertname"] == name]
        assert any(case.get("exp_alerts") for case in mine), f"{name}: no firing case"
        assert any(not case.get("exp_alerts") for case in mine), f"{name}: no quiet case"


def test_every_dashboard_link_opens_a_page_with_its_filters() -> None:
    """The dashboard_url of every expected alert is the configured dashboard plus either
    the search page (route, window and a status-class or p95 filter that the page
    accepts) or the Ingest page with a quick range."""
    pages = APP.read_text()
    links = [
        alert["exp_annotations"]["dashboard_url"]
        for case in alert_cases()
        for alert in case.get("exp_alerts") or []
    ]
    assert len(links) >= len(alert_names())
    for link in links:
        parts = urlsplit(link)
        assert f"{parts.scheme}://{parts.netloc}" == "http://dashboard.example:8501", link
        params = {key: values[0] for key, values in parse_qs(parts.query).items()}
        if parts.path == "/":
            state = SearchState.from_params(params)
            assert state.route and state.since and state.until, link
            assert state.status_class is not None or state.route_percentile == 95, link
        else:
            assert parts.path == "/ingest" and 'url_path="ingest"' in pages, link
            assert params["range"] in QUICK_RANGES, link
