"""Headless Chromium on the Slow APIs page: ten long routes, ten distinct legend entries.

The page's charts are SVG, so the test reads the legend and the time axis as drawn.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from reqtrail.dashboards.queries.es_client import make_client
from reqtrail.schemas.samples import ROUTES, sample_record
from reqtrail.screenshots import (
    chromium,
    save_small_png,
    wait_for_element,
    wait_for_page,
    wait_until,
)
from reqtrail.seed import delete_prefix, seed
from reqtrail.settings import load_settings
from tests.browser import SHOTS, dashboard

pytestmark = [pytest.mark.integration, pytest.mark.browser]

PREFIX = "/api/v2/guilds/{guild_id}/members/{member_id}/inventory/items/{item_id}/"
ACTIONS = ("upgrade", "sell", "equip", "unequip", "enchant", "repair", "salvage", "lock")
LONG_ROUTES = [PREFIX + action for action in (*ACTIONS, "unlock", "inspect")]


@pytest.fixture(scope="module")
def long_routes_dashboard(es_url: str) -> Iterator[str]:
    """A dashboard on a prefix holding 90 seconds of requests to the ten long routes."""
    prefix = f"t-routes-{uuid.uuid4().hex[:8]}"
    es = make_client(load_settings(environ={}).replace(es_url=es_url))
    now = datetime.now(UTC).replace(microsecond=0)
    rng = random.Random(10)
    records = []
    for i in range(400):
        record = sample_record(rng, now - timedelta(seconds=90 - i * 0.225), route=ROUTES[0])
        record["route"] = LONG_ROUTES[i % len(LONG_ROUTES)]
        records.append(record)
    seed(es, prefix, records)
    try:
        with dashboard(es_url, prefix, "streamlit-routes.log") as url:
            yield url
    finally:
        delete_prefix(es, prefix)


def test_slow_apis_legend_has_ten_distinct_entries(long_routes_dashboard: str) -> None:
    """Ten routes sharing a long prefix: ten legend labels, ten colours, no time label twice.

    90 s of records in the default 24 h range: the time axis spans those 90 s, in ticks
    seconds apart, which a minutes-only format would label alike.
    """
    from selenium.webdriver.common.by import By

    with chromium() as driver:
        driver.get(f"{long_routes_dashboard}/slow-apis")
        wait_for_page(driver, "Slow APIs", timeout=60)
        chart = wait_for_element(driver, '[data-testid="stVegaLiteChart"] svg', timeout=60)
        labels_css = ".role-legend-label text"
        wait_until(
            lambda: len(chart.find_elements(By.CSS_SELECTOR, labels_css)) >= 10,
            30,
            "the legend's ten labels",
        )
        texts = chart.find_elements(By.CSS_SELECTOR, labels_css)
        labels = [e.text for e in texts]
        frame = driver.find_element(By.CSS_SELECTOR, '[data-testid="stVegaLiteChart"]').rect
        inside = [
            frame["y"] <= e.rect["y"]
            and e.rect["y"] + e.rect["height"] <= frame["y"] + frame["height"]
            for e in texts
        ]
        symbols = chart.find_elements(By.CSS_SELECTOR, ".role-legend-symbol path")
        ticks = [
            [label.text for label in axis.find_elements(By.CSS_SELECTOR, ".role-axis-label text")]
            for axis in chart.find_elements(By.CSS_SELECTOR, ".role-axis")
        ]
        time_ticks = [labels for labels in ticks if any(":" in text for text in labels)]
        colours = [s.get_attribute("stroke") or s.get_attribute("fill") for s in symbols]
        driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", chart)
        shot = save_small_png(driver, SHOTS / "slow-apis-long-routes.png")
    assert len(labels) == 10 and len(set(labels)) == 10, labels
    assert all(inside), f"legend entries drawn outside the chart: {inside}"
    for label in labels:
        assert any(label.endswith(route.rsplit("/", 1)[1]) for route in LONG_ROUTES), label
    assert len(colours) == 10 and len(set(colours)) == 10, colours
    times = [text for text in time_ticks[0] if text]  # labels hidden for overlap are empty
    assert len(time_ticks) == 1 and len(times) >= 3 and len(set(times)) == len(times), (
        times
    )  # no label twice
    assert shot.stat().st_size > 10_000
