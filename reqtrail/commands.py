"""The ``reqtrail`` command's typer app. Each stage registers its own subcommands here."""

from __future__ import annotations

import typer

from reqtrail import __version__

app = typer.Typer(
    help="reqtrail: request logs from game servers -> Kafka -> Elasticsearch -> dashboard.",
    no_args_is_help=True,
    add_completion=False,
)


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"reqtrail {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_print_version, is_eager=True, help="Print the version."
    ),
) -> None:
    """reqtrail: request logs from game servers -> Kafka -> Elasticsearch -> dashboard."""


_registered = False


def register_all() -> None:
    """Add every stage's subcommands to ``app`` (once per process)."""
    global _registered
    if _registered:
        return
    _registered = True
    from reqtrail.consumers.cli import register as register_consumers
    from reqtrail.dashboards.cli import register as register_dashboards
    from reqtrail.demo_cli import register as register_demo
    from reqtrail.gate.cli import register as register_gate
    from reqtrail.producers.cli import register as register_producers
    from reqtrail.replay.cli import register as register_replay
    from reqtrail.services.cli import register as register_services

    for register in (
        register_services,
        register_producers,
        register_consumers,
        register_dashboards,
        register_demo,
        register_replay,
        register_gate,
    ):
        register(app)


@app.command("settings")
def show_settings(
    table: bool = typer.Option(False, "--table", help="Print the README's Markdown table."),
) -> None:
    """Print the effective settings (after REQTRAIL_* and the config file)."""
    from dataclasses import asdict

    from reqtrail.settings import load_settings, settings_tables

    if table:
        typer.echo(settings_tables())
        return

    for key, value in asdict(load_settings()).items():
        if "password" in key or "api_key" in key:
            value = "***" if value else ""
        typer.echo(f"{key} = {value}")
