"""``reqtrail compare`` and ``reqtrail loadtest``: the release gate on the command line.

Exit codes of both: 1 when a route regressed, 0 otherwise, 2 when the comparison could
not run (the message says why).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from reqtrail.gate.formats import ReportFormat

if TYPE_CHECKING:
    from reqtrail.gate.run import GateOptions, LimitFlags

BASELINE_HELP = "VERSION, VERSION@START..END or START..END (e.g. 1.4.2, 1.4.2@7d..1d, 2h..now)."
RULES = "Rules (default: \\[gate] in reqtrail.toml)"

Since = Annotated[str, typer.Option(help="Start of the window of a side given as a version.")]
Until = Annotated[str, typer.Option(help="End of that window (now, 1h, or an ISO time).")]
Environment = Annotated[
    str | None, typer.Option(help="Only requests of this environment.", rich_help_panel="Filters")
]
Service = Annotated[
    str | None, typer.Option(help="Only requests of this service.", rich_help_panel="Filters")
]
Routes = Annotated[
    list[str] | None,
    typer.Option("--route", help="Only this route (repeatable).", rich_help_panel="Filters"),
]
MaxP95 = Annotated[
    float | None,
    typer.Option("--max-p95-increase", help="Max p95 increase, %.", rich_help_panel=RULES),
]
MaxP99 = Annotated[
    float | None,
    typer.Option("--max-p99-increase", help="Max p99 increase, %.", rich_help_panel=RULES),
]
Max5xx = Annotated[
    float | None,
    typer.Option(
        "--max-5xx-increase", help="Max 5xx-rate increase, points.", rich_help_panel=RULES
    ),
]
MinRequests = Annotated[
    int | None,
    typer.Option(help="Fewer per route and side: 'too few requests'.", rich_help_panel=RULES),
]
Confidence = Annotated[
    float | None, typer.Option(help="How sure a regression must be.", rich_help_panel=RULES)
]
RouteRules = Annotated[
    list[str] | None,
    typer.Option(
        "--route-rule",
        help="ROUTE:NAME=VALUE[,NAME=VALUE], e.g. '/shop:min_requests=30' (repeatable).",
        rich_help_panel=RULES,
    ),
]
Format = Annotated[ReportFormat, typer.Option("--format", help="Report printed on stdout.")]
Reports = Annotated[
    list[str] | None,
    typer.Option("--report", help="Also write FORMAT:PATH, e.g. junit:gate.xml (repeatable)."),
]


@contextmanager
def _exit_codes(command: str) -> Iterator[None]:
    """Every known failure is one line on stderr and exit code 2."""
    from reqtrail.dashboards.queries.es_client import DataUnavailable
    from reqtrail.dashboards.queries.filters import FilterError
    from reqtrail.gate.run import EXIT_CANNOT_RUN, GateError
    from reqtrail.settings import SettingsError

    try:
        yield
    except (GateError, DataUnavailable, FilterError, SettingsError) as exc:
        typer.echo(f"reqtrail {command}: {exc}", err=True)
        raise typer.Exit(EXIT_CANNOT_RUN) from None


def _say(line: str) -> None:
    typer.echo(line, err=True)


def _options(
    environment: str | None,
    service: str | None,
    route: list[str] | None,
    flags: LimitFlags,
    fmt: ReportFormat,
    report: list[str] | None,
) -> GateOptions:
    from reqtrail.dashboards.queries.compare import Scope
    from reqtrail.gate.run import GateOptions, build_rules, parse_report
    from reqtrail.settings import config_section

    table, path = config_section("gate")
    return GateOptions(
        rules=build_rules(table, f"[gate] of {path}" if path else "[gate]", flags),
        scope=Scope(environment, service, tuple(route or ())),
        fmt=fmt,
        reports=tuple(parse_report(r) for r in report or ()),
    )


def _flags(
    max_p95: float | None,
    max_p99: float | None,
    max_5xx: float | None,
    min_requests: int | None,
    confidence: float | None,
    route_rules: list[str] | None,
) -> LimitFlags:
    from reqtrail.gate.run import LimitFlags

    return LimitFlags(
        max_p95_increase_pct=max_p95,
        max_p99_increase_pct=max_p99,
        max_5xx_increase_pp=max_5xx,
        min_requests=min_requests,
        confidence=confidence,
        route_rules=tuple(route_rules or ()),
    )


def _seconds(text: str) -> float:
    from reqtrail.dashboards.queries.filters import parse_duration

    return parse_duration(text).total_seconds()


def _out(text: str) -> None:
    typer.echo(text, nl=False)


def compare(
    baseline: Annotated[str, typer.Option("--baseline", "-b", help=BASELINE_HELP)],
    candidate: Annotated[str, typer.Option("--candidate", "-c", help=BASELINE_HELP)],
    since: Since = "7d",
    until: Until = "now",
    environment: Environment = None,
    service: Service = None,
    route: Routes = None,
    max_p95_increase: MaxP95 = None,
    max_p99_increase: MaxP99 = None,
    max_5xx_increase: Max5xx = None,
    min_requests: MinRequests = None,
    confidence: Confidence = None,
    route_rule: RouteRules = None,
    fmt: Format = ReportFormat.TABLE,
    report: Reports = None,
) -> None:
    """Compare a candidate with a baseline per route; exit 1 when a route regressed."""
    from reqtrail.dashboards.queries.es_client import make_client
    from reqtrail.gate.run import run_gate
    from reqtrail.gate.sides import default_window, parse_side
    from reqtrail.settings import load_settings

    with _exit_codes("compare"):
        settings = load_settings()
        now = datetime.now(UTC)
        window = default_window(since, until, now=now)
        old = parse_side(baseline, window, now=now)
        new = parse_side(candidate, window, now=now)
        options = _options(
            environment,
            service,
            route,
            _flags(
                max_p95_increase,
                max_p99_increase,
                max_5xx_increase,
                min_requests,
                confidence,
                route_rule,
            ),
            fmt,
            report,
        )
        es = make_client(settings)
        try:
            code = run_gate(es, settings.read_alias, old, new, options, out=_out, say=_say)
        finally:
            es.close()
    raise typer.Exit(code)


def loadtest(
    locustfile: Annotated[
        Path, typer.Option("--locustfile", "-f", help="Locustfile; its users derive ReqtrailUser.")
    ],
    host: Annotated[str, typer.Option(help="Base URL of the candidate, e.g. https://staging.")],
    candidate: Annotated[str, typer.Option(help="Version every request is tagged with.")],
    baseline: Annotated[
        str | None, typer.Option("--baseline", "-b", help="Compare with: " + BASELINE_HELP)
    ] = None,
    users: Annotated[int, typer.Option(min=1, help="Simulated players.")] = 20,
    spawn_rate: Annotated[float, typer.Option(min=0.1, help="Players started per second.")] = 5.0,
    duration: Annotated[str, typer.Option(help="How long the load is measured: 90s, 5m...")] = "1m",
    warmup: Annotated[
        str, typer.Option(help="Unmeasured load first (ramp-up, cold caches): 0s, 30s...")
    ] = "0s",
    wait: Annotated[
        float, typer.Option(min=1, help="Seconds to wait for the requests to be searchable.")
    ] = 120.0,
    dashboard_url: Annotated[
        str, typer.Option(help="Dashboard base URL, for links to failed requests.")
    ] = "",
    since: Since = "7d",
    until: Until = "now",
    environment: Environment = None,
    service: Service = None,
    route: Routes = None,
    max_p95_increase: MaxP95 = None,
    max_p99_increase: MaxP99 = None,
    max_5xx_increase: Max5xx = None,
    min_requests: MinRequests = None,
    confidence: Confidence = None,
    route_rule: RouteRules = None,
    fmt: Format = ReportFormat.TABLE,
    report: Reports = None,
) -> None:
    """Load-test the candidate with locust, wait until every request is searchable, then
    compare it with --baseline; exit 1 when a route regressed."""
    from reqtrail.dashboards.queries.es_client import make_client
    from reqtrail.gate.loadtest import LoadOptions, failure_lines, find_run, run_locust
    from reqtrail.gate.run import EXIT_OK, run_gate
    from reqtrail.gate.sides import default_window, parse_side
    from reqtrail.settings import load_settings

    with _exit_codes("loadtest"):
        settings = load_settings()
        load = LoadOptions(
            locustfile=locustfile,
            host=host,
            users=users,
            spawn_rate=spawn_rate,
            duration_s=_seconds(duration),
            warmup_s=0.0 if warmup.strip().rstrip("smhdw") == "0" else _seconds(warmup),
            candidate=candidate,
            wait_s=wait,
            dashboard_url=dashboard_url,
        )
        options = _options(
            environment,
            service,
            route,
            _flags(
                max_p95_increase,
                max_p99_increase,
                max_5xx_increase,
                min_requests,
                confidence,
                route_rule,
            ),
            fmt,
            report,
        )
        first = f"{warmup} of warm-up, then " if load.warmup_s else ""
        _say(f"load test: {users} users on {host}, {first}{duration} measured, tagged {candidate}")
        run = run_locust(load, _say)
        p95 = f"{run.p95_ms:.0f} ms" if run.p95_ms is not None else "-"
        _say(f"locust: {run.requests:,} requests, {run.failures:,} failures, p95 {p95}")
        es = make_client(settings)
        try:
            side = find_run(es, settings.read_alias, run, load, _say)
            for line in failure_lines(run, side, dashboard_url):
                _say(line)
            _say(f"this run: {side.label}")
            if baseline is None:
                _say("no --baseline: nothing to compare with (use this run as one later)")
                raise typer.Exit(EXIT_OK)
            now = datetime.now(UTC)
            old = parse_side(baseline, default_window(since, until, now=now), now=now)
            code = run_gate(es, settings.read_alias, old, side, options, out=_out, say=_say)
        finally:
            es.close()
    raise typer.Exit(code)


def register(app: typer.Typer) -> None:
    """Add ``reqtrail compare`` and ``reqtrail loadtest``."""
    app.command("compare")(compare)
    app.command("loadtest")(loadtest)
