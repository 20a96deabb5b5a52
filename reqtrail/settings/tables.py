"""The Markdown tables of docs/configuration.md, one per role, generated from the fields."""

from __future__ import annotations

from dataclasses import MISSING, Field, fields

from reqtrail.settings.base import env_name
from reqtrail.settings.roles import ROLES


def _default(f: Field[object]) -> str:
    if f.name == "state_dir":
        return "`/var/lib/reqtrail` as root, else the user data dir"
    value = f.default
    if value is MISSING:
        return "(computed)"
    if isinstance(value, tuple):
        value = ",".join(value)
    return f"`{value}`" if value != "" else "(empty)"


def role_table(role: type, exclude: frozenset[str] = frozenset()) -> str:
    """One role's table: its own fields, without the connection sections it builds on."""
    rows = ["| Variable | Default | Meaning |", "|---|---|---|"]
    for f in fields(role):
        if f.name not in exclude:
            rows.append(f"| `{env_name(f.name)}` | {_default(f)} | {f.metadata['doc']} |")
    return "\n".join(rows)


def settings_tables() -> str:
    """Every role's table under its heading: what docs/configuration.md shows."""
    parts: list[str] = []
    shown: set[str] = set()
    for title, role in ROLES:
        own = frozenset(f.name for f in fields(role))
        parts.append(f"### {title}\n\n{role_table(role, exclude=frozenset(shown))}")
        shown |= own
    return "\n\n".join(parts)
