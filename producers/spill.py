"""The spill file: records that could not be delivered, one JSON document per line.

The sink appends what it drops (buffer full, or Kafka rejected / timed out the record);
``reqtrail resend-spill`` sends them later.  A resend holds ``<spill>.lock``, renames the
spill file aside (``<spill>.resending-<ns>``: a running server keeps spilling into a fresh
file meanwhile) and sends each claimed file in chunks, recording its progress beside it
(``spill_progress``), so a rerun after a crash or a kill sends nothing twice.  Every record
ends up in exactly one place:

* on the topic;
* in ``<spill>.rejects`` with its reason, when it can never be sent (not JSON, too large
  for the broker, ...): one JSON line ``{"reason", "detail", "rejected_at", "source",
  "record"}`` (``"line"`` / ``"line_base64"`` instead of ``"record"`` when it is not JSON);
* left for later, when Kafka did not take it: the run stops after that chunk, and what
  it could not send waits in the spill file (or in the claimed file) for the next run.
"""

from __future__ import annotations

import contextlib
import fcntl
import re
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from reqtrail.producers.spill_outcomes import (
    DeliveryCheck,
    Rejected,
    Retry,
    SendBatch,
    parse_record,
    reject_entry,
)
from reqtrail.producers.spill_progress import (
    Line,
    Mark,
    Pending,
    Progress,
    append_durably,
    count_lines,
    cut_back,
    file_size,
    iter_lines,
    line_chunks,
    move_back,
    new_claim_name,
    remove_linked_leftover,
)

CHUNK_RECORDS = 5000
CHUNK_BYTES = 16 * 1024 * 1024


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


class SpillBusyError(RuntimeError):
    """Another resend holds the spill file's lock."""


def _claim_pattern(path: Path) -> re.Pattern[str]:
    return re.compile(re.escape(path.name) + r"\.resending-\d+")


def claimed_files(path: str | Path) -> list[Path]:
    """The claimed files of earlier resends still waiting, oldest first."""
    path = Path(path)
    pattern = _claim_pattern(path)
    found = [p for p in path.parent.glob(path.name + ".resending-*") if pattern.fullmatch(p.name)]
    return sorted(found, key=lambda p: (len(p.name), p.name))


def claim_spill(path: str | Path) -> list[Path]:
    """Rename the spill file aside for a resend; returns every claimed file (old ones too)."""
    path = Path(path)
    claimed = claimed_files(path)
    if path.exists() and path.stat().st_size > 0:
        target = new_claim_name(path)
        path.replace(target)
        claimed.append(target)
    return claimed


def has_records_to_resend(path: str | Path) -> bool:
    """True when the spill file has records or an earlier resend left claimed files."""
    return file_size(Path(path)) > 0 or bool(claimed_files(path))


def rejects_path(path: str | Path) -> Path:
    path = Path(path)
    return path.with_name(path.name + ".rejects")


def side_file(claimed: Path, suffix: str) -> Path:
    return claimed.with_name(claimed.name + suffix)


@contextlib.contextmanager
def resend_lock(path: Path) -> Iterator[None]:
    """Hold ``<spill>.lock`` for one resend at a time (two would send the same lines)."""
    lock = path.with_name(path.name + ".lock")
    lock.parent.mkdir(parents=True, exist_ok=True)
    with lock.open("ab") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise SpillBusyError(f"another resend is working on {path} (it holds {lock})") from None
        yield


@dataclass
class ResendResult:
    """What a resend did, counted by record (also passed to ``progress`` after each chunk)."""

    files: int = 0
    sent: int = 0
    confirmed: int = 0  # sent by an interrupted run: found on the topic, not sent again
    rejected: dict[str, int] = field(default_factory=dict)
    failed: int = 0  # left for later
    stopped: str = ""  # why the run stopped before the end ("" when it went through)
    rejects_path: Path = Path()
    bytes_done: int = 0
    bytes_total: int = 0

    @property
    def rejected_total(self) -> int:
        return sum(self.rejected.values())


def resend_spill(
    path: str | Path,
    send_batch: SendBatch,
    chunk_size: int = CHUNK_RECORDS,
    progress: Callable[[ResendResult], None] | None = None,
    *,
    check: DeliveryCheck | None = None,
    chunk_bytes: int = CHUNK_BYTES,
) -> ResendResult:
    """Send every spilled record once with ``send_batch(records) -> outcomes``.

    Without ``check``, a chunk that an earlier run was sending when it died is sent again
    whole; with it, only its records that are not on the topic yet.
    """
    spill = Path(path)
    with resend_lock(spill):
        _return_earlier_failures(spill)
        files = claim_spill(spill)
        result = ResendResult(files=len(files), rejects_path=rejects_path(spill))
        for claimed in files:
            result.bytes_total += (
                file_size(claimed) - Progress.load(side_file(claimed, ".progress")).done
            )
        for claimed in files:
            if result.stopped:
                done = Progress.load(side_file(claimed, ".progress")).done
                result.failed += count_lines(claimed, done) + count_lines(
                    side_file(claimed, ".later")
                )
                continue
            _FileResend(claimed, spill, send_batch, check, result, progress).run(
                chunk_size, chunk_bytes
            )
    return result


