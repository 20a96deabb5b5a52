"""Subcommands of the indexer: setup, consume, dlq (show / redrive), retention."""

from __future__ import annotations

import logging
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Annotated, Any, NoReturn

import typer

from reqtrail.settings import IndexerSettings, load_settings

dlq_app = typer.Typer(
    help="Dead letters: counts and samples; `redrive` re-produces them after a fix.",
    invoke_without_command=True,
    no_args_is_help=False,
)


def _configure_logging(level: str) -> None:
    """Log lines of the commands other than ``consume``: readable text on stderr."""
    from reqtrail.consumers.logs import configure_logging

    configure_logging(level, "console")


def _fail(command: str, message: object) -> NoReturn:
    """One line on stderr, exit status 1."""
    typer.echo(f"reqtrail {command}: {message}", err=True)
    raise typer.Exit(1)


def setup() -> None:
    """Create the Kafka topics and install the ES index template and today's index."""
    from reqtrail.consumers.setup import setup_all

    _configure_logging("warning")
    settings = load_settings(role=IndexerSettings)
    result = setup_all(settings)
    created = ", ".join(result["topics_created"]) or "none (they exist)"
    typer.echo(f"topics created: {created}")
    typer.echo(
        f"index template {result['template']} installed ({result['index_replicas']} "
        f"replicas); index {result['index']} (read alias {settings.read_alias})"
    )
    for warning in result["warnings"]:
        typer.echo(f"warning: {warning}", err=True)


def consume(
    log_level: str = typer.Option("info", help="debug, info, warning, error."),
    log_format: str | None = typer.Option(
        None, help="json or console [default: REQTRAIL_LOG_FORMAT]."
    ),
    metrics_port: int | None = typer.Option(
        None,
        min=1,
        help="Serve /metrics, /healthz and /readyz on this port (docs/operations.md) "
        "[default: REQTRAIL_METRICS_PORT].",
    ),
    metrics_host: str | None = typer.Option(
        None, help="Address the metrics port binds [default: REQTRAIL_METRICS_HOST]."
    ),
    route_limit: int | None = typer.Option(
        None,
        min=1,
        help="Distinct routes in the request metrics; later ones count as route=other "
        "[default: REQTRAIL_METRICS_ROUTE_LIMIT].",
    ),
    request_metrics: bool | None = typer.Option(
        None,
        "--request-metrics/--no-request-metrics",
        help="Export per-route request metrics [default: REQTRAIL_REQUEST_METRICS].",
    ),
    ready_bulk_age: float | None = typer.Option(
        None,
        min=1.0,
        help="/readyz fails when records wait and no bulk succeeded for this many seconds "
        "[default: REQTRAIL_READY_BULK_AGE_S].",
    ),
) -> None:
    """Index records from Kafka into Elasticsearch until SIGTERM/SIGINT."""
    from reqtrail.consumers.errors import StartupError
    from reqtrail.consumers.events import EventLog
    from reqtrail.consumers.indexer_loop import IndexerConsumer, tune_gc_for_throughput
    from reqtrail.consumers.logs import LOG_FORMATS, configure_logging
    from reqtrail.consumers.observer import IndexerObserver, Observers

    given = {
        "log_format": log_format,
        "metrics_port": metrics_port,
        "metrics_host": metrics_host,
        "metrics_route_limit": route_limit,
        "request_metrics": request_metrics,
        "ready_bulk_age_s": ready_bulk_age,
    }
    settings = load_settings(role=IndexerSettings)
    settings = settings.replace(**{k: v for k, v in given.items() if v is not None})
    if settings.log_format and settings.log_format not in LOG_FORMATS:
        raise typer.BadParameter("must be json or console", param_hint="--log-format")
    configure_logging(log_level, settings.log_format or None)
    tune_gc_for_throughput()
    observers: list[IndexerObserver] = [EventLog(settings.stats_interval_s)]
    telemetry = None
    if settings.metrics_port:
        telemetry = _Telemetry(settings)
        observers.append(telemetry.metrics)
    indexer = IndexerConsumer(
        settings,
        emit_stats=logging.getLogger("reqtrail.stats").info,
        observer=Observers(*observers),
    )

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
        if telemetry is not None:
            telemetry.serve(indexer, settings.metrics_host, settings.metrics_port)
        indexer.run()
    except StartupError as exc:
        _fail("consume", exc)
    finally:
        if telemetry is not None:
            telemetry.close()


