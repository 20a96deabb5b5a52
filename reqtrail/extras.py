"""Which extra brings which optional library, and the one-line error when one is missing.

``pip install reqtrail`` is the middleware alone; each other role is an extra
(``reqtrail[cli]``, ``reqtrail[indexer]``, ``reqtrail[dashboard]``, ``reqtrail[local]``, or
``reqtrail[all]``).
"""

from __future__ import annotations

from importlib.util import find_spec

# top-level module name -> the extra that installs it
EXTRA_OF_MODULE = {
    "typer": "cli",
    "elasticsearch": "indexer",
    "elastic_transport": "indexer",
    "jsonschema_rs": "indexer",
    "msgspec": "indexer",
    "prometheus_client": "indexer",
    "streamlit": "dashboard",
    "pandas": "dashboard",
    "altair": "dashboard",
    "platformdirs": "local",
    "locust": "local",
    "uvicorn": "local",
    "starlette": "local",
    "sentry_sdk": "sentry",
}


class MissingExtraError(RuntimeError):
    """An optional part of reqtrail is used without the extra that installs it."""


def missing_extra(exc: ModuleNotFoundError) -> MissingExtraError | None:
    """The one-line error for an import that failed because an extra is not installed."""
    top = (exc.name or "").partition(".")[0]
    extra = EXTRA_OF_MODULE.get(top)
    if extra is None:
        return None
    return MissingExtraError(
        f"this needs {top}, which comes with reqtrail[{extra}]: pip install 'reqtrail[{extra}]'"
    )


def require_module(name: str) -> None:
    """Raise the one-line error when ``name`` (an optional library) is not installed."""
    if find_spec(name) is None:
        error = missing_extra(ModuleNotFoundError(f"No module named {name!r}", name=name))
        raise error or ModuleNotFoundError(f"No module named {name!r}", name=name)
