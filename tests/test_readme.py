"""The README and docs stay true: two commands, a short README, links that resolve, settings
tables that match the code, and product docs without lab notes."""

from __future__ import annotations

import re
from pathlib import Path

from reqtrail.settings import settings_tables

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
DOCS = sorted((ROOT / "docs").glob("*.md"))
README_MAX_BYTES = 12_288
# how lab notes read: sessions, machines the authors used, throw-away tools, dated runs
LAB_NOTES = re.compile(
    r"\b(this|next|fourth|third|second|earlier|previous|last) session\b"
    r"|throw-?away|\bthis (2-core )?(machine|vm)\b|\b(measured|run|tried) on 20\d\d-\d\d-\d\d",
    re.IGNORECASE,
)


def test_readme_is_short_and_names_the_two_commands_ci_runs() -> None:
    """README ≤ 12 KB; its quickstart code block holds `./dev demo` and `./dev test`, and
    .ci/run runs exactly `./dev test`."""
    text = README.read_text()
    assert len(text.encode()) <= README_MAX_BYTES
    quickstart = text.split("## Quickstart", 1)[1].split("\n## ", 1)[0]
    block = quickstart.split("```bash\n", 1)[1].split("```", 1)[0]
    assert [line.split()[0:2] for line in block.splitlines()] == [
        ["./dev", "demo"],
        ["./dev", "test"],
    ]
    commands = [
        line
        for line in (ROOT / ".ci" / "run").read_text().splitlines()
        if line.strip() and not line.startswith(("#", "set ", "cd "))
    ]
    assert commands == ["exec ./dev test"]


def test_links_in_readme_and_docs_resolve() -> None:
    """Every relative link of README.md and docs/*.md points at a file that exists."""
    broken = []
    for page in [README, *DOCS]:
        for target in re.findall(r"\]\(([^)#:]+)(?:#[^)]*)?\)", page.read_text()):
            if not (page.parent / target).exists():
                broken.append(f"{page.relative_to(ROOT)} -> {target}")
    assert not broken


def test_configuration_doc_has_the_settings_tables_of_the_code() -> None:
    """docs/configuration.md holds every role's settings table exactly as generated."""
    assert settings_tables() in (ROOT / "docs" / "configuration.md").read_text(), (
        "docs/configuration.md is stale: paste `reqtrail settings --table` output"
    )


def test_product_docs_carry_no_lab_notes() -> None:
    """README and docs describe the product: no sessions, no authors' machines, no dated runs."""
    notes = [
        f"{page.relative_to(ROOT)}: {match.group(0)!r}"
        for page in [README, *DOCS]
        for match in LAB_NOTES.finditer(page.read_text())
    ]
    assert not notes
