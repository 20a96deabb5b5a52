"""The ``reqtrail.django`` app: reads ``settings.REQTRAIL`` and checks it at startup.

``ready()`` registers the system check (``manage.py check`` and ``runserver`` fail with one
line naming a bad key, ``reqtrail.E001``) and builds the process-wide pipeline from the
settings; with a bad key it builds nothing and leaves the report to the check (the
middleware then refuses to load).  The keys are in ``reqtrail.producers.django_config``.
"""

from contextlib import suppress

from django.apps import AppConfig
from django.core import checks

from reqtrail.producers.django_config import check_settings, install_pipeline
from reqtrail.settings import SettingsError


class RequestTrailConfig(AppConfig):  # type: ignore[misc]  # no django-stubs
    name = "reqtrail.django"
    label = "reqtrail"
    verbose_name = "reqtrail"

    def ready(self) -> None:
        checks.register(check_settings, "reqtrail")
        with suppress(SettingsError):  # reported by the check, and when the middleware loads
            install_pipeline()
