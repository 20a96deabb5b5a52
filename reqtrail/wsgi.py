"""Any WSGI app: ``app = RequestTrailWSGIMiddleware(app)``; Flask users see ``reqtrail.flask``."""

from reqtrail.producers.wsgi import RequestTrailWSGIMiddleware

__all__ = ["RequestTrailWSGIMiddleware"]
