"""The record pipeline: a structlog logger whose processors end in the Kafka sink.

``RecordPipeline(settings)`` wires, in order::

    merge_request_context -> Sampler -> HeaderFields -> ServiceContext -> format_timestamp
      -> [ClientIpHasher] -> BodyTruncator -> SecretRedactor -> keep_record_fields
      -> RecordRenderer -> SinkLogger

It uses its own structlog logger (``structlog.wrap_logger``), not the global configuration, so
the game server's own structlog setup is left alone.  ``configure()`` installs the process-wide
pipeline the middlewares use by default; ``get_pipeline()`` builds one from the environment
on first use.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable
from typing import Any

import structlog
from structlog import BoundLoggerBase, DropEvent
from structlog.typing import Processor

from reqtrail.producers import shutdown
from reqtrail.producers.guard import report_internal_error
from reqtrail.producers.headers import CaptureConfig, HeaderFields
from reqtrail.producers.processors import (
    BodyTruncator,
    ClientIpHasher,
    RecordRenderer,
    Sampler,
    SecretRedactor,
    ServiceContext,
    format_timestamp,
    keep_record_fields,
)
from reqtrail.producers.request_context import merge_request_context
from reqtrail.producers.sink import KafkaSink, SinkStats
from reqtrail.settings import ProducerSettings, load_settings


class RecordLogger(BoundLoggerBase):
    """A structlog bound logger with one method: send a finished request through the chain.

    Taking the event as one dict (instead of ``info(**event)``) saves re-packing ~25 keyword
    arguments twice per request.
    """

    def record(self, event: dict[str, Any]) -> None:
        # structlog's ``_process_event`` with the event dict used as it is (the cycle made
        # it for this record alone) instead of copied into a copy of the empty context.
        if self._context:
            event = {**self._context, **event}
        logger = self._logger
        processed: Any = event
        try:
            for processor in self._processors:
                processed = processor(logger, "info", processed)
        except DropEvent:
            return
        args, kwargs = processed
        if kwargs:
            logger.info(*args, **kwargs)
        else:
            logger.info(*args)


class SinkLogger:
    """The structlog "logger" at the end of the chain: passes bytes and key to the sink."""

    def __init__(self, sink: Any) -> None:
        self.sink = sink

    def info(self, payload: bytes, key: bytes | None) -> None:
        self.sink.put(payload, key)

    msg = info


def build_processors(
    settings: ProducerSettings, sampler: Sampler, capture: CaptureConfig
) -> list[Processor]:
    """The processor chain for ``settings`` (see the module docstring for the order)."""
    chain: list[Processor] = [
        merge_request_context,
        sampler,
        HeaderFields(capture),
        ServiceContext(settings.service, settings.environment, settings.app_version),
        format_timestamp,
    ]
    if settings.hash_client_ip:
        chain.append(ClientIpHasher(settings.client_ip_salt))
    chain += [
        BodyTruncator(settings.body_max_bytes),
        SecretRedactor(settings.redact_keys),
        keep_record_fields,
        RecordRenderer(settings.kafka_max_request_size),
    ]
    return chain


class RecordPipeline:
    """Turns finished-request events into Kafka records; never raises into the caller."""

    def __init__(self, settings: ProducerSettings, sink: Any = None) -> None:
        self.settings = settings
        self.sink = KafkaSink(settings) if sink is None else sink
        self.capture = CaptureConfig.from_settings(settings)
        self.sampler = Sampler(settings.sample_rate, settings.slow_threshold_ms)
        processors = build_processors(settings, self.sampler, self.capture)
        self.logger = structlog.wrap_logger(
            SinkLogger(self.sink),
            processors=processors,
            wrapper_class=RecordLogger,
            context_class=dict,
        ).bind()
        put_event = getattr(self.sink, "put_event", None)
        self._put_event: Callable[[dict[str, Any], Any], bool] | None = (
            put_event if callable(put_event) else None
        )
        # The processors that need the request itself (its context variables, and the
        # sampling decision when it can drop records: a record not kept is never queued) run
        # on the request thread; the rest needs only the event, so a sink that can runs it on
        # its own thread.  A sampler that keeps everything only stamps ``sample_rate``.
        self._render = self.render  # bound once, not on every request
        on_request = processors.index(merge_request_context) + 1
        if self.sampler.may_drop:
            on_request = processors.index(self.sampler) + 1
        self._on_request = tuple(processors[:on_request])
        self._on_sender = tuple(processors[on_request:])

    def emit(self, event: dict[str, Any]) -> None:
        """Run ``event`` through the chain into the sink (errors are swallowed and counted).

        With a sink that renders on its own thread, only the processors that need the
        request run here; the sink runs the rest (``render``) off the request thread.
        """
        try:  # capture_internal_exceptions(), without its two calls on every request
            put_event = self._put_event
            if put_event is None:
                self.logger.record(event)
                return
            processed: Any = event
            for processor in self._on_request:
                processed = processor(None, "info", processed)
            put_event(processed, self._render)
        except DropEvent:
            return
        except Exception as exc:
            report_internal_error(exc)

    def render(self, event: dict[str, Any]) -> tuple[bytes, bytes | None]:
        """The rest of the chain: ``event`` (already through the request's processors) as
        the record's (payload, Kafka key); raises ``DropEvent`` to drop it."""
        processed: Any = event
        for processor in self._on_sender:
            processed = processor(None, "info", processed)
        (payload, key), _kwargs = processed
        return payload, key

    def stats(self) -> dict[str, Any]:
        """Sink counters (produced, delivered, dropped, spilled, queued...) and sampled_out."""
        sink_stats = self.sink.stats()
        out = dataclasses.asdict(sink_stats) if isinstance(sink_stats, SinkStats) else {}
        out["sampled_out"] = self.sampler.sampled_out
        return out

    def flush(self, timeout: float = 10.0) -> bool:
        return bool(self.sink.flush(timeout))

    def close(self, timeout: float | None = None) -> None:
        """Flush (at most ``timeout`` s, default REQTRAIL_SHUTDOWN_TIMEOUT_S), spill the rest,
        log the one-line summary and refuse later records."""
        shutdown.stop_pipeline(self, "pipeline closed", final=True, timeout=timeout)


_default: RecordPipeline | None = None
_default_lock = threading.Lock()


def configure(settings: ProducerSettings | None = None, sink: Any = None) -> RecordPipeline:
    """Install (replacing any previous one) the process-wide pipeline and return it."""
    global _default
    pipeline = RecordPipeline(settings or load_settings(role=ProducerSettings), sink)
    with _default_lock:
        previous, _default = _default, pipeline
    if previous is not None:
        previous.close(timeout=2.0)
    return pipeline


def set_pipeline(pipeline: RecordPipeline | None) -> RecordPipeline | None:
    """Install ``pipeline`` as the process-wide one (None: unset); returns the previous one.

    For frameworks that build the middleware themselves (Django) and for tests.
    """
    global _default
    with _default_lock:
        previous, _default = _default, pipeline
    return previous


def installed_pipeline() -> RecordPipeline | None:
    """The process-wide pipeline if one was installed or built, else None."""
    return _default


def get_pipeline() -> RecordPipeline:
    """The process-wide pipeline, built from the environment on first use."""
    pipeline = _default
    if pipeline is None:
        with _default_lock:
            if _default is None:
                return _install_from_env()
            return _default
    return pipeline


def _install_from_env() -> RecordPipeline:
    global _default
    _default = RecordPipeline(load_settings(role=ProducerSettings))
    return _default


PipelineSource = Callable[[], RecordPipeline]


def resolve(pipeline: RecordPipeline | None) -> PipelineSource:
    """A getter for the middleware: the given pipeline, else the process-wide default."""
    if pipeline is not None:
        fixed = pipeline
        return lambda: fixed
    return get_pipeline
