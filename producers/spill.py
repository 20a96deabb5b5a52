"""The spill file: records that could not be delivered, one JSON document per line.

The sink appends what it drops (buffer full, or Kafka rejected / timed out the record);
``reqtrail producer resend-spill`` sends them later.  A resend first renames the file, so a
running server keeps spilling into a fresh file meanwhile and no line is sent twice.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import orjson

from reqtrail.producers.processors import record_key


class SpillFile:
    """Appends records (JSON bytes, no newlines) to ``path``; safe to call from many threads."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()

    def append(self, payloads: list[bytes]) -> int:
        """Append ``payloads``, one per line; returns how many were written."""
        if not payloads:
            return 0
        data = b"\n".join(payloads) + b"\n"
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("ab") as fh:
                fh.write(data)
        return len(payloads)


def claim_spill(path: str | Path) -> list[Path]:
    """Rename the spill file aside for a resend; returns every claimed file (old ones too)."""
    path = Path(path)
    claimed = sorted(path.parent.glob(path.name + ".resending-*"))
    if path.exists() and path.stat().st_size > 0:
        target = path.with_name(f"{path.name}.resending-{time.time_ns()}")
        os.replace(path, target)
        claimed.append(target)
    return claimed


def read_spilled(path: Path) -> Iterator[tuple[bytes, bytes | None]]:
    """(payload, key) of every valid line; the key is the record's user_id."""
    with path.open("rb") as fh:
        for line in fh:
            payload = line.strip()
            if not payload:
                continue
            try:
                record = orjson.loads(payload)
            except orjson.JSONDecodeError:
                continue
            yield payload, record_key(record)


@dataclass(frozen=True)
class ResendResult:
    files: int
    sent: int
    failed: int


SendBatch = Callable[[list[tuple[bytes, bytes | None]]], list[bool]]


def resend_spill(
    path: str | Path,
    send_batch: SendBatch,
    chunk_size: int = 5000,
    progress: Callable[[int, int], None] | None = None,
) -> ResendResult:
    """Send every spilled record with ``send_batch(records) -> delivered flags``.

    Records that fail go back into the spill file; claimed files are removed once processed.
    ``progress(sent, failed)`` is called after each chunk.
    """
    spill = SpillFile(path)
    sent = failed = 0
    files = claim_spill(path)
    for claimed in files:
        chunk: list[tuple[bytes, bytes | None]] = []
        for record in read_spilled(claimed):
            chunk.append(record)
            if len(chunk) >= chunk_size:
                ok, bad = _send_chunk(chunk, send_batch, spill)
                sent, failed, chunk = sent + ok, failed + bad, []
                if progress is not None:
                    progress(sent, failed)
        if chunk:
            ok, bad = _send_chunk(chunk, send_batch, spill)
            sent, failed = sent + ok, failed + bad
            if progress is not None:
                progress(sent, failed)
        claimed.unlink()
    return ResendResult(files=len(files), sent=sent, failed=failed)


def _send_chunk(
    chunk: list[tuple[bytes, bytes | None]], send_batch: SendBatch, spill: SpillFile
) -> tuple[int, int]:
    delivered = send_batch(chunk)
    retry = [payload for (payload, _key), ok in zip(chunk, delivered, strict=True) if not ok]
    spill.append(retry)
    return len(chunk) - len(retry), len(retry)
