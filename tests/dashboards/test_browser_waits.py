"""The browser helpers' waits, against plain pages in a real headless Chromium."""

from __future__ import annotations

import pytest

from reqtrail.screenshots import chromium, wait_for_element

pytestmark = [pytest.mark.browser]


def test_wait_for_element_waits_for_an_element_drawn_later() -> None:
    """An input added 1.5 s after load is found; the wait does not give up on the first look."""
    page = (
        "<p>title</p><script>setTimeout(() => document.body.insertAdjacentHTML("
        "'beforeend', '<input aria-label=\"User ID\">'), 1500)</script>"
    )
    with chromium() as driver:
        driver.get(f"data:text/html,{page}")
        element = wait_for_element(driver, 'input[aria-label="User ID"]', timeout=20)
        assert element.tag_name == "input"


def test_wait_for_element_timeout_says_what_the_page_showed() -> None:
    with chromium() as driver:
        driver.get("data:text/html,<p>An error happened</p>")
        with pytest.raises(TimeoutError, match="An error happened"):
            wait_for_element(driver, "input", timeout=1)
