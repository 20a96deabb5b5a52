"""Run the gate once: compare two sides, write the reports, return the exit code.

Exit codes: 1 when a route regressed, 0 otherwise, 2 when the comparison could not run
(``GateError``): Elasticsearch unreadable, bad rules, a side without requests, or no route
with enough requests on both sides to judge.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from elasticsearch import Elasticsearch

from reqtrail.dashboards.queries.compare import Comparison, Scope, compare_releases
from reqtrail.dashboards.queries.gate_rules import (
    GateRules,
    Limits,
    parse_route_rule,
    rules_from_table,
)
from reqtrail.dashboards.queries.verdicts import Verdict
from reqtrail.gate.formats import ReportFormat
from reqtrail.gate.report import render
from reqtrail.gate.sides import Side

EXIT_OK, EXIT_REGRESSED, EXIT_CANNOT_RUN = 0, 1, 2
Say = Callable[[str], None]


class GateError(RuntimeError):
    """The comparison cannot run or judge anything; the message says why (exit code 2)."""


@dataclass(frozen=True)
class LimitFlags:
    """Rule flags of the command line; ``None`` leaves the ``[gate]`` value."""

    max_p95_increase_pct: float | None = None
    max_p99_increase_pct: float | None = None
    max_5xx_increase_pp: float | None = None
    min_requests: int | None = None
    confidence: float | None = None
    route_rules: tuple[str, ...] = ()


def build_rules(table: dict[str, Any], source: str, flags: LimitFlags) -> GateRules:
    """``[gate]`` from the config file, then the flags over it."""
    rules = rules_from_table(table, source)
    limits: dict[str, Any] = {
        f.name: getattr(flags, f.name)
        for f in dataclasses.fields(Limits)
        if getattr(flags, f.name) is not None
    }
    overall: dict[str, Any] = {
        name: getattr(flags, name) for name in ("confidence",) if getattr(flags, name) is not None
    }
    rules = dataclasses.replace(
        rules, limits=dataclasses.replace(rules.limits, **limits), **overall
    )
    for text in flags.route_rules:
        route, changes = parse_route_rule(text)
        rules = rules.with_route(route, changes)
    return rules


@dataclass(frozen=True)
class GateOptions:
    rules: GateRules
    scope: Scope
    fmt: ReportFormat = ReportFormat.TABLE
    reports: tuple[tuple[ReportFormat, Path], ...] = ()


def parse_report(text: str) -> tuple[ReportFormat, Path]:
    """``junit:gate.xml`` -> (JUNIT, Path("gate.xml"))."""
    name, sep, path = text.partition(":")
    try:
        fmt = ReportFormat(name.strip().lower())
    except ValueError:
        fmt = None
    if not sep or not path or fmt is None:
        known = "|".join(f.value for f in ReportFormat)
        raise GateError(f"--report must be FORMAT:PATH with FORMAT one of {known}: {text!r}")
    return fmt, Path(path)


def _scope_text(scope: Scope) -> str:
    parts = [
        f"{k}={v}" for k, v in (("environment", scope.environment), ("service", scope.service))
    ]
    parts = [p for p in parts if not p.endswith("=None")]
    if scope.routes:
        parts.append("route in " + ", ".join(scope.routes))
    return f" ({'; '.join(parts)})" if parts else ""


def check_sides(comparison: Comparison, baseline: Side, candidate: Side) -> None:
    for side, total in zip((baseline, candidate), comparison.requests, strict=True):
        if total == 0:
            raise GateError(
                f"no requests for {side.label}{_scope_text(comparison.scope)}: check the "
                "version, the window and the filters"
            )


def verdict_line(comparison: Comparison) -> str:
    regressed = comparison.having(Verdict.REGRESSED)
    if regressed:
        names = ", ".join(r.route for r in regressed)
        return f"gate: FAILED, {len(regressed)} route(s) regressed: {names}"
    return f"gate: passed, no route regressed ({len(comparison.routes)} routes)"


def run_gate(
    es: Elasticsearch,
    index: str,
    baseline: Side,
    candidate: Side,
    options: GateOptions,
    *,
    out: Say,
    say: Say,
) -> int:
    """Compare, print the report (``out``) and the verdict line (``say``); the exit code."""
    comparison = compare_releases(
        es, index, baseline.cohort, candidate.cohort, options.rules, options.scope
    )
    check_sides(comparison, baseline, candidate)
    out(render(options.fmt, comparison, baseline, candidate))
    for fmt, path in options.reports:
        _write(path, render(fmt, comparison, baseline, candidate))
        say(f"wrote the {fmt} report to {path}")
    if len(comparison.having(Verdict.TOO_FEW)) == len(comparison.routes):
        least = options.rules.limits.min_requests
        raise GateError(
            f"no route has {least} requests on both sides, so nothing could be judged: "
            "run the load test longer, or lower min_requests"
        )
    say(verdict_line(comparison))
    return EXIT_REGRESSED if comparison.having(Verdict.REGRESSED) else EXIT_OK


def _write(path: Path, text: str) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise GateError(f"cannot write the report {path}: {exc}") from None
