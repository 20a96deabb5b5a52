"""reqtrail producers: one record per request, from the game server to Kafka.

    request -> RequestCycle (capture) -> structlog processors -> KafkaSink (queue, thread)
            -> kafka-python KafkaProducer

Use one of the middlewares:

* ASGI (Starlette, FastAPI): ``Middleware(producers.asgi.RequestTrailMiddleware)``
* WSGI / Flask: ``producers.wsgi.install_flask(app)`` or ``RequestTrailWSGIMiddleware(app)``
* Django: ``"producers.django_middleware.RequestTrailDjangoMiddleware"`` first in MIDDLEWARE

They use the process-wide pipeline, built from ``REQTRAIL_*`` settings on first use, unless
given one; ``configure(settings)`` builds and installs it explicitly.
"""

from producers.pipeline import RecordPipeline, configure, get_pipeline, set_pipeline

__all__ = ["RecordPipeline", "configure", "get_pipeline", "set_pipeline"]
