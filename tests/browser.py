"""Helpers of the browser tests: the dashboard on a free port, and a player's search in it.

Tests marked ``browser`` skip when Chromium or chromedriver is missing (tests/conftest.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from reqtrail.screenshots import running_dashboard, wait_for_element, wait_for_page
from reqtrail.services.ports import free_ports

if TYPE_CHECKING:
    from selenium.webdriver.remote.webdriver import WebDriver

ROOT = Path(__file__).resolve().parents[1]
SHOTS = ROOT / "artifacts" / "screenshots"


@contextmanager
def dashboard(es_url: str, prefix: str, log_name: str, **env: str) -> Iterator[str]:
    """``streamlit run`` of the dashboard, without a password, reading ``prefix`` on a free
    port (``env``: more REQTRAIL_* settings); its log is ``artifacts/logs/<log_name>``.
    Yields its URL."""
    (port,) = free_ports(1)
    settings = {
        "REQTRAIL_ES_URL": es_url,
        "REQTRAIL_INDEX_PREFIX": prefix,
        "REQTRAIL_DASHBOARD_PASSWORD": "",
        **env,
    }
    with running_dashboard(port, settings, ROOT / "artifacts" / "logs" / log_name) as url:
        yield url


def search_user(driver: WebDriver, url: str, user_id: str, requests: int) -> None:
    """Search ``user_id`` on the dashboard's search page; wait until it shows ``requests``."""
    driver.get(f"{url}/")
    wait_for_page(driver, "Search requests", timeout=60)
    wait_for_element(driver, 'input[aria-label="User ID"]', timeout=60).send_keys(user_id)
    wait_for_element(driver, '[data-testid="stBaseButton-primaryFormSubmit"]').click()
    wait_for_page(driver, f"{requests} requests", timeout=60)
