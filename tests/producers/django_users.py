"""Players in the in-process Django test database (in-memory SQLite, migrated once)."""

from __future__ import annotations

from typing import Any

from tests.producers.apps import configure_django

_migrated = False


def player(username: str) -> tuple[str, str]:
    """(primary key, DRF token) of the player ``username``, created on first use."""
    global _migrated
    configure_django()
    from django.contrib.auth.models import User
    from django.core.management import call_command
    from rest_framework.authtoken.models import Token

    if not _migrated:
        call_command("migrate", verbosity=0)
        _migrated = True
    user, _ = User.objects.get_or_create(username=username, email=f"{username}@example.com")
    token, _ = Token.objects.get_or_create(user=user)
    return str(user.pk), str(token.key)


def username_of(request: Any) -> str | None:
    """The getter the README shows: the authenticated user's username, not the pk."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return None
    name: str = user.get_username()
    return name
