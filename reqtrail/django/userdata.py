"""Which rows belong to a player, and how to write them out (``reqtrail_userdata export``).

A row belongs to a user when it can be reached from the user through foreign keys,
one-to-one or many-to-many relations pointing at the user or at rows that belong to the
user (units -> battles -> battle logs ...). Many-to-many links declared on a model that
does not belong to the user (``Guild.members``) are taken as link rows. Models are chosen
with ``settings.REQTRAIL["USERDATA"]``::

    REQTRAIL = {
        "USERDATA": {
            "INCLUDE": ["game"],                    # app labels or "app.Model"; empty: all
            "EXCLUDE": ["game.AuditLog"],           # always left out (plus DEFAULT_EXCLUDE)
            "SECRET_FIELDS": ["game.Profile.api_secret"],  # blanked in the export
        }
    }

Rows are serialised with Django's serializers, references to rows outside the player's
data with natural keys where the model defines ``natural_key()``; references between the
player's rows keep their primary keys, which ``import`` remaps.
"""

from __future__ import annotations

import graphlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.apps import apps
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core import serializers
from django.core.exceptions import FieldDoesNotExist, ImproperlyConfigured
from django.db import models

FORMAT = "reqtrail.userdata"
FORMAT_VERSION = 1
SETTING = 'settings.REQTRAIL["USERDATA"]'
DEFAULT_EXCLUDE = ("admin.logentry", "sessions", "contenttypes", "auth.group", "auth.permission")

ModelType = type[models.Model]


class UserdataError(Exception):
    """The player's data cannot be exported or imported; ``str(exc)`` is one line."""


def label(model: ModelType) -> str:
    """``app_label.modelname`` in lower case, as Django's serializers write it."""
    return str(model._meta.label_lower)


def _names(config: dict[str, Any], key: str) -> tuple[str, ...]:
    value = config.get(key, ())
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
        raise ImproperlyConfigured(f"{SETTING}[{key!r}] must be a list of strings: {value!r}")
    return tuple(v.strip().lower() for v in value)


@dataclass(frozen=True)
class UserdataConfig:
    """The include/exclude lists and secret fields, read from the Django settings."""

    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = DEFAULT_EXCLUDE
    secret_fields: tuple[str, ...] = ()

    @classmethod
    def from_settings(cls) -> UserdataConfig:
        """``settings.REQTRAIL["USERDATA"]`` (other keys of ``REQTRAIL`` are not ours)."""
        root = getattr(settings, "REQTRAIL", None) or {}
        config = root.get("USERDATA", {}) if isinstance(root, dict) else None
        if not isinstance(config, dict):
            raise ImproperlyConfigured(f"{SETTING} must be a dict")
        chosen = cls(
            _names(config, "INCLUDE"),
            DEFAULT_EXCLUDE + _names(config, "EXCLUDE"),
            _names(config, "SECRET_FIELDS"),
        )
        for name in chosen.secret_fields:
            chosen.secret_field(name)  # fail early, naming the setting
        return chosen

    def allows(self, model: ModelType) -> bool:
        names = {model._meta.app_label.lower(), label(model)}
        if names & set(self.exclude):
            return False
        return not self.include or bool(names & set(self.include))

    def secret_field(self, name: str) -> models.Field[Any, Any]:
        model_label, _, field_name = name.rpartition(".")
        try:
            return apps.get_model(model_label)._meta.get_field(field_name)
        except (LookupError, ValueError, FieldDoesNotExist):
            raise ImproperlyConfigured(
                f"{SETTING}['SECRET_FIELDS'] names no field: {name!r} (use 'app.Model.field')"
            ) from None


@dataclass(frozen=True)
class Edge:
    """``child.field`` points at ``parent`` (a foreign key or one-to-one)."""

    parent: ModelType
    child: ModelType
    field: str


@dataclass(frozen=True)
class OwnedModels:
    """The user model, the models owning rows (parents first) and how they are reached."""

    user_model: ModelType
    order: tuple[ModelType, ...]
    edges: tuple[Edge, ...]
    links: tuple[tuple[ModelType, str], ...]  # (auto-created through model, its user-side FK)

    @property
    def labels(self) -> frozenset[str]:
        return frozenset(label(m) for m in (self.user_model, *self.order))


