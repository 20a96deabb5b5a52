"""Any WSGI app: ``app = RequestTrailWSGIMiddleware(app)``; Flask users see ``reqtrail.flask``."""

from reqtrail.producers.wsgi import RequestTrailWSGIMiddleware, install_flask

__all__ = ["RequestTrailWSGIMiddleware", "install_flask"]
