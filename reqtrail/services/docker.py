"""``reqtrail services ... --docker``: the same services through ``docker compose``.

Uses the repository's ``docker-compose.yml`` (Kafka KRaft from ``apache/kafka`` and
Elasticsearch 9 from ``docker.elastic.co``), publishing the same ports on 127.0.0.1 as the
local stack, so every other ``reqtrail`` command and the tests work unchanged.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from reqtrail.services.errors import ServiceError
from reqtrail.settings import LocalStackSettings

COMPOSE_FILE = Path(__file__).resolve().parents[2] / "docker-compose.yml"


def compose_environment(settings: LocalStackSettings) -> dict[str, str]:
    """Variables that docker-compose.yml interpolates (ports, versions, heap)."""
    return {
        "REQTRAIL_ES_PORT": str(settings.es_port),
        "REQTRAIL_KAFKA_PORT": str(settings.kafka_port),
        "REQTRAIL_ES_VERSION": settings.es_version,
        "REQTRAIL_KAFKA_VERSION": settings.kafka_version,
        "REQTRAIL_ES_HEAP": settings.es_heap,
    }


def compose(settings: LocalStackSettings, *args: str) -> None:
    """Run ``docker compose -f docker-compose.yml <args>``; ServiceError when it fails."""
    docker = shutil.which("docker")
    if docker is None:
        raise ServiceError("--docker needs the docker CLI; without Docker drop --docker")
    if not COMPOSE_FILE.is_file():
        raise ServiceError(f"{COMPOSE_FILE} is missing (--docker works from a source checkout)")
    probe = subprocess.run([docker, "compose", "version"], capture_output=True)
    if probe.returncode != 0:
        raise ServiceError("--docker needs `docker compose` (the Compose v2 plugin); install it")
    command = [docker, "compose", "-f", str(COMPOSE_FILE), *args]
    env = {**os.environ, **compose_environment(settings)}
    code = subprocess.run(command, env=env).returncode
    if code != 0:
        raise ServiceError(f"`docker compose {' '.join(args)}` failed (exit {code})")
