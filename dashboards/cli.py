"""Subcommands of the dashboard stage: ``dashboard`` and ``export``."""

from __future__ import annotations

import ipaddress
import os
import socket
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from reqtrail.extras import require_module
from reqtrail.settings import DashboardSettings, load_settings

APP_PATH = Path(__file__).resolve().parent / "app.py"


def streamlit_command(port: int, address: str | None = None) -> list[str]:
    """The ``streamlit run`` command line of the dashboard (headless, no telemetry)."""
    command = [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(APP_PATH),
        "--server.headless=true",
        f"--server.port={port}",
        "--browser.gatherUsageStats=false",
        "--client.toolbarMode=minimal",
        "--theme.base=light",
    ]
    if address:
        command.append(f"--server.address={address}")
    return command


def is_loopback(address: str) -> bool:
    """True when ``address`` (an IP or a host name) only ever means this machine."""
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(address, None)
    except (OSError, UnicodeError):
        return False
    return bool(infos) and all(
        ipaddress.ip_address(str(info[4][0]).split("%")[0]).is_loopback for info in infos
    )


def dashboard(
    port: int = typer.Option(0, help="Port (default: REQTRAIL_DASHBOARD_PORT)."),
    address: str = typer.Option(
        "",
        help="Interface to bind, e.g. 0.0.0.0 (default: REQTRAIL_DASHBOARD_ADDRESS, 127.0.0.1). "
        "Other than loopback it needs REQTRAIL_DASHBOARD_PASSWORD or --insecure-no-auth.",
    ),
    insecure_no_auth: bool = typer.Option(
        False, "--insecure-no-auth", help="Serve a non-loopback address without a password."
    ),
) -> None:
    """Run the Streamlit dashboard until Ctrl-C (on 127.0.0.1 unless told otherwise)."""
    require_module("streamlit")  # it runs as `python -m streamlit`: check before the exec
    settings = load_settings(role=DashboardSettings)
    chosen = port or settings.dashboard_port
    bind = address or settings.dashboard_address
    if not settings.dashboard_password and not is_loopback(bind):
        if not insecure_no_auth:
            typer.echo(
                f"reqtrail dashboard: refusing to serve {bind} without a password: "
                "set REQTRAIL_DASHBOARD_PASSWORD or pass --insecure-no-auth",
                err=True,
            )
            raise typer.Exit(2)
        typer.echo(f"warning: anyone who reaches {bind}:{chosen} sees request bodies", err=True)
    typer.echo(f"dashboard on http://{bind}:{chosen} (index {settings.read_alias})")
    if settings.dashboard_password:
        typer.echo("password protection on (REQTRAIL_DASHBOARD_PASSWORD)")
    command = streamlit_command(chosen, bind)
    sys.stdout.flush()
    os.execv(command[0], command)  # become streamlit: signals reach it directly


def export(
    user: str = typer.Option(..., "--user", help="Exact user ID."),
    since: str = typer.Option("24h", help="Start: ISO time, or a duration back from now (24h)."),
    until: str = typer.Option("now", help="End (exclusive): ISO time, duration back, or now."),
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="File to write (default stdout).")
    ] = None,
) -> None:
    """Write a user's requests in a time range as one JSON document (oldest first)."""
    from reqtrail.dashboards.queries.es_client import DataUnavailable, make_client
    from reqtrail.dashboards.queries.export import write_export
    from reqtrail.dashboards.queries.filters import FilterError, TimeRange, parse_when

    settings = load_settings(role=DashboardSettings)
    moment = datetime.now(UTC)
    try:
        time_range = TimeRange(parse_when(since, now=moment), parse_when(until, now=moment))
    except FilterError as exc:
        typer.echo(f"reqtrail export: {exc}", err=True)
        raise typer.Exit(2) from None
    es = make_client(settings)
    try:
        if out is None:
            count = write_export(sys.stdout.buffer, es, settings.read_alias, user, time_range)
            sys.stdout.flush()
        else:
            with out.open("wb") as handle:
                count = write_export(handle, es, settings.read_alias, user, time_range)
    except DataUnavailable as exc:
        typer.echo(f"reqtrail export: {exc}", err=True)
        raise typer.Exit(1) from None
    target = str(out) if out else "stdout"
    typer.echo(f"exported {count:,} requests of {user!r} to {target}", err=True)


def register(app: typer.Typer) -> None:
    """Add this stage's subcommands to ``app``."""
    app.command("dashboard")(dashboard)
    app.command("export")(export)
