"""What happened to one replayed request, and the verdict over all of them."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from reqtrail.replay.jsondiff import Difference

EXIT_MATCHED = 0
EXIT_DIVERGED = 1
EXIT_CANNOT_RUN = 2
NOT_REPLAYABLE = "not replayable as recorded"


class Verdict(StrEnum):
    MATCHED = "matched"
    DIVERGED = "diverged"
    SKIPPED = "skipped"  # not replayable as recorded (and --send-redacted not given)
    PRINTED = "printed"  # --dry-run


@dataclass
class Outcome:
    """One recorded request and its replay (``replayed_*`` are None when nothing was sent)."""

    position: int
    request_id: str
    method: str
    path: str
    route: str | None
    recorded_status: int | None
    recorded_ms: float | None
    verdict: Verdict = Verdict.MATCHED
    new_request_id: str | None = None
    replayed_status: int | None = None
    replayed_ms: float | None = None
    differences: list[Difference] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def label(self) -> str:
        """The route when recorded (``/units/{unit_id}/upgrade``), else the path."""
        return self.route or self.path

    @property
    def latency_ratio(self) -> float | None:
        """Replayed over recorded latency (the replay is timed by the client)."""
        if self.replayed_ms is None or not self.recorded_ms:
            return None
        return self.replayed_ms / self.recorded_ms

    def as_json(self) -> dict[str, Any]:
        return {
            "position": self.position,
            "request_id": self.request_id,
            "replay_request_id": self.new_request_id,
            "method": self.method,
            "path": self.path,
            "route": self.route,
            "verdict": self.verdict.value,
            "recorded_status": self.recorded_status,
            "replayed_status": self.replayed_status,
            "recorded_ms": self.recorded_ms,
            "replayed_ms": None if self.replayed_ms is None else round(self.replayed_ms, 3),
            "latency_ratio": None if self.latency_ratio is None else round(self.latency_ratio, 3),
            "differences": [
                {"path": d.path, "recorded": _plain(d.recorded), "replayed": _plain(d.replayed)}
                for d in self.differences
            ],
            "notes": self.notes,
        }


def _plain(value: Any) -> Any:
    from reqtrail.replay.jsondiff import MISSING

    return None if value is MISSING else value


@dataclass
class ReplayRun:
    """Every outcome of one replay, and why it stopped early (if it did)."""

    target: str
    source: str
    outcomes: list[Outcome] = field(default_factory=list)
    stopped: str | None = None  # e.g. "stopped at the first divergence"
    not_sent: int = 0  # left after a stop

    def count(self, verdict: Verdict) -> int:
        return sum(1 for outcome in self.outcomes if outcome.verdict is verdict)

    @property
    def exit_code(self) -> int:
        return EXIT_DIVERGED if self.count(Verdict.DIVERGED) else EXIT_MATCHED
