"""The ``reqtrail.django`` app: settings.REQTRAIL, its system check, the async middleware."""

from __future__ import annotations

import asyncio
import logging
import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from reqtrail.consumers.setup import ensure_topics
from reqtrail.producers.pipeline import RecordPipeline, set_pipeline
from reqtrail.settings import Settings, load_settings
from tests.producers.apps import configure_django
from tests.producers.helpers import ListSink, read_topic

ROOT = Path(__file__).resolve().parents[2]
PROJECT = Path(__file__).resolve().parent / "django_project"


def write_settings(directory: Path, reqtrail: dict[str, Any], extra: str = "") -> None:
    """``project_settings.py`` of the test project, with ``REQTRAIL = reqtrail``."""
    (directory / "project_settings.py").write_text(
        "SECRET_KEY = 'test'\n"
        "DEBUG = False\n"
        "ALLOWED_HOSTS = ['*']\n"
        "ROOT_URLCONF = 'project_urls'\n"
        "USE_TZ = True\n"
        "INSTALLED_APPS = ['reqtrail.django']\n"
        "MIDDLEWARE = ['reqtrail.django.middleware.RequestTrailMiddleware']\n"
        f"REQTRAIL = {reqtrail!r}\n{extra}"
    )


def run_in_project(directory: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run a script of the test project with no REQTRAIL_* variable in its environment."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("REQTRAIL_")}
    env["PYTHONPATH"] = os.pathsep.join([str(directory), str(PROJECT), str(ROOT)])
    env["DJANGO_SETTINGS_MODULE"] = "project_settings"
    return subprocess.run(
        [sys.executable, *args], cwd=directory, env=env, capture_output=True, text=True, timeout=120
    )


@pytest.mark.integration
def test_project_configured_only_by_settings_reqtrail_records_to_that_broker(
    settings: Settings, tmp_path: Path
) -> None:
    """settings.REQTRAIL alone names the broker and the service the records carry."""
    ensure_topics(settings)
    reqtrail = {
        "KAFKA_BOOTSTRAP": settings.kafka_bootstrap,
        "TOPIC": settings.topic,
        "SERVICE": "guild-api-from-settings",
    }
    write_settings(tmp_path, reqtrail)
    done = run_in_project(tmp_path, str(PROJECT / "run_requests.py"), "3")
    assert done.returncode == 0, done.stderr
    records = [record for _key, record in read_topic(settings)]
    assert len(records) == 3
    assert {r["service"] for r in records} == {"guild-api-from-settings"}
    assert sorted(r["user_id"] for r in records) == ["player-0", "player-1", "player-2"]
    assert {r["route"] for r in records} == {"/hello/{name}"}


@pytest.mark.parametrize(
    ("reqtrail", "extra", "line"),
    [
        (
            {"KAFKA_BOOTSTRAP": "kafka-without-port"},
            "",
            '?: (reqtrail.E001) settings.REQTRAIL["KAFKA_BOOTSTRAP"] is not '
            "host:port[,host:port]: 'kafka-without-port'",
        ),
        (
            {"SERVCE": "x"},
            "",
            "?: (reqtrail.E001) unknown setting 'SERVCE' in settings.REQTRAIL; "
            "did you mean 'SERVICE'?",
        ),
        (
            {"USER_ID_GETTER": "game.no_such_module.user"},
            "",
            '?: (reqtrail.E001) settings.REQTRAIL["USER_ID_GETTER"] cannot be imported: '
            "No module named 'game'",
        ),
        (
            {},
            "REQTRAIL_SERVICE = 'lost'\n",
            "?: (reqtrail.E002) settings.REQTRAIL_SERVICE is not read; put it in "
            "settings.REQTRAIL as 'SERVICE'",
        ),
    ],
)
def test_manage_py_check_names_the_bad_key_in_one_line(
    tmp_path: Path, reqtrail: dict[str, Any], extra: str, line: str
) -> None:
    """A bad settings.REQTRAIL fails `manage.py check` with exactly one line naming the key."""
    write_settings(tmp_path, reqtrail, extra)
    done = run_in_project(tmp_path, str(PROJECT / "manage.py"), "check")
    assert done.returncode != 0
    assert "Traceback" not in done.stderr
    reported = [text for text in done.stderr.splitlines() if "(reqtrail." in text]
    assert reported == [line]


def test_manage_py_check_passes_with_good_settings(tmp_path: Path) -> None:
    """A correct settings.REQTRAIL passes the check, the Django-only keys included."""
    userdata = {"INCLUDE": ["game.Unit"], "SECRET_FIELDS": ["game.Account.token"]}
    write_settings(
        tmp_path,
        {
            "SERVICE": "guild-api",
            "SAMPLE_RATE": 0.5,
            "USER_ID_GETTER": "django.contrib.auth.get_user",
            "USERDATA": userdata,
        },
    )
    done = run_in_project(tmp_path, str(PROJECT / "manage.py"), "check")
    assert done.returncode == 0, done.stderr
    assert "no issues" in done.stdout


def test_bad_settings_stop_the_middleware_from_loading() -> None:
    """Where no check runs (gunicorn, uvicorn) the middleware refuses to load, naming the key."""
    from django.core.exceptions import ImproperlyConfigured
    from django.test.utils import override_settings

    from reqtrail.django.middleware import RequestTrailMiddleware

    configure_django()
    with (
        override_settings(REQTRAIL={"SAMPLE_RATE": 5}),
        pytest.raises(ImproperlyConfigured) as err,
    ):
        RequestTrailMiddleware(lambda request: None)
    assert str(err.value) == 'settings.REQTRAIL["SAMPLE_RATE"] must be within 0..1: 5.0'


class ThreadRecordingSink(ListSink):
    """A ListSink that also notes the thread each record was put from."""

    def __init__(self) -> None:
        super().__init__()
        self.threads: list[int] = []

    def put(self, payload: bytes, key: bytes | None) -> bool:
        self.threads.append(threading.get_ident())
        return super().put(payload, key)


def test_async_view_is_served_on_the_event_loop_without_adaptation(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Under ASGI the middleware runs as async: no sync_to_async thread, no adaptation logged."""
    from django.test import AsyncClient
    from django.test.utils import override_settings

    configure_django()
    sink = ThreadRecordingSink()
    previous = set_pipeline(RecordPipeline(load_settings(environ={}), sink=sink))

    async def serve() -> tuple[int, Any]:
        response = await AsyncClient().get("/api/async", headers={"x-user-id": "p-async"})
        return threading.get_ident(), response

    try:
        with (
            override_settings(DEBUG=True),  # Django logs each adaptation only in DEBUG
            caplog.at_level(logging.DEBUG, logger="django.request"),
        ):
            loop_thread, response = asyncio.run(serve())
    finally:
        set_pipeline(previous)
    assert response.status_code == 200
    assert response.json()["thread"] == loop_thread  # the view ran on the event loop
    assert sink.threads == [loop_thread]  # and so did the middleware that emitted the record
    assert [r.getMessage() for r in caplog.records if "adapted" in r.getMessage()] == []
    (record,) = sink.records
    assert record["route"] == "/api/async" and record["user_id"] == "p-async"
