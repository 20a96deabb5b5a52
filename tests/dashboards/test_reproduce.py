"""Recorded requests rebuilt for sending: headers, problems, curl and the reproduce commands."""

from __future__ import annotations

import shlex
import subprocess
from datetime import UTC, datetime
from typing import Any

from reqtrail.dashboards.queries.filters import SearchFilter, StatusClass, TimeRange
from reqtrail.dashboards.queries.reproduce import (
    curl_command,
    export_file_name,
    recorded_request,
    reproduce_commands,
)

WINDOW = TimeRange(datetime(2025, 3, 1, 10, tzinfo=UTC), datetime(2025, 3, 1, 12, tzinfo=UTC))


def record(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "request_id": "01ABC",
        "method": "post",
        "path": "/units/u-1/upgrade",
        "query": "lang=en",
        "user_id": "player-1",
        "device_id": "dev-9",
        "platform": "ios",
        "request_headers": {
            "content-type": "application/json",
            "content-length": "18",
            "x-request-id": "01ABC",
            "host": "prod.example",
            "x-app-version": "1.5.0",
        },
        "request_body": '{"materials": [1]}',
    }
    base.update(changes)
    return base


def test_connection_headers_are_dropped_and_field_headers_rebuilt() -> None:
    """Host, length and the old request ID go; device, platform and user come back."""
    request = recorded_request(record())
    assert request.method == "POST" and request.target == "/units/u-1/upgrade?lang=en"
    assert request.headers == {
        "content-type": "application/json",
        "x-app-version": "1.5.0",
        "x-device-id": "dev-9",
        "x-platform": "ios",
        "x-user-id": "player-1",
    }
    assert request.replayable and request.body == '{"materials": [1]}'


def test_redacted_or_truncated_requests_say_why_they_are_not_replayable() -> None:
    """A redacted body, a redacted query and a truncated body are each named."""
    redacted = recorded_request(record(request_body='{"password": "[REDACTED]"}'))
    assert redacted.problems == ("request body redacted when recorded",)
    query = recorded_request(record(query="token=[REDACTED]"))
    assert query.problems == ("query string redacted when recorded",)
    cut = recorded_request(record(request_body_truncated=True, request_body_size=99999))
    assert cut.problems == ("request body truncated when recorded (18 of 99,999 bytes)",)
    assert not cut.replayable


def test_redacted_headers_are_left_out_unless_asked_for() -> None:
    """A ``[REDACTED]`` header value is not sent, except with send_redacted."""
    secret = record(request_headers={"authorization": "[REDACTED]"})
    assert "authorization" not in recorded_request(secret).headers
    assert recorded_request(secret).redacted_headers == ("authorization",)
    sent = recorded_request(secret, send_redacted=True)
    assert sent.headers["authorization"] == "[REDACTED]"


def test_curl_command_is_shell_ready() -> None:
    """The curl line parses back (shlex) to the method, URL, headers and body."""
    request = recorded_request(record(request_body='{"it\'s": "quoted"}'))
    line = curl_command(request, "http://127.0.0.1:8000/", {"X-Dev-Token": "t"})
    words = shlex.split(line)
    assert words[:5] == [
        "curl",
        "-sS",
        "-X",
        "POST",
        "http://127.0.0.1:8000/units/u-1/upgrade?lang=en",
    ]
    assert "x-dev-token: t" in words and words[-1] == '{"it\'s": "quoted"}'
    assert subprocess.run(["sh", "-n", "-c", line], check=False).returncode == 0


def test_reproduce_commands_carry_the_filter() -> None:
    """User and window go to export; route, status class and request ID to replay."""
    f = SearchFilter(
        time_range=WINDOW,
        user_id="player 1; rm -rf /",
        route="/battles/{battle_id}/finish",
        status_class=StatusClass.S5XX,
        app_version="1.5.0",
    )
    commands = reproduce_commands(f, "http://dev:8000")
    assert commands is not None
    export, replay = (shlex.split(c) for c in commands.commands)
    assert export == [
        "reqtrail", "export", "--user", "player 1; rm -rf /",
        "--since", "2025-03-01T10:00:00.000Z", "--until", "2025-03-01T12:00:00.000Z",
        "-o", "reqtrail-player_1_rm_-rf.json",
    ]  # fmt: skip
    assert replay == [
        "reqtrail", "replay", "reqtrail-player_1_rm_-rf.json", "--target", "http://dev:8000",
        "--route", "/battles/{battle_id}/finish", "--status", "5xx",
    ]  # fmt: skip
    assert commands.not_carried == ("app version",)
    assert reproduce_commands(SearchFilter(time_range=WINDOW), "http://dev") is None


def test_export_file_names_are_safe() -> None:
    """Odd user IDs still give a plain file name."""
    assert export_file_name("ユーザー") == "reqtrail-player.json"
    assert export_file_name("../etc") == "reqtrail-etc.json"
