"""The house style holds: ruff-clean, ruff-formatted, mypy --strict clean."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", *args], cwd=ROOT, capture_output=True, text=True, timeout=300
    )


def test_ruff_lint_and_format_are_clean() -> None:
    """`ruff check` and `ruff format --check` report nothing for the whole tree."""
    lint = _run("ruff", "check", ".")
    assert lint.returncode == 0, lint.stdout + lint.stderr
    fmt = _run("ruff", "format", "--check", ".")
    assert fmt.returncode == 0, fmt.stdout + fmt.stderr


def test_mypy_strict_is_clean() -> None:
    """mypy --strict (configured in pyproject.toml) finds no error in the packages."""
    result = _run("mypy")
    assert result.returncode == 0, result.stdout + result.stderr


STAGE_IMPORT = re.compile(r"^\s*(from|import) (producers|consumers|dashboards|schemas)\b", re.M)


def test_stages_are_imported_only_through_the_reqtrail_namespace() -> None:
    """No module imports a stage by its folder name (``from producers...``): installed, the
    stages exist only as ``reqtrail.producers`` and so on, and a second name would load them
    twice."""
    offenders = [
        f"{path.relative_to(ROOT)}:{text[: match.start()].count(chr(10)) + 1}"
        for path in ROOT.rglob("*.py")
        if not {".venv", "build", ".git"} & set(path.relative_to(ROOT).parts)
        and path.resolve() == path.absolute()  # not the second view through a symlink
        for text in [path.read_text()]
        for match in STAGE_IMPORT.finditer(text)
    ]
    assert not offenders, "import these as reqtrail.<stage>: " + ", ".join(offenders)


def test_import_layers_hold() -> None:
    """import-linter's contracts (pyproject.toml) hold: stages never import each other or the
    local stack, and the middleware never loads Elasticsearch or the dashboard's libraries."""
    result = subprocess.run(
        [str(Path(sys.executable).with_name("lint-imports"))],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
