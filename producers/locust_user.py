"""Locust players that reqtrail can find again: a stable player ID and a request ID each.

    from locust import task
    from reqtrail.locust import ReqtrailUser

    class Player(ReqtrailUser):
        @task
        def home(self) -> None:
            self.client.get("/home")

Every request carries ``X-User-ID`` (``loadtest-player-00001``, ``-00002``... in the order
the players start, so player 7 has the same ID in every run), a new ``X-Request-ID`` (the
middleware keeps it as the record's ``request_id``, so a failure in locust is one search
away from its record), and, when ``REQTRAIL_LOADTEST_VERSION`` is set (``reqtrail loadtest
--candidate`` sets it), ``X-App-Version`` with that version, replacing whatever the
locustfile sent. A locustfile may still send its own ``X-User-ID``; set ``self.user_id``
to match so locust's request context names the same player.

Importing this module imports locust, which monkey-patches the process with gevent: only
locustfiles import it.
"""

from __future__ import annotations

import itertools
import os
from typing import Any, ClassVar

from locust import HttpUser
from locust.clients import HttpSession

from reqtrail.producers.ids import new_request_id

VERSION_ENV = "REQTRAIL_LOADTEST_VERSION"
REQUEST_ID_HEADER = "X-Request-ID"


class TracedSession(HttpSession):
    """locust's HTTP session, adding a request ID (and the candidate version) to each request."""

    def __init__(self, *args: Any, version_header: str, app_version: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.version_header = version_header
        self.app_version = app_version

    def send(self, request: Any, **kwargs: Any) -> Any:
        if REQUEST_ID_HEADER not in request.headers:
            request.headers[REQUEST_ID_HEADER] = new_request_id()
        if self.app_version:
            request.headers[self.version_header] = self.app_version
        return super().send(request, **kwargs)


class ReqtrailUser(HttpUser):
    """An ``HttpUser`` whose requests carry a stable player ID and a request ID each."""

    abstract = True
    user_id_prefix: ClassVar[str] = "loadtest-player"
    user_id_header: ClassVar[str] = "X-User-ID"
    app_version_header: ClassVar[str] = "X-App-Version"
    _numbers: ClassVar[itertools.count[int]] = itertools.count(1)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[no-untyped-call]
        self.user_id = f"{self.user_id_prefix}-{next(ReqtrailUser._numbers):05d}"
        self.client = TracedSession(
            base_url=self.host,
            request_event=self.environment.events.request,
            user=self,
            pool_manager=self.pool_manager,
            version_header=self.app_version_header,
            app_version=os.environ.get(VERSION_ENV, ""),
        )
        self.client.trust_env = False
        self.client.headers[self.user_id_header] = self.user_id

    def context(self) -> dict[str, Any]:
        """Locust's request event gets the player's ID in its ``context``."""
        return {"user_id": self.user_id}
