"""The JSON-aware body comparison and its ignore paths."""

from __future__ import annotations

import pytest

from reqtrail.dashboards.queries.reproduce import REDACTED
from reqtrail.producers.redaction import REDACTED as WRITTEN_PLACEHOLDER
from reqtrail.replay.jsondiff import (
    IgnoreRules,
    PathError,
    body_differences,
    differences,
    format_path,
    parse_pattern,
)


def paths(recorded: object, replayed: object, *ignore: str) -> list[str]:
    return [d.path for d in differences(recorded, replayed, IgnoreRules.parse(ignore))]


def test_equal_documents_have_no_differences() -> None:
    """Key order does not matter; 1 equals 1.0; nested lists compare element by element."""
    assert paths({"a": 1, "b": [{"c": "x"}]}, {"b": [{"c": "x"}], "a": 1.0}) == []


def test_each_difference_is_named_by_its_path() -> None:
    """Changed, missing and added values, at any depth, in document order."""
    recorded = {"rewards": {"gold": 500, "exp": 10}, "drops": ["a", "b"], "odd key": 1}
    replayed = {"rewards": {"gold": 501}, "drops": ["a"], "odd key": 1, "new": True}
    assert paths(recorded, replayed) == ["$.rewards.gold", "$.rewards.exp", "$.drops[1]", "$.new"]


def test_booleans_are_not_numbers() -> None:
    """``true`` differs from ``1`` and a type change at the root is one difference."""
    assert paths({"ok": True}, {"ok": 1}) == ["$.ok"]
    assert paths([1], {"a": 1}) == ["$"]


def test_ignore_patterns_cover_fields_wildcards_and_whole_subtrees() -> None:
    """``$.a``, ``a``, ``$.list[*].t`` and ``$.*.t`` all leave their places out."""
    recorded = {"server_time": 1, "banners": [{"id": "x", "ends": 1}], "p": {"t": 1, "u": 1}}
    replayed = {"server_time": 2, "banners": [{"id": "x", "ends": 2}], "p": {"t": 2, "u": 2}}
    assert paths(recorded, replayed) == ["$.server_time", "$.banners[0].ends", "$.p.t", "$.p.u"]
    assert paths(recorded, replayed, "server_time", "$.banners[*].ends", "$.*.t") == ["$.p.u"]
    assert paths(recorded, replayed, "$.banners", "$.p", "$.server_time") == []
    assert paths(recorded, replayed, "$.banners[1]") == [
        "$.server_time",
        "$.banners[0].ends",
        "$.p.t",
        "$.p.u",
    ]


def test_paths_round_trip_between_output_and_ignore() -> None:
    """A path printed for a difference, given back as --ignore, ignores exactly it."""
    for segments in (["a", 0, "b"], ["odd key", 2], ["x-y_z"]):
        assert parse_pattern(format_path(segments)) == tuple(segments)


@pytest.mark.parametrize("bad", ["$", "", "$.a[", "$..a", "a b"])
def test_bad_ignore_patterns_are_refused(bad: str) -> None:
    """Something that is not a field path is a clear error, not a silent no-op."""
    with pytest.raises(PathError):
        parse_pattern(bad)


def test_redacted_recorded_values_match_anything() -> None:
    """A recorded ``[REDACTED]`` (the placeholder the producer writes) is not a difference."""
    assert REDACTED == WRITTEN_PLACEHOLDER
    assert paths({"session_token": REDACTED, "n": 1}, {"session_token": "abc", "n": 1}) == []


def test_text_bodies_compare_as_text() -> None:
    """Bodies that are not JSON differ as a whole when their text differs."""
    assert [d.path for d in body_differences("ok", "ok")] == []
    assert [d.path for d in body_differences("ok", "not ok")] == ["$ (text)"]
    assert [d.path for d in body_differences(None, "")] == []
