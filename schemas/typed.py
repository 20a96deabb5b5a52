"""A fast path to the record validator's verdict, generated from the same JSON Schema.

``json_schema()`` is turned into a msgspec Struct, so one call decodes the record's JSON
and checks types, lengths, bounds, constants, required and unknown fields in C: about
half the CPU of ``orjson.loads`` followed by jsonschema-rs. The translation is made to be
*narrower* than the schema, never wider: whatever ``decode_valid`` accepts, the schema
accepts (a test checks it on thousands of mutated records). Anything it refuses returns
None, and the caller asks the JSON Schema validator for the verdict and the reason; a few
valid records take that slower road, e.g. ``200.0`` as an integer or a leap second.

``format: date-time`` is checked here with a pattern narrower than RFC 3339 (upper or
lower case ``T``/``Z``, offsets with a colon, real calendar days).
A schema keyword this module does not translate is an error when it is built, so a new
rule in ``reqtrail.schemas.record`` cannot be skipped silently.
"""

from __future__ import annotations

import re
from datetime import date
from functools import lru_cache
from typing import Annotated, Any, Literal, Protocol

import msgspec

from reqtrail.schemas.generate import json_schema

# Keywords the translation understands; "description" and the top-level "$..." are notes.
TRANSLATED = frozenset(
    {
        "type", "const", "format", "minLength", "maxLength", "minimum", "maximum",
        "exclusiveMinimum", "exclusiveMaximum", "properties", "required",
        "additionalProperties", "description", "title", "$schema", "$id",
    }
)  # fmt: skip
_BOUNDS = {"minimum": "ge", "maximum": "le", "exclusiveMinimum": "gt", "exclusiveMaximum": "lt"}
_SCALARS: dict[str, type] = {"string": str, "integer": int, "number": float, "boolean": bool}

_DATE_TIME = re.compile(
    r"(?!0000)\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])"  # calendar days: see is_date_time
    r"[Tt]([01]\d|2[0-3]):[0-5]\d:[0-5]\d(\.\d+)?"
    r"([Zz]|[+-]([01]\d|2[0-3]):[0-5]\d)",
    re.ASCII,  # \d: 0-9 only, not every Unicode digit
)


class RecordIds(Protocol):
    """What the indexer reads from a record: its index day and its document ID."""

    @property
    def timestamp(self) -> str: ...
    @property
    def request_id(self) -> str: ...


def _type(spec: dict[str, Any], path: str, date_times: list[str]) -> Any:
    """The msgspec type for one JSON Schema ``spec`` (``path`` names it in errors)."""
    unknown = set(spec) - TRANSLATED
    if unknown:
        raise NotImplementedError(
            f"reqtrail.schemas.typed cannot translate {sorted(unknown)} at {path}"
        )
    types = spec["type"] if isinstance(spec["type"], list) else [spec["type"]]
    nullable = "null" in types
    (name,) = [t for t in types if t != "null"]
    if "const" in spec:
        return Literal[spec["const"]] | None if nullable else Literal[spec["const"]]
    if name == "object":
        if "properties" in spec:
            typed: Any = _struct(spec, path, date_times)
        else:
            values = spec.get("additionalProperties", True)
            if values is True or values is False:
                raise NotImplementedError(f"reqtrail.schemas.typed: open or empty object at {path}")
            typed = dict[str, _type(values, f"{path}.*", date_times)]  # type: ignore[misc]
    else:
        meta: dict[str, Any] = {}
        if name == "string":
            meta = {"min_length": spec.get("minLength"), "max_length": spec.get("maxLength")}
            if "format" in spec:
                if spec["format"] != "date-time" or "." in path:  # top-level fields only
                    raise NotImplementedError(
                        f"reqtrail.schemas.typed: format {spec['format']} at {path}"
                    )
                date_times.append(path)
        for keyword, bound in _BOUNDS.items():
            meta[bound] = spec.get(keyword)
        meta = {key: value for key, value in meta.items() if value is not None}
        base = _SCALARS.get(name)
        if base is None:
            raise NotImplementedError(f"reqtrail.schemas.typed: type {name} at {path}")
        typed = Annotated[base, msgspec.Meta(**meta)] if meta else base
    return typed | None if nullable else typed


def _struct(spec: dict[str, Any], path: str, date_times: list[str]) -> type[msgspec.Struct]:
    if spec.get("additionalProperties", True) is not False:
        raise NotImplementedError(f"reqtrail.schemas.typed: properties with open extras at {path}")
    required = set(spec.get("required", ()))
    fields: list[tuple[str, Any, Any]] = []
    for name, sub in spec["properties"].items():
        attribute = name.lstrip("@")  # "@timestamp" is read as .timestamp
        typed = _type(sub, f"{path}.{name}" if path else name, date_times)
        if name in required:
            fields.append((attribute, typed, msgspec.field(name=name)))
        else:  # absent: UNSET; null only where the schema allows it (then None)
            default = msgspec.field(default=msgspec.UNSET, name=name)
            fields.append((attribute, typed | msgspec.UnsetType, default))
    return msgspec.defstruct(
        path.rsplit(".", 1)[-1] if path else "Record",
        fields,
        kw_only=True,
        forbid_unknown_fields=True,
        gc=False,
    )


@lru_cache(maxsize=1)
def _decoder() -> tuple[msgspec.json.Decoder[Any], tuple[str, ...]]:
    date_times: list[str] = []
    record = _struct(json_schema(), "", date_times)
    attributes = tuple(path.lstrip("@") for path in date_times)
    return msgspec.json.Decoder(record), attributes


def is_date_time(value: str) -> bool:
    """RFC 3339 date-time, a little narrower: no leap second, no year 0, ASCII digits."""
    if _DATE_TIME.fullmatch(value) is None:
        return False
    if value[8] == "3" or value[5:10] == "02-29":  # days 1-28 exist in every month
        try:
            date.fromisoformat(value[:10])
        except ValueError:
            return False
    return True


def decode_valid(value: bytes) -> RecordIds | None:
    """The record in ``value`` when it certainly satisfies the schema, else None (then only
    the JSON Schema validator can tell: invalid, or valid in a form this path refuses)."""
    decoder, date_times = _decoder()
    try:
        record = decoder.decode(value)
    except (msgspec.ValidationError, msgspec.DecodeError):
        return None
    for attribute in date_times:
        text = getattr(record, attribute)
        if text.__class__ is str and not is_date_time(text):
            return None
    return record  # type: ignore[no-any-return]
