"""The request record's single definition and what is generated from it."""

from reqtrail.schemas.generate import index_template, json_schema
from reqtrail.schemas.record import (
    FIELD_NAMES,
    FIELDS,
    REQUIRED_FIELDS,
    SCHEMA_VERSION,
    IndexOptions,
)
from reqtrail.schemas.validate import is_valid, record_errors

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
