"""The middlewares ``bench_middleware`` compares, each set up the way its own docs say.

A contender builds, in a process of its own, the bare app and the same app behind its
middleware for each framework asked for (``asgi``: Starlette; ``wsgi``: Flask; ``django``:
Django's WSGI handler):

* ``reqtrail`` (Kafka up, a topic of its own, the default client: confluent-kafka),
  ``reqtrail-kafka-python`` (the same with ``REQTRAIL_KAFKA_CLIENT=kafka-python``) and
  ``reqtrail-down`` (Kafka at a port nothing listens on); ``reqtrail-nosend``: its
  middleware with a sink that drops each event as it comes, so only the request thread's
  work is left (no sender, no Kafka client): the difference to ``reqtrail`` is what the
  background work costs requests;
* ``sentry-errors``: sentry-sdk's ASGI or WSGI middleware, or its Django integration,
  without tracing; ``sentry-tracing``: the same with ``traces_sample_rate=1.0``.  Its
  transport is the SDK's own HTTP transport (background worker, envelope serialised and
  compressed) with the final HTTP request left out;
* ``otel``: OpenTelemetry's ASGI / WSGI middleware or its Django instrumentation, with the
  SDK's ``TracerProvider``, a ``BatchSpanProcessor`` at its defaults and an exporter that
  serialises every span (``to_json``) and discards it.

Sentry's Django integration patches Django's classes for the whole process, so its bare
app runs in the same process with Sentry's client switched off for the bare blocks (its
patches then pass straight through, which counts a little of Sentry's cost as "bare").
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from bench.middleware_apps import (
    Call,
    asgi_call,
    django_app,
    flask_app,
    starlette_app,
    wsgi_call,
)

FRAMEWORKS = ("asgi", "wsgi", "django")
CONTENDERS = (
    "reqtrail",
    "reqtrail-kafka-python",
    "reqtrail-nosend",
    "reqtrail-down",
    "sentry-errors",
    "sentry-tracing",
    "otel",
)
LABELS = {
    "reqtrail": "reqtrail (Kafka up)",
    "reqtrail-kafka-python": "reqtrail (Kafka up, kafka-python)",
    "reqtrail-nosend": "reqtrail, request path only",
    "reqtrail-down": "reqtrail (Kafka down)",
    "sentry-errors": "sentry-sdk, errors only",
    "sentry-tracing": "sentry-sdk, with tracing",
    "otel": "OpenTelemetry, batch exporter",
}
KAFKA_DOWN = "127.0.0.1:1"
SENTRY_DSN = "http://public@127.0.0.1:9/1"  # never contacted: the transport sends nothing


@dataclass
class Contender:
    """One contender's apps per framework, and what to do around the timed blocks."""

    # framework -> (bare, wrapped)
    apps: dict[str, tuple[Call, Call]]
    # Called before each block with the framework and "bare" or "wrapped" (not timed).
    before_block: Callable[[str, str], None] = lambda _framework, _side: None
    # After each round: let background work finish (not timed).
    settle: Callable[[], None] = lambda: None
    close: Callable[[], dict[str, Any]] = lambda: {}


def _call(framework: str, app: Any) -> Call:
    return asgi_call(app) if framework == "asgi" else wsgi_call(app)


# --- reqtrail --------------------------------------------------------------------------
class DroppingSink:
    """A sink that takes every event and keeps none: no thread, no Kafka client."""

    def put(self, payload: bytes, key: bytes | None) -> bool:
        return True

    def put_event(self, event: dict[str, Any], render: Any) -> bool:
        return True

    def stats(self) -> None:
        return None

    def flush(self, timeout: float = 0.0) -> bool:
        return True

    def close(self, timeout: float | None = None) -> None:
        return None


