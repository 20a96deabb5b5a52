"""One small client interface over Starlette's TestClient, Flask's and Django's test clients."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import orjson

from reqtrail.producers.pipeline import RecordPipeline, set_pipeline
from tests.producers import apps

FRAMEWORKS = ("starlette", "flask", "django")


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes


class FrameworkClient:
    def __init__(self, framework: str, pipeline: RecordPipeline) -> None:
        self.framework = framework
        if framework == "starlette":
            from starlette.testclient import TestClient

            self._client: Any = TestClient(
                apps.starlette_app(pipeline=pipeline), raise_server_exceptions=False
            )
        elif framework == "flask":
            self._client = apps.flask_app(pipeline=pipeline).test_client()
        elif framework == "django":
            from django.test import Client

            apps.configure_django()
            self._client = Client(raise_request_exception=False)
        else:
            raise ValueError(framework)

    def request(
        self,
        method: str,
        path: str,
        headers: dict[str, str] | None = None,
        json: Any = None,
        body: bytes | None = None,
    ) -> Answer:
        headers = dict(headers or {})
        data = body
        if json is not None:
            data = orjson.dumps(json)
            headers.setdefault("content-type", "application/json")
        if self.framework == "starlette":
            r = self._client.request(method, path, headers=headers, content=data)
            return Answer(r.status_code, {k.lower(): v for k, v in r.headers.items()}, r.content)
        if self.framework == "flask":
            r = self._client.open(path, method=method, headers=headers, data=data)
            try:
                content = r.get_data()
            finally:
                r.close()
            return Answer(r.status_code, {k.lower(): v for k, v in r.headers.items()}, content)
        r = self._client.generic(
            method,
            path,
            data=data or b"",
            content_type=headers.pop("content-type", "application/octet-stream"),
            headers=headers,
        )
        content = b"".join(r.streaming_content) if r.streaming else r.content
        r.close()
        return Answer(r.status_code, {k.lower(): v for k, v in r.items()}, content)


@contextmanager
def framework_client(framework: str, pipeline: RecordPipeline) -> Iterator[FrameworkClient]:
    """A client for ``framework`` whose middleware uses ``pipeline``."""
    previous = set_pipeline(pipeline) if framework == "django" else None
    try:
        yield FrameworkClient(framework, pipeline)
    finally:
        if framework == "django":
            set_pipeline(previous)
