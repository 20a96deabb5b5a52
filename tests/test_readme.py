"""The README stays true: its settings table and commands match the code."""

from __future__ import annotations

from pathlib import Path

from reqtrail.settings import settings_table

README = Path(__file__).resolve().parent.parent / "README.md"


def test_readme_settings_table_matches_settings() -> None:
    """Every REQTRAIL_* setting appears in the README table exactly as generated."""
    assert settings_table() in README.read_text(), (
        "README settings table is stale: paste `reqtrail settings --table` output"
    )


def test_readme_quickstart_has_the_two_commands() -> None:
    """The quickstart names the run command and the test command that .ci/run calls."""
    text = README.read_text()
    assert "./dev demo" in text and "./dev test" in text
    ci = (README.parent / ".ci" / "run").read_text()
    assert "./dev test" in ci
