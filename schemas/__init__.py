"""The request record's single definition and what is generated from it."""

from schemas.generate import index_template, json_schema
from schemas.record import FIELD_NAMES, FIELDS, REQUIRED_FIELDS, SCHEMA_VERSION, IndexOptions
from schemas.validate import is_valid, record_errors

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
