"""In a real browser: a player's search shows the reproduce commands; run as shown, they work."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from reqtrail.screenshots import chromium, save_small_png, wait_until
from tests.browser import SHOTS, dashboard, search_user
from tests.replay.conftest import PLAYER, SESSION, GameSession, received, target_topic
from tests.replay.servers import game_server_command, pipeline_env, running_server

pytestmark = [pytest.mark.integration, pytest.mark.browser, pytest.mark.slow]


def test_reproduce_command_from_the_browser_runs_as_shown(
    game_session: GameSession, tmp_path: Path
) -> None:
    """Search the player, open "Reproduce in dev", copy the commands, run them in a shell:
    the export is written and the replay matches on the dev server (exit 0)."""
    from selenium.webdriver.common.by import By

    with target_topic(game_session) as target:
        log = game_session.logs / "browser-target.log"
        with running_server(game_server_command(), pipeline_env(target), log) as dev_server:
            streamlit = dashboard(
                game_session.settings.es_url,
                game_session.settings.index_prefix,
                "streamlit-reproduce.log",
                REQTRAIL_REPLAY_TARGET=dev_server,
            )
            with streamlit as url, chromium() as driver:
                search_user(driver, url, PLAYER, len(SESSION))
                reproduce = "//details[summary[contains(., 'Reproduce in dev')]]"
                wait_until(
                    lambda: bool(driver.find_elements(By.XPATH, reproduce)), 30, "the expander"
                )
                driver.find_element(By.XPATH, f"{reproduce}/summary").click()
                code = driver.find_element(By.XPATH, f"{reproduce}//*[@data-testid='stCode']//code")
                wait_until(lambda: "reqtrail replay" in code.text, 10, "the commands")
                shown = code.text
                save_small_png(driver, SHOTS / "reproduce-in-dev.png")
                assert driver.find_element(By.TAG_NAME, "body").text.count("reqtrail export") == 1
            shell_env = {
                **os.environ,
                "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
                "REQTRAIL_ES_URL": game_session.settings.es_url,
                "REQTRAIL_INDEX_PREFIX": game_session.settings.index_prefix,
            }
            ran = subprocess.run(
                ["bash", "-e", "-c", shown],
                cwd=tmp_path,
                env=shell_env,
                capture_output=True,
                text=True,
                timeout=180,
            )
        got = received(target)
    assert shown.startswith(f"reqtrail export --user {PLAYER} --since ")
    assert f"--target {dev_server}" in shown.splitlines()[1]
    assert ran.returncode == 0, shown + "\n" + ran.stdout + ran.stderr
    assert (tmp_path / f"reqtrail-{PLAYER}.json").is_file()
    assert "all 5 replayed requests matched; 1 not replayable as recorded" in ran.stdout
    originals = {r["request_id"] for r in game_session.records}
    assert len(got) == len(SESSION) - 1 and {r["replay_of"] for r in got} <= originals
