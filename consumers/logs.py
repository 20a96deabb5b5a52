"""The indexer's logs: JSON lines for a log shipper, or colourless text for a terminal.

``configure_logging`` routes every stdlib logger (reqtrail's own, kafka-python's) through
one structlog ``ProcessorFormatter`` on stderr. ``events()`` is the logger of the
indexer's stable events: the event name is the message (``bulk_indexed``, ``retrying``,
``dead_lettered``, ``partitions_assigned``, ...) and the counts are fields, e.g.::

    {"event": "bulk_indexed", "documents": 12000, "bulks": 12, "latency_ms_max": 41.2,
     "level": "info", "logger": "reqtrail.events", "timestamp": "2026-12-02T10:00:00Z"}

No global structlog configuration is touched (a process that also runs the middleware
keeps its own).
"""

from __future__ import annotations

import logging
import sys
from typing import Any, Literal

import orjson
import structlog

LogFormat = Literal["json", "console"]
LOG_FORMATS: tuple[LogFormat, ...] = ("json", "console")
EVENTS_LOGGER = "reqtrail.events"
QUIET_LIBRARIES = ("kafka", "urllib3")
HANDLER_NAME = "reqtrail-logs"


def default_format() -> LogFormat:
    """JSON unless stdout is a terminal."""
    return "console" if sys.stdout.isatty() else "json"


def _json_dumps(value: Any, **_kwargs: Any) -> str:
    return orjson.dumps(value, default=str).decode()


def _shared() -> list[Any]:
    return [
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]


def formatter(log_format: LogFormat, *, clear_line: bool = False) -> logging.Formatter:
    """The formatter of ``log_format``; ``clear_line`` prefixes each line with a terminal
    "erase line" (the live progress line of ``consume`` is drawn on stderr)."""
    renderer: Any
    if log_format == "json":
        renderer = structlog.processors.JSONRenderer(serializer=_json_dumps)
        tail: list[Any] = [structlog.processors.format_exc_info, renderer]
    else:
        renderer = structlog.dev.ConsoleRenderer(colors=False)
        tail = [renderer]
    processors: list[Any] = [structlog.stdlib.ProcessorFormatter.remove_processors_meta, *tail]
    if clear_line:
        processors.append(lambda _logger, _name, line: "\r\x1b[2K" + line)
    return structlog.stdlib.ProcessorFormatter(foreign_pre_chain=_shared(), processors=processors)


def configure_logging(level: str, log_format: LogFormat | None = None) -> LogFormat:
    """Send every log record to stderr as ``log_format`` (default: ``default_format()``)."""
    chosen = log_format or default_format()
    if chosen not in LOG_FORMATS:
        raise ValueError(f"--log-format must be json or console, got {chosen!r}")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter(chosen, clear_line=chosen == "console" and sys.stderr.isatty()))
    handler.set_name(HANDLER_NAME)
    root = logging.getLogger()
    for previous in list(root.handlers):  # an earlier call's (others' handlers stay)
        if previous.get_name() == HANDLER_NAME:
            root.removeHandler(previous)
    root.addHandler(handler)
    root.setLevel(getattr(logging, level.upper(), logging.INFO))
    for noisy in QUIET_LIBRARIES:
        logging.getLogger(noisy).setLevel(logging.WARNING)
    # Its "node has failed, putting on timeout" warnings would come before reqtrail's own
    # line, which names REQTRAIL_ES_URL.
    logging.getLogger("elastic_transport").setLevel(logging.ERROR)
    # "Task ... ran for 0.11s: it is blocking the event loop": kafka-python's note about its
    # own IO loop on a busy machine, which nothing the operator does can change.
    logging.getLogger("kafka.net.selector").setLevel(logging.ERROR)
    return chosen


def events() -> Any:
    """The structlog logger of the indexer's stable events (through stdlib logging)."""
    return structlog.wrap_logger(
        logging.getLogger(EVENTS_LOGGER),
        processors=[
            structlog.stdlib.filter_by_level,
            *_shared(),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        wrapper_class=structlog.stdlib.BoundLogger,
        context_class=dict,
    )
