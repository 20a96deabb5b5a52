"""``reqtrail services up | down | status | logs``: the local Kafka + Elasticsearch stack."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer

from reqtrail.services import docker
from reqtrail.services.base import LocalService, ServiceStatus
from reqtrail.services.errors import ServiceError
from reqtrail.services.processes import tail
from reqtrail.services.stack import LocalStack
from reqtrail.settings import LocalStackSettings, load_settings

services_app = typer.Typer(
    help="Local Kafka (KRaft) + Elasticsearch on 127.0.0.1, no Docker needed.",
    no_args_is_help=True,
)

DockerFlag = Annotated[
    bool, typer.Option("--docker", help="Delegate to `docker compose` (docker-compose.yml).")
]
KafkaBrokers = Annotated[
    int | None,
    typer.Option(
        "--kafka-brokers",
        help="Kafka nodes (KRaft, broker + controller each); default: as the last `up`, else 1.",
    ),
]
EsNodes = Annotated[
    int | None,
    typer.Option("--es-nodes", help="Elasticsearch nodes; default: as the last `up`, else 1."),
]


def register(app: typer.Typer) -> None:
    """Add ``reqtrail services ...`` to ``app``."""
    app.add_typer(services_app, name="services")


def say(message: str) -> None:
    typer.echo(message, err=True)


@contextmanager
def one_line_errors() -> Iterator[None]:
    """Print a ServiceError as ``reqtrail services: <message>`` and exit 1."""
    try:
        yield
    except ServiceError as exc:
        typer.echo(f"reqtrail services: {exc}", err=True)
        raise typer.Exit(1) from None


def format_status(rows: list[ServiceStatus]) -> str:
    """The status table: one line per service."""
    header = ("SERVICE", "ADDRESS", "PID", "HEALTH", "VERSION", "DETAIL")
    table = [header] + [
        (
            row.name,
            row.address,
            str(row.pid) if row.pid else "-",
            "healthy" if row.healthy else "DOWN",
            row.version or "-",
            row.detail,
        )
        for row in rows
    ]
    widths = [max(len(line[i]) for line in table) for i in range(len(header) - 1)]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=False))
        + "  "
        + line[-1]
        for line in table
    )


@services_app.command("up")
def up(
    use_docker: DockerFlag = False,
    timeout: Annotated[
        float | None, typer.Option(help="Seconds to wait for health (default: settings).")
    ] = None,
    kafka_brokers: KafkaBrokers = None,
    es_nodes: EsNodes = None,
) -> None:
    """Start Kafka and Elasticsearch (downloading them once) and wait until all are healthy;
    with --kafka-brokers 3 --es-nodes 3, a cluster of each on 127.0.0.1."""
    settings = load_settings(role=LocalStackSettings)
    began = time.monotonic()
    with one_line_errors():
        stack = LocalStack(settings, report=say, kafka_brokers=kafka_brokers, es_nodes=es_nodes)
        if use_docker:
            docker.compose(settings, *docker.up_arguments(stack.shape))
        else:
            result = stack.up(timeout)
            if not result.started:
                say("already running, nothing to do")
    rows = stack.status()
    typer.echo(format_status(rows))
    for line in stack.cluster_health():
        typer.echo(f"cluster {line}")
    if not all(row.healthy for row in rows):
        raise typer.Exit(1)
    took = f"{time.monotonic() - began:.1f} s after `services up` began"
    if stack.shape.is_cluster:
        typer.echo(f"all {len(rows)} nodes healthy {took}; clients use:")
        typer.echo(f"  export REQTRAIL_KAFKA_BOOTSTRAP={stack.kafka_bootstrap}")
        typer.echo(f"  export REQTRAIL_ES_URL={stack.es_url}")
    else:
        typer.echo(f"both healthy {took}")


@services_app.command("down")
def down(use_docker: DockerFlag = False) -> None:
    """Stop what `services up` started (every node; nothing else); no process is left behind."""
    settings = load_settings(role=LocalStackSettings)
    with one_line_errors():
        if use_docker:
            docker.compose(settings, *docker.DOWN_ARGUMENTS)
            return
        stopped = LocalStack(settings, report=say).down()
    typer.echo(f"stopped: {', '.join(stopped)}" if stopped else "nothing was running")


@services_app.command("status")
def status() -> None:
    """Show each node, its address, pid, health and version, and each cluster's health;
    exit 1 if a node is down."""
    with one_line_errors():
        stack = LocalStack(load_settings(role=LocalStackSettings), report=say)
    rows = stack.status()
    typer.echo(format_status(rows))
    for line in stack.cluster_health():
        typer.echo(f"cluster {line}")
    if not all(row.healthy for row in rows):
        typer.echo("run `reqtrail services up` to start what is down", err=True)
        raise typer.Exit(1)


@services_app.command("logs")
def logs(
    service: Annotated[
        str | None,
        typer.Argument(help="elasticsearch, kafka, kafka-2, ... (default: every node)."),
    ] = None,
    lines: Annotated[int, typer.Option("--lines", "-n", help="Lines of each log.")] = 40,
    follow: Annotated[bool, typer.Option("--follow", "-f", help="Keep printing.")] = False,
    use_docker: DockerFlag = False,
) -> None:
    """Print the end of the services' logs (and follow them with -f)."""
    settings = load_settings(role=LocalStackSettings)
    with one_line_errors():
        if use_docker:
            args = ["logs", "--tail", str(lines), *(["-f"] if follow else [])]
            docker.compose(settings, *args, *([service] if service else []))
            return
        chosen = _choose(LocalStack(settings, report=say).services, service)
    files = [svc.log_files()[0] for svc in chosen]
    for path in files:
        typer.echo(f"==> {path} <==")
        for line in tail(path, lines):
            typer.echo(line)
    if follow:
        _follow(files, typer.echo)


def _choose(services: tuple[LocalService, ...], name: str | None) -> list[LocalService]:
    if name is None:
        return list(services)
    chosen = [svc for svc in services if svc.name == name]
    if not chosen:
        names = ", ".join(svc.name for svc in services)
        raise ServiceError(f"no service {name!r}; choose one of: {names}")
    return chosen


def _follow(files: list[Path], echo: Callable[[str], None]) -> None:
    offsets = {path: path.stat().st_size if path.exists() else 0 for path in files}
    try:
        while True:
            for path in files:
                size = path.stat().st_size if path.exists() else 0
                if size < offsets[path]:  # rolled over
                    offsets[path] = 0
                if size > offsets[path]:
                    with path.open("rb") as handle:
                        handle.seek(offsets[path])
                        data = handle.read()
                    offsets[path] += len(data)
                    for line in data.decode(errors="replace").splitlines():
                        echo(f"{path.name}: {line}")
            time.sleep(0.5)
    except KeyboardInterrupt:
        return
