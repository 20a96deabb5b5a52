"""The gate's verdict as a terminal table, Markdown (for a pull request), JSON or JUnit XML.

JUnit: one test case per route (``classname`` ``reqtrail.gate``, ``name`` the route); a
regressed route is a ``failure``, a route with too few requests is ``skipped``; the
numbers are in each case's ``system-out``.
"""

from __future__ import annotations

import json
import math
import xml.etree.ElementTree as ET
from collections.abc import Callable
from typing import Any

from reqtrail.dashboards.queries.compare import Comparison
from reqtrail.dashboards.queries.gate_stats import Interval
from reqtrail.dashboards.queries.verdicts import RouteComparison, SideStats, Verdict
from reqtrail.gate.formats import ReportFormat
from reqtrail.gate.sides import Side


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:,.1f}"


def _pct(value: float | None, unit: str = "%") -> str:
    if value is None or math.isnan(value):
        return "-"
    return f"{value:+.0f}{unit}" if unit == "%" else f"{value:+.1f}{unit}"


def _rate(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}%"


def _columns(r: RouteComparison) -> list[str]:
    old, new = r.baseline, r.candidate
    return [
        r.route,
        str(r.verdict),
        f"{old.requests:,} → {new.requests:,}",
        f"{_ms(old.p50)} → {_ms(new.p50)}",
        f"{_ms(old.p95)} → {_ms(new.p95)}",
        _pct(r.change_pct("p95")),
        f"{_ms(old.p99)} → {_ms(new.p99)}",
        _pct(r.change_pct("p99")),
        f"{_rate(old.rate_4xx_pct)} → {_rate(new.rate_4xx_pct)}",
        f"{_rate(old.rate_5xx_pct)} → {_rate(new.rate_5xx_pct)}",
        _pct(r.rate_5xx_change_pp, " pp"),
    ]


HEADER = [
    "route",
    "verdict",
    "requests",
    "p50 ms",
    "p95 ms",
    "Δp95",
    "p99 ms",
    "Δp99",
    "4xx",
    "5xx",
    "Δ5xx",
]


def summary(comparison: Comparison) -> str:
    counts = {v: len(comparison.having(v)) for v in Verdict}
    return ", ".join(f"{counts[v]} {v}" for v in Verdict)


def rules_line(comparison: Comparison) -> str:
    rules = comparison.rules
    limits = rules.limits
    line = (
        f"limits: p95 +{limits.max_p95_increase_pct:g}%, p99 +{limits.max_p99_increase_pct:g}%, "
        f"5xx rate +{limits.max_5xx_increase_pp:g} pp, at {rules.confidence:.0%} confidence; "
        f"at least {limits.min_requests} requests per route and side"
    )
    if rules.overrides:
        line += f" (own limits: {', '.join(route for route, _ in rules.overrides)})"
    return line


def title(baseline: Side, candidate: Side) -> str:
    return f"reqtrail gate: {candidate.short_label} vs baseline {baseline.short_label}"


def _reasons(comparison: Comparison) -> list[str]:
    return [
        f"{r.route} {r.verdict}: {'; '.join(r.reasons)}"
        for r in comparison.routes
        if r.reasons and r.verdict is not Verdict.OK
    ]


def as_table(comparison: Comparison, baseline: Side, candidate: Side) -> str:
    rows = [HEADER, *(_columns(r) for r in comparison.routes)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(HEADER))]
    lines = [
        title(baseline, candidate),
        f"baseline  {baseline.label}",
        f"candidate {candidate.label}",
        rules_line(comparison),
        "",
    ]
    for row in rows:
        cells = [
            cell.ljust(width) if i < 2 else cell.rjust(width)
            for i, (cell, width) in enumerate(zip(row, widths, strict=True))
        ]
        lines.append("  ".join(cells).rstrip())
    lines += ["", *_reasons(comparison), summary(comparison)]
    return "\n".join(lines) + "\n"


def as_markdown(comparison: Comparison, baseline: Side, candidate: Side) -> str:
    regressed = comparison.having(Verdict.REGRESSED)
    verdict = (
        f"**{len(regressed)} route(s) regressed:** " + ", ".join(f"`{r.route}`" for r in regressed)
        if regressed
        else "**No route regressed.**"
    )
    lines = [
        f"### {title(baseline, candidate)}",
        "",
        f"{verdict} ({summary(comparison)})",
        "",
        f"Baseline `{baseline.label}`, candidate `{candidate.label}`; {rules_line(comparison)}.",
        "",
        "| " + " | ".join(HEADER) + " |",
        "|" + "---|" * len(HEADER),
    ]
    for r in comparison.routes:
        cells = _columns(r)
        cells[0] = f"`{cells[0]}`"
        if r.verdict is Verdict.REGRESSED:
            cells[1] = f"**{cells[1]}**"
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    reasons = _reasons(comparison)
    if reasons:
        lines += ["", *(f"- {line}" for line in reasons)]
    return "\n".join(lines) + "\n"


