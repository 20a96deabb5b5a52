"""The local Sentry collector parses envelopes and answers the dashboard's two searches."""

from __future__ import annotations

import json

from reqtrail.sentry_collector import EventStore, matches, parse_envelope

EVENT = {
    "event_id": "a9827acab1dd4c30a898474a93808380",
    "user": {"id": "player-7"},
    "tags": {"request_id": 'r"1', "device_id": "dev-1"},
}


def _envelope(*items: tuple[dict[str, object], bytes]) -> bytes:
    lines = [json.dumps({"event_id": EVENT["event_id"]}).encode()]
    for header, payload in items:
        lines += [json.dumps(header).encode(), payload]
    return b"\n".join(lines) + b"\n"


def test_envelope_with_and_without_lengths_yields_only_events() -> None:
    """Event items are returned whether or not their header gives a length; others are skipped."""
    payload = json.dumps(EVENT).encode()
    body = _envelope(
        ({"type": "event", "length": len(payload)}, payload),
        ({"type": "session"}, b'{"sid": "x"}'),
        ({"type": "event"}, payload),
    )
    assert parse_envelope(body) == [EVENT, EVENT]


def test_search_by_event_id_tag_and_user() -> None:
    """An event ID (with or without dashes), an escaped tag value and user.id all match."""
    assert matches(EVENT, "a9827aca-b1dd-4c30-a898-474a93808380")
    assert matches(EVENT, 'request_id:"r\\"1"')
    assert matches(EVENT, "user.id:player-7")
    assert not matches(EVENT, "request_id:r1")
    assert not matches(EVENT, "0" * 32)


def test_store_keeps_the_newest_events_first() -> None:
    """Searches list newest first and the store stays bounded."""
    store = EventStore(keep=2)
    store.add([{**EVENT, "n": i} for i in range(3)])
    assert store.received == 3
    assert [e["n"] for e in store.search(EVENT["event_id"])] == [2, 1]
