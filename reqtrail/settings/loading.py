"""Reading settings: defaults < a TOML file < a framework's configuration < the environment.

Each field is overridable with ``REQTRAIL_<FIELD_NAME_UPPER>``.  The optional TOML file is
``REQTRAIL_CONFIG``, else ``./reqtrail.toml`` when present; a framework's own configuration
(``overrides``: Django's ``settings.REQTRAIL``, Flask's ``app.config``) is keyed by the
variable names without ``REQTRAIL_``.  Bad values fail early with a one-line message naming
where the value came from, e.g. ``REQTRAIL_ES_URL is not a URL: 'localhost'``.  An unknown
key, or a ``REQTRAIL_*`` variable that is no setting, is named with the closest real one.

A role loads only its own fields (``load_settings(role=ProducerSettings)``); the file and the
environment are shared by every role, so a key of another role is never an error.
"""

from __future__ import annotations

import difflib
import os
import tomllib
import types
import typing
import warnings
from collections.abc import Mapping
from dataclasses import fields
from functools import cache
from pathlib import Path
from typing import Any, TypeVar, overload

from reqtrail.settings.base import ENV_PREFIX, SettingsBase, SettingsError, SettingsWarning
from reqtrail.settings.base import env_name as env_name
from reqtrail.settings.roles import Settings

S = TypeVar("S", bound=SettingsBase)

# REQTRAIL_* variables read by other parts of the project (tools, demo, tests), not settings.
OTHER_VARIABLES = frozenset(
    {
        "REQTRAIL_CONFIG",
        "REQTRAIL_VENV",
        "REQTRAIL_TEST_SERVICES",
        "REQTRAIL_DOCS_SCREENSHOTS",
        "REQTRAIL_ES_PORT",  # docker-compose.yml
        "REQTRAIL_KAFKA_PORT",
        "REQTRAIL_LOADTEST_VERSION",  # set by `reqtrail loadtest` for reqtrail.locust
    }
)
OTHER_VARIABLE_PREFIXES = ("REQTRAIL_DEMO_",)
# Tables of the config file that are not settings: each belongs to one command, which
# checks its keys itself (``[gate]``: ``reqtrail compare``).
SECTIONS = frozenset({"gate"})


@cache
def _types(role: type) -> dict[str, Any]:
    return typing.get_type_hints(role)


def _coerce(name: str, raw: Any) -> Any:
    kind = _types(Settings)[name]
    try:
        if kind is bool:
            if isinstance(raw, bool):
                return raw
            text = str(raw).strip().lower()
            if text in ("1", "true", "yes", "on"):
                return True
            if text in ("0", "false", "no", "off", ""):
                return False
            raise ValueError(text)
        if kind is int:
            return int(raw)
        if kind is float:
            return float(raw)
        if typing.get_origin(kind) is tuple or isinstance(kind, types.GenericAlias):
            items = raw if isinstance(raw, list | tuple) else str(raw).split(",")
            return tuple(str(item).strip() for item in items if str(item).strip())
        return str(raw)
    except ValueError:
        pretty = getattr(kind, "__name__", str(kind))
        raise SettingsError.of(name, f"is not a valid {pretty}: {raw!r}") from None


def setting_names(role: type = Settings) -> list[str]:
    """The field names of ``role`` (every setting by default)."""
    return [f.name for f in fields(role)]


def setting_keys() -> list[str]:
    """Every setting's key as frameworks spell it: the variable name without ``REQTRAIL_``."""
    return [name.upper() for name in setting_names()]


def closest(name: str, candidates: list[str]) -> str | None:
    """The candidate most like ``name`` (case-insensitive), if any is close."""
    by_upper = {c.upper(): c for c in candidates}
    match = difflib.get_close_matches(name.upper(), list(by_upper), n=1, cutoff=0.6)
    return by_upper[match[0]] if match else None


def _unknown(where: str, key: str, candidates: list[str], prefix: str = "") -> SettingsError:
    suggestion = closest(key.removeprefix(prefix), candidates)
    hint = f"; did you mean {prefix + suggestion!r}?" if suggestion else ""
    return SettingsError(f"unknown setting {key!r} in {where}{hint}")


_warned: set[str] = set()


