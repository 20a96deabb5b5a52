"""The Django middleware, first in ``MIDDLEWARE``."""

from reqtrail.producers.django_middleware import (
    RequestTrailDjangoMiddleware as RequestTrailMiddleware,
)

__all__ = ["RequestTrailMiddleware"]
