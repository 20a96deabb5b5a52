"""A Django REST Framework app with token auth: the user is only known once the view ran."""

from __future__ import annotations

import pytest
from django.test.utils import override_settings

from reqtrail.consumers.setup import ensure_topics
from reqtrail.producers.pipeline import RecordPipeline
from reqtrail.schemas import record_errors
from reqtrail.settings import Settings
from tests.producers.django_users import player
from tests.producers.frameworks import framework_client
from tests.producers.helpers import read_topic
from tests.producers.sentry_recorder import mechanism_of, recording_sentry

pytestmark = pytest.mark.integration


def crash_once(settings: Settings, token: str, request_id: str) -> tuple[dict, dict]:  # type: ignore[type-arg]
    """GET /api/drf/crash with the token; (record read back from Kafka, its Sentry event)."""
    ensure_topics(settings)
    pipeline = RecordPipeline(settings)
    try:
        with recording_sentry() as sentry, framework_client("django", pipeline) as client:
            answer = client.request(
                "GET",
                "/api/drf/crash",
                headers={"authorization": f"Token {token}", "x-request-id": request_id},
            )
            assert answer.status == 500
            assert pipeline.flush(timeout=30)
            ((_key, record),) = read_topic(settings)
            event = sentry.event(record["error"]["sentry_event_id"])
    finally:
        pipeline.close(timeout=5)
    assert record_errors(record) is None
    return record, event


def test_drf_crash_reaches_sentry_with_the_token_user_unhandled(settings: Settings) -> None:
    """The crash's Sentry event has the DRF user, the request_id tag and handled: false."""
    pk, token = player("ana.silva")
    record, event = crash_once(settings, token, "drf-crash-1")
    assert record["user_id"] == pk and record["route"] == "/api/drf/crash"
    assert record["error"]["type"].endswith("ArticleCommentError")
    assert event["user"] == {"id": pk, "username": "ana.silva"}
    assert event["tags"]["request_id"] == record["request_id"] == "drf-crash-1"
    assert mechanism_of(event) == {"type": "reqtrail.django", "handled": False}
    assert event["exception"]["values"][-1]["type"] == "ArticleCommentError"


def test_drf_user_id_getter_records_the_username(settings: Settings) -> None:
    """With USER_ID_GETTER naming a username getter, record and Sentry carry the username."""
    _pk, token = player("bo.berg")
    getter = {"USER_ID_GETTER": "tests.producers.django_users.username_of"}
    with override_settings(REQTRAIL=getter):
        record, event = crash_once(settings, token, "drf-crash-2")
    assert record["user_id"] == "bo.berg" == event["user"]["id"]
    assert event["tags"]["request_id"] == "drf-crash-2"
    assert mechanism_of(event)["handled"] is False
