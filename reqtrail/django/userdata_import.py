"""Load a player's exported data as a dev user (``reqtrail_userdata import``).

In one transaction on the target database: the dev user's existing rows of the exported
models are deleted, then every exported row is inserted with a new primary key, its
references to the exported user pointing at the dev user and its references to other
exported rows at their new keys. References to rows outside the player's data (item
catalogues, guilds) are resolved in the target database, by natural key when the export
used one. Any error rolls everything back.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from django.apps import apps
from django.contrib.auth import get_user_model
from django.core import serializers
from django.db import models, transaction

from reqtrail.django.userdata import (
    FORMAT,
    FORMAT_VERSION,
    OwnedModels,
    UserdataConfig,
    UserdataError,
    collect_rows,
    get_user,
    label,
    owned_models,
)


@dataclass
class ImportSummary:
    """Rows deleted (the dev user's earlier ones) and inserted, per model."""

    deleted: Counter[str] = field(default_factory=Counter)
    inserted: Counter[str] = field(default_factory=Counter)


def check_document(document: Any) -> None:
    """Refuse (one line) what is not a userdata export this version reads."""
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise UserdataError(f'not a reqtrail userdata export (no "format": "{FORMAT}")')
    if document.get("format_version") != FORMAT_VERSION:
        raise UserdataError(
            f"userdata format_version {document.get('format_version')!r} is not supported "
            f"(this reqtrail reads {FORMAT_VERSION})"
        )
    user_label = label(get_user_model())
    if document.get("user_model") != user_label:
        raise UserdataError(
            f"the export's user model {document.get('user_model')!r} is not AUTH_USER_MODEL "
            f"({user_label})"
        )
    if not isinstance(document.get("objects"), list) or not isinstance(
        document.get("models"), list
    ):
        raise UserdataError('the export has no "objects" or "models" list')


class KeyMap:
    """Old primary key -> new, per owned model (the exported user -> the dev user)."""

    def __init__(self, user_label: str, source_pk: Any, dev_pk: Any) -> None:
        self.keys: dict[str, dict[str, Any]] = {user_label: {str(source_pk): dev_pk}}

    def add(self, model_label: str, old: Any, new: Any) -> None:
        self.keys.setdefault(model_label, {})[str(old)] = new

    def get(self, model_label: str, old: Any, where: str) -> Any:
        try:
            return self.keys[model_label][str(old)]
        except KeyError:
            raise UserdataError(
                f"{where} refers to {model_label} pk {old!r}, which is not in the export"
            ) from None


def remap(
    data: dict[str, Any], model: type[models.Model], owned: frozenset[str], keys: KeyMap
) -> dict[str, Any]:
    """``data`` (one serialized row) with references to owned rows remapped, pk cleared."""
    fields = dict(data.get("fields") or {})
    where = f"{data.get('model')} pk {data.get('pk')!r}"
    new_pk = None
    for model_field in model._meta.concrete_fields:
        target = model_field.related_model
        if not model_field.is_relation or target is None or label(target) not in owned:
            continue
        if model_field.primary_key:  # a one-to-one that is the primary key
            new_pk = keys.get(label(target), data.get("pk"), where)
            fields.pop(model_field.name, None)
        elif fields.get(model_field.name) is not None:
            fields[model_field.name] = keys.get(label(target), fields[model_field.name], where)
    for m2m in model._meta.many_to_many:
        target = m2m.related_model
        if m2m.name in fields and target is not None and label(target) in owned:
            fields[m2m.name] = [keys.get(label(target), old, where) for old in fields[m2m.name]]
    return {"model": data.get("model"), "pk": new_pk, "fields": fields}


def _delete_existing(
    owned: OwnedModels, dev_user: models.Model, using: str, summary: ImportSummary
) -> None:
    for model, rows in reversed(collect_rows(owned, dev_user, using)):
        if rows:
            pks = [row.pk for row in rows]
            model._base_manager.using(using).filter(pk__in=pks).delete()
            summary.deleted[label(model)] += len(pks)


def import_document(
    document: Any, dev_pk: str, using: str, config: UserdataConfig
) -> ImportSummary:
    """Replace the dev user's rows with the exported ones, all or nothing."""
    check_document(document)
    try:
        exported = [apps.get_model(name) for name in document["models"]]
    except (LookupError, ValueError) as exc:
        raise UserdataError(f"the export names a model this project does not have: {exc}") from None
    owned = owned_models(config, only={label(m) for m in exported})
    user_model = owned.user_model
    dev_user = get_user(user_model, dev_pk, using, hint="create the dev user first")
    keys = KeyMap(label(user_model), document.get("user_pk"), dev_user.pk)
    summary = ImportSummary()
    with transaction.atomic(using=using):
        _delete_existing(owned, dev_user, using, summary)
        for position, data in enumerate(document["objects"], start=1):
            if not isinstance(data, dict) or not isinstance(data.get("model"), str):
                raise UserdataError(f"object {position} of the export is not a serialized row")
            model = apps.get_model(data["model"])
            row = remap(data, model, owned.labels, keys)
            try:
                (loaded,) = serializers.deserialize("python", [row], using=using)
                loaded.save(using=using)
            except Exception as exc:
                raise UserdataError(
                    f"object {position} ({data['model']} pk {data.get('pk')!r}): "
                    f"{type(exc).__name__}: {' '.join(str(exc).split())}"
                ) from None
            keys.add(data["model"], data.get("pk"), loaded.object.pk)
            summary.inserted[data["model"]] += 1
    return summary
