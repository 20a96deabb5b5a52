"""The request context helpers match structlog's own contextvars functions."""

from __future__ import annotations

import contextvars

from structlog.contextvars import bind_contextvars, get_contextvars, merge_contextvars

from reqtrail.producers.request_context import merge_request_context, rebind_request_context


def test_rebind_unbinds_the_apps_keys_and_binds_the_request_ids() -> None:
    """Rebinding leaves exactly the four request IDs bound, like clear + bind would."""

    def run() -> dict[str, object]:
        bind_contextvars(request_id="old", level_name="castle", score=7)
        rebind_request_context("r-1", "u-1", None, "s-1")
        return get_contextvars()

    assert contextvars.copy_context().run(run) == {
        "request_id": "r-1",
        "user_id": "u-1",
        "device_id": None,
        "session_id": "s-1",
    }


def test_merge_fills_missing_keys_exactly_as_structlogs_merge() -> None:
    """The merge processor gives the same event as structlog's merge_contextvars."""

    def run() -> tuple[dict[str, object], dict[str, object]]:
        rebind_request_context("r-2", "u-2", "d-2", None)
        bind_contextvars(user_id="bound-later", fresh_key_for_merge_test=1)
        event = {"user_id": "from-event", "status": 200}
        return (
            merge_request_context(None, "info", dict(event)),
            merge_contextvars(None, "info", dict(event)),
        )

    ours, structlogs = contextvars.copy_context().run(run)
    assert ours == structlogs
    assert ours["user_id"] == "from-event"
    assert ours["request_id"] == "r-2"
    assert ours["fresh_key_for_merge_test"] == 1
