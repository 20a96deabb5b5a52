"""A real headless Chromium against the running dashboard; screenshots kept as artifacts.

Screenshots land in ``artifacts/screenshots/`` (git-ignored). Set
``REQTRAIL_DOCS_SCREENSHOTS=docs/screenshots`` to also copy the page pictures there.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator

import pytest

from reqtrail.screenshots import (
    capture_detail,
    capture_pages,
    chromium,
    save_small_png,
    wait_for_element,
    wait_until,
)
from tests.browser import ROOT, SHOTS, dashboard, search_user
from tests.dashboards.conftest import ALICE, Seeded

pytestmark = [pytest.mark.integration, pytest.mark.browser]


@pytest.fixture(scope="module")
def dashboard_url(seeded: Seeded) -> Iterator[str]:
    """``streamlit run`` of the dashboard on a free port, reading the seeded index."""
    with dashboard(seeded.settings.es_url, seeded.prefix, "streamlit.log") as url:
        yield url


def test_browser_search_by_user_shows_the_results_table(dashboard_url: str) -> None:
    """Typing a seeded user ID and pressing Search shows their requests in the table."""
    with chromium() as driver:
        search_user(driver, dashboard_url, ALICE, 12)
        wait_until(lambda: f"user={ALICE}" in driver.current_url, 10, "the URL to hold the user")
        grid = wait_for_element(driver, '[data-testid="stDataFrame"]', timeout=30)
        wait_until(lambda: grid.size["height"] > 200, 10, "the table to show its rows")
        shot = save_small_png(driver, SHOTS / "search-results.png")
        assert shot.stat().st_size > 10_000


def test_browser_screenshots_of_every_page(dashboard_url: str, seeded: Seeded) -> None:
    """Each page (search, slow APIs, errors, traffic) and a request's detail renders."""
    from selenium.webdriver.common.by import By

    record = next(r for r in seeded.of_user(ALICE) if r["status"] == 500)
    with chromium() as driver:
        shots = capture_pages(driver, dashboard_url, SHOTS, f"user={ALICE}")
        shots.append(capture_detail(driver, dashboard_url, SHOTS, ALICE, record["request_id"]))
        assert "inventory_full" in driver.find_element(By.TAG_NAME, "body").text
    assert [s.name for s in shots] == [
        "search.png",
        "slow-apis.png",
        "errors.png",
        "traffic.png",
        "search-detail.png",
    ]
    docs = os.environ.get("REQTRAIL_DOCS_SCREENSHOTS")
    if docs:
        target = ROOT / docs
        target.mkdir(parents=True, exist_ok=True)
        for shot in shots:
            shutil.copy(shot, target / shot.name)
