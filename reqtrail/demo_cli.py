"""`reqtrail demo` (the whole pipeline locally, with simulated players), `reqtrail demo-server`
and `reqtrail seed` (synthetic records for the dashboard)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Annotated

import typer


def demo(
    duration: Annotated[
        float, typer.Option(help="Seconds of traffic (0: until Ctrl-C).", min=0)
    ] = 0.0,
    players: Annotated[int, typer.Option(help="Simulated players.", min=1)] = 40,
    spawn_rate: Annotated[float, typer.Option(help="Players started per second.", min=0.1)] = 4.0,
    traffic: Annotated[
        bool, typer.Option("--traffic/--no-traffic", help="Drive locust traffic.")
    ] = True,
    server_port: Annotated[int, typer.Option(help="Port of the demo game server.")] = 8000,
    sentry_port: Annotated[int, typer.Option(help="Port of the local Sentry collector.")] = 9400,
    exit_when_done: Annotated[
        bool,
        typer.Option("--exit-when-done", help="Stop everything once traffic is indexed."),
    ] = False,
    keep_services: Annotated[
        bool, typer.Option("--keep-services", help="Leave Kafka and ES running at the end.")
    ] = False,
    log_dir: Annotated[
        Path | None, typer.Option(help="Where child logs go (default <state_dir>/demo-logs).")
    ] = None,
) -> None:
    """Run everything: services, topics, game server, indexer, dashboard and players."""
    from reqtrail.demo import Demo, DemoError, DemoOptions
    from reqtrail.services import ServiceError
    from reqtrail.settings import load_settings
    from reqtrail.supervisor import ChildDiedError

    options = DemoOptions(
        duration_s=duration,
        players=players,
        spawn_rate=spawn_rate,
        traffic=traffic,
        server_port=server_port,
        sentry_port=sentry_port,
        exit_when_done=exit_when_done,
        keep_services=keep_services,
        log_dir=log_dir,
    )
    demo_run = Demo(load_settings(), options, say=lambda line: typer.echo(f"[demo] {line}"))
    try:
        summary = demo_run.run()
    except (DemoError, ServiceError, ChildDiedError) as exc:
        typer.echo(f"reqtrail demo: {exc}", err=True)
        raise typer.Exit(1) from None
    if summary.dropped or (options.exit_when_done and summary.indexed < summary.delivered):
        raise typer.Exit(1)


def demo_server(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
) -> None:
    """Run the demo game server (Starlette + uvicorn) that logs every request to Kafka."""
    from reqtrail.demo_server.app import serve

    typer.echo(f"demo game server on http://{host}:{port} (Ctrl-C to stop)")
    serve(host=host, port=port)


def seed(
    count: int = typer.Option(10_000, min=1, help="How many synthetic records."),
    hours: float = typer.Option(24.0, min=0.01, help="They span this many hours up to now."),
    users: int = typer.Option(1000, min=1, help="Distinct player IDs."),
    prefix: str = typer.Option("", help="Index prefix (default: REQTRAIL_INDEX_PREFIX)."),
    threads: int = typer.Option(2, min=1, help="Parallel bulk requests."),
    random_seed: int = typer.Option(7, "--seed", help="Random seed of the generator."),
) -> None:
    """Bulk-index synthetic records straight into ES (no Kafka), e.g. to try the dashboard."""
    from reqtrail.dashboards.queries.es_client import make_client
    from reqtrail.schemas.samples import sample_records
    from reqtrail.seed import print_progress
    from reqtrail.seed import seed as seed_records
    from reqtrail.settings import DashboardSettings, load_settings

    settings = load_settings(role=DashboardSettings)
    target = prefix or settings.index_prefix
    records = sample_records(count, seed=random_seed, span=timedelta(hours=hours), users=users)
    result = seed_records(
        make_client(settings, max_retries=3),
        target,
        records,
        total=count,
        chunk_size=5000,
        threads=threads,
        fast=count >= 100_000,
        progress=print_progress(f"seeding {target}"),
    )
    typer.echo(
        f"indexed {result.indexed:,} records into {len(result.indices)} indices "
        f"in {result.seconds:,.1f}s ({result.docs_per_second:,.0f}/s); read alias {target}"
    )


def register(app: typer.Typer) -> None:
    """Add `reqtrail demo` and the demo's tools: `demo-server` and `seed`."""
    app.command("demo")(demo)
    app.command("demo-server")(demo_server)
    app.command("seed")(seed)
