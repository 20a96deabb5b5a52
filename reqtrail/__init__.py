"""reqtrail: every game-server request, searchable by player in seconds.

In a request, ``reqtrail.set_user(user_id, username=..., email=...)`` names its user (this
beats every other source) and ``reqtrail.report_exception(exc)`` records an exception the
app turned into its own error response.  Middlewares: ``reqtrail.asgi``, ``reqtrail.flask``,
``reqtrail.django``, ``reqtrail.wsgi``.
"""

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from reqtrail.producers import configure
    from reqtrail.producers.cycle import report_exception, set_user


def __getattr__(name: str) -> Any:
    # Lazy: the request cycle imports sentry_sdk, which `import reqtrail` must not load
    # (a locustfile lets gevent patch ssl first; the CLI does not need it).
    if name in ("set_user", "report_exception"):
        from reqtrail.producers import cycle

        return getattr(cycle, name)
    if name == "configure":
        from reqtrail.producers import configure

        return configure
    raise AttributeError(f"module 'reqtrail' has no attribute {name!r}")


__all__ = ["__version__", "configure", "report_exception", "set_user"]
