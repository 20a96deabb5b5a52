"""Where a resend of one claimed spill file stands, kept on disk so a rerun repeats nothing.

Beside a claimed file ``C`` (``<spill>.resending-<ns>``) a resend keeps:

* ``C.progress``: this module's :class:`Progress`, a small JSON object replaced atomically
  (write, fsync, rename, fsync the directory).  ``done`` is the byte offset up to which
  every line is settled: delivered, rejected or set aside for later.  ``pending`` describes
  the chunk being sent: where it ends, the topic's end offsets before it was sent (so a
  rerun can read back which of its records reached Kafka) and the sizes of the side files
  before it (so a rerun can cut off what the interrupted chunk had appended).
* ``C.later``: records that Kafka did not take this time (certainly not delivered); at the
  end of the file they go back to the spill file.

A progress file is written before each chunk is sent; a crash or kill at any point leaves
either a settled state or a pending chunk whose outcome the next run finds out.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import orjson

Mark = dict[str, int]  # partition (as text) -> end offset of the topic before a chunk


class ProgressFileError(RuntimeError):
    """A progress file cannot be read; the message names it."""


@dataclass(frozen=True)
class Pending:
    """A chunk that was being sent: lines ``[Progress.done, end)`` of the claimed file."""

    end: int
    mark: Mark | None
    rejects_size: int
    later_size: int


@dataclass(frozen=True)
class Progress:
    """The state of one claimed file: settled up to ``done``, maybe a chunk in flight."""

    done: int = 0
    pending: Pending | None = None

    @classmethod
    def load(cls, path: Path) -> Progress:
        """The saved progress, or a fresh one when ``path`` does not exist."""
        try:
            data = orjson.loads(path.read_bytes())
        except FileNotFoundError:
            return cls()
        except (OSError, orjson.JSONDecodeError) as exc:
            raise ProgressFileError(f"progress file {path} cannot be read: {exc}") from None
        try:
            raw = data.get("pending")
            pending = (
                Pending(
                    end=int(raw["end"]),
                    mark={str(k): int(v) for k, v in raw["mark"].items()}
                    if raw.get("mark") is not None
                    else None,
                    rejects_size=int(raw["rejects_size"]),
                    later_size=int(raw["later_size"]),
                )
                if raw
                else None
            )
            return cls(done=int(data["done"]), pending=pending)
        except (AttributeError, KeyError, TypeError, ValueError) as exc:
            raise ProgressFileError(
                f"progress file {path} is not a reqtrail progress file: {exc!r}"
            ) from None

    def save(self, path: Path) -> None:
        """Replace ``path`` with this progress, durably."""
        pending = None
        if self.pending is not None:
            pending = {
                "end": self.pending.end,
                "mark": self.pending.mark,
                "rejects_size": self.pending.rejects_size,
                "later_size": self.pending.later_size,
            }
        write_atomically(path, orjson.dumps({"done": self.done, "pending": pending}))


@dataclass(frozen=True)
class Line:
    """One non-empty line of a spill file: its bytes (no newline) and where it lies."""

    start: int
    end: int
    payload: bytes


def line_chunks(
    path: Path, start: int, stop: int | None, count: int, max_bytes: int
) -> Iterator[list[Line]]:
    """Lines of ``path`` in ``[start, stop)`` in chunks of <= ``count`` lines, ``max_bytes``."""
    chunk: list[Line] = []
    size = 0
    for line in iter_lines(path, start, stop):
        if chunk and (len(chunk) >= count or size + len(line.payload) > max_bytes):
            yield chunk
            chunk, size = [], 0
        chunk.append(line)
        size += len(line.payload)
    if chunk:
        yield chunk


def iter_lines(path: Path, start: int = 0, stop: int | None = None) -> Iterator[Line]:
    """Every non-empty line from byte ``start`` (a line start) up to ``stop`` (or the end)."""
    with path.open("rb") as fh:
        fh.seek(start)
        offset = start
        for raw in fh:
            if stop is not None and offset >= stop:
                return
            end = offset + len(raw)
            payload = raw.strip()
            if payload:
                yield Line(offset, end, payload)
            offset = end


def count_lines(path: Path, start: int = 0) -> int:
    """Non-empty lines from byte ``start`` on (0 when the file does not exist)."""
    try:
        return sum(1 for _ in iter_lines(path, start))
    except FileNotFoundError:
        return 0


def file_size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def fsync_dir(path: Path) -> None:
    """Make a rename or a new file in ``path`` survive a crash of the machine."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomically(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data``: readers see the old or the new content, never a mix."""
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    fsync_dir(path.parent)


def append_durably(path: Path, lines: list[bytes]) -> None:
    """Append ``lines`` (no newlines inside) to ``path`` and fsync it."""
    if not lines:
        return
    with path.open("ab") as fh:
        fh.write(b"\n".join(lines) + b"\n")
        fh.flush()
        os.fsync(fh.fileno())


def cut_back(path: Path, size: int) -> None:
    """Truncate ``path`` to ``size`` when it is longer (what an interrupted chunk appended)."""
    if file_size(path) > size:
        os.truncate(path, size)


def new_claim_name(spill: Path) -> Path:
    """A name ``<spill>.resending-<ns>`` that sorts after every earlier claim and is free."""
    while True:
        target = spill.with_name(f"{spill.name}.resending-{time.time_ns()}")
        if not target.exists():
            return target


def move_back(later: Path, spill: Path) -> Path:
    """Hand the records in ``later`` back to the spill file; returns where they went.

    When the spill file does not exist, ``later`` becomes it (a hard link, which never
    replaces a file that a running server has just created, then ``later`` is removed).
    Otherwise ``later`` becomes a claimed file of its own for the next resend.
    """
    try:
        os.link(later, spill)
    except FileExistsError:
        target = new_claim_name(spill)
        os.replace(later, target)
        fsync_dir(later.parent)
        return target
    later.unlink()
    fsync_dir(later.parent)
    return spill


def remove_linked_leftover(later: Path, spill: Path) -> None:
    """Remove ``later`` if it is already the spill file (a crash between link and unlink)."""
    with contextlib.suppress(FileNotFoundError):
        if os.path.samefile(later, spill):
            later.unlink()
