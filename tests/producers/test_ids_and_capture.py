"""Unit tests: request IDs, body capture and route templates."""

from __future__ import annotations

import io
import re
import time

import pytest

from reqtrail.producers.capture import BodyCapture, CapturingReader
from reqtrail.producers.ids import accept_request_id, new_request_id, request_id_time
from reqtrail.producers.routes import route_template


def test_request_ids_are_26_crockford_characters_and_unique() -> None:
    """IDs use the ULID layout: 26 characters of Crockford base32, no repeats."""
    ids = {new_request_id() for _ in range(2000)}
    assert len(ids) == 2000
    assert all(re.fullmatch(r"[0-7][0-9A-HJKMNP-TV-Z]{25}", i) for i in ids)


def test_request_ids_sort_by_creation_time() -> None:
    """An ID made a millisecond later sorts after, as a plain string."""
    now = time.time_ns() // 1_000_000
    earlier = [new_request_id(now) for _ in range(50)]
    later = [new_request_id(now + 1) for _ in range(50)]
    assert max(earlier) < min(later)
    assert request_id_time(earlier[0]) == now


def test_incoming_request_id_is_kept_when_usable() -> None:
    """A sane client X-Request-ID is reused (trimmed); blank, huge or binary ones are not."""
    assert accept_request_id("  abc-123 ") == "abc-123"
    for bad in (None, "", "   ", "x" * 300, "a\x00b"):
        assert len(accept_request_id(bad)) == 26


def test_body_capture_keeps_the_head_and_counts_everything() -> None:
    """Only the first `limit` bytes are kept, across chunks; size counts all bytes."""
    capture = BodyCapture(5)
    for chunk in (b"abc", b"", b"defgh", b"ijk"):
        capture.feed(chunk)
    assert capture.head == b"abcde" and capture.size == 11
    event: dict[str, object] = {}
    capture.add_to(event, "request")
    assert event == {"request_body": b"abcde", "request_body_size": 11}


def test_capturing_reader_passes_data_through_unchanged() -> None:
    """The app reads exactly the original bytes (read, readline, iteration)."""
    data = b"line1\nline2\n" + b"z" * 100
    capture = BodyCapture(8)
    reader = CapturingReader(io.BytesIO(data), capture)
    got = reader.readline() + reader.read(3) + b"".join(iter(reader))
    assert got == data
    assert capture.head == b"line1\nli" and capture.size == len(data)


@pytest.mark.parametrize(
    ("pattern", "template"),
    [
        ("/units/{unit_id}/upgrade", "/units/{unit_id}/upgrade"),  # Starlette
        ("/units/<unit_id>/upgrade", "/units/{unit_id}/upgrade"),  # Flask
        ("/units/<int:unit_id>", "/units/{unit_id}"),  # Flask converter
        ("units/<int:unit_id>/upgrade", "/units/{unit_id}/upgrade"),  # Django path()
        (r"^units/(?P<unit_id>[0-9]+)/$", "/units/{unit_id}/"),  # Django re_path()
        (None, None),
    ],
)
def test_route_templates_are_normalised_across_frameworks(
    pattern: str | None, template: str | None
) -> None:
    """Every framework's route syntax becomes one /path/{param} form."""
    assert route_template(pattern) == template
