"""Fast validation of decoded records against the generated JSON Schema.

The validator is compiled once (fastjsonschema); valid records cost one function call and
raise nothing. ``record_errors`` returns a readable reason for the dead-letter topic.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import fastjsonschema

from schemas.generate import json_schema


@lru_cache(maxsize=1)
def _compiled() -> Any:
    return fastjsonschema.compile(json_schema())


def is_valid(record: Any) -> bool:
    """True when ``record`` satisfies the schema."""
    try:
        _compiled()(record)
    except fastjsonschema.JsonSchemaValueException:
        return False
    return True


def record_errors(record: Any) -> str | None:
    """None when valid, else the first violation as one line (e.g. ``data.status must be ...``)."""
    try:
        _compiled()(record)
    except fastjsonschema.JsonSchemaValueException as exc:
        return str(exc.message)
    return None
