"""Synthetic records are valid, deterministic and shaped like real traffic."""

from __future__ import annotations

from reqtrail.schemas import is_valid, record_errors
from reqtrail.schemas.samples import sample_records


def test_every_sample_record_is_valid() -> None:
    """Each generated record satisfies the JSON Schema."""
    for record in sample_records(500):
        assert is_valid(record), record_errors(record)


def test_samples_are_deterministic_for_a_seed() -> None:
    """The same seed and start give the same records."""
    from datetime import UTC, datetime

    start = datetime(2026, 11, 1, tzinfo=UTC)
    first = list(sample_records(50, seed=3, start=start))
    again = list(sample_records(50, seed=3, start=start))
    assert first == again
    assert len({r["request_id"] for r in first}) == 50


def test_samples_include_errors_and_several_routes() -> None:
    """A few thousand records contain 5xx with an error object and every route."""
    records = list(sample_records(3000))
    errors = [r for r in records if r["status"] >= 500]
    assert errors and all(r["error"] and r["error"]["sentry_event_id"] for r in errors)
    assert len({r["route"] for r in records}) == 7
