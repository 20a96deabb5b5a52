"""``reqtrail replay``: re-issue a player's recorded requests against a (dev) server."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from reqtrail.settings import load_settings

DEFAULT_SINCE = "24h"  # when reading from Elasticsearch without --since


def _fail(message: str) -> typer.Exit:
    typer.echo(f"reqtrail replay: {message}", err=True)
    return typer.Exit(2)


def replay_command(
    file: Annotated[
        Path | None,
        typer.Argument(help="An export file (`reqtrail export -o FILE`); omit to read from ES."),
    ] = None,
    target: Annotated[
        str,
        typer.Option(help="Base URL of the server to send to (default REQTRAIL_REPLAY_TARGET)."),
    ] = "",
    user: Annotated[str | None, typer.Option(help="Only this player's requests.")] = None,
    since: Annotated[
        str | None, typer.Option(help="From: ISO time or a duration back (ES default: 24h).")
    ] = None,
    until: Annotated[str | None, typer.Option(help="Until (exclusive): ISO time or now.")] = None,
    route: Annotated[str | None, typer.Option(help="Only this route template.")] = None,
    status: Annotated[
        str | None, typer.Option(help="Only this recorded status (500) or class (5xx).")
    ] = None,
    request_id: Annotated[
        list[str] | None, typer.Option("--request-id", help="Only these requests (repeatable).")
    ] = None,
    include_replays: Annotated[
        bool,
        typer.Option("--include-replays", help="Also replay records that are replays."),
    ] = False,
    as_user: Annotated[
        str | None, typer.Option("--as-user", help="Send as this (dev) player; {user} in headers.")
    ] = None,
    header: Annotated[
        list[str] | None,
        typer.Option("--header", "-H", help='"Name: value" added or overriding (repeatable).'),
    ] = None,
    pace: Annotated[str, typer.Option(help="recorded, max, or a rate such as 5/s.")] = "max",
    stop_on_divergence: Annotated[
        bool, typer.Option("--stop-on-divergence", help="Stop at the first divergence.")
    ] = False,
    ignore: Annotated[
        list[str] | None,
        typer.Option("--ignore", help="JSON path left out of the comparison, e.g. $.server_time."),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print each request as curl; send nothing.")
    ] = False,
    send_redacted: Annotated[
        bool,
        typer.Option("--send-redacted", help="Send redacted/truncated requests with placeholders."),
    ] = False,
    report: Annotated[Path | None, typer.Option(help="Write a JSON report here.")] = None,
    junit: Annotated[Path | None, typer.Option(help="Write a JUnit XML report here.")] = None,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for each response.")] = 30.0,
) -> None:
    """Replay recorded requests in order; compare statuses and bodies with the recording.

    Exit 0: every response matched; 1: some diverged; 2: the replay could not run.

    The full loop (docs/replay.md):
    1. where the player plays: manage.py reqtrail_userdata export USER_PK -o data.json
    2. in dev: manage.py reqtrail_userdata import data.json --as-user DEV_PK
    3. reqtrail export --user ID --since T --until T -o player.json
    4. reqtrail replay player.json --target DEV_URL --as-user DEV_PK
    """
    from reqtrail.dashboards.queries.filters import FilterError, TimeRange, parse_when
    from reqtrail.replay.jsondiff import IgnoreRules, PathError
    from reqtrail.replay.outcome import Outcome, Verdict
    from reqtrail.replay.report import outcome_line, summary_table, write_json_report, write_junit
    from reqtrail.replay.runner import Pace, ReplayOptions, TargetUnreachable, parse_header, replay
    from reqtrail.replay.source import (
        ReplayFilter,
        SourceError,
        parse_status,
        records_from_es,
        records_from_file,
    )

    settings = load_settings()
    base_url = target or settings.replay_target
    moment = datetime.now(UTC)
    try:
        code, status_class = parse_status(status)
        start = parse_when(since, now=moment) if since else None
        end = parse_when(until, now=moment) if until else None
        chosen = ReplayFilter(
            user, start, end, route, code, status_class, tuple(request_id or ()), include_replays
        )
        options = ReplayOptions(
            target=base_url,
            as_user=as_user,
            headers=tuple(parse_header(text) for text in header or ()),
            user_id_header=settings.user_id_header,
            pace=Pace.parse(pace),
            ignore=IgnoreRules.parse(ignore or ()),
            stop_on_divergence=stop_on_divergence,
            send_redacted=send_redacted,
            dry_run=dry_run,
            timeout_s=timeout,
        )
        if file is not None:
            source = str(file)
            records = records_from_file(file, chosen)
        else:
            window = TimeRange(start or parse_when(DEFAULT_SINCE, now=moment), end or moment)
            source = f"Elasticsearch {settings.es_url} ({settings.read_alias})"
            records = records_from_es(settings, chosen, window)
    except (SourceError, FilterError, PathError, ValueError) as exc:
        raise _fail(str(exc)) from None
    if not records:
        raise _fail(f"nothing to replay: no recorded request in {source} matches the filters")

    total = len(records)
    verb = "printing" if dry_run else f"replaying (pace {pace})"
    typer.echo(f"{verb} {total} requests from {source} to {base_url}", err=True)

    def show(outcome: Outcome, curl: str | None) -> None:
        typer.echo(outcome_line(outcome, total))
        if curl is not None:
            typer.echo(curl)
        elif outcome.verdict is Verdict.SKIPPED and dry_run:
            typer.echo("# (not printed: use --send-redacted to send the placeholders)")
        sys.stdout.flush()

    try:
        run = replay(records, options, source=source, on_outcome=show)
    except TargetUnreachable as exc:
        raise _fail(
            f"target {base_url} is unreachable ({exc}); is the dev server running? "
            "(--target, REQTRAIL_REPLAY_TARGET)"
        ) from None
    typer.echo("")
    typer.echo(summary_table(run))
    if report is not None:
        write_json_report(run, report)
    if junit is not None:
        write_junit(run, junit)
    raise typer.Exit(run.exit_code)


def register(app: typer.Typer) -> None:
    """Add ``replay`` to ``app``."""
    app.command("replay", help=replay_command.__doc__)(replay_command)
