"""Pure parts of the replay: pace, headers, verdicts and the report files (no network)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import orjson
import pytest

from reqtrail.dashboards.queries.reproduce import recorded_request
from reqtrail.replay.jsondiff import Difference, IgnoreRules
from reqtrail.replay.outcome import Outcome, ReplayRun, Verdict
from reqtrail.replay.report import outcome_line, summary_table, write_json_report, write_junit
from reqtrail.replay.runner import (
    Pace,
    Pacer,
    ReplayOptions,
    compare,
    headers_to_send,
    parse_header,
)

RECORD = {
    "request_id": "R1",
    "@timestamp": "2025-03-01T10:00:00.000Z",
    "method": "GET",
    "path": "/home",
    "route": "/home",
    "user_id": "player-1",
    "status": 200,
    "latency_ms": 10.0,
    "response_body": '{"gems": 5, "server_time": 1}',
}


def test_pace_values() -> None:
    """recorded, max and N/s parse; anything else is refused."""
    assert Pace.parse("recorded") == Pace("recorded")
    assert Pace.parse(" MAX ") == Pace("max")
    assert Pace.parse("2.5/s") == Pace("rate", 2.5)
    for bad in ("fast", "0/s", "5", "-1/s"):
        with pytest.raises(ValueError, match="--pace"):
            Pace.parse(bad)


class FakeClock:
    """A clock that only moves when slept on, or when told to."""

    def __init__(self) -> None:
        self.now = 100.0
        self.waits: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.waits.append(round(seconds, 6))
        self.now += seconds


def test_recorded_pace_keeps_the_recorded_gaps() -> None:
    """Requests 0 s, 3 s and 3.5 s apart, each taking 0.2 s to send, wait 3 s then 0.3 s."""
    clock = FakeClock()
    pacer = Pacer(Pace("recorded"), sleep=clock.sleep, clock=clock)
    for ts in ("10:00:00.000", "10:00:03.000", "10:00:03.500"):
        pacer.wait({"@timestamp": f"2025-03-01T{ts}Z"})
        clock.now += 0.2  # the request itself
    assert clock.waits == [2.8, 0.3]


def test_rate_pace_spaces_sends() -> None:
    """At 4/s each send after the first waits what is left of a quarter second."""
    clock = FakeClock()
    pacer = Pacer(Pace("rate", 4.0), sleep=clock.sleep, clock=clock)
    for _ in range(3):
        pacer.wait(RECORD)
        clock.now += 0.05
    assert clock.waits == [0.2, 0.2]
    assert Pacer(Pace("max"), sleep=clock.sleep, clock=clock).wait(RECORD) is None
    assert clock.waits == [0.2, 0.2]


def test_as_user_and_header_templates() -> None:
    """--as-user swaps the user-ID header; {user} in --header expands to that player."""
    options = ReplayOptions(
        target="http://x",
        as_user="dev-7",
        headers=(parse_header("Authorization: Bearer token-{user}"),),
    )
    headers = headers_to_send(recorded_request(RECORD), RECORD, options)
    assert headers["x-user-id"] == "dev-7" and headers["authorization"] == "Bearer token-dev-7"
    plain = ReplayOptions(target="http://x", headers=(parse_header("X-Who: {user}"),))
    assert headers_to_send(recorded_request(RECORD), RECORD, plain)["x-who"] == "player-1"
    with pytest.raises(ValueError, match="Name: value"):
        parse_header("no colon here")


def test_compare_names_status_and_field_differences() -> None:
    """Same status and body match; a changed field or status diverges; ignored fields don't."""
    outcome = Outcome(1, "R1", "GET", "/home", "/home", 200, 10.0)
    compare(
        outcome, RECORD, 200, '{"server_time": 2, "gems": 5}', IgnoreRules.parse(["server_time"])
    )
    assert outcome.verdict is Verdict.MATCHED
    compare(outcome, RECORD, 200, '{"server_time": 1, "gems": 6}', IgnoreRules())
    assert outcome.verdict is Verdict.DIVERGED
    assert [d.path for d in outcome.differences] == ["$.gems"]
    compare(outcome, RECORD, 503, '{"server_time": 1, "gems": 5}', IgnoreRules())
    assert outcome.verdict is Verdict.DIVERGED and not outcome.differences
    cut = {**RECORD, "response_body_truncated": True}
    compare(outcome, cut, 200, "anything", IgnoreRules())
    assert outcome.verdict is Verdict.MATCHED and "truncated when recorded" in outcome.notes[-1]


def _run() -> ReplayRun:
    run = ReplayRun("http://dev", "file.json")
    matched = Outcome(1, "R1", "GET", "/home", "/home", 200, 10.0, Verdict.MATCHED)
    matched.replayed_status, matched.replayed_ms = 200, 12.0
    diverged = Outcome(2, "R2", "POST", "/battles/b-1/finish", "/battles/{id}/finish", 200, 5.0)
    diverged.verdict, diverged.replayed_status, diverged.replayed_ms = Verdict.DIVERGED, 200, 5.0
    diverged.differences = [Difference("$.rewards.gold", 500, 501)]
    skipped = Outcome(3, "R3", "POST", "/login", "/login", 200, 3.0, Verdict.SKIPPED)
    skipped.notes = ["not replayable as recorded: request body redacted when recorded"]
    run.outcomes = [matched, diverged, skipped]
    return run


def test_lines_and_summary_name_route_and_field() -> None:
    """The diverged line and the table name the route and the differing field."""
    run = _run()
    line = outcome_line(run.outcomes[1], 3)
    assert line.startswith("[2/3] POST   /battles/{id}/finish  200 -> 200  x1.00  DIVERGED")
    assert "$.rewards.gold: 500 -> 501" in line
    assert "x1.20  matched" in outcome_line(run.outcomes[0], 3)
    assert "not replayable as recorded" in outcome_line(run.outcomes[2], 3)
    table = summary_table(run)
    assert "POST /battles/{id}/finish" in table and "$.rewards.gold" in table
    assert "DIVERGED: 1 of 2 replayed requests differ; 1 not replayable" in table
    assert run.exit_code == 1


def test_report_files(tmp_path: Path) -> None:
    """The JSON report and the JUnit XML hold one entry per request with its verdict."""
    run = _run()
    write_json_report(run, tmp_path / "r.json")
    write_junit(run, tmp_path / "r.xml")
    report = orjson.loads((tmp_path / "r.json").read_bytes())
    assert report["exit_code"] == 1 and report["counts"]["skipped"] == 1
    assert [r["verdict"] for r in report["requests"]] == ["matched", "diverged", "skipped"]
    assert report["routes"]["POST /battles/{id}/finish"]["fields"] == {"$.rewards.gold": 1}
    suite = ET.parse(tmp_path / "r.xml").getroot().find("testsuite")
    assert suite is not None and suite.get("failures") == "1" and suite.get("skipped") == "1"
    cases = suite.findall("testcase")
    assert cases[1].find("failure") is not None and cases[2].find("skipped") is not None
