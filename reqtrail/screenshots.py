"""Run the dashboard and photograph its pages with headless Chromium.

Used by the browser test (artifacts/screenshots/) and for the README's pictures::

    python -m reqtrail.screenshots --out docs/screenshots   # seeds a demo prefix first

Needs Debian's ``chromium`` and ``chromium-driver`` and the ``selenium`` test dependency.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, suppress
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from reqtrail.dashboards.cli import streamlit_command

if TYPE_CHECKING:
    from selenium.webdriver.remote.webdriver import WebDriver
    from selenium.webdriver.remote.webelement import WebElement

PAGES: dict[str, str] = {
    "search": "",  # the default page lives at the app root
    "slow-apis": "slow-apis",
    "errors": "errors",
    "traffic": "traffic",
}
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-dev-shm-usage",
    "--hide-scrollbars",
)


class DashboardStartError(RuntimeError):
    """``streamlit run`` did not become healthy; the message holds the end of its log."""


def browser_available() -> str | None:
    """None when chromium and chromedriver are installed, else what is missing."""
    missing = [name for name in ("chromium", "chromedriver") if shutil.which(name) is None]
    return None if not missing else f"not installed: {', '.join(missing)}"


def wait_until(check: Callable[[], bool], timeout: float, what: str, step: float = 0.2) -> None:
    """Poll ``check`` until it is true; raise TimeoutError naming ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(step)
    raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}")


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/_stcore/health", timeout=1) as response:
            return bool(response.status == 200)
    except OSError:
        return False


@contextmanager
def running_dashboard(
    port: int, env: Mapping[str, str], log_path: Path, timeout: float = 60.0
) -> Iterator[str]:
    """Run ``streamlit run`` on ``port`` in its own process group; yield its base URL."""
    url = f"http://127.0.0.1:{port}"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [*streamlit_command(port), "--server.address=127.0.0.1"],
            env={**os.environ, **env},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            with suppress(TimeoutError):
                wait_until(
                    lambda: process.poll() is not None or _healthy(url), timeout, "dashboard"
                )
            if process.poll() is not None or not _healthy(url):
                tail = log_path.read_text(errors="replace")[-2000:]
                raise DashboardStartError(f"streamlit did not become healthy:\n{tail}")
            yield url
        finally:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
                try:
                    process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)
                    process.wait()


