"""The guard that keeps reqtrail's own failures away from the game server.

Every piece of pipeline work that runs on a request path or a background thread is wrapped
in ``capture_internal_exceptions()``: an exception raised inside is counted, logged (at most
once a minute) and swallowed, so a bug or an outage in the logging pipeline never turns into
a failed player request.  Tests install a hook (``set_internal_error_hook``) that collects
what was swallowed and re-raises it, so our own bugs still fail the suite.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from types import TracebackType

log = logging.getLogger("reqtrail.producers")

InternalErrorHook = Callable[[BaseException], None]

_hook: InternalErrorHook | None = None
_count = 0
_count_lock = threading.Lock()
_last_logged = 0.0
LOG_EVERY_S = 60.0


def set_internal_error_hook(hook: InternalErrorHook | None) -> InternalErrorHook | None:
    """Install ``hook`` to be called with every swallowed exception; returns the previous one."""
    global _hook
    previous, _hook = _hook, hook
    return previous


def internal_error_count() -> int:
    """How many exceptions the guard has swallowed in this process."""
    return _count


def report_internal_error(exc: BaseException) -> None:
    """Count and log ``exc`` (rate-limited), then pass it to the test hook if one is set."""
    global _count, _last_logged
    with _count_lock:
        _count += 1
    now = time.monotonic()
    if now - _last_logged >= LOG_EVERY_S:
        _last_logged = now
        log.error("reqtrail internal error (request not affected)", exc_info=exc)
    hook = _hook
    if hook is not None:
        hook(exc)


class capture_internal_exceptions:  # noqa: N801 - used like a function, as in sentry-python
    """Context manager that swallows (and reports) any ``Exception`` raised inside it.

    A class rather than ``@contextmanager`` because it sits on the hot path of every request.
    """

    __slots__ = ()

    def __enter__(self) -> None:
        return None

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool:
        if exc is None or not isinstance(exc, Exception):
            return False
        report_internal_error(exc)
        return True