def reqtrail(frameworks: list[str], bootstrap: str | None, client: str | None = None) -> Contender:
    """reqtrail sending to Kafka at ``bootstrap`` through ``client``, or (None) with a
    ``DroppingSink``."""
    from reqtrail.producers.pipeline import RecordPipeline, set_pipeline
    from reqtrail.settings import ProducerSettings, load_settings

    settings = load_settings(role=ProducerSettings).replace(
        kafka_bootstrap=bootstrap or KAFKA_DOWN,
        topic=f"bench-middleware-{uuid.uuid4().hex[:8]}",
    )
    if client is not None:
        settings = settings.replace(kafka_client=client)
    pipeline = RecordPipeline(settings, sink=DroppingSink() if bootstrap is None else None)
    apps: dict[str, tuple[Call, Call]] = {}
    for framework in frameworks:
        if framework == "asgi":
            from reqtrail.asgi import RequestTrailMiddleware

            bare = starlette_app()
            wrapped = RequestTrailMiddleware(starlette_app(), pipeline=pipeline)
        elif framework == "wsgi":
            from reqtrail.flask import RequestTrail

            bare, wrapped = flask_app(), flask_app()
            RequestTrail(wrapped, pipeline=pipeline)
        else:
            set_pipeline(pipeline)
            bare = django_app([])
            wrapped = django_app(["reqtrail.django.middleware.RequestTrailMiddleware"])
        apps[framework] = (_call(framework, bare), _call(framework, wrapped))
    up = bootstrap not in (None, KAFKA_DOWN)
    if up:  # let the sender connect before timing
        pipeline.sink.put(b'{"warmup": true}', None)
        deadline = time.monotonic() + 15
        while not pipeline.sink.stats().connected and time.monotonic() < deadline:
            time.sleep(0.05)

    def settle() -> None:
        if up:
            pipeline.flush(timeout=10)

    def close() -> dict[str, Any]:
        pipeline.flush(timeout=10 if up else 0.2)
        stats = pipeline.stats()
        pipeline.close(timeout=2 if up else 0.1)
        if up:
            _delete_topic(settings.kafka_bootstrap, settings.topic)
        return {k: stats[k] for k in ("produced", "delivered", "dropped", "queued") if k in stats}

    return Contender(apps, settle=settle, close=close)


def _delete_topic(bootstrap: str, topic: str) -> None:
    from kafka.admin import KafkaAdminClient

    try:
        admin = KafkaAdminClient(bootstrap_servers=bootstrap.split(","))
        try:
            admin.delete_topics([topic])
        finally:
            admin.close()
    except Exception:  # a leftover topic is no reason to lose the results
        pass


# --- sentry-sdk ------------------------------------------------------------------------
def sentry(frameworks: list[str], tracing: bool) -> Contender:
    import sentry_sdk
    from sentry_sdk.transport import HttpTransport

    class DiscardingTransport(HttpTransport):
        """The SDK's transport, its worker and serialisation included; no HTTP request."""

        def _send_request(
            self, body: bytes, headers: Any, endpoint_type: Any, envelope: Any = None
        ) -> None:
            return None

    integrations: list[Any] = []
    apps: dict[str, tuple[Call, Call]] = {}
    if "django" in frameworks:
        from sentry_sdk.integrations.django import DjangoIntegration

        integrations.append(DjangoIntegration())
        handler = wsgi_call(django_app([]))  # Sentry's patches reach it all the same
        apps["django"] = (handler, handler)
    sentry_sdk.init(
        dsn=SENTRY_DSN,
        transport=DiscardingTransport,
        traces_sample_rate=1.0 if tracing else None,
        auto_enabling_integrations=False,
        integrations=integrations,
    )
    scope = sentry_sdk.get_global_scope()
    client = scope.client

    def before_block(framework: str, side: str) -> None:
        if framework == "django":  # Django: the bare blocks run with Sentry's client off
            scope.set_client(client if side == "wrapped" else None)
        else:
            scope.set_client(client)

    if "asgi" in frameworks:
        from sentry_sdk.integrations.asgi import SentryAsgiMiddleware

        apps["asgi"] = (
            asgi_call(starlette_app()),
            asgi_call(SentryAsgiMiddleware(starlette_app())),
        )
    if "wsgi" in frameworks:
        from sentry_sdk.integrations.wsgi import SentryWsgiMiddleware

        wrapped = flask_app()
        wrapped.wsgi_app = SentryWsgiMiddleware(wrapped.wsgi_app)
        apps["wsgi"] = (wsgi_call(flask_app()), wsgi_call(wrapped))

    def settle() -> None:
        scope.set_client(client)
        sentry_sdk.flush(timeout=5)

    return Contender(apps, before_block=before_block, settle=settle)


