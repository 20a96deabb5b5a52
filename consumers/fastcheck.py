"""A fast *accept-only* check of records against the shared JSON Schema.

``compile_fast_check(schema)`` generates one plain Python function from the schema: True
means the record is certainly valid; False means "ask the full validator" (which gives
the authoritative answer and the reason). It understands only the keywords the record
schema uses and is at least as strict as JSON Schema for each of them (e.g. it accepts
only ``int`` for ``integer``, and uses fastjsonschema's own ``date-time`` pattern), so
it can never accept a record the schema rejects. A schema with any other keyword
compiles to a check that always answers False, i.e. the full validator for everything.

It exists because the valid case is the hot path of the indexer: about 2 µs per record
here against about 6 µs for the compiled validator, on a 2-core box that also runs ES.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from fastjsonschema.draft04 import CodeGeneratorDraft04

FastCheck = Callable[[dict[str, Any]], bool]
ANNOTATIONS = frozenset({"description", "title", "$schema", "$id", "$comment", "examples"})
STRING_KEYWORDS = frozenset({"minLength", "maxLength", "format"})
NUMBER_KEYWORDS = frozenset({"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"})
OBJECT_KEYWORDS = frozenset({"properties", "required", "additionalProperties"})
KNOWN_KEYWORDS = (
    ANNOTATIONS | STRING_KEYWORDS | NUMBER_KEYWORDS | OBJECT_KEYWORDS | {"type", "const"}
)
DATE_TIME = re.compile(CodeGeneratorDraft04.FORMAT_REGEXS["date-time"])


class Unsupported(ValueError):
    """The schema uses something this generator does not handle."""


class _Generator:
    def __init__(self) -> None:
        self.constants: dict[str, Any] = {"_DATE_TIME": DATE_TIME}
        self._count = 0

    def constant(self, value: Any) -> str:
        self._count += 1
        name = f"_C{self._count}"
        self.constants[name] = value
        return name

    def fresh(self) -> str:
        self._count += 1
        return f"x{self._count}"

    def expression(self, spec: Any, var: str) -> str:
        """A Python expression that is True only if ``var`` satisfies ``spec``."""
        if not isinstance(spec, dict):
            raise Unsupported(f"schema {spec!r}")
        if "anyOf" in spec:
            alternatives = spec["anyOf"]
            if set(spec) - ANNOTATIONS - {"anyOf"} or not isinstance(alternatives, list):
                raise Unsupported("anyOf next to other keywords")
            return " or ".join(f"({self.expression(alt, var)})" for alt in alternatives)
        unknown = set(spec) - KNOWN_KEYWORDS
        if unknown:
            raise Unsupported(f"keywords {sorted(unknown)}")
        types = spec.get("type")
        if isinstance(types, str):
            types = [types]
        if not isinstance(types, list) or not types:
            raise Unsupported("a schema without type")
        alternatives = [f"({self.typed(kind, spec, var)})" for kind in types]
        check = " or ".join(alternatives)
        if "const" in spec:
            value = spec["const"]
            if type(value) not in (int, str, bool):
                raise Unsupported("const of this type")
            name = self.constant(value)
            check = f"({check}) and {var} == {name} and type({var}) is type({name})"
        return check

    def typed(self, kind: str, spec: dict[str, Any], var: str) -> str:
        parts: list[str]
        if kind == "null":
            return f"{var} is None"
        if kind == "boolean":
            return f"{var} is True or {var} is False"
        if kind == "string":
            parts = [f"type({var}) is str"]
            if "minLength" in spec:
                parts.append(f"len({var}) >= {int(spec['minLength'])}")
            if "maxLength" in spec:
                parts.append(f"len({var}) <= {int(spec['maxLength'])}")
            if "format" in spec:
                if spec["format"] != "date-time":
                    raise Unsupported(f"format {spec['format']}")
                parts.append(f"_DATE_TIME.search({var}) is not None")
            return " and ".join(parts)
        if kind in ("integer", "number"):
            parts = [f"type({var}) is int" if kind == "integer" else f"type({var}) in (int, float)"]
            for keyword, operator in (
                ("minimum", ">="),
                ("maximum", "<="),
                ("exclusiveMinimum", ">"),
                ("exclusiveMaximum", "<"),
            ):
                if keyword in spec:
                    bound = spec[keyword]
                    if type(bound) not in (int, float):
                        raise Unsupported(f"{keyword} {bound!r}")
                    parts.append(f"{var} {operator} {bound!r}")
            return " and ".join(parts)
        if kind == "object":
            return self.object(spec, var)
        raise Unsupported(f"type {kind}")

    def object(self, spec: dict[str, Any], var: str) -> str:
        parts = [f"type({var}) is dict"]
        properties = spec.get("properties", {})
        extra = spec.get("additionalProperties", True)
        if extra is False:
            parts.append(f"{var}.keys() <= {self.constant(frozenset(properties))}")
        elif isinstance(extra, dict):
            if properties:
                raise Unsupported("properties together with an additionalProperties schema")
            item = self.fresh()
            parts.append(f"all({self.expression(extra, item)} for {item} in {var}.values())")
        elif extra is not True:
            raise Unsupported("additionalProperties")
        required = spec.get("required", [])
        if required:
            parts.append(f"{self.constant(frozenset(required))} <= {var}.keys()")
        for key, sub in properties.items():
            value = f"{var}[{key!r}]"
            parts.append(f"({key!r} not in {var} or ({self.expression(sub, value)}))")
        return " and ".join(parts)


def fast_check_source(schema: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """The generated function's source and its constants (for tests and curiosity)."""
    generator = _Generator()
    if schema.get("type") != "object" or set(schema) - (ANNOTATIONS | OBJECT_KEYWORDS | {"type"}):
        raise Unsupported("the top level must be a plain object schema")
    properties = schema.get("properties", {})
    extra = schema.get("additionalProperties", True)
    if extra not in (True, False):
        raise Unsupported("a top-level additionalProperties schema")
    lines = ["def fast_check(d):", "    if type(d) is not dict:", "        return False"]
    if extra is False:
        allowed = generator.constant(frozenset(properties))
        lines += [f"    if not d.keys() <= {allowed}:", "        return False"]
    required = generator.constant(frozenset(schema.get("required", [])))
    lines += [f"    if not {required} <= d.keys():", "        return False"]
    missing = generator.constant(object())
    for number, (key, sub) in enumerate(properties.items()):
        var = f"v{number}"
        check = generator.expression(sub, var)
        lines += [
            f"    {var} = d.get({key!r}, {missing})",
            f"    if {var} is not {missing} and not ({check}):",
            "        return False",
        ]
    lines.append("    return True")
    return "\n".join(lines) + "\n", generator.constants


def compile_fast_check(schema: dict[str, Any]) -> FastCheck:
    """A function returning True only for records ``schema`` accepts (see module doc)."""
    try:
        source, constants = fast_check_source(schema)
    except Unsupported:
        return lambda record: False
    namespace: dict[str, Any] = dict(constants)
    exec(compile(source, "<reqtrail fast_check>", "exec"), namespace)  # noqa: S102
    check: FastCheck = namespace["fast_check"]
    return check
