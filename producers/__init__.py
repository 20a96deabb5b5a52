"""reqtrail producers: one record per request, from the game server to Kafka.

    request -> RequestCycle (capture) -> structlog processors -> KafkaSink (queue, thread)
            -> kafka-python KafkaProducer

Use one of the middlewares:

* ASGI (Starlette, FastAPI): ``app.add_middleware(reqtrail.asgi.RequestTrailMiddleware)``
* Flask: ``reqtrail.flask.RequestTrail(app)``; any WSGI app: ``reqtrail.wsgi``
* Django: ``"reqtrail.django"`` in INSTALLED_APPS, its middleware first in MIDDLEWARE

They use the process-wide pipeline, built from ``REQTRAIL_*`` settings on first use, unless
given one; ``configure(settings)`` builds and installs it explicitly.

An app that turns an exception into its own error response calls
``reqtrail.report_exception(exc)`` in its handler, so the record still carries ``error`` and
the Sentry event ID.  ``reqtrail.set_user(...)`` names the request's user (see
``reqtrail.producers.users`` for the precedence).
"""

from typing import TYPE_CHECKING, Any

from reqtrail.producers.pipeline import RecordPipeline, configure, get_pipeline, set_pipeline

if TYPE_CHECKING:
    from reqtrail.producers.cycle import report_exception, set_user


def __getattr__(name: str) -> Any:
    # Lazy: producers.cycle imports sentry_sdk, which must not load before a locustfile
    # that imports this package lets gevent patch ssl.
    if name in ("report_exception", "set_user"):
        from reqtrail.producers import cycle

        return getattr(cycle, name)
    raise AttributeError(f"module 'reqtrail.producers' has no attribute {name!r}")


__all__ = [
    "RecordPipeline",
    "configure",
    "get_pipeline",
    "report_exception",
    "set_pipeline",
    "set_user",
]
