"""Django configuration: ``settings.REQTRAIL`` and the system check that guards it.

::

    REQTRAIL = {
        "KAFKA_BOOTSTRAP": "kafka-1:9092,kafka-2:9092",
        "SERVICE": "match-api",
        "USER_ID_GETTER": "game.users.reqtrail_user",  # dotted path or callable (request)
        "USERDATA": {"INCLUDE": [...], "EXCLUDE": [...], "SECRET_FIELDS": [...]},
    }

Keys are the ``REQTRAIL_*`` environment variables' names without the prefix (every
setting of ``reqtrail settings --table``), plus the keys only Django reads: ``USER_ID_GETTER``
and ``USERDATA`` (what ``manage.py reqtrail_userdata`` copies).
Environment variables override the dict.  ``manage.py check`` (and ``runserver``) fail
with one line naming a bad key (``reqtrail.E001``); a ``REQTRAIL_*`` name set directly in
the Django settings, where nothing reads it, is ``reqtrail.E002``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from reqtrail.producers.pipeline import RecordPipeline, installed_pipeline, set_pipeline
from reqtrail.producers.users import UserLike
from reqtrail.settings import ENV_PREFIX, Settings, SettingsError, load_settings

SETTING_NAME = "REQTRAIL"
USER_ID_GETTER_KEY = "USER_ID_GETTER"
USERDATA_KEY = "USERDATA"  # read by reqtrail.django.userdata
DJANGO_ONLY_KEYS = frozenset({USER_ID_GETTER_KEY, USERDATA_KEY})
SOURCE = f"settings.{SETTING_NAME}"

RequestUserGetter = Callable[[Any], UserLike]


def _reqtrail_dict() -> Mapping[str, Any]:
    from django.conf import settings

    value = getattr(settings, SETTING_NAME, None)
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise SettingsError(f"{SOURCE} must be a dict, not {type(value).__name__}")
    return value


def reqtrail_settings() -> Settings:
    """Settings from ``settings.REQTRAIL`` (then the environment); SettingsError names a key."""
    overrides = {k: v for k, v in _reqtrail_dict().items() if k not in DJANGO_ONLY_KEYS}
    return load_settings(overrides=overrides, overrides_source=SOURCE)


def user_id_getter() -> RequestUserGetter | None:
    """``settings.REQTRAIL["USER_ID_GETTER"]``, imported when given as a dotted path."""
    from django.utils.module_loading import import_string

    getter = _reqtrail_dict().get(USER_ID_GETTER_KEY)
    label = f'{SOURCE}["{USER_ID_GETTER_KEY}"]'
    if isinstance(getter, str):
        try:
            getter = import_string(getter)
        except ImportError as exc:
            raise SettingsError(f"{label} cannot be imported: {exc}") from None
    if getter is not None and not callable(getter):
        raise SettingsError(f"{label} is not callable: {getter!r}")
    return getter


def install_pipeline() -> RecordPipeline:
    """The process-wide pipeline, built from ``settings.REQTRAIL`` unless one is installed."""
    pipeline = installed_pipeline()
    if pipeline is None:
        pipeline = RecordPipeline(reqtrail_settings())
        set_pipeline(pipeline)
    return pipeline


def check_settings(app_configs: Any = None, **kwargs: Any) -> list[Any]:
    """Django system check: one Error per problem, each one line naming the key."""
    from django.conf import settings
    from django.core.checks import Error

    errors: list[Any] = []
    for read in (reqtrail_settings, user_id_getter):
        try:
            read()
        except SettingsError as exc:
            errors.append(Error(str(exc), id="reqtrail.E001"))
    for name in sorted(n for n in dir(settings) if n.startswith(ENV_PREFIX)):
        key = name.removeprefix(ENV_PREFIX)
        errors.append(
            Error(
                f"settings.{name} is not read; put it in {SOURCE} as {key!r}",
                id="reqtrail.E002",
            )
        )
    return errors
