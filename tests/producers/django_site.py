"""Django settings for a real ``runserver`` subprocess serving the test game API."""

from __future__ import annotations

DEBUG = False
ALLOWED_HOSTS = ["*"]
ROOT_URLCONF = "tests.producers.apps"
MIDDLEWARE = ["reqtrail.producers.django_middleware.RequestTrailDjangoMiddleware"]
INSTALLED_APPS: list[str] = []
SECRET_KEY = "reqtrail-tests"
USE_TZ = True
