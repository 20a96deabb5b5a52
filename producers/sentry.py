"""Sentry glue: one isolation scope per request, tagged so both tools link to each other.

When sentry-sdk is initialised, each request runs inside its own isolation scope carrying
the Sentry user (``id`` = our user ID, plus ``username``/``email`` when known) and the tags
``request_id`` and ``device_id``; a captured exception's event ID goes into the record as
``error.sentry_event_id``.  An exception that reached the middleware is reported as
unhandled, with the middleware's name as its mechanism (``reqtrail.django``...), as
Sentry's own framework integrations do.

The glue never imports sentry-sdk itself: an app that reports to Sentry has imported it to
call ``sentry_sdk.init``.  So a request in an app that has not costs one dictionary lookup
(``sys.modules``), and one in an app that has but did not initialise it one
``get_client()`` check.
"""

from __future__ import annotations

import functools
import inspect
import sys
from collections.abc import Callable
from types import TracebackType
from typing import Any

from reqtrail.producers.users import RequestUser

_modules = sys.modules


class SentryRequestScope:
    """Context manager around one request; a no-op unless a Sentry client is active."""

    __slots__ = ("_manager", "scope")

    def __init__(self) -> None:
        self._manager: Any = None
        self.scope: Any = None

    def enter(self, request_id: str, user_id: str | None, device_id: str | None) -> None:
        sentry_sdk = _modules.get("sentry_sdk")
        if sentry_sdk is None or not sentry_sdk.get_client().is_active():
            return
        self._manager = sentry_sdk.isolation_scope()
        scope = self._manager.__enter__()
        self.scope = scope
        scope.set_tag("request_id", request_id)
        if device_id:
            scope.set_tag("device_id", device_id)
        if user_id:
            scope.set_user({"id": user_id})

    def set_user(self, user: RequestUser) -> None:
        if self.scope is not None:
            self.scope.set_user(user.sentry_user())

    def capture(self, exc: BaseException, mechanism: str, handled: bool) -> str | None:
        """Send ``exc`` to Sentry (once); its event ID, or the one Sentry already made."""
        scope = self.scope
        if scope is None:
            return None
        import sentry_sdk  # imported by the app already: the scope is only entered then
        from sentry_sdk.utils import event_from_exception

        options: dict[str, Any] = {"mechanism": {"type": mechanism, "handled": handled}}
        if _takes_client_options(event_from_exception):  # sentry-sdk 2.x; 3.x reads them itself
            options["client_options"] = sentry_sdk.get_client().options
        event, hint = event_from_exception(exc, **options)
        event_id = sentry_sdk.capture_event(event, hint=hint)
        if event_id is None:
            event_id = scope.last_event_id()
        return str(event_id) if event_id else None

    def exit(
        self,
        exc_type: type[BaseException] | None = None,
        exc: BaseException | None = None,
        tb: TracebackType | None = None,
    ) -> None:
        manager, self._manager = self._manager, None
        if manager is not None:
            manager.__exit__(exc_type, exc, tb)


INACTIVE_SCOPE = SentryRequestScope()  # shared: enter() never ran on it, so it holds no state


def open_request_scope(
    request_id: str, user_id: str | None, device_id: str | None
) -> SentryRequestScope:
    """An entered scope for this request, or a shared no-op one when Sentry is off."""
    sentry_sdk = _modules.get("sentry_sdk")
    if sentry_sdk is None or not sentry_sdk.get_client().is_active():
        return INACTIVE_SCOPE
    scope = SentryRequestScope()
    scope.enter(request_id, user_id, device_id)
    return scope


@functools.cache
def _takes_client_options(function: Callable[..., Any]) -> bool:
    return "client_options" in inspect.signature(function).parameters
