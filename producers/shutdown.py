"""Flushing the sinks on every way a server stops, then one summary line.

Stopping runs a bounded flush (``REQTRAIL_SHUTDOWN_TIMEOUT_S``), spills what Kafka did not
take, and logs ``reqtrail: <why>: produced N, delivered N, dropped N (reason n, ...),
spilled N to PATH``.  It is hooked into each way a Python server ends:

* **ASGI lifespan shutdown** (uvicorn, hypercorn, gunicorn's uvicorn workers): the ASGI
  middleware drains the pipeline when the server sends ``lifespan.shutdown``, after the last
  request.  This matters because uvicorn, once shut down after a SIGTERM, restores the
  previous handler (usually the default) and raises SIGTERM again: the process then ends
  without running ``atexit``.
* **Interpreter exit** (``atexit``): gunicorn workers (sync, gthread) leave through
  ``sys.exit``, Ctrl-C raises ``KeyboardInterrupt``; both run ``atexit``.  The hook is moved
  in front of kafka-python's own ``atexit`` close each time a producer is made, so records
  still queued are sent rather than refused by an already closed producer.
* **SIGTERM / SIGINT** whose handler is the default, which would end the process at once
  (Django's ``runserver --noreload``, wsgiref, a plain script): a chained handler, installed
  from the main thread when a sink or a middleware is made, stops the sinks and then
  restores the default and raises the signal again, so the exit status stays the same.
  When the previous handler is a server's own (gunicorn's, uvicorn's), the chained handler
  only calls it: the server shuts down gracefully and the hooks above run at its end.
  A handler set later by the server replaces the chained one, which is what servers expect.
"""

from __future__ import annotations

import atexit
import logging
import os
import signal
import threading
import weakref
from collections.abc import Callable
from types import FrameType
from typing import Any

log = logging.getLogger("reqtrail.producers")

HANDLED_SIGNALS = (signal.SIGTERM, signal.SIGINT)
SignalHandler = Callable[[int, FrameType | None], Any] | int | signal.Handlers | None

_sinks: weakref.WeakSet[Any] = weakref.WeakSet()
_summarised: weakref.WeakKeyDictionary[Any, tuple[int, int]] = weakref.WeakKeyDictionary()
_lock = threading.Lock()
_fork_hook_installed = False


def register(sink: Any) -> None:
    """Stop ``sink`` when the process ends (atexit, signals) and reset it in forked children."""
    global _fork_hook_installed
    with _lock:
        _sinks.add(sink)
        if not _fork_hook_installed:
            os.register_at_fork(after_in_child=_after_fork)
            _fork_hook_installed = True
    run_first_at_exit()
    install_signal_handlers()


def run_first_at_exit() -> None:
    """(Re-)register the exit hook so that it runs before every hook registered so far."""
    atexit.unregister(_at_exit)
    atexit.register(_at_exit)


def install_signal_handlers() -> bool:
    """Chain reqtrail's SIGTERM/SIGINT handler in front of the current ones (main thread
    only; a no-op elsewhere and when already in place).  True if it is in place."""
    if threading.current_thread() is not threading.main_thread():
        return False
    for signum in HANDLED_SIGNALS:
        current = signal.getsignal(signum)
        if not isinstance(current, ChainedHandler):
            signal.signal(signum, ChainedHandler(signum, current))
    return True


class ChainedHandler:
    """Stops the sinks when ``previous`` would end the process at once, then defers to it."""

    def __init__(self, signum: int, previous: SignalHandler) -> None:
        self.signum = signum
        self.previous = previous

    def __call__(self, signum: int, frame: FrameType | None) -> None:
        previous = self.previous
        if previous is signal.SIG_IGN:
            return
        if callable(previous):
            previous(signum, frame)  # the server's own shutdown; atexit / lifespan stop us
            return
        # SIG_DFL (or a handler installed outside Python): the process ends right now.
        stop_all(f"stopped by {signal.Signals(signum).name}")
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)


def stop_sink(sink: Any, why: str, final: bool = True, timeout: float | None = None) -> None:
    """Drain (``final``: close) one sink and log its summary line, once per change."""
    from reqtrail.producers.accounting import summary_line

    if timeout is None:
        timeout = sink.settings.shutdown_timeout_s
    stats = sink.close(timeout) if final else sink.drain(timeout)
    key = (stats.produced, stats.dropped)
    if _summarised.get(sink) == key and not (stats.queued or stats.in_flight):
        return  # already summed up (a lifespan drain, then the exit hook)
    _summarised[sink] = key
    line = summary_line(stats, why, sink.settings.spill_path)
    log.log(logging.WARNING if stats.dropped else logging.INFO, line)


def stop_pipeline(
    pipeline: Any, why: str, final: bool = False, timeout: float | None = None
) -> None:
    """``stop_sink`` for a pipeline's sink (other sinks are flushed, and closed if final)."""
    sink = pipeline.sink
    if hasattr(sink, "drain") and hasattr(sink, "settings"):
        stop_sink(sink, why, final, timeout)
    else:
        sink.flush(5.0 if timeout is None else timeout)
        if final:
            sink.close(5.0 if timeout is None else timeout)


def stop_all(why: str) -> None:
    """Close every registered sink (bounded), logging one summary line each."""
    for sink in list(_sinks):
        try:
            stop_sink(sink, why)
        except Exception:
            log.exception("reqtrail: could not stop the Kafka sink cleanly")


def _at_exit() -> None:
    stop_all("interpreter exit")


def _after_fork() -> None:
    for sink in list(_sinks):
        sink.reset_after_fork()
