"""The ``reqtrail.django`` app."""

from django.apps import AppConfig


class RequestTrailConfig(AppConfig):  # type: ignore[misc]  # no django-stubs
    name = "reqtrail.django"
    label = "reqtrail"
    verbose_name = "reqtrail"
