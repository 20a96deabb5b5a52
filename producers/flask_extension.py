"""The Flask extension: ``RequestTrail(app)`` or ``RequestTrail().init_app(app)``.

It wraps ``app.wsgi_app`` in the WSGI middleware and adds hooks that hand over what only
Flask knows: the route template (``request.url_rule``; ``(unmatched)`` when no rule
matched), the exception (``got_request_exception``, reported to Sentry as unhandled) and
the user.  The user is, in order (``reqtrail.producers.users``): ``reqtrail.set_user(...)``
or a bound structlog ``user_id``, ``user_id_getter()`` (called inside the request context),
Flask-Login's ``current_user`` when the app uses Flask-Login, the user ID header.

Configuration: ``REQTRAIL_*`` keys in ``app.config`` (the environment's names, e.g.
``app.config["REQTRAIL_SERVICE"] = "shop"``); ``REQTRAIL_*`` environment variables override
them.  Without such keys the process-wide pipeline (built from the environment) is used.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from reqtrail.producers.cycle import RequestCycle
from reqtrail.producers.guard import capture_internal_exceptions
from reqtrail.producers.pipeline import RecordPipeline
from reqtrail.producers.routes import route_template
from reqtrail.producers.users import UserLike, flask_login_user
from reqtrail.producers.wsgi import CYCLE_KEY, ROUTE_KEY, RequestTrailWSGIMiddleware
from reqtrail.schemas.record import UNMATCHED_ROUTE
from reqtrail.settings import ENV_PREFIX, load_settings

EXTENSION_KEY = "reqtrail"
UserGetter = Callable[[], UserLike]


def pipeline_from_config(config: Mapping[str, Any]) -> RecordPipeline | None:
    """A pipeline from the ``REQTRAIL_*`` keys of ``app.config`` (None when it has none)."""
    overrides = {key: value for key, value in config.items() if key.startswith(ENV_PREFIX)}
    if not overrides:
        return None
    settings = load_settings(
        overrides=overrides, overrides_source="app.config", overrides_prefix=ENV_PREFIX
    )
    return RecordPipeline(settings)


class RequestTrail:
    """Records every request of a Flask app; the Flask extension pattern."""

    def __init__(
        self,
        app: Any = None,
        *,
        pipeline: RecordPipeline | None = None,
        user_id_getter: UserGetter | None = None,
    ) -> None:
        self.pipeline = pipeline
        self.user_id_getter = user_id_getter
        if app is not None:
            self.init_app(app)

    def init_app(self, app: Any) -> RequestTrailWSGIMiddleware:
        """Install on ``app``; a bad ``REQTRAIL_*`` key raises SettingsError naming it."""
        from flask import got_request_exception

        pipeline = self.pipeline or pipeline_from_config(app.config)

        def remember_route_and_user(_exc: BaseException | None = None) -> None:
            with capture_internal_exceptions():
                self._remember(app)

        def remember_exception(_sender: Any, exception: BaseException, **_: Any) -> None:
            with capture_internal_exceptions():
                cycle = self._remember(app)
                if cycle is not None:
                    cycle.fail(exception)

        app.teardown_request(remember_route_and_user)
        got_request_exception.connect(remember_exception, app, weak=False)
        middleware = RequestTrailWSGIMiddleware(app.wsgi_app, pipeline, mechanism="reqtrail.flask")
        app.wsgi_app = middleware
        app.extensions[EXTENSION_KEY] = middleware  # .pipeline, e.g. to flush at shutdown
        return middleware

    def _remember(self, app: Any) -> RequestCycle | None:
        """Hand the route to the middleware and settle the user while Flask still knows it."""
        from flask import request

        current = request._get_current_object()  # type: ignore[attr-defined]  # one proxy lookup
        environ = current.environ
        cycle: RequestCycle | None = environ.get(CYCLE_KEY)
        if cycle is None:
            return None
        rule = current.url_rule
        environ[ROUTE_KEY] = route_template(rule.rule) if rule is not None else UNMATCHED_ROUTE
        cycle.find_user = lambda: self._find_user(app)
        cycle.settle_user()
        return cycle

    def _find_user(self, app: Any) -> UserLike:
        if self.user_id_getter is not None:
            user = self.user_id_getter()
            if user:
                return user
        if hasattr(app, "login_manager"):  # Flask-Login is set up on this app
            return flask_login_user()
        return None