# --- OpenTelemetry ---------------------------------------------------------------------
def otel(frameworks: list[str]) -> Contender:
    from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
    from opentelemetry.sdk.trace.export import (
        BatchSpanProcessor,
        SpanExporter,
        SpanExportResult,
    )

    class DiscardingExporter(SpanExporter):
        """Serialises every span as an exporter would, and sends nothing."""

        def __init__(self) -> None:
            self.exported = 0

        def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
            for span in spans:
                span.to_json(indent=None)
            self.exported += len(spans)
            return SpanExportResult.SUCCESS

    exporter = DiscardingExporter()
    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(exporter))
    apps: dict[str, tuple[Call, Call]] = {}
    if "asgi" in frameworks:
        from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware as AsgiMiddleware

        wrapped_asgi = AsgiMiddleware(starlette_app(), tracer_provider=provider)
        apps["asgi"] = (asgi_call(starlette_app()), asgi_call(wrapped_asgi))
    if "wsgi" in frameworks:
        from opentelemetry.instrumentation.wsgi import OpenTelemetryMiddleware as WsgiMiddleware

        wrapped = flask_app()
        wrapped.wsgi_app = WsgiMiddleware(wrapped.wsgi_app, tracer_provider=provider)
        apps["wsgi"] = (wsgi_call(flask_app()), wsgi_call(wrapped))
    if "django" in frameworks:
        from django.conf import settings
        from opentelemetry.instrumentation.django import DjangoInstrumentor

        bare = wsgi_call(django_app([]))
        DjangoInstrumentor().instrument(tracer_provider=provider)  # inserts its middleware
        apps["django"] = (bare, wsgi_call(django_app(list(settings.MIDDLEWARE))))

    def settle() -> None:
        provider.force_flush()

    def close() -> dict[str, Any]:
        provider.shutdown()
        return {"spans_exported": exporter.exported}

    return Contender(apps, settle=settle, close=close)


# --- no middleware at all -------------------------------------------------------------------
BASELINE = "baseline"


def baseline(frameworks: list[str]) -> Contender:
    """The bare apps in a process no SDK touched: what every contender's wrapped app is also
    compared with, so that background work landing in a contender's own bare blocks (or
    global patches slowing them) cannot make its middleware look cheaper."""
    apps: dict[str, tuple[Call, Call]] = {}
    for framework in frameworks:
        if framework == "asgi":
            app = starlette_app()
        elif framework == "wsgi":
            app = flask_app()
        else:
            app = django_app([])
        call = _call(framework, app)
        apps[framework] = (call, call)
    return Contender(apps)


def build(frameworks: list[str], contender: str, kafka_up: str) -> Contender:
    """The contender's apps for ``frameworks`` (in the calling process)."""
    if contender == BASELINE:
        return baseline(frameworks)
    if contender == "reqtrail":
        return reqtrail(frameworks, kafka_up)
    if contender == "reqtrail-kafka-python":
        return reqtrail(frameworks, kafka_up, "kafka-python")
    if contender == "reqtrail-nosend":
        return reqtrail(frameworks, None)
    if contender == "reqtrail-down":
        return reqtrail(frameworks, KAFKA_DOWN)
    if contender in ("sentry-errors", "sentry-tracing"):
        return sentry(frameworks, tracing=contender == "sentry-tracing")
    if contender == "otel":
        return otel(frameworks)
    raise ValueError(f"unknown contender {contender!r}; choose from {', '.join(CONTENDERS)}")
