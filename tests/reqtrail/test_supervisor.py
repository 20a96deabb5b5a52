"""How the demo reports the way its children ended."""

from __future__ import annotations

import signal

from reqtrail.supervisor import describe_exit


def test_exit_statuses_read_as_words() -> None:
    """A clean exit, an exit code and a terminating signal each get a plain phrase."""
    assert describe_exit(0) == "exited cleanly"
    assert describe_exit(1) == "exit code 1"
    assert describe_exit(-signal.SIGTERM) == "ended by SIGTERM"
    assert describe_exit(-signal.SIGKILL) == "ended by SIGKILL"
    assert describe_exit(None) == "never started"


def test_locust_exit_1_is_explained() -> None:
    """The players' exit 1 says it comes from the demo's deliberate 500s; others read plainly."""
    from reqtrail.demo import describe_players_exit

    assert describe_players_exit(1).startswith("exit code 1: locust counts")
    assert describe_players_exit(-signal.SIGTERM) == "ended by SIGTERM"