def _warn_unknown_variables(env: Mapping[str, str]) -> None:
    """Warn once per process about each ``REQTRAIL_*`` variable that is no setting."""
    known = {env_name(name) for name in setting_names()}
    for variable in env:
        if (
            not variable.startswith(ENV_PREFIX)
            or variable in known
            or variable in OTHER_VARIABLES
            or variable.startswith(OTHER_VARIABLE_PREFIXES)
            or variable in _warned
        ):
            continue
        _warned.add(variable)
        suggestion = closest(variable.removeprefix(ENV_PREFIX), setting_keys())
        hint = (
            f"; did you mean {ENV_PREFIX}{suggestion}?"
            if suggestion
            else " (`reqtrail settings --table` lists them)"
        )
        warnings.warn(f"{variable} is not a reqtrail setting{hint}", SettingsWarning, stacklevel=3)


def config_file_path(env: Mapping[str, str], config_file: str | Path | None = None) -> Path | None:
    """The TOML file settings are read from, if any."""
    path = config_file or env.get("REQTRAIL_CONFIG") or None
    if path is None and Path("reqtrail.toml").is_file():
        path = "reqtrail.toml"
    return Path(path) if path is not None else None


def read_config_file(path: Path) -> dict[str, Any]:
    """The TOML file's content, or the one-line error saying why it cannot be read."""
    try:
        return tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise SettingsError(f"REQTRAIL_CONFIG file {str(path)!r} cannot be read: {exc}") from None


def config_section(
    name: str, environ: Mapping[str, str] | None = None, config_file: str | Path | None = None
) -> tuple[dict[str, Any], str | None]:
    """The ``[name]`` table of the config file (empty when absent) and the file's path."""
    path = config_file_path(os.environ if environ is None else environ, config_file)
    if path is None:
        return {}, None
    table = read_config_file(path).get(name, {})
    if not isinstance(table, dict):
        raise SettingsError(f"[{name}] in {path} must be a table")
    return table, str(path)


@overload
def load_settings(
    environ: Mapping[str, str] | None = ...,
    config_file: str | Path | None = ...,
    *,
    overrides: Mapping[str, Any] | None = ...,
    overrides_source: str = ...,
    overrides_prefix: str = ...,
) -> Settings: ...


@overload
def load_settings(
    environ: Mapping[str, str] | None = ...,
    config_file: str | Path | None = ...,
    *,
    role: type[S],
    overrides: Mapping[str, Any] | None = ...,
    overrides_source: str = ...,
    overrides_prefix: str = ...,
) -> S: ...


def load_settings(
    environ: Mapping[str, str] | None = None,
    config_file: str | Path | None = None,
    *,
    role: type[SettingsBase] = Settings,
    overrides: Mapping[str, Any] | None = None,
    overrides_source: str = "overrides",
    overrides_prefix: str = "",
) -> SettingsBase:
    """``role``'s settings from the TOML file, then ``overrides``, then ``REQTRAIL_*``.

    ``overrides`` is a framework's own configuration, keyed like the variables without
    ``REQTRAIL_`` plus ``overrides_prefix`` (``{"SERVICE": "match"}`` for Django's
    ``settings.REQTRAIL``; ``{"REQTRAIL_SERVICE": "match"}`` with prefix ``REQTRAIL_`` for
    Flask's ``app.config``).  Errors name the value as ``<overrides_source>["<key>"]``;
    unknown keys are errors naming the closest real key.
    """
    env = os.environ if environ is None else environ
    every = set(setting_names())
    mine = set(setting_names(role))
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    _warn_unknown_variables(env)
    path = config_file_path(env, config_file)
    if path is not None:
        for key, raw in read_config_file(path).items():
            if key in SECTIONS:
                continue  # read by the command it belongs to (config_section)
            if key not in every:
                raise _unknown(str(path), key, sorted(every))
            if key in mine:
                sources[key] = f"{key} in {path}"
                values[key] = _coerce_from(key, raw, sources)
    for key, raw in (overrides or {}).items():
        bare = key.removeprefix(overrides_prefix) if key.startswith(overrides_prefix) else ""
        name = bare.lower()
        if bare != name.upper() or name not in every:
            raise _unknown(overrides_source, key, setting_keys(), overrides_prefix)
        if name in mine:
            sources[name] = f'{overrides_source}["{key}"]'
            values[name] = _coerce_from(name, raw, sources)
    for name in mine:
        raw_env = env.get(env_name(name))
        if raw_env is not None:
            values[name] = _coerce(name, raw_env)
            sources.pop(name, None)
    try:
        return role(**values)
    except SettingsError as exc:
        if exc.field in sources:
            raise exc.relabel(sources[exc.field]) from None
        raise


def _coerce_from(name: str, raw: Any, sources: dict[str, str]) -> Any:
    try:
        return _coerce(name, raw)
    except SettingsError as exc:
        raise exc.relabel(sources[name]) from None
