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
    """None when valid, else the first violation as one line, e.g.
    ``data.status: "x" is not of type "integer"``."""
    for error in _validator().iter_errors(record):
        where = "".join(
            f"[{part}]" if isinstance(part, int) else f".{part}" for part in error.instance_path
        )
        return f"data{where}: {error.message}"
    return None
