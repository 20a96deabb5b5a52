"""Producer tests: anything reqtrail's guard swallowed fails the test that caused it.

The guard keeps the game server alive when the pipeline breaks; in tests that would hide
our own bugs, so an autouse fixture collects every swallowed exception and re-raises the
first one after the test.  A test that breaks the pipeline on purpose asks for the
``internal_errors`` fixture instead and inspects the list itself.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from reqtrail.producers.guard import set_internal_error_hook


@pytest.fixture
def internal_errors() -> list[BaseException]:
    """Exceptions the guard swallowed during this test (they are then not re-raised)."""
    return []


@pytest.fixture(autouse=True)
def reraise_internal_errors(request: pytest.FixtureRequest) -> Iterator[None]:
    """Fail the test with the first exception reqtrail's guard swallowed, if any."""
    expected = "internal_errors" in request.fixturenames
    collected: list[BaseException] = request.getfixturevalue("internal_errors") if expected else []
    previous = set_internal_error_hook(collected.append)
    try:
        yield
    finally:
        set_internal_error_hook(previous)
    if collected and not expected:
        raise collected[0]
