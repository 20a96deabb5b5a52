"""The request record's single definition and what is generated from it."""

from typing import TYPE_CHECKING, Any

from reqtrail.schemas.generate import index_template, json_schema
from reqtrail.schemas.record import (
    FIELD_NAMES,
    FIELDS,
    REQUIRED_FIELDS,
    SCHEMA_VERSION,
    IndexOptions,
)

if TYPE_CHECKING:
    from reqtrail.schemas.validate import is_valid, record_errors


def __getattr__(name: str) -> Any:
    # Lazy: the validator needs jsonschema-rs (reqtrail[indexer]), the middleware never does.
    if name in ("is_valid", "record_errors"):
        from reqtrail.schemas import validate

        return getattr(validate, name)
    raise AttributeError(f"module 'reqtrail.schemas' has no attribute {name!r}")


__all__ = [
    "FIELDS",
    "FIELD_NAMES",
    "REQUIRED_FIELDS",
    "SCHEMA_VERSION",
    "IndexOptions",
    "index_template",
    "is_valid",
    "json_schema",
    "record_errors",
]
