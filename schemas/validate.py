"""Validation of decoded records against the generated JSON Schema (draft 2020-12).

One validator, built once from ``json_schema()`` by jsonschema-rs (a compiled JSON Schema
implementation) with ``format`` asserted, serves the producer's tests, the consumer's hot
path and the dead-letter reasons. ``is_valid`` raises nothing and costs about 2 µs for a
typical record; ``record_errors`` is only asked for records that are not valid.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import jsonschema_rs

from reqtrail.schemas.generate import json_schema


@lru_cache(maxsize=1)
def _validator() -> Any:
    return jsonschema_rs.validator_for(json_schema(), validate_formats=True)


def is_valid(record: Any) -> bool:
    """True when ``record`` satisfies the schema."""
    return bool(_validator().is_valid(record))


def record_errors(record: Any) -> str | None:
    """None when valid, else the violation as one line, e.g.
    ``data.status: "x" is not of type "integer"``. Missing required fields are named all
    at once, per object (``data: missing required fields "a", "b"``), followed by the
    first other violation if there is one."""
    missing: dict[str, list[str]] = {}
    other: str | None = None
    for error in _validator().iter_errors(record):
        where = "data" + "".join(
            f"[{part}]" if isinstance(part, int) else f".{part}" for part in error.instance_path
        )
        if isinstance(error.kind, jsonschema_rs.ValidationErrorKind.Required):
            missing.setdefault(where, []).append(str(error.kind.property))
        elif other is None:
            other = f"{where}: {error.message}"
    parts = [
        f"{where}: missing required field{'s' if len(names) > 1 else ''} "
        + ", ".join(f'"{name}"' for name in names)
        for where, names in missing.items()
    ]
    if other is not None:
        parts.append(other)
    return "; ".join(parts) or None
