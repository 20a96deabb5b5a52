"""How a replay reads: one line per request, a summary table per route, JSON and JUnit files."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import orjson

from reqtrail.replay.outcome import Outcome, ReplayRun, Verdict

SHOWN_DIFFERENCES = 3


def _status(value: int | None) -> str:
    return "-" if value is None else str(value)


def outcome_line(outcome: Outcome, total: int) -> str:
    """``[3/12] POST /battles/{battle_id}/finish  500 -> 500  x0.92  matched``."""
    width = len(str(total))
    head = f"[{outcome.position:>{width}}/{total}] {outcome.method:<6} {outcome.label}"
    if outcome.verdict is Verdict.SKIPPED:
        return f"{head}  {_status(outcome.recorded_status)} -> skipped  {'; '.join(outcome.notes)}"
    if outcome.verdict is Verdict.PRINTED:
        return f"# {head}  (recorded {_status(outcome.recorded_status)})"
    ratio = outcome.latency_ratio
    speed = f"x{ratio:.2f}" if ratio is not None else "x-"
    parts = [
        f"{head}  {_status(outcome.recorded_status)} -> {_status(outcome.replayed_status)}",
        speed,
        "DIVERGED" if outcome.verdict is Verdict.DIVERGED else "matched",
    ]
    shown = [d.describe() for d in outcome.differences[:SHOWN_DIFFERENCES]]
    if len(outcome.differences) > SHOWN_DIFFERENCES:
        shown.append(f"(+{len(outcome.differences) - SHOWN_DIFFERENCES} more)")
    if shown:
        parts.append("; ".join(shown))
    if outcome.notes:
        parts.append(f"({'; '.join(outcome.notes)})")
    return "  ".join(parts)


@dataclass
class RouteSummary:
    sent: int = 0
    matched: int = 0
    diverged: int = 0
    skipped: int = 0
    status_changed: int = 0
    fields: Counter[str] = field(default_factory=Counter)


def route_summaries(run: ReplayRun) -> dict[str, RouteSummary]:
    """Per route (or path): counts, status changes and the fields that differed."""
    summaries: dict[str, RouteSummary] = defaultdict(RouteSummary)
    for outcome in run.outcomes:
        summary = summaries[f"{outcome.method} {outcome.label}"]
        if outcome.verdict is Verdict.SKIPPED:
            summary.skipped += 1
            continue
        if outcome.verdict is Verdict.PRINTED:
            continue
        summary.sent += 1
        if outcome.verdict is Verdict.MATCHED:
            summary.matched += 1
        else:
            summary.diverged += 1
        if outcome.replayed_status != outcome.recorded_status:
            summary.status_changed += 1
        summary.fields.update(d.path for d in outcome.differences)
    return dict(summaries)


def summary_table(run: ReplayRun) -> str:
    """The per-route table and the verdict line."""
    summaries = route_summaries(run)
    width = max([len("route"), *map(len, summaries)])
    header = f"{'route':<{width}}  {'sent':>5} {'matched':>8} {'diverged':>9} {'skipped':>8} "
    lines = [header + f"{'status changed':>15}  fields that differ"]
    for name, s in sorted(summaries.items()):
        fields = ", ".join(path for path, _ in s.fields.most_common(5)) or "-"
        lines.append(
            f"{name:<{width}}  {s.sent:>5} {s.matched:>8} {s.diverged:>9} {s.skipped:>8} "
            f"{s.status_changed:>15}  {fields}"
        )
    sent = sum(s.sent for s in summaries.values())
    lines.append(
        f"{'total':<{width}}  {sent:>5} {run.count(Verdict.MATCHED):>8} "
        f"{run.count(Verdict.DIVERGED):>9} {run.count(Verdict.SKIPPED):>8}"
    )
    lines.append(verdict_line(run))
    return "\n".join(lines)


def verdict_line(run: ReplayRun) -> str:
    skipped = run.count(Verdict.SKIPPED)
    tail = f"; {skipped} not replayable as recorded (skipped)" if skipped else ""
    if run.stopped:
        tail += f"; {run.stopped}, {run.not_sent} not sent"
    printed = run.count(Verdict.PRINTED)
    if printed:
        return f"dry run: {printed} requests printed as curl, nothing sent{tail}"
    diverged = run.count(Verdict.DIVERGED)
    sent = diverged + run.count(Verdict.MATCHED)
    if diverged:
        return f"DIVERGED: {diverged} of {sent} replayed requests differ{tail} (exit 1)"
    return f"all {sent} replayed requests matched{tail} (exit 0)"


def write_json_report(run: ReplayRun, path: Path) -> None:
    """Everything about the run as one JSON document (for CI and scripts)."""
    summaries = route_summaries(run)
    document = {
        "format": "reqtrail.replay-report",
        "written_at": datetime.now(UTC).isoformat(timespec="milliseconds"),
        "target": run.target,
        "source": run.source,
        "exit_code": run.exit_code,
        "verdict": verdict_line(run),
        "counts": {v.value: run.count(v) for v in Verdict} | {"not_sent": run.not_sent},
        "routes": {
            name: {
                "sent": s.sent,
                "matched": s.matched,
                "diverged": s.diverged,
                "skipped": s.skipped,
                "status_changed": s.status_changed,
                "fields": dict(s.fields),
            }
            for name, s in sorted(summaries.items())
        },
        "requests": [outcome.as_json() for outcome in run.outcomes],
    }
    path.write_bytes(orjson.dumps(document, option=orjson.OPT_INDENT_2))


def write_junit(run: ReplayRun, path: Path) -> None:
    """One JUnit test case per request: failures for divergences, skips for the unsendable."""
    suite = ET.Element(
        "testsuite",
        name="reqtrail replay",
        tests=str(len(run.outcomes)),
        failures=str(run.count(Verdict.DIVERGED)),
        skipped=str(run.count(Verdict.SKIPPED) + run.count(Verdict.PRINTED)),
        errors="0",
    )
    for outcome in run.outcomes:
        case = ET.SubElement(
            suite,
            "testcase",
            classname=f"{outcome.method} {outcome.label}",
            name=f"{outcome.position} {outcome.method} {outcome.path} ({outcome.request_id})",
            time=f"{(outcome.replayed_ms or 0.0) / 1000.0:.3f}",
        )
        if outcome.verdict is Verdict.DIVERGED:
            failure = ET.SubElement(case, "failure", message=outcome_line(outcome, 0))
            failure.text = "\n".join(
                [f"status {outcome.recorded_status} -> {outcome.replayed_status}"]
                + [d.describe(200) for d in outcome.differences]
                + outcome.notes
            )
        elif outcome.verdict in (Verdict.SKIPPED, Verdict.PRINTED):
            ET.SubElement(case, "skipped", message="; ".join(outcome.notes) or "dry run")
    root = ET.Element("testsuites")
    root.append(suite)
    ET.ElementTree(root).write(path, encoding="utf-8", xml_declaration=True)
