"""A real sentry-sdk client whose transport keeps the events instead of sending them."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import sentry_sdk
from sentry_sdk.envelope import Envelope
from sentry_sdk.integrations.dedupe import DedupeIntegration
from sentry_sdk.transport import Transport


class RecordingTransport(Transport):
    """Keeps every event of every envelope sentry-sdk hands to the transport."""

    def __init__(self) -> None:
        super().__init__()
        self.events: list[dict[str, Any]] = []

    def capture_envelope(self, envelope: Envelope) -> None:
        for item in envelope.items:
            if item.type == "event" and item.payload.json is not None:
                self.events.append(item.payload.json)

    def event(self, event_id: str) -> dict[str, Any]:
        """The one event with ``event_id``."""
        matching = [e for e in self.events if e.get("event_id") == event_id]
        assert len(matching) == 1, f"{len(matching)} Sentry events with id {event_id}"
        return matching[0]


@contextmanager
def recording_sentry() -> Iterator[RecordingTransport]:
    """sentry-sdk initialised (no framework integrations) to record into a transport."""
    transport = RecordingTransport()
    sentry_sdk.init(
        dsn="http://publickey@127.0.0.1:9/42",
        transport=transport,
        default_integrations=False,
        auto_enabling_integrations=False,
        integrations=[DedupeIntegration()],
        environment="test",
    )
    try:
        yield transport
    finally:
        sentry_sdk.get_client().close(timeout=2)
        sentry_sdk.get_global_scope().set_client(None)


def mechanism_of(event: dict[str, Any]) -> dict[str, Any]:
    """The type and ``handled`` flag of the mechanism of the event's (last) exception
    (sentry-sdk 3 adds its own ``exception_id`` beside them)."""
    mechanism: dict[str, Any] = event["exception"]["values"][-1]["mechanism"]
    return {key: mechanism[key] for key in ("type", "handled") if key in mechanism}
