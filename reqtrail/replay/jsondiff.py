"""A JSON-aware comparison of two response bodies, with paths left out on request.

Paths are written as ``$.rewards.gold``, ``$.results[0].unit_id`` or ``$["odd key"]``; the
same syntax names a difference in the output and selects what ``--ignore`` leaves out.
An ignore pattern may use ``*`` for any key or ``[*]`` for any index, may omit the leading
``$.``, and covers everything below the place it names (``$.banners`` ignores the whole
list). A recorded value that was redacted (``[REDACTED]``) matches whatever was replayed.
Numbers compare by value (``1 == 1.0``); ``true`` is not ``1``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from reqtrail.dashboards.queries.reproduce import REDACTED

Segment = str | int
MISSING: Any = object()  # a key or an element that one side does not have
WILDCARD = "*"
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")
_TOKEN = re.compile(
    r'\.(?P<name>[A-Za-z_*][A-Za-z0-9_-]*)|\[(?P<index>\d+|\*)\]|\[(?P<quoted>"(?:[^"\\]|\\.)*")\]'
)


class PathError(ValueError):
    """An ignore pattern that is not a JSON path in the accepted syntax."""


def format_path(segments: Sequence[Segment]) -> str:
    """``["a", 0, "b c"]`` -> ``$.a[0]["b c"]``."""
    out = "$"
    for segment in segments:
        if isinstance(segment, int):
            out += f"[{segment}]"
        elif _IDENTIFIER.match(segment):
            out += f".{segment}"
        else:
            out += f"[{orjson.dumps(segment).decode()}]"
    return out


def parse_pattern(text: str) -> tuple[Segment, ...]:
    """An ignore pattern as segments (``"*"`` and ``-1`` for the two wildcards)."""
    body = text.strip()
    if body.startswith("$"):
        body = body[1:]
    elif body and not body.startswith("["):
        body = "." + body
    segments: list[Segment] = []
    position = 0
    while position < len(body):
        match = _TOKEN.match(body, position)
        if match is None:
            raise PathError(f"not a JSON path like $.rewards.gold or $.results[*].id: {text!r}")
        if match["name"] is not None:
            segments.append(match["name"])
        elif match["index"] is not None:
            segments.append(-1 if match["index"] == WILDCARD else int(match["index"]))
        else:
            segments.append(str(orjson.loads(match["quoted"])))
        position = match.end()
    if not segments:
        raise PathError(f"an ignore path must name a field, not the whole body: {text!r}")
    return tuple(segments)


@dataclass(frozen=True)
class IgnoreRules:
    """Patterns whose places (and everything below them) are left out of the comparison."""

    patterns: tuple[tuple[Segment, ...], ...] = ()

    @classmethod
    def parse(cls, texts: Sequence[str]) -> IgnoreRules:
        return cls(tuple(parse_pattern(text) for text in texts))

    def covers(self, path: Sequence[Segment]) -> bool:
        """True when some pattern names ``path`` or a place above it."""
        for pattern in self.patterns:
            if len(pattern) <= len(path) and all(
                _segment_matches(want, have) for want, have in zip(pattern, path, strict=False)
            ):
                return True
        return False


def _segment_matches(want: Segment, have: Segment) -> bool:
    if isinstance(want, int):
        return isinstance(have, int) and (want == -1 or want == have)
    return want in (WILDCARD, have)


@dataclass(frozen=True)
class Difference:
    """One place where the replayed body differs from the recorded one."""

    path: str
    recorded: Any
    replayed: Any

    def describe(self, width: int = 60) -> str:
        return f"{self.path}: {_show(self.recorded, width)} -> {_show(self.replayed, width)}"


def _show(value: Any, width: int) -> str:
    if value is MISSING:
        return "(missing)"
    text = orjson.dumps(value).decode() if not isinstance(value, str) else repr(value)
    return text if len(text) <= width else text[: width - 1] + "…"


def _equal_scalars(recorded: Any, replayed: Any) -> bool:
    if isinstance(recorded, bool) or isinstance(replayed, bool):
        return type(recorded) is type(replayed) and recorded == replayed
    if isinstance(recorded, int | float) and isinstance(replayed, int | float):
        return recorded == replayed
    return type(recorded) is type(replayed) and bool(recorded == replayed)


def differences(
    recorded: Any, replayed: Any, ignore: IgnoreRules = IgnoreRules()
) -> Iterator[Difference]:
    """Every difference between two decoded JSON values, in document order."""
    yield from _walk(recorded, replayed, [], ignore)


def _walk(
    recorded: Any, replayed: Any, path: list[Segment], ignore: IgnoreRules
) -> Iterator[Difference]:
    if path and ignore.covers(path):
        return
    if recorded == REDACTED:
        return
    if isinstance(recorded, dict) and isinstance(replayed, dict):
        for key in list(recorded) + [k for k in replayed if k not in recorded]:
            yield from _walk(
                recorded.get(key, MISSING), replayed.get(key, MISSING), [*path, key], ignore
            )
        return
    if isinstance(recorded, list) and isinstance(replayed, list):
        for i in range(max(len(recorded), len(replayed))):
            left = recorded[i] if i < len(recorded) else MISSING
            right = replayed[i] if i < len(replayed) else MISSING
            yield from _walk(left, right, [*path, i], ignore)
        return
    if recorded is MISSING or replayed is MISSING or not _equal_scalars(recorded, replayed):
        yield Difference(format_path(path), recorded, replayed)


def body_differences(
    recorded: str | None, replayed: str, ignore: IgnoreRules = IgnoreRules()
) -> Iterator[Difference]:
    """Differences of two response bodies: JSON-aware when both parse, else as text."""
    before = recorded or ""
    try:
        left, right = orjson.loads(before), orjson.loads(replayed)
    except orjson.JSONDecodeError:
        if before != replayed and not ignore.covers([]):
            yield Difference("$ (text)", before, replayed)
        return
    yield from differences(left, right, ignore)
