"""`reqtrail demo`: run the whole pipeline locally with simulated players."""

from __future__ import annotations

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


def register(app: typer.Typer) -> None:
    """Add `reqtrail demo`."""
    app.command("demo")(demo)
