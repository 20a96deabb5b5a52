"""The middlewares store ``X-Reqtrail-Replay-Of`` (sent by ``reqtrail replay``) as ``replay_of``."""

from __future__ import annotations

import pytest

from reqtrail.schemas import record_errors
from reqtrail.settings import load_settings
from tests.producers.frameworks import FRAMEWORKS, framework_client
from tests.producers.helpers import memory_pipeline

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_replay_of_header_becomes_the_replay_of_field(framework: str) -> None:
    """A replayed request's record names the original; an ordinary one has no replay_of."""
    pipeline, sink = memory_pipeline(load_settings(environ={}))
    replayed = {"x-request-id": "new-id-1", "X-Reqtrail-Replay-Of": "original-id-1"}
    with framework_client(framework, pipeline) as client:
        client.request("GET", "/inventory", headers=replayed)
        client.request("GET", "/inventory")
    first, second = sink.records
    assert (first["request_id"], first["replay_of"]) == ("new-id-1", "original-id-1")
    assert "replay_of" not in second
    assert record_errors(first) is None and record_errors(second) is None


@pytest.mark.parametrize("value", ["", "   ", "x" * 300, "bad\nvalue"])
def test_unusable_replay_of_values_are_left_out(value: str) -> None:
    """Blank, over-long or unprintable header values never make an invalid record."""
    pipeline, sink = memory_pipeline(load_settings(environ={}))
    with framework_client("starlette", pipeline) as client:
        client.request("GET", "/inventory", headers={"x-reqtrail-replay-of": value})
    (record,) = sink.records
    assert "replay_of" not in record and record_errors(record) is None
