"""Generate the JSON Schema and the Elasticsearch index template from ``reqtrail.schemas.record``.

``python -m schemas`` rewrites the checked-in files; ``--check`` exits 1 when they
drift from the definition (CI runs the equivalent test).
"""

from __future__ import annotations

import copy
import json
import sys
from pathlib import Path
from typing import Any

from reqtrail.schemas.record import FIELDS, SCHEMA_VERSION, SEARCHABLE_BODY, IndexOptions

HERE = Path(__file__).resolve().parent
JSON_SCHEMA_PATH = HERE / "request_record.schema.json"
INDEX_TEMPLATE_PATH = HERE / "index_template.json"


def json_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) every record must satisfy."""
    properties: dict[str, Any] = {}
    for f in FIELDS:
        spec = copy.deepcopy(f.json)
        spec["description"] = f.doc
        if f.nullable:
            # A type list, not anyOf: one check per field instead of two alternatives.
            spec["type"] = [spec["type"], "null"]
        properties[f.name] = spec
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"https://reqtrail.dev/schemas/request_record.v{SCHEMA_VERSION}.json",
        "title": "reqtrail request record",
        "type": "object",
        "additionalProperties": False,
        "required": [f.name for f in FIELDS if f.required],
        "properties": properties,
    }


def index_mappings(index_bodies: bool = False) -> dict[str, Any]:
    properties: dict[str, Any] = {}
    for f in FIELDS:
        mapping = SEARCHABLE_BODY if (f.is_body and index_bodies) else f.es
        properties[f.name] = copy.deepcopy(mapping)
    return {
        "dynamic": False,
        "dynamic_templates": [
            {
                "headers_as_keywords": {
                    "path_match": "*_headers.*",
                    "match_mapping_type": "string",
                    "mapping": {"type": "keyword", "ignore_above": 1024},
                }
            }
        ],
        "properties": properties,
    }


def index_template(options: IndexOptions | None = None) -> dict[str, Any]:
    """Body of ``PUT _index_template/<prefix>``: daily indices, read alias, log settings."""
    opts = options or IndexOptions()
    settings: dict[str, Any] = {
        "number_of_shards": opts.shards,
        "number_of_replicas": opts.replicas,
        "refresh_interval": opts.refresh_interval,
        # Newest first, as every page lists records (@timestamp, then request_id to break
        # ties): a page sorted this way stops reading a segment once it has its rows.
        "sort.field": ["@timestamp", "request_id"],
        "sort.order": ["desc", "desc"],
        "codec": "best_compression",
        **opts.extra_settings,
    }
    return {
        "index_patterns": [f"{opts.prefix}-*"],
        "priority": 200,
        "version": SCHEMA_VERSION,
        "_meta": {"schema_version": SCHEMA_VERSION, "generated_by": "reqtrail.schemas.generate"},
        "template": {
            "settings": {"index": settings},
            "mappings": index_mappings(opts.index_bodies),
            "aliases": {opts.prefix: {}},
        },
    }


def render(obj: dict[str, Any]) -> str:
    return json.dumps(obj, indent=2, sort_keys=False) + "\n"


def generated_files() -> dict[Path, str]:
    return {JSON_SCHEMA_PATH: render(json_schema()), INDEX_TEMPLATE_PATH: render(index_template())}


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    stale = [p for p, text in generated_files().items() if not p.exists() or p.read_text() != text]
    if "--check" in args:
        for p in stale:
            print(f"{p.name} is out of date: run `python -m schemas`", file=sys.stderr)
        return 1 if stale else 0
    for p, text in generated_files().items():
        p.write_text(text)
        print(f"wrote {p.relative_to(HERE.parent)}")
    return 0
