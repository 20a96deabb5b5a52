"""The release gate's rules: how much worse a route may get, and how many requests it takes.

They come from the ``[gate]`` table of ``reqtrail.toml``, then from flags::

    [gate]
    max_p95_increase_pct = 20      # a route regresses when its p95 grows beyond this ...
    max_p99_increase_pct = 50
    max_5xx_increase_pp = 1.0      # ... or its share of 5xx grows by more points than this
    min_requests = 100             # per route and side; fewer: "too few requests"
    confidence = 0.95              # ... and only when the change holds at this confidence

    [gate.routes."/shop/purchase"] # per-route overrides of the four limits
    max_p95_increase_pct = 40
    min_requests = 30
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from reqtrail.dashboards.queries.filters import FilterError


class RuleError(FilterError):
    """A gate rule is missing, misspelt or out of range; the message names it and its source."""


@dataclass(frozen=True)
class Limits:
    """The limits one route is judged by."""

    max_p95_increase_pct: float = 20.0
    max_p99_increase_pct: float = 50.0
    max_5xx_increase_pp: float = 1.0
    min_requests: int = 100


LIMIT_NAMES = tuple(f.name for f in dataclasses.fields(Limits))
Changes = tuple[tuple[str, float], ...]


def _applied(limits: Limits, changes: Changes | Mapping[str, float]) -> Limits:
    values: dict[str, Any] = dict(changes)
    if "min_requests" in values:
        values["min_requests"] = int(values["min_requests"])
    return dataclasses.replace(limits, **values)


@dataclass(frozen=True)
class GateRules:
    """Limits for every route, per-route overrides, and how sure a regression must be."""

    limits: Limits = field(default_factory=Limits)
    overrides: tuple[tuple[str, Changes], ...] = ()
    confidence: float = 0.95

    def __post_init__(self) -> None:
        if not 0.5 <= self.confidence < 1.0:
            raise RuleError(f"confidence must be within [0.5, 1): {self.confidence}")
        for route, changes in ((None, ()), *self.overrides):
            limits = _applied(self.limits, changes)
            where = f" for route {route!r}" if route else ""
            for name in LIMIT_NAMES:
                if getattr(limits, name) < 0:
                    raise RuleError(f"{name}{where} must not be negative: {getattr(limits, name)}")

    def for_route(self, route: str) -> Limits:
        """The default limits with this route's overrides applied."""
        for name, changes in self.overrides:
            if name == route:
                return _applied(self.limits, changes)
        return self.limits

    def with_route(self, route: str, changes: Mapping[str, float]) -> GateRules:
        """These rules with ``changes`` added to the route's overrides."""
        merged = dict(dict(self.overrides).get(route, ()))
        merged.update(changes)
        others = tuple(item for item in self.overrides if item[0] != route)
        return dataclasses.replace(self, overrides=(*others, (route, tuple(merged.items()))))


def _number(name: str, raw: Any, where: str) -> float:
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        raise RuleError(f"{name} in {where} must be a number: {raw!r}")
    return int(raw) if name == "min_requests" else float(raw)


def _limits(table: Mapping[str, Any], where: str) -> dict[str, float]:
    unknown = sorted(set(table) - set(LIMIT_NAMES))
    if unknown:
        raise RuleError(
            f"unknown gate rule {unknown[0]!r} in {where} (known: {', '.join(LIMIT_NAMES)})"
        )
    return {name: _number(name, raw, where) for name, raw in table.items()}


def rules_from_table(table: Mapping[str, Any], source: str = "[gate]") -> GateRules:
    """Rules from a ``[gate]`` table (as TOML parses it); ``source`` names it in errors."""
    table = dict(table)
    routes = table.pop("routes", {})
    if not isinstance(routes, dict):
        raise RuleError(f"routes in {source} must be a table of route -> limits")
    confidence = _number("confidence", table.pop("confidence", 0.95), source)
    limits = _applied(Limits(), _limits(table, source))
    overrides = []
    for route, changes in routes.items():
        if not isinstance(changes, dict):
            raise RuleError(f"routes.{route!r} in {source} must be a table of limits")
        overrides.append((route, tuple(_limits(changes, f"{source} routes.{route!r}").items())))
    return GateRules(limits=limits, overrides=tuple(overrides), confidence=confidence)


def parse_route_rule(text: str) -> tuple[str, dict[str, float]]:
    """``"/shop/purchase:max_p95_increase_pct=40,min_requests=30"`` -> (route, limits)."""
    route, sep, assignments = text.rpartition(":")
    if not sep or not route:
        raise RuleError(f"route rule must be ROUTE:NAME=VALUE[,NAME=VALUE]: {text!r}")
    changes: dict[str, Any] = {}
    for part in assignments.split(","):
        name, eq, value = part.partition("=")
        if not eq:
            raise RuleError(f"route rule must be ROUTE:NAME=VALUE[,NAME=VALUE]: {text!r}")
        try:
            changes[name.strip()] = float(value)
        except ValueError:
            raise RuleError(f"{name.strip()} in route rule {text!r} is not a number") from None
    return route, _limits(changes, f"route rule {text!r}")
