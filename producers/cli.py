"""Producer subcommands: ``reqtrail resend-spill`` and ``reqtrail demo-server``."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Annotated

import typer

from reqtrail.producers.spill import (
    CHUNK_RECORDS,
    ResendResult,
    SpillBusyError,
    has_records_to_resend,
)
from reqtrail.producers.spill_progress import ProgressFileError
from reqtrail.settings import ProducerSettings, env_name, load_settings

PROGRESS_EVERY_S = 2.0


class ProgressLine:
    """Progress of a resend on stderr, at most one line every ``every_s`` seconds."""

    def __init__(
        self,
        every_s: float = PROGRESS_EVERY_S,
        clock: Callable[[], float] = time.monotonic,
        echo: Callable[[str], None] = lambda line: typer.echo(line, err=True),
    ) -> None:
        self.every_s, self.clock, self.echo = every_s, clock, echo
        self._next = clock() + every_s

    def __call__(self, result: ResendResult) -> None:
        now = self.clock()
        if now < self._next:
            return
        self._next = now + self.every_s
        share = result.bytes_done / result.bytes_total if result.bytes_total else 1.0
        self.echo(
            f"  resend-spill {share:.0%}: {result.sent} sent, {result.rejected_total} rejected, "
            f"{result.confirmed} already on the topic"
        )


def summary(result: ResendResult, topic: str, target: str) -> str:
    """The closing lines: sent, rejected by reason, left for later (and why)."""
    lines = [f"resent {result.sent} records from {result.files} file(s) to {topic}"]
    if result.confirmed:
        lines.append(
            f"{result.confirmed} records sent by an interrupted run were found on the topic "
            "and not sent again"
        )
    if result.rejected:
        reasons = ", ".join(f"{reason} {n}" for reason, n in sorted(result.rejected.items()))
        lines.append(f"rejected {result.rejected_total} ({reasons}): see {result.rejects_path}")
    if result.failed or result.stopped:
        why = f" ({result.stopped})" if result.stopped else ""
        lines.append(
            f"{result.failed} left for later{why}: run `reqtrail resend-spill` again "
            f"(they stay in {target})"
        )
    else:
        lines.append("0 left for later")
    return "\n".join(lines)


def resend_spill(
    path: Annotated[
        str | None, typer.Option(help="Spill file (default: REQTRAIL_SPILL_PATH).")
    ] = None,
    chunk_size: Annotated[
        int, typer.Option(min=1, help="Records per chunk; progress is saved after each.")
    ] = CHUNK_RECORDS,
) -> None:
    """Send the spilled records once each; never-sendable ones go to <spill>.rejects.

    A rerun after a crash or a kill sends nothing twice.  Exits 1 while records are left
    for later (Kafka did not take them this time).
    """
    from kafka.errors import KafkaError

    from reqtrail.producers.resend_kafka import KafkaResend, ResendError
    from reqtrail.producers.spill import resend_spill as resend

    settings = load_settings(role=ProducerSettings)
    target = path or settings.spill_path
    if not target:
        raise typer.BadParameter(f"no spill file: pass --path or set {env_name('spill_path')}")
    if not has_records_to_resend(target):
        typer.echo(f"nothing to resend: {target} has no records")
        return
    try:
        kafka = KafkaResend(settings)
    except KafkaError:
        typer.echo(f"reqtrail: Kafka is not reachable at {settings.kafka_bootstrap}", err=True)
        raise typer.Exit(1) from None
    try:
        kafka.partitions()
        result = resend(target, kafka.send_batch, chunk_size, progress=ProgressLine(), check=kafka)
    except (ResendError, SpillBusyError, ProgressFileError) as exc:
        typer.echo(f"reqtrail resend-spill: {exc}", err=True)
        raise typer.Exit(1) from None
    except KafkaError as exc:
        typer.echo(
            f"reqtrail resend-spill: Kafka at {settings.kafka_bootstrap} failed: {exc!r}; "
            "run it again, nothing is sent twice",
            err=True,
        )
        raise typer.Exit(1) from None
    finally:
        kafka.close()
    typer.echo(summary(result, settings.topic, target))
    if result.failed or result.stopped:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    """Add this stage's subcommands to ``app``."""
    app.command("resend-spill")(resend_spill)
