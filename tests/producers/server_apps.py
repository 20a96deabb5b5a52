"""The test game API as server entry points, for real uvicorn and gunicorn subprocesses.

``asgi`` (Starlette) and ``wsgi`` (Flask) use the process-wide pipeline, built from the
``REQTRAIL_*`` environment on the first request, as an app that just adds the middleware
would.
"""

from __future__ import annotations

from tests.producers.apps import flask_app, starlette_app

asgi = starlette_app()
wsgi = flask_app()
