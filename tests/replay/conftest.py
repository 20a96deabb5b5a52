"""A player's session recorded on the real stack once for the replay tests.

The deterministic test game server records a session of ``PLAYER`` (including a login
whose password is redacted) through Kafka and the indexer into Elasticsearch; the
session is then exported with ``reqtrail export``. Replay targets record into topics of
their own (``target_topic``), so a test can read exactly what a target received.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from reqtrail.consumers.setup import ensure_index_template, ensure_topics, remove_all
from reqtrail.es import es_client
from reqtrail.schemas.export_file import read_export_file
from reqtrail.settings import Settings
from tests.conftest import isolated_settings
from tests.consumers.conftest import running_indexer, wait_for_docs
from tests.producers.helpers import read_topic
from tests.replay.servers import game_server_command, pipeline_env, reqtrail, running_server

PLAYER = "player-r19"
HEADERS = {"x-user-id": PLAYER, "x-platform": "ios", "x-client-version": "3.9.1"}
# (method, path, query, JSON body) of the recorded session, in order
SESSION: list[tuple[str, str, str | None, dict[str, Any] | None]] = [
    ("POST", "/login", None, {"user_id": PLAYER, "password": "hunter2"}),
    ("GET", "/home", None, None),
    ("GET", "/inventory", "sort=name", None),
    ("POST", "/battles/b-1/finish", None, {"stage_id": "1-3", "result": "win"}),
    ("POST", "/units/u-7/upgrade", None, {"materials": ["exp-s", "exp-s"]}),
    ("GET", "/home", None, None),
]


@dataclass(frozen=True)
class GameSession:
    """The recorded session: where it is indexed, its export file and its records."""

    settings: Settings
    export: Path
    records: list[dict[str, Any]]
    logs: Path

    def env(self) -> dict[str, str]:
        return pipeline_env(self.settings)


def play_session(url: str) -> None:
    """The player's requests, as the game client sends them."""
    with httpx.Client(base_url=url, headers=HEADERS) as client:
        for method, path, query, body in SESSION:
            client.request(method, path, params=query, json=body).raise_for_status()


@pytest.fixture(scope="package")
def game_session(
    kafka_bootstrap: str, es_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[GameSession]:
    """``SESSION`` recorded by the deterministic game server, indexed, and exported."""
    name = f"t-replay-{uuid.uuid4().hex[:6]}"
    settings = isolated_settings(kafka_bootstrap, es_url, name).replace(topic_partitions=1)
    ensure_topics(settings)
    ensure_index_template(settings)
    tmp = tmp_path_factory.mktemp("replay")
    try:
        with running_server(game_server_command(), pipeline_env(settings), tmp / "game.log") as url:
            play_session(url)
        es = es_client(settings)
        with running_indexer(settings):
            wait_for_docs(es, settings.index_prefix, len(SESSION))
        es.close()
        export = tmp / "player.json"
        result = reqtrail(
            "export",
            "--user",
            PLAYER,
            "--since",
            "1h",
            "-o",
            str(export),
            env=pipeline_env(settings),
        )
        assert result.returncode == 0, result.stderr
        _header, records = read_export_file(export)
        assert [r["path"] for r in records] == [path for _m, path, _q, _b in SESSION]
        yield GameSession(settings, export, records, tmp)
    finally:
        remove_all(settings)


@contextmanager
def target_topic(session: GameSession) -> Iterator[Settings]:
    """A fresh topic for one replay target's records; read it with ``received``."""
    suffix = uuid.uuid4().hex[:6]
    settings = session.settings.replace(
        topic=f"{session.settings.index_prefix}.target-{suffix}",
        dlq_topic=f"{session.settings.index_prefix}.target-{suffix}.dlq",
        index_prefix=f"{session.settings.index_prefix}-target-{suffix}",
    )
    ensure_topics(settings)
    try:
        yield settings
    finally:
        remove_all(settings)


def received(settings: Settings) -> list[dict[str, Any]]:
    """The records a target made (read once it has stopped and flushed)."""
    return [record for _key, record in read_topic(settings)]
