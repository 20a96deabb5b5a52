"""Starlette / FastAPI: ``app.add_middleware(RequestTrailMiddleware, **options)``."""

from reqtrail.producers.asgi import RequestTrailMiddleware

__all__ = ["RequestTrailMiddleware"]
