"""What every settings class shares: errors, field declarations with their checks, ``replace``.

A field is declared with ``setting(doc, default, check=...)``; the check runs when the
settings object is built, and its message names the variable (``REQTRAIL_<FIELD>``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from typing import Any, Self
from urllib.parse import urlparse

ENV_PREFIX = "REQTRAIL_"

Check = Callable[[Any], str | None]  # the problem with a value, or None when it is fine


class SettingsError(ValueError):
    """A setting has a value that cannot be used; the message names the variable.

    ``field`` is the settings field at fault (None for an unknown key or unreadable file)
    and ``problem`` the message without the name, so a caller that read the value from
    elsewhere can name its own source (``relabel``).
    """

    def __init__(self, message: str, *, field: str | None = None, problem: str = "") -> None:
        super().__init__(message)
        self.field = field
        self.problem = problem

    @classmethod
    def of(cls, field_name: str, problem: str) -> SettingsError:
        """``REQTRAIL_<FIELD> <problem>``, remembering the field."""
        return cls(f"{env_name(field_name)} {problem}", field=field_name, problem=problem)

    def relabel(self, label: str) -> SettingsError:
        """The same error, naming ``label`` (e.g. ``settings.REQTRAIL["ES_URL"]``)."""
        return SettingsError(f"{label} {self.problem}", field=self.field, problem=self.problem)


class SettingsWarning(UserWarning):
    """A ``REQTRAIL_*`` environment variable that no setting reads (probably a typo)."""


def env_name(field_name: str) -> str:
    return ENV_PREFIX + field_name.upper()


def setting(doc: str, default: Any = dataclasses.MISSING, *, check: Check | None = None) -> Any:
    """A settings field: its one-line documentation, default and check."""
    metadata = {"doc": doc, "check": check}
    if callable(default):
        return field(default_factory=default, metadata=metadata)
    return field(default=default, metadata=metadata)


# --- checks -------------------------------------------------------------------------------
def is_url(value: str) -> str | None:
    parsed = urlparse(value)
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        return f"is not a URL: {value!r}"
    return None


def are_urls(value: str) -> str | None:
    """One URL, or several comma separated."""
    for url in value.split(","):
        problem = is_url(url.strip())
        if problem is not None:
            return problem + (f" (in {value!r})" if url.strip() != value else "")
    return None


def is_host_ports(value: str) -> str | None:
    for hostport in value.split(","):
        host, _, port = hostport.strip().rpartition(":")
        if not host or not port.isdigit():
            return f"is not host:port[,host:port]: {value!r}"
    return None


def is_positive(value: float) -> str | None:
    return None if value > 0 else f"must be positive: {value}"


def is_not_negative(value: float) -> str | None:
    return None if value >= 0 else f"must not be negative: {value}"


def is_fraction(value: float) -> str | None:
    return None if 0.0 <= value <= 1.0 else f"must be within 0..1: {value}"


def is_port_or_zero(value: int) -> str | None:
    return None if 0 <= value <= 65535 else f"must be a port (1-65535, 0: derived): {value}"


def at_least_minus_one(value: int) -> str | None:
    return None if value >= -1 else f"must be -1 (automatic) or more: {value}"


def one_of(*choices: str) -> Check:
    def check(value: str) -> str | None:
        return None if value in choices else f"must be one of {', '.join(choices)}: {value!r}"

    return check


def at_least(minimum: int, unit: str) -> Check:
    def check(value: int) -> str | None:
        return None if value >= minimum else f"must be at least {minimum} ({unit}): {value}"

    return check


@dataclass(frozen=True)
class SettingsBase:
    """Runs every field's check once the object is built; ``replace`` builds a changed copy."""

    def __post_init__(self) -> None:
        for f in fields(self):
            check = f.metadata.get("check")
            if check is not None and (problem := check(getattr(self, f.name))) is not None:
                raise SettingsError.of(f.name, problem)

    def replace(self, **changes: Any) -> Self:
        return dataclasses.replace(self, **changes)
