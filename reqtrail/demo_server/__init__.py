"""The demo game server (Starlette) and its locust players.

``LOCUSTFILE`` is the locustfile's path: pass it to ``locust -f`` without importing the
locustfile (importing locust monkey-patches the process with gevent).
"""

from pathlib import Path

LOCUSTFILE = Path(__file__).resolve().parent / "locustfile.py"

__all__ = ["LOCUSTFILE"]
