"""structlog's contextvars for one request, without scanning the whole context.

``structlog.contextvars.clear_contextvars()`` and ``merge_contextvars`` copy the current
``contextvars.Context`` and test the name of every variable in it (asyncio's, Sentry's, the
app's...) on every request.  structlog keeps its own variables in one registry
(``structlog.contextvars._CONTEXT_VARS``, name -> ``ContextVar`` whose default is
``Ellipsis``, meaning "not bound"), so the same effects only need a look at those few
variables:

* ``rebind_request_context(...)`` == ``clear_contextvars()`` + ``bind_contextvars(...)`` of
  ``request_id``/``user_id``/``device_id``/``session_id``;
* ``merge_request_context`` == ``merge_contextvars`` (a structlog processor);
* ``bound_user_id()`` / ``bind_user_id(...)`` read and bind ``user_id`` alone.

Should a structlog release drop the registry, both fall back to structlog's own functions.
"""

from __future__ import annotations

from contextvars import ContextVar
from typing import Any

from structlog import contextvars as structlog_contextvars
from structlog.typing import EventDict, WrappedLogger

_PREFIX = "structlog_"
_PREFIX_LEN = len(_PREFIX)
_REGISTRY: dict[str, ContextVar[Any]] | None = getattr(structlog_contextvars, "_CONTEXT_VARS", None)
if not isinstance(_REGISTRY, dict):  # pragma: no cover - a structlog without the registry
    _REGISTRY = None

_REQUEST_KEYS = ("request_id", "user_id", "device_id", "session_id")


class _Variables:
    """The registry's variables, re-read only when structlog has created new ones."""

    __slots__ = ("merged", "others", "request", "seen")

    def __init__(self) -> None:
        self.seen = -1
        self.request: tuple[ContextVar[Any], ...] = ()
        self.others: tuple[ContextVar[Any], ...] = ()
        self.merged: tuple[tuple[str, ContextVar[Any]], ...] = ()

    def refresh(self, registry: dict[str, ContextVar[Any]]) -> None:
        if not all(_PREFIX + key in registry for key in _REQUEST_KEYS):
            structlog_contextvars.bind_contextvars(**dict.fromkeys(_REQUEST_KEYS, ...))
        items = list(registry.items())  # a snapshot: another thread may be adding one
        self.request = tuple(registry[_PREFIX + key] for key in _REQUEST_KEYS)
        request_ids = {id(var) for var in self.request}
        self.others = tuple(var for _name, var in items if id(var) not in request_ids)
        self.merged = tuple(
            (name[_PREFIX_LEN:], var) for name, var in items if name.startswith(_PREFIX)
        )
        self.seen = len(registry)


_variables = _Variables()


def rebind_request_context(
    request_id: str, user_id: str | None, device_id: str | None, session_id: str | None
) -> None:
    """Unbind every structlog context variable, then bind the request's four IDs."""
    registry = _REGISTRY
    if registry is None:  # pragma: no cover
        structlog_contextvars.clear_contextvars()
        structlog_contextvars.bind_contextvars(
            request_id=request_id, user_id=user_id, device_id=device_id, session_id=session_id
        )
        return
    variables = _variables
    if variables.seen != len(registry):
        variables.refresh(registry)
    for var in variables.others:
        if var.get() is not Ellipsis:
            var.set(Ellipsis)
    request_var, user_var, device_var, session_var = variables.request
    request_var.set(request_id)
    user_var.set(user_id)
    device_var.set(device_id)
    session_var.set(session_id)


def _user_var() -> ContextVar[Any] | None:
    registry = _REGISTRY
    if registry is None:  # pragma: no cover
        return None
    variables = _variables
    if variables.seen != len(registry):
        variables.refresh(registry)
    return variables.request[1]


def bound_user_id() -> Any:
    """The ``user_id`` bound in structlog's contextvars now (``Ellipsis`` when unbound)."""
    registry = _REGISTRY
    if registry is None:  # pragma: no cover
        return structlog_contextvars.get_contextvars().get("user_id", Ellipsis)
    variables = _variables
    if variables.seen != len(registry):
        variables.refresh(registry)
    return variables.request[1].get()


def bind_user_id(user_id: str | None) -> None:
    """``bind_contextvars(user_id=user_id)``."""
    var = _user_var()
    if var is None:  # pragma: no cover
        structlog_contextvars.bind_contextvars(user_id=user_id)
        return
    var.set(user_id)


def merge_request_context(
    logger: WrappedLogger, method_name: str, event_dict: EventDict
) -> EventDict:
    """structlog's ``merge_contextvars``: bound context values fill keys the event lacks."""
    registry = _REGISTRY
    if registry is None:  # pragma: no cover
        return structlog_contextvars.merge_contextvars(logger, method_name, event_dict)
    variables = _variables
    if variables.seen != len(registry):
        variables.refresh(registry)
    for key, var in variables.merged:
        if key not in event_dict:  # cheaper than get() + setdefault() for keys it has
            value = var.get()
            if value is not Ellipsis:
                event_dict[key] = value
    return event_dict
