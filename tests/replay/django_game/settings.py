"""Two SQLite databases: ``default`` plays production, ``dev`` a developer's machine.

``GAME_DB_DIR`` says where the files live; ``GAME_DEBUG=0`` turns DEBUG off.
"""

from __future__ import annotations

import os
from pathlib import Path

DB_DIR = Path(os.environ.get("GAME_DB_DIR", "."))
DEBUG = os.environ.get("GAME_DEBUG", "1") == "1"
SECRET_KEY = "reqtrail-userdata-tests"
USE_TZ = True
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"
INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "reqtrail.django",
    "tests.replay.django_game.game",
]
DATABASES = {
    "default": {"ENGINE": "django.db.backends.sqlite3", "NAME": str(DB_DIR / "prod.sqlite3")},
    "dev": {"ENGINE": "django.db.backends.sqlite3", "NAME": str(DB_DIR / "dev.sqlite3")},
}
REQTRAIL = {
    "SERVICE": "game",  # another part of reqtrail's settings: left alone by reqtrail_userdata
    "USERDATA": {
        "EXCLUDE": ["game.AuditLog"],
        "SECRET_FIELDS": ["game.Profile.api_secret"],
    },
}
