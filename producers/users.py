"""Who made the request, decided the same way in every middleware.

The record's ``user_id`` (and the Sentry user) is the first of:

1. a user the app named for this request: ``reqtrail.set_user(...)``, or
   ``structlog.contextvars.bind_contextvars(user_id=...)`` in the same context;
2. the configured getter (Django: ``settings.REQTRAIL["USER_ID_GETTER"]``; Starlette and
   Flask: the ``user_id_getter`` argument);
3. the framework's authenticated user (Django ``request.user``, Starlette
   ``request.user`` from ``AuthenticationMiddleware``, Flask-Login ``current_user``);
4. the user ID header (``REQTRAIL_USER_ID_HEADER``, default ``x-user-id``).

It is decided once, after the view ran and before an exception goes to Sentry.  A getter
returns a user ID (``str``), a Sentry-style dict (``{"id": ..., "username": ...,
"email": ...}``), a ``RequestUser`` or None (next source).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

MAX_USER_FIELD = 256  # the record's user_id is at most this long


@dataclass(frozen=True, slots=True)
class RequestUser:
    """The user of one request: ``id`` goes into the record; all of it goes to Sentry."""

    id: str
    username: str | None = None
    email: str | None = None

    def sentry_user(self) -> dict[str, str]:
        """The dict ``sentry_sdk.Scope.set_user`` takes (only the known parts)."""
        user = {"id": self.id}
        if self.username:
            user["username"] = self.username
        if self.email:
            user["email"] = self.email
        return user


UserLike = RequestUser | Mapping[str, Any] | str | int | None


def _text(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value)[:MAX_USER_FIELD]
    return text or None


def as_user(value: UserLike) -> RequestUser | None:
    """A getter's answer as a ``RequestUser``; None when it names nobody."""
    if value is None or isinstance(value, RequestUser):
        return value
    if isinstance(value, Mapping):
        username = _text(value.get("username"))
        user_id = _text(value.get("id")) or username
        if user_id is None:
            return None
        return RequestUser(user_id, username, _text(value.get("email")))
    user_id = _text(value)
    return RequestUser(user_id) if user_id is not None else None


def django_user(request: Any) -> RequestUser | None:
    """Django's authenticated ``request.user``: its primary key, with its username."""
    user = getattr(request, "user", None)
    if user is None or not getattr(user, "is_authenticated", False):
        return None
    pk = getattr(user, "pk", None)
    if pk is None:
        return None
    get_username = getattr(user, "get_username", None)
    return RequestUser(str(pk), _text(get_username()) if callable(get_username) else None)


def starlette_user(user: Any) -> RequestUser | None:
    """A Starlette ``request.user`` when authenticated: its identity, else its username."""
    if not getattr(user, "is_authenticated", False):
        return None
    names: list[str] = []
    for attribute in ("identity", "username", "display_name"):
        try:
            value = getattr(user, attribute, None)
        except NotImplementedError:  # BaseUser leaves identity abstract
            continue
        if value:
            names.append(str(value))
    if not names:
        return None
    username = names[1] if len(names) > 1 and names[1] != names[0] else None
    return RequestUser(names[0][:MAX_USER_FIELD], _text(username))


def flask_login_user() -> RequestUser | None:
    """Flask-Login's ``current_user`` when authenticated (None without Flask-Login)."""
    try:
        from flask_login import current_user
    except ImportError:
        return None
    if not getattr(current_user, "is_authenticated", False):
        return None
    user_id = _text(current_user.get_id())
    if user_id is None:
        return None
    return RequestUser(user_id, _text(getattr(current_user, "username", None)))
