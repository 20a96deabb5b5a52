"""Subcommands of the indexer: setup, consume, dlq (show / redrive), retention."""

from __future__ import annotations

import logging
import signal
import sys
from types import FrameType
from typing import Annotated, NoReturn

import typer

from reqtrail.settings import load_settings

dlq_app = typer.Typer(
    help="Dead letters: counts and samples; `redrive` re-produces them after a fix.",
    invoke_without_command=True,
    no_args_is_help=False,
)


def _configure_logging(level: str) -> None:
    # On a terminal each line first clears the live progress line of `consume`.
    clear = "\r\x1b[2K" if sys.stderr.isatty() else ""
    logging.basicConfig(
        level=getattr(logging, level.upper(), logging.INFO),
        format=clear + "%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    for noisy in ("kafka", "urllib3"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    # Its "node has failed, putting on timeout" warnings would come before reqtrail's own
    # line, which names REQTRAIL_ES_URL.
    logging.getLogger("elastic_transport").setLevel(logging.ERROR)


def _fail(command: str, message: object) -> NoReturn:
    """One line on stderr, exit status 1."""
    typer.echo(f"reqtrail {command}: {message}", err=True)
    raise typer.Exit(1)


def setup() -> None:
    """Create the Kafka topics and install the ES index template and today's index."""
    from consumers.setup import setup_all

    _configure_logging("warning")
    settings = load_settings()
    result = setup_all(settings)
    created = ", ".join(result["topics_created"]) or "none (they exist)"
    typer.echo(f"topics created: {created}")
    typer.echo(
        f"index template {result['template']} installed; index {result['index']} "
        f"(read alias {settings.read_alias})"
    )
    for warning in result["warnings"]:
        typer.echo(f"warning: {warning}", err=True)


def consume(
    log_level: str = typer.Option("info", help="debug, info, warning, error."),
) -> None:
    """Index records from Kafka into Elasticsearch until SIGTERM/SIGINT."""
    from consumers.consumer import IndexerConsumer, tune_gc_for_throughput
    from consumers.errors import StartupError

    _configure_logging(log_level)
    tune_gc_for_throughput()
    settings = load_settings()
    indexer = IndexerConsumer(settings, emit_stats=logging.getLogger("reqtrail.stats").info)

    def request_stop(signum: int, _frame: FrameType | None) -> None:
        logging.getLogger("reqtrail.consumer").info(
            "%s: finishing the in-flight batch, then exiting (again to force)",
            signal.Signals(signum).name,
        )
        indexer.stop()
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    try:
        indexer.run()
    except StartupError as exc:
        _fail("consume", exc)


@dlq_app.callback()
def dlq(
    ctx: typer.Context,
    samples: int = typer.Option(5, help="How many of the newest dead letters to show."),
) -> None:
    """Show counts by kind and reason, and samples, of the dead-letter topic."""
    if ctx.invoked_subcommand is not None:
        return
    from consumers.dlq_admin import summarize
    from consumers.errors import StartupError

    _configure_logging("warning")
    settings = load_settings()
    try:
        summary = summarize(settings, samples=samples)
    except StartupError as exc:
        _fail("dlq", exc)
    typer.echo(f"{summary.topic}: {summary.total} dead letters")
    for kind, count in summary.by_kind.most_common():
        typer.echo(f"  {kind:<12} {count}")
    if summary.by_reason:
        typer.echo("top reasons:")
        for reason, count in summary.by_reason.most_common(10):
            typer.echo(f"  {count:>7}  {reason}")
    for info in summary.samples:
        value = (info.message.value or b"")[:200].decode("utf-8", "replace")
        typer.echo(f"- {info.failed_at} {info.kind} from {info.source}: {info.reason[:300]}")
        typer.echo(f"    {value}")


@dlq_app.command("redrive")
def redrive_command(
    kind: Annotated[
        list[str] | None,
        typer.Option(
            "--kind",
            help="Only dead letters of this kind (undecodable, schema, timestamp, rejected); "
            "repeat for several.",
        ),
    ] = None,
    reason: str = typer.Option("", "--reason", help="Only reasons containing this (any case)."),
    since: str = typer.Option(
        "", "--since", help="Only dead-lettered since: a duration back (24h, 7d) or ISO time."
    ),
    limit: int | None = typer.Option(None, "--limit", min=1, help="Re-drive at most this many."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Count only; produce nothing."),
) -> None:
    """Re-produce dead letters to the records topic (each once; run after fixing the cause).

    With filters, only the matching dead letters are re-driven; the others stay for a
    later re-drive.
    """
    from consumers.errors import StartupError
    from consumers.redrive import RedriveFilter, parse_since, redrive

    _configure_logging("warning")
    settings = load_settings()
    try:
        chosen = RedriveFilter(
            frozenset(kind or ()), reason, parse_since(since) if since else None, limit
        )
    except ValueError as exc:
        _fail("dlq redrive", exc)

    def show(done: int, total: int) -> None:
        if sys.stderr.isatty():
            sys.stderr.write(f"\r\x1b[2K  read {done:,} / {total:,} dead letters")
            sys.stderr.flush()

    try:
        report = redrive(settings, chosen=chosen, dry_run=dry_run, progress=show)
    except StartupError as exc:
        _fail("dlq redrive", exc)
    if sys.stderr.isatty():
        sys.stderr.write("\r\x1b[2K")
    verb = "would re-drive" if dry_run else "re-drove"
    kinds = ", ".join(f"{k} {n}" for k, n in report.by_kind.most_common()) or "-"
    typer.echo(f"{verb} {report.redriven} dead letters to {settings.topic} ({kinds})")
    skipped = report.skipped
    if skipped:
        why = {
            "filter": f"not matching {chosen.describe()}",
            "limit": f"over --limit {limit}",
            "full": "too many skipped dead letters in between to record (re-drive the "
            "others first, or without filters)",
        }
        parts = ", ".join(f"{n} {why[k]}" for k, n in skipped.most_common())
        typer.echo(f"skipped {sum(skipped.values())} (left for a later re-drive): {parts}")
    if report.earlier:
        typer.echo(f"{report.earlier} re-driven by an earlier filtered re-drive")


def retention(
    keep_days: int | None = typer.Option(
        None,
        "--keep-days",
        min=1,
        help="Days of indices to keep [default: REQTRAIL_RETENTION_DAYS].",
    ),
    dry_run: bool = typer.Option(False, "--dry-run", help="List, do not delete."),
) -> None:
    """Delete daily indices older than --keep-days (local nodes without ILM)."""
    from consumers.retention import apply_retention
    from reqtrail.es import es_client

    _configure_logging("warning")
    settings = load_settings()
    if keep_days is None:
        keep_days = settings.retention_days
    names = apply_retention(es_client(settings), settings.index_prefix, keep_days, dry_run=dry_run)
    verb = "would delete" if dry_run else "deleted"
    typer.echo(f"{verb} {len(names)} indices" + (": " + ", ".join(names) if names else ""))


def register(app: typer.Typer) -> None:
    """Add this stage's subcommands to ``app``."""
    app.command("setup")(setup)
    app.command("consume")(consume)
    app.command("retention")(retention)
    app.add_typer(dlq_app, name="dlq")
