"""Subcommands of the indexer: setup, consume, dlq (show / redrive), retention."""

from __future__ import annotations

import logging
import signal
import sys
from types import FrameType

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
    for noisy in ("kafka", "elastic_transport", "urllib3"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def setup() -> None:
    """Create the Kafka topics and install the ES index template and today's index."""
    from reqtrail.consumers.setup import setup_all

    _configure_logging("warning")
    settings = load_settings()
    result = setup_all(settings)
    created = ", ".join(result["topics_created"]) or "none (they exist)"
    typer.echo(f"topics created: {created}")
    typer.echo(
        f"index template {result['template']} installed ({result['index_replicas']} "
        f"replicas); index {result['index']} (read alias {settings.read_alias})"
    )


def consume(
    log_level: str = typer.Option("info", help="debug, info, warning, error."),
) -> None:
    """Index records from Kafka into Elasticsearch until SIGTERM/SIGINT."""
    from reqtrail.consumers.consumer import IndexerConsumer, tune_gc_for_throughput

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
    indexer.run()


@dlq_app.callback()
def dlq(
    ctx: typer.Context,
    samples: int = typer.Option(5, help="How many of the newest dead letters to show."),
) -> None:
    """Show counts by kind and reason, and samples, of the dead-letter topic."""
    if ctx.invoked_subcommand is not None:
        return
    from reqtrail.consumers.dlq_admin import summarize

    _configure_logging("warning")
    settings = load_settings()
    summary = summarize(settings, samples=samples)
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
    dry_run: bool = typer.Option(False, "--dry-run", help="Count only; produce nothing."),
) -> None:
    """Re-produce dead letters to the records topic (each once; run after fixing the cause)."""
    from reqtrail.consumers.dlq_admin import redrive

    _configure_logging("warning")
    settings = load_settings()

    def show(done: int, total: int) -> None:
        if sys.stderr.isatty():
            sys.stderr.write(f"\r\x1b[2K  re-driven {done:,} / {total:,}")
            sys.stderr.flush()

    report = redrive(settings, dry_run=dry_run, progress=show)
    if sys.stderr.isatty():
        sys.stderr.write("\r\x1b[2K")
    verb = "would re-drive" if dry_run else "re-drove"
    kinds = ", ".join(f"{k} {n}" for k, n in report.by_kind.most_common()) or "-"
    typer.echo(f"{verb} {report.redriven} dead letters to {settings.topic} ({kinds})")


def retention(
    keep_days: int = typer.Option(..., "--keep-days", min=1, help="Days of indices to keep."),
    dry_run: bool = typer.Option(False, "--dry-run", help="List, do not delete."),
) -> None:
    """Delete daily indices older than --keep-days (local nodes without ILM)."""
    from reqtrail.consumers.retention import apply_retention
    from reqtrail.es import es_client

    _configure_logging("warning")
    settings = load_settings()
    names = apply_retention(es_client(settings), settings.index_prefix, keep_days, dry_run=dry_run)
    verb = "would delete" if dry_run else "deleted"
    typer.echo(f"{verb} {len(names)} indices" + (": " + ", ".join(names) if names else ""))


def register(app: typer.Typer) -> None:
    """Add this stage's subcommands to ``app``."""
    app.command("setup")(setup)
    app.command("consume")(consume)
    app.command("retention")(retention)
    app.add_typer(dlq_app, name="dlq")