class _Telemetry:
    """The metrics, probes and HTTP server of ``consume --metrics-port``."""

    def __init__(self, settings: IndexerSettings) -> None:
        from reqtrail.consumers.metrics import IndexerMetrics
        from reqtrail.consumers.probes import EsProbe, Probes

        self.metrics = IndexerMetrics(
            settings.topic,
            request_metrics=settings.request_metrics,
            route_limit=settings.metrics_route_limit,
        )
        self.es = EsProbe(settings)
        self.probes = Probes(
            self.metrics,
            self.es,
            ready_bulk_age_s=settings.ready_bulk_age_s,
            live_after_s=max(60.0, 2 * settings.es_request_timeout),
        )
        self.server: Any = None

    def serve(self, indexer: Any, host: str, port: int) -> None:
        from reqtrail.consumers.health import HealthServer
        from reqtrail.consumers.logs import events

        self.metrics.watch(indexer.broker_lag, indexer.in_flight)
        try:
            self.server = HealthServer(self.metrics.registry, self.probes, host, port).start()
        except OSError as exc:
            raise typer.BadParameter(str(exc), param_hint="--metrics-port") from None
        events().info("metrics_serving", host=host, port=self.server.port)

    def close(self) -> None:
        if self.server is not None:
            self.server.close()


@dlq_app.callback()
def dlq(
    ctx: typer.Context,
    samples: int = typer.Option(5, help="How many of the newest dead letters to show."),
) -> None:
    """Show counts by kind and reason, and samples, of the dead-letter topic."""
    if ctx.invoked_subcommand is not None:
        return
    from reqtrail.consumers.dlq_admin import summarize
    from reqtrail.consumers.errors import StartupError

    _configure_logging("warning")
    settings = load_settings(role=IndexerSettings)
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
    from reqtrail.consumers.errors import StartupError
    from reqtrail.consumers.redrive import RedriveFilter, parse_since, redrive

    _configure_logging("warning")
    settings = load_settings(role=IndexerSettings)
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
    from reqtrail.consumers.retention import apply_retention
    from reqtrail.es import es_client

    _configure_logging("warning")
    settings = load_settings(role=IndexerSettings)
    if keep_days is None:
        keep_days = settings.retention_days
    names = apply_retention(es_client(settings), settings.index_prefix, keep_days, dry_run=dry_run)
    verb = "would delete" if dry_run else "deleted"
    typer.echo(f"{verb} {len(names)} indices" + (": " + ", ".join(names) if names else ""))


def _import_progress(label: str) -> Callable[[int, int, int], None]:
    """A progress printer for ``import``: at most once a second, in place on a terminal."""
    last = [time.monotonic()]

    def show(records: int, done: int, total: int) -> None:
        moment = time.monotonic()
        if moment - last[0] < 1.0:
            return
        last[0] = moment
        share = f"{100 * done / total:.0f}% " if total else ""
        line = f"  {label}: {share}({records:,} records read)"
        if sys.stderr.isatty():
            sys.stderr.write("\r\x1b[2K" + line)
        else:
            sys.stderr.write(line + "\n")
        sys.stderr.flush()

    return show


def import_command(
    file: Annotated[Path, typer.Argument(help="An export file (`reqtrail export -o FILE`).")],
    prefix: str = typer.Option("", help="Index prefix (default: REQTRAIL_INDEX_PREFIX)."),
) -> None:
    """Load an export file into the configured Elasticsearch (again: no duplicates).

    Exit 0: every record indexed; 1: some rejected (counted by reason); 2: the file or
    Elasticsearch cannot be used.
    """
    from elasticsearch import ApiError, TransportError
    from elasticsearch import ConnectionError as ESConnectionError

    from reqtrail.consumers.importer import import_file
    from reqtrail.es import es_client
    from reqtrail.schemas.export_file import ExportFileError

    _configure_logging("warning")
    logging.getLogger("elastic_transport").setLevel(logging.ERROR)  # the one line below says it
    settings = load_settings(role=IndexerSettings)
    if prefix:
        settings = settings.replace(index_prefix=prefix)
    es = es_client(settings, max_retries=2)
    try:
        result = import_file(
            settings, es, file, progress=_import_progress(f"importing {file.name}")
        )
    except ExportFileError as exc:
        typer.echo(f"reqtrail import: {exc}", err=True)
        raise typer.Exit(2) from None
    except ESConnectionError as exc:
        typer.echo(
            f"reqtrail import: Elasticsearch at {settings.es_url} is unreachable "
            f"({type(exc).__name__}); check REQTRAIL_ES_URL and that the node is running",
            err=True,
        )
        raise typer.Exit(2) from None
    except (TransportError, ApiError) as exc:
        text = " ".join(str(exc).split())[:500]
        typer.echo(f"reqtrail import: Elasticsearch at {settings.es_url} failed: {text}", err=True)
        raise typer.Exit(2) from None
    finally:
        es.close()
    if sys.stderr.isatty():
        sys.stderr.write("\r\x1b[2K")
    typer.echo(
        f"read {result.read:,}, indexed {result.indexed:,}, rejected {result.rejected_total:,} "
        f"into {settings.index_prefix} ({len(result.indices)} daily indices) "
        f"in {result.seconds:.1f}s"
    )
    for reason, count in result.rejected.most_common():
        typer.echo(f"  rejected {count:,}: {reason}")
    if result.rejected_total:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    """Add this stage's subcommands to ``app``."""
    app.command("setup")(setup)
    app.command("consume")(consume)
    app.command("retention")(retention)
    app.command("import")(import_command)
    app.add_typer(dlq_app, name="dlq")
