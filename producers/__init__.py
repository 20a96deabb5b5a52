"""reqtrail producers: one record per request, from the game server to Kafka.

    request -> RequestCycle (capture) -> structlog processors -> KafkaSink (queue, thread)
            -> kafka-python KafkaProducer

Use one of the middlewares:

* ASGI (Starlette, FastAPI): ``Middleware(producers.asgi.RequestTrailMiddleware)``
* WSGI / Flask: ``producers.wsgi.install_flask(app)`` or ``RequestTrailWSGIMiddleware(app)``
* Django: ``"producers.django_middleware.RequestTrailDjangoMiddleware"`` first in MIDDLEWARE

They use the process-wide pipeline, built from ``REQTRAIL_*`` settings on first use, unless
given one; ``configure(settings)`` builds and installs it explicitly.

An app that turns an exception into its own error response calls
``producers.report_exception(exc)`` in its handler, so the record still carries ``error`` and
the Sentry event ID.
"""

from typing import TYPE_CHECKING, Any

from producers.pipeline import RecordPipeline, configure, get_pipeline, set_pipeline

if TYPE_CHECKING:
    from producers.cycle import report_exception


def __getattr__(name: str) -> Any:
    # Lazy: producers.cycle imports sentry_sdk, which must not load before a locustfile
    # that imports this package lets gevent patch ssl.
    if name == "report_exception":
        from producers.cycle import report_exception

        return report_exception
    raise AttributeError(f"module 'producers' has no attribute {name!r}")


__all__ = ["RecordPipeline", "configure", "get_pipeline", "report_exception", "set_pipeline"]