def _return_earlier_failures(spill: Path) -> None:
    """Put the records an earlier run set aside back into the spill file, to be claimed now."""
    for claimed in claimed_files(spill):
        later = side_file(claimed, ".later")
        remove_linked_leftover(later, spill)  # moved back already, but the run died
        if file_size(later) > 0 and Progress.load(side_file(claimed, ".progress")).pending is None:
            move_back(later, spill)


class _FileResend:
    """Sends one claimed file chunk by chunk, saving its progress before each chunk."""

    def __init__(
        self,
        claimed: Path,
        spill: Path,
        send_batch: SendBatch,
        check: DeliveryCheck | None,
        result: ResendResult,
        progress: Callable[[ResendResult], None] | None,
    ) -> None:
        self.claimed, self.spill = claimed, spill
        self.journal = side_file(claimed, ".progress")
        self.later = side_file(claimed, ".later")
        self.rejects = result.rejects_path
        self.send_batch, self.check = send_batch, check
        self.result, self.progress = result, progress

    def run(self, chunk_size: int, chunk_bytes: int) -> None:
        state = Progress.load(self.journal)
        done = state.done
        if state.pending is not None:  # an earlier run died (or gave up) while sending
            pending = state.pending
            cut_back(self.rejects, pending.rejects_size)
            cut_back(self.later, pending.later_size)
            lines = list(iter_lines(self.claimed, done, pending.end))
            if not self._send(lines, done, pending.end, pending.mark, recovering=True):
                return
            done = pending.end
        if not self.result.stopped:
            for lines in line_chunks(self.claimed, done, None, chunk_size, chunk_bytes):
                mark = self.check.mark() if self.check is not None else None
                if not self._send(lines, done, lines[-1].end, mark, recovering=False):
                    return
                done = lines[-1].end
                if self.result.stopped:
                    break
        Progress(done=done).save(self.journal)
        remaining = count_lines(self.claimed, done)
        self.result.failed += remaining + count_lines(self.later)
        if remaining:
            return  # the run stopped: the rest of this file waits for the next one
        if file_size(self.later) > 0:
            move_back(self.later, self.spill)
        self.later.unlink(missing_ok=True)
        self.claimed.unlink()
        self.journal.unlink()

    def _send(
        self, lines: list[Line], start: int, end: int, mark: Mark | None, *, recovering: bool
    ) -> bool:
        """Send the chunk ``[start, end)``; False when it stays pending (outcome unknown)."""
        pending = Pending(end, mark, file_size(self.rejects), file_size(self.later))
        Progress(done=start, pending=pending).save(self.journal)
        rejects: list[bytes] = []
        later: list[bytes] = []
        rejected: list[str] = []
        sendable: list[tuple[Line, bytes | None]] = []
        for line in lines:
            parsed = parse_record(line.payload)
            if isinstance(parsed, Rejected):
                is_json = parsed.reason != "not_json"
                rejects.append(reject_entry(self.claimed, line, parsed, is_json=is_json))
                rejected.append(parsed.reason)
            else:
                sendable.append((line, parsed))
        confirmed = 0
        if recovering and mark is not None and self.check is not None and sendable:
            flags = self.check.delivered(mark, [line.payload for line, _key in sendable])
            confirmed = sum(flags)
            sendable = [item for item, found in zip(sendable, flags, strict=True) if not found]
        outcomes = self.send_batch([(line.payload, key) for line, key in sendable])
        sent = 0
        retries: list[Retry] = []
        for (line, _key), outcome in zip(sendable, outcomes, strict=True):
            if outcome is True:
                sent += 1
            elif isinstance(outcome, Rejected):
                rejects.append(reject_entry(self.claimed, line, outcome, is_json=True))
                rejected.append(outcome.reason)
            else:
                retries.append(outcome if isinstance(outcome, Retry) else Retry("not delivered"))
                later.append(line.payload)
        result = self.result
        result.sent += sent
        result.confirmed += confirmed
        if any(retry.maybe_delivered for retry in retries):
            # Keep the chunk pending: the next run reads the topic to learn what arrived.
            result.stopped = f"Kafka did not confirm {len(retries)} records: {retries[0].reason}"
            result.failed += (
                count_lines(self.claimed, start) - sent - confirmed + count_lines(self.later)
            )
            self._report()
            return False
        append_durably(self.rejects, rejects)
        append_durably(self.later, later)
        for reason in rejected:
            result.rejected[reason] = result.rejected.get(reason, 0) + 1
        result.bytes_done += end - start
        if retries:  # settled, but Kafka is in trouble: stop after this chunk
            result.stopped = f"Kafka did not take {len(retries)} records: {retries[0].reason}"
        self._report()
        return True

    def _report(self) -> None:
        if self.progress is not None:
            self.progress(self.result)
