"""One user-ID precedence in every framework: app's choice, getter, framework user, header."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from reqtrail.producers.users import RequestUser, as_user
from reqtrail.schemas import record_errors
from reqtrail.settings import load_settings
from tests.producers.django_users import player
from tests.producers.frameworks import FRAMEWORKS
from tests.producers.helpers import ListSink, memory_pipeline
from tests.producers.sentry_recorder import mechanism_of, recording_sentry
from tests.producers.whoami_apps import (
    Call,
    django_whoami,
    flask_whoami,
    starlette_whoami,
)

MECHANISMS = {"starlette": "reqtrail.asgi", "flask": "reqtrail.flask", "django": "reqtrail.django"}


@contextmanager
def whoami(framework: str) -> Iterator[tuple[Call, ListSink, str, str]]:
    """(call, sink, token header value, user ID that token authenticates) for ``framework``."""
    pipeline, sink = memory_pipeline(load_settings(environ={}))
    if framework == "django":
        pk, token = player("cleo")
        with django_whoami(pipeline) as call:
            yield call, sink, f"Token {token}", pk
        return
    call = starlette_whoami(pipeline) if framework == "starlette" else flask_whoami(pipeline)
    yield call, sink, "Token cleo", "auth-cleo"


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_each_source_beats_the_ones_below_it(framework: str) -> None:
    """Header < authenticated user < getter < bound user_id < set_user, in records and Sentry."""
    with recording_sentry() as sentry, whoami(framework) as (call, sink, token, auth_id):
        header = {"x-user-id": "from-header"}
        authed = {**header, "authorization": token}
        session = {**authed, "x-session-user": "from-getter"}
        cases = [
            (header, "crash=1", "from-header"),
            (authed, "crash=1", auth_id),
            (session, "crash=1", "from-getter"),
            (session, "bind=from-bind&crash=1", "from-bind"),
            (session, "set_user=from-set-user&crash=1", "from-set-user"),
        ]
        assert [call(headers, query) for headers, query, _ in cases] == [500] * len(cases)
        records = sink.records
        events = [sentry.event(r["error"]["sentry_event_id"]) for r in records]
    assert [r["user_id"] for r in records] == [want for _, _, want in cases]
    assert [e["user"]["id"] for e in events] == [want for _, _, want in cases]
    assert events[-1]["user"]["username"] == "set-by-app"
    for record, event in zip(records, events, strict=True):
        assert record_errors(record) is None
        assert event["tags"]["request_id"] == record["request_id"]
        assert mechanism_of(event) == {"type": MECHANISMS[framework], "handled": False}


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_without_a_crash_the_record_follows_the_same_order(framework: str) -> None:
    """A request that succeeds records the user the same precedence picks."""
    with whoami(framework) as (call, sink, token, auth_id):
        assert call({"x-user-id": "h", "authorization": token}, "") == 200
        assert call({"x-user-id": "h", "authorization": token}, "bind=b") == 200
        assert call({"x-user-id": "h"}, "") == 200
        assert call({}, "") == 200
    assert [r.get("user_id") for r in sink.records] == [auth_id, "b", "h", None]


def test_set_user_works_from_a_sync_starlette_view() -> None:
    """Starlette runs sync views in a thread: set_user still names the user there."""
    pipeline, sink = memory_pipeline(load_settings(environ={}))
    call = starlette_whoami(pipeline, sync_view=True)
    assert call({"x-user-id": "h"}, "set_user=threaded") == 200
    assert sink.records[0]["user_id"] == "threaded"


def test_getter_answers_become_users() -> None:
    """A getter may answer an ID, a Sentry-style dict or nothing; empty means no user."""
    assert as_user("7") == RequestUser("7")
    assert as_user(7) == RequestUser("7")
    assert as_user({"id": 7, "username": "ana", "email": "a@x"}) == RequestUser("7", "ana", "a@x")
    assert as_user({"username": "ana"}) == RequestUser("ana", "ana")
    assert as_user("") is None and as_user(None) is None and as_user({"email": "a@x"}) is None
    assert RequestUser("7", email="a@x").sentry_user() == {"id": "7", "email": "a@x"}