def _finite(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else round(value, 3)


def _interval(interval: Interval | None) -> dict[str, float | None] | None:
    if interval is None:
        return None
    return {k: _finite(getattr(interval, k)) for k in ("estimate", "low", "high")}


def _side(stats: SideStats) -> dict[str, Any]:
    return {
        "requests": stats.requests,
        "p50_ms": stats.p50,
        "p95_ms": stats.p95,
        "p99_ms": stats.p99,
        "rate_4xx_pct": _finite(stats.rate_4xx_pct),
        "rate_5xx_pct": _finite(stats.rate_5xx_pct),
    }


def as_dict(comparison: Comparison, baseline: Side, candidate: Side) -> dict[str, Any]:
    """Everything in plain JSON types; unbounded limits of an interval are null."""
    rules = comparison.rules
    return {
        "baseline": baseline.label,
        "candidate": candidate.label,
        "scope": {
            "environment": comparison.scope.environment,
            "service": comparison.scope.service,
            "routes": list(comparison.scope.routes),
        },
        "confidence": rules.confidence,
        "summary": {str(v): len(comparison.having(v)) for v in Verdict},
        "routes": [
            {
                "route": r.route,
                "verdict": str(r.verdict),
                "reasons": list(r.reasons),
                "baseline": _side(r.baseline),
                "candidate": _side(r.candidate),
                "change": {
                    "p50_pct": _finite(r.change_pct("p50")),
                    "p95_pct": _finite(r.change_pct("p95")),
                    "p99_pct": _finite(r.change_pct("p99")),
                    "rate_5xx_pp": _finite(r.rate_5xx_change_pp),
                },
                "bounds": {
                    "p95_pct": _interval(r.p95),
                    "p99_pct": _interval(r.p99),
                    "rate_5xx_pp": _interval(r.rate_5xx),
                },
                "limits": dict(vars(r.limits)),
            }
            for r in comparison.routes
        ],
    }


def as_json(comparison: Comparison, baseline: Side, candidate: Side) -> str:
    return json.dumps(as_dict(comparison, baseline, candidate), indent=2) + "\n"


def as_junit(comparison: Comparison, baseline: Side, candidate: Side) -> str:
    counts = {v: len(comparison.having(v)) for v in Verdict}
    attributes = {
        "name": title(baseline, candidate),
        "tests": str(len(comparison.routes)),
        "failures": str(counts[Verdict.REGRESSED]),
        "errors": "0",
        "skipped": str(counts[Verdict.TOO_FEW]),
    }
    suites = ET.Element("testsuites", attributes)
    suite = ET.SubElement(suites, "testsuite", attributes)
    properties = ET.SubElement(suite, "properties")
    for name, value in (("baseline", baseline.label), ("candidate", candidate.label)):
        ET.SubElement(properties, "property", {"name": name, "value": value})
    for r in comparison.routes:
        case = ET.SubElement(
            suite, "testcase", {"classname": "reqtrail.gate", "name": r.route, "time": "0"}
        )
        message = "; ".join(r.reasons)
        if r.verdict is Verdict.REGRESSED:
            failure = ET.SubElement(case, "failure", {"type": "regressed", "message": message})
            failure.text = message
        elif r.verdict is Verdict.TOO_FEW:
            ET.SubElement(case, "skipped", {"message": f"too few requests: {message}"})
        out = ET.SubElement(case, "system-out")
        out.text = "  ".join(f"{h}: {c}" for h, c in zip(HEADER[1:], _columns(r)[1:], strict=True))
    ET.indent(suites)
    return ET.tostring(suites, encoding="unicode", xml_declaration=True) + "\n"


RENDERERS: dict[ReportFormat, Callable[[Comparison, Side, Side], str]] = {
    ReportFormat.TABLE: as_table,
    ReportFormat.MARKDOWN: as_markdown,
    ReportFormat.JSON: as_json,
    ReportFormat.JUNIT: as_junit,
}


def render(fmt: ReportFormat, comparison: Comparison, baseline: Side, candidate: Side) -> str:
    return RENDERERS[fmt](comparison, baseline, candidate)