@contextmanager
def chromium(width: int = 1440, height: int = 1200) -> Iterator[WebDriver]:
    """A headless Chromium driven by chromedriver, with a fresh profile."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    with tempfile.TemporaryDirectory(prefix="reqtrail-chromium-") as profile:
        options = webdriver.ChromeOptions()
        options.binary_location = shutil.which("chromium") or "chromium"
        for flag in CHROMIUM_FLAGS:
            options.add_argument(flag)
        options.add_argument(f"--user-data-dir={profile}")
        options.add_argument(f"--window-size={width},{height}")
        service = Service(executable_path=shutil.which("chromedriver") or "chromedriver")
        driver = webdriver.Chrome(options=options, service=service)
        try:
            yield driver
        finally:
            driver.quit()


def settled(driver: WebDriver) -> bool:
    """True when Streamlit has finished running the script and drawn the page."""
    from selenium.webdriver.common.by import By

    running = driver.find_elements(By.CSS_SELECTOR, '[data-testid="stStatusWidget"]')
    app = driver.find_elements(By.CSS_SELECTOR, '[data-testid="stMain"]')
    return bool(app) and not running


def wait_for_page(driver: WebDriver, text: str, timeout: float = 30.0) -> None:
    """Wait until ``text`` is on the page and the script run is over (charts drawn)."""
    from selenium.webdriver.common.by import By

    def ready() -> bool:
        body = driver.find_element(By.TAG_NAME, "body").text
        return text in body and settled(driver)

    wait_until(ready, timeout, f"{text!r} on {driver.current_url}")
    time.sleep(1.0)  # let charts and the data grid paint
    wait_until(lambda: settled(driver), timeout, "the page to settle")


def wait_for_element(driver: WebDriver, css_selector: str, timeout: float = 30.0) -> WebElement:
    """Wait until an element matching ``css_selector`` is displayed; return it.

    Streamlit draws a page in pieces as its script runs: the title can be on the page
    (and the status widget not yet shown) while a query further down is still running,
    so a test that is about to use a widget waits for that widget itself.
    """
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.common.by import By

    found: list[WebElement] = []

    def shown() -> bool:
        found[:] = driver.find_elements(By.CSS_SELECTOR, css_selector)
        try:
            return bool(found) and found[0].is_displayed()
        except StaleElementReferenceException:  # redrawn between find and check
            return False

    try:
        wait_until(shown, timeout, f"{css_selector!r} on {driver.current_url}")
    except TimeoutError as exc:  # say what the page showed instead
        body = driver.find_element(By.TAG_NAME, "body").text
        raise TimeoutError(f"{exc}; the page read: {body[:800]!r}") from None
    return found[0]


def save_small_png(driver: WebDriver, path: Path) -> Path:
    """Screenshot the window into ``path`` as a 256-colour PNG (a fraction of the size)."""
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    driver.save_screenshot(str(path))
    with Image.open(path) as image:
        small = image.convert("RGB").quantize(colors=256, method=Image.Quantize.MEDIANCUT)
    small.save(path, optimize=True)
    return path


def capture_pages(
    driver: WebDriver, base_url: str, out_dir: Path, search_query: str = ""
) -> list[Path]:
    """One screenshot per page (search with ``search_query``), named after the page."""
    titles = {"search": "Search requests", "slow-apis": "Slow APIs", "errors": "Errors"}
    titles["traffic"] = "Traffic"
    shots = []
    for name, path in PAGES.items():
        query = f"?{search_query}" if name == "search" and search_query else ""
        driver.get(f"{base_url}/{path}{query}")
        wait_for_page(driver, titles[name], timeout=60)
        shots.append(save_small_png(driver, out_dir / f"{name}.png"))
    return shots


def capture_detail(
    driver: WebDriver, base_url: str, out_dir: Path, user_id: str, request_id: str
) -> Path:
    """The search page of ``user_id`` with ``request_id`` open, scrolled to the detail."""
    from urllib.parse import urlencode

    from selenium.webdriver.common.by import By

    driver.get(f"{base_url}/?{urlencode({'user': user_id, 'open': request_id})}")
    wait_for_page(driver, "Response body", timeout=60)
    anchor = driver.find_element(By.XPATH, '//*[contains(text(), "Request ID (copy")]')
    driver.execute_script("arguments[0].scrollIntoView({block: 'start'});", anchor)
    time.sleep(0.5)
    return save_small_png(driver, out_dir / "search-detail.png")


def main(argv: list[str] | None = None) -> int:
    """Seed a demo prefix when it is short of records, run the dashboard, save screenshots."""
    from reqtrail.dashboards.queries.es_client import make_client
    from reqtrail.dashboards.queries.filters import SearchFilter, StatusClass, TimeRange
    from reqtrail.dashboards.queries.search import search_requests
    from reqtrail.schemas.samples import sample_records
    from reqtrail.seed import count, print_progress, seed
    from reqtrail.services.ports import free_ports
    from reqtrail.settings import load_settings

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--out", type=Path, default=Path("docs/screenshots"))
    parser.add_argument("--prefix", default="rtdemo-screens")
    parser.add_argument("--count", type=int, default=60_000)
    args = parser.parse_args(argv)
    if problem := browser_available():
        parser.error(problem)
    settings = load_settings().replace(index_prefix=args.prefix)
    es = make_client(settings, max_retries=3)
    if count(es, args.prefix) < args.count:
        records = sample_records(args.count, span=timedelta(hours=24), users=2000)
        seed(
            es,
            args.prefix,
            records,
            total=args.count,
            threads=2,
            chunk_size=5000,
            fast=True,
            progress=print_progress(f"seeding {args.prefix}"),
        )
    (port,) = free_ports(1)
    env = {"REQTRAIL_ES_URL": settings.es_url, "REQTRAIL_INDEX_PREFIX": args.prefix}
    log = Path(tempfile.gettempdir()) / "reqtrail-screenshots-streamlit.log"
    window = TimeRange.last(timedelta(hours=24))
    failed = search_requests(
        es, args.prefix, SearchFilter(window, status_class=StatusClass.S5XX), page_size=1
    ).rows.iloc[0]
    env["REQTRAIL_SENTRY_BASE_URL"] = "https://sentry.example.com/organizations/acme/issues/"
    with running_dashboard(port, env, log) as url, chromium() as driver:
        shots = capture_pages(driver, url, args.out, f"user={failed['user_id']}")
        shots.append(capture_detail(driver, url, args.out, failed["user_id"], failed["request_id"]))
    for shot in shots:
        print(f"wrote {shot} ({shot.stat().st_size / 1024:,.0f} KiB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
