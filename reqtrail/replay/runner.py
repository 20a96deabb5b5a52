"""Send recorded requests to a target in order, and compare each answer with the recorded one.

Each request goes out with a new ``X-Request-ID`` and ``X-Reqtrail-Replay-Of: <original
request_id>``, so a reqtrail-instrumented target records it with ``replay_of`` and the
dashboard links the two. A response *matches* when its status equals the recorded one and
its body equals the recorded body (JSON-aware, ``--ignore`` paths left out); a recorded
body that was truncated is not compared (noted on the line).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

from reqtrail.dashboards.queries.filters import FilterError, parse_time
from reqtrail.dashboards.queries.reproduce import (
    REPLAY_OF_HEADER,
    REQUEST_ID_HEADER,
    RecordedRequest,
    curl_command,
    recorded_request,
)
from reqtrail.producers.ids import new_request_id
from reqtrail.replay.jsondiff import IgnoreRules, body_differences
from reqtrail.replay.outcome import NOT_REPLAYABLE, Outcome, ReplayRun, Verdict

MAX_DIFFERENCES = 20
_PACE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*/\s*s\s*$")


class TargetUnreachable(RuntimeError):
    """The target refused or never answered the connection; ``str(exc)`` says which."""


@dataclass(frozen=True)
class Pace:
    """``recorded`` keeps the recorded gaps; ``max`` sends at once; ``N/s`` at most N a second."""

    mode: str  # "recorded", "max" or "rate"
    per_second: float = 0.0

    @classmethod
    def parse(cls, text: str) -> Pace:
        cleaned = text.strip().lower()
        if cleaned in ("recorded", "max"):
            return cls(cleaned)
        match = _PACE.match(cleaned)
        if match and float(match.group(1)) > 0:
            return cls("rate", float(match.group(1)))
        raise ValueError(f"--pace must be recorded, max or a rate like 5/s: {text!r}")


def _epoch(record: Mapping[str, Any]) -> float | None:
    try:
        return parse_time(str(record.get("@timestamp"))).timestamp()
    except FilterError:
        return None


class Pacer:
    """Waits before each send as the pace asks (``sleep`` and ``clock`` swappable for tests)."""

    def __init__(
        self,
        pace: Pace,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.pace = pace
        self.sleep = sleep
        self.clock = clock
        self._first: tuple[float, float] | None = None  # (recorded epoch, monotonic at send)
        self._last_send: float | None = None

    def wait(self, record: Mapping[str, Any]) -> None:
        now = self.clock()
        if self.pace.mode == "rate" and self._last_send is not None:
            delay = self._last_send + 1.0 / self.pace.per_second - now
            if delay > 0:
                self.sleep(delay)
        elif self.pace.mode == "recorded":
            recorded = _epoch(record)
            if recorded is not None and self._first is None:
                self._first = (recorded, now)
            elif recorded is not None and self._first is not None:
                delay = self._first[1] + (recorded - self._first[0]) - now
                if delay > 0:
                    self.sleep(delay)
        self._last_send = self.clock()


@dataclass(frozen=True)
class ReplayOptions:
    """How to send: target, identity, extra headers, pace, what to compare, when to stop."""

    target: str
    as_user: str | None = None
    headers: tuple[tuple[str, str], ...] = ()  # from --header, {user} not yet expanded
    user_id_header: str = "x-user-id"
    pace: Pace = field(default_factory=lambda: Pace("max"))
    ignore: IgnoreRules = field(default_factory=IgnoreRules)
    stop_on_divergence: bool = False
    send_redacted: bool = False
    dry_run: bool = False
    timeout_s: float = 30.0


def parse_header(text: str) -> tuple[str, str]:
    """``"Name: value"`` -> ``("name", "value")``."""
    name, sep, value = text.partition(":")
    if not sep or not name.strip() or any(c.isspace() for c in name.strip()):
        raise ValueError(f'--header must look like "Name: value": {text!r}')
    return name.strip().lower(), value.strip()


def headers_to_send(
    request: RecordedRequest, record: Mapping[str, Any], options: ReplayOptions
) -> dict[str, str]:
    """The recorded headers with the player swapped (``--as-user``) and ``--header`` applied."""
    headers = dict(request.headers)
    user = options.as_user or str(record.get("user_id") or "")
    user_header = options.user_id_header.strip().lower()
    if options.as_user and user_header:
        headers[user_header] = options.as_user
    for name, value in options.headers:
        headers[name] = value.replace("{user}", user)
    return headers


def _outcome(position: int, record: Mapping[str, Any], request: RecordedRequest) -> Outcome:
    latency = record.get("latency_ms")
    return Outcome(
        position=position,
        request_id=request.request_id,
        method=request.method,
        path=request.path,
        route=record.get("route"),
        recorded_status=record.get("status"),
        recorded_ms=float(latency) if isinstance(latency, int | float) else None,
    )


def compare(
    outcome: Outcome, record: Mapping[str, Any], status: int, body: str, ignore: IgnoreRules
) -> None:
    """Fill in the verdict and differences of a replayed response."""
    outcome.replayed_status = status
    diverged = status != outcome.recorded_status
    if record.get("response_body_truncated"):
        outcome.notes.append("body not compared: truncated when recorded")
    else:
        found = body_differences(record.get("response_body"), body, ignore)
        outcome.differences = [d for _, d in zip(range(MAX_DIFFERENCES), found, strict=False)]
        diverged = diverged or bool(outcome.differences)
    outcome.verdict = Verdict.DIVERGED if diverged else Verdict.MATCHED


def _send(
    client: httpx.Client, request: RecordedRequest, headers: dict[str, str], outcome: Outcome
) -> tuple[int, str] | None:
    started = time.perf_counter()
    try:
        response = client.request(
            request.method,
            request.target,
            headers=headers,
            content=request.body.encode("utf-8") if request.body is not None else None,
        )
    except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
        raise TargetUnreachable(f"{type(exc).__name__}: {exc}") from None
    except httpx.TransportError as exc:
        outcome.replayed_ms = (time.perf_counter() - started) * 1000.0
        outcome.notes.append(f"no response: {type(exc).__name__}")
        outcome.verdict = Verdict.DIVERGED
        return None
    outcome.replayed_ms = (time.perf_counter() - started) * 1000.0
    return response.status_code, response.text


def replay(
    records: Sequence[Mapping[str, Any]],
    options: ReplayOptions,
    *,
    source: str,
    on_outcome: Callable[[Outcome, str | None], None] = lambda outcome, curl: None,
    pacer: Pacer | None = None,
) -> ReplayRun:
    """Replay ``records`` in order; ``on_outcome(outcome, curl)`` is called after each one.

    Raises ``TargetUnreachable`` when the target cannot be connected to.
    """
    run = ReplayRun(options.target, source)
    pacer = pacer or Pacer(options.pace)
    with httpx.Client(base_url=options.target, timeout=options.timeout_s) as client:
        for position, record in enumerate(records, start=1):
            request = recorded_request(
                record, user_id_header=options.user_id_header, send_redacted=options.send_redacted
            )
            outcome = _outcome(position, record, request)
            run.outcomes.append(outcome)
            outcome.notes += [
                f"header {h} was redacted: not sent" for h in request.redacted_headers
            ]
            if request.problems and not options.send_redacted:
                outcome.verdict = Verdict.SKIPPED
                outcome.notes.insert(0, f"{NOT_REPLAYABLE}: {'; '.join(request.problems)}")
                on_outcome(outcome, None)
                continue
            if request.problems:
                outcome.notes.append(f"sent with placeholders: {'; '.join(request.problems)}")
            headers = headers_to_send(request, record, options)
            headers[REPLAY_OF_HEADER] = request.request_id
            if options.dry_run:
                outcome.verdict = Verdict.PRINTED
                on_outcome(outcome, curl_command(request, options.target, headers))
                continue
            outcome.new_request_id = new_request_id()
            headers[REQUEST_ID_HEADER] = outcome.new_request_id
            pacer.wait(record)
            answer = _send(client, request, headers, outcome)
            if answer is not None:
                compare(outcome, record, answer[0], answer[1], options.ignore)
            on_outcome(outcome, None)
            if outcome.verdict is Verdict.DIVERGED and options.stop_on_divergence:
                run.not_sent = len(records) - position
                run.stopped = "stopped at the first divergence (--stop-on-divergence)"
                break
    return run
