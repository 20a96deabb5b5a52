"""Flask: ``RequestTrail(app)``, or ``trail = RequestTrail()`` then ``trail.init_app(app)``.

Settings come from ``REQTRAIL_*`` keys in ``app.config`` (environment variables override
them); ``user_id_getter`` names the user (see ``reqtrail.producers.flask_extension``).
"""

from reqtrail.producers.flask_extension import RequestTrail

__all__ = ["RequestTrail"]
