"""reqtrail: every game-server request, searchable by player in seconds.

Add it to a server through the module of its framework: ``reqtrail.asgi`` (Starlette,
FastAPI), ``reqtrail.wsgi`` (any WSGI app), ``reqtrail.django`` (an app for INSTALLED_APPS).
Everything else in the package is internal.
"""

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from reqtrail.producers import configure
    from reqtrail.producers.cycle import report_exception


def __getattr__(name: str) -> Any:
    # Lazy, so that `reqtrail --version` or the CLI never load the middleware's stack.
    if name == "configure":
        from reqtrail.producers import configure

        return configure
    if name == "report_exception":
        from reqtrail.producers.cycle import report_exception

        return report_exception
    raise AttributeError(f"module 'reqtrail' has no attribute {name!r}")


__all__ = ["__version__", "configure", "report_exception"]