def owned_models(config: UserdataConfig, only: Iterable[str] | None = None) -> OwnedModels:
    """Every model reachable from the user model, in dependency order (``only``: restrict)."""
    user_model = get_user_model()
    allowed = set(only) if only is not None else None
    seen: set[ModelType] = {user_model}
    queue: list[ModelType] = [user_model]
    edges: list[Edge] = []
    m2m_back: list[tuple[ModelType, ModelType, str]] = []  # (declaring model, through, fk)
    while queue:
        parent = queue.pop(0)
        for rel in parent._meta.related_objects:
            child = rel.related_model
            ok = config.allows(child) and (allowed is None or label(child) in allowed)
            if rel.many_to_many:
                through = rel.through
                if through._meta.auto_created and (allowed is None or label(through) in allowed):
                    fk = next(f.name for f in through._meta.fields if f.related_model is parent)
                    m2m_back.append((child, through, fk))
                continue
            if not ok or rel.field.many_to_many:
                continue
            edges.append(Edge(parent, child, rel.field.name))
            if child not in seen:
                seen.add(child)
                queue.append(child)
    links = [(through, fk) for declaring, through, fk in m2m_back if declaring not in seen]
    graph = graphlib.TopologicalSorter[ModelType]()
    for model in sorted(seen, key=label):  # parents first, many-to-many targets before users
        graph.add(model, *(e.parent for e in edges if e.child is model and e.parent is not model))
        graph.add(
            model,
            *(
                f.related_model
                for f in model._meta.many_to_many
                if f.related_model in seen and f.related_model is not model
            ),
        )
    try:
        order = [m for m in graph.static_order() if m is not user_model]
    except graphlib.CycleError as exc:
        cycle = " -> ".join(label(m) for m in exc.args[1])
        raise UserdataError(
            f"the player's models refer to each other in a cycle: {cycle}"
        ) from None
    return OwnedModels(user_model, tuple(order), tuple(edges), tuple(links))


def collect_rows(
    owned: OwnedModels, user: models.Model, using: str
) -> list[tuple[ModelType, list[models.Model]]]:
    """The user's rows of every owned model (parents first), then the link rows."""
    pks: dict[ModelType, set[Any]] = {owned.user_model: {user.pk}}
    out: list[tuple[ModelType, list[models.Model]]] = []
    for model in owned.order:
        rows: dict[Any, models.Model] = {}
        for edge in (e for e in owned.edges if e.child is model):
            parents = pks.get(edge.parent, set())
            if parents:
                manager = model._base_manager.using(using)
                for row in manager.filter(**{f"{edge.field}__in": list(parents)}).order_by("pk"):
                    rows[row.pk] = row
        pks[model] = set(rows)
        out.append((model, [rows[pk] for pk in sorted(rows, key=str)]))
    for through, fk in owned.links:
        links = through._base_manager.using(using).filter(
            **{f"{fk}__in": list(pks[owned.user_model])}
        )
        out.append((through, list(links.order_by("pk"))))
    return out


def _blank(field: models.Field[Any, Any]) -> Any:
    if field.null:
        return None
    if field.has_default():
        return field.get_default()
    if isinstance(field, models.CharField | models.TextField):
        return ""
    raise ImproperlyConfigured(
        f"{SETTING}['SECRET_FIELDS']: {field.model._meta.label}.{field.name} cannot be blanked "
        "(make it nullable, give it a default, or leave it out)"
    )


def serialize_row(row: models.Model, owned_labels: frozenset[str], config: UserdataConfig) -> Any:
    """One row as Django's "python" serializer writes it, references to owned rows as PKs."""
    (data,) = serializers.serialize("python", [row], use_natural_foreign_keys=True)
    fields = data["fields"]
    for field in row._meta.concrete_fields:
        target = field.related_model
        if field.is_relation and target is not None and label(target) in owned_labels:
            fields[field.name] = field.value_from_object(row)
    for field in row._meta.many_to_many:
        target = field.related_model
        if field.name in fields and target is not None and label(target) in owned_labels:
            fields[field.name] = sorted((o.pk for o in field.value_from_object(row)), key=str)
    for name in config.secret_fields:
        field = config.secret_field(name)
        if field.model is type(row) and field.name in fields:
            fields[field.name] = _blank(field)
    data["pk"] = row.pk
    return data


def get_user(user_model: ModelType, pk: str, using: str, hint: str = "") -> models.Model:
    """The user with primary key ``pk`` in database ``using``; when there is none,
    ``UserdataError`` in one line, ending in ``hint`` if given."""
    try:
        return user_model._base_manager.using(using).get(pk=pk)
    except (user_model.DoesNotExist, ValueError):
        missing = f"no {user_model._meta.label} with pk {pk!r} in database {using!r}"
        raise UserdataError(f"{missing}: {hint}" if hint else missing) from None


def export_document(user_pk: str, using: str, config: UserdataConfig) -> dict[str, Any]:
    """The player's data as one JSON-ready document."""
    owned = owned_models(config)
    user_model = owned.user_model
    user = get_user(user_model, user_pk, using)
    collected = collect_rows(owned, user, using)
    objects = [serialize_row(row, owned.labels, config) for _m, rows in collected for row in rows]
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "exported_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "user_model": label(user_model),
        "user_pk": user.pk,
        "database": using,
        "models": [label(model) for model, _rows in collected],
        "counts": {label(model): len(rows) for model, rows in collected},
        "objects": objects,
    }
