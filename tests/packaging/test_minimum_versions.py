"""The declared minimum versions really work.

Every direct dependency of ``reqtrail[test]`` (all of reqtrail's extras, the frameworks the
middleware tests serve through, and the test tools) is installed at its declared lower bound
with uv's ``lowest-direct`` resolution, into a fresh venv; the unit tests and the dashboard's
AppTests then run in it against the real services. A bound that does not work fails here
instead of in a user's install.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
UV = str(Path(sys.executable).with_name("uv"))


def _run(*args: str, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(
        args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=1200, check=False
    )
    assert done.returncode == 0, f"{' '.join(args)} failed:\n{done.stdout[-6000:]}{done.stderr}"
    return done.stdout


def test_unit_tests_and_app_tests_pass_at_the_declared_minimums(
    tmp_path: Path, kafka_bootstrap: str, es_url: str
) -> None:
    """With each direct dependency at its lowest allowed version, the unit tests and the
    dashboard AppTests pass."""
    venv = tmp_path / "minimums"
    _run(UV, "venv", "--python", sys.executable, str(venv))
    python = str(venv / "bin" / "python")
    _run(
        UV, "pip", "install", "--python", python, "--resolution", "lowest-direct",
        "-e", f"{ROOT}[test]",
    )  # fmt: skip
    print("\n" + _run(UV, "pip", "freeze", "--python", python))
    env = {**os.environ, "REQTRAIL_KAFKA_BOOTSTRAP": kafka_bootstrap, "REQTRAIL_ES_URL": es_url}
    pytest_args = [python, "-m", "pytest", "-q", "-p", "no:cacheprovider"]
    _run(
        *pytest_args, "-m", "not integration and not browser",
        "--ignore", "tests/test_code_quality.py", "--ignore", "tests/packaging",
        env=env,
    )  # fmt: skip
    _run(
        *pytest_args, "tests/dashboards/test_app.py", "tests/dashboards/test_reproduce_app.py",
        env=env,
    )  # fmt: skip
