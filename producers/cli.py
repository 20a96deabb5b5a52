"""Producer subcommands: ``reqtrail resend-spill`` and ``reqtrail demo-server``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from reqtrail.producers.spill import SendBatch
from reqtrail.settings import Settings, env_name, load_settings


def _send_batch_with(settings: Settings) -> tuple[Any, SendBatch]:
    """A KafkaProducer and ``send_batch(records) -> delivered flags`` using it."""
    from reqtrail.producers.kafka_producer import make_kafka_producer

    producer = make_kafka_producer(settings)

    def send_batch(records: list[tuple[bytes, bytes | None]]) -> list[bool]:
        futures = [producer.send(settings.topic, value=value, key=key) for value, key in records]
        producer.flush(timeout=settings.kafka_delivery_timeout_ms / 1000.0 + 5.0)
        flags = []
        for future in futures:
            try:
                future.get(timeout=0)
                flags.append(True)
            except Exception:
                flags.append(False)
        return flags

    return producer, send_batch


def resend_spill(
    path: Annotated[
        str | None, typer.Option(help="Spill file (default: REQTRAIL_SPILL_PATH).")
    ] = None,
) -> None:
    """Send the records spilled while Kafka was unreachable; failures stay in the file."""
    from kafka.errors import KafkaError

    from reqtrail.producers.spill import resend_spill as resend

    settings = load_settings()
    target = path or settings.spill_path
    if not target:
        raise typer.BadParameter(f"no spill file: pass --path or set {env_name('spill_path')}")
    if not Path(target).exists() and not list(Path(target).parent.glob(Path(target).name + ".*")):
        typer.echo(f"nothing to resend: {target} does not exist")
        return
    try:
        producer, send_batch = _send_batch_with(settings)
    except KafkaError:
        typer.echo(f"reqtrail: Kafka is not reachable at {settings.kafka_bootstrap}", err=True)
        raise typer.Exit(1) from None
    try:
        result = resend(
            target,
            send_batch,
            progress=lambda sent, failed: typer.echo(f"  {sent} sent, {failed} failed", err=True),
        )
    finally:
        producer.close(timeout=5)
    typer.echo(
        f"resent {result.sent} records from {result.files} file(s) to {settings.topic}; "
        f"{result.failed} failed and stay in {target}"
    )
    if result.failed:
        raise typer.Exit(1)


def demo_server(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
) -> None:
    """Run the demo game server (Starlette + uvicorn) that logs every request to Kafka."""
    from reqtrail.producers.demo.app import serve

    typer.echo(f"demo game server on http://{host}:{port} (Ctrl-C to stop)")
    serve(host=host, port=port)


def register(app: typer.Typer) -> None:
    """Add this stage's subcommands to ``app``."""
    app.command("resend-spill")(resend_spill)
    app.command("demo-server")(demo_server)
