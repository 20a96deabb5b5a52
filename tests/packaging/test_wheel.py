"""The wheel a game server installs: one import name, a small core, no UI or ES libraries.

The wheel is built from the repository and installed without extras into a fresh venv (uv, so
the install takes seconds). Then the three frameworks a game server brings are added, and each
middleware serves a request whose record must reach the real Kafka topic.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import pytest
from kafka import KafkaConsumer

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
UV = str(Path(sys.executable).with_name("uv"))
# a game server's own frameworks: not reqtrail's dependencies, added after the count
FRAMEWORKS = ["starlette", "flask", "django"]
MAX_PACKAGES = 15
NOT_SOURCE = (
    ".venv",
    ".git",
    "build",
    "dist",
    "*.egg-info",
    "__pycache__",
    ".*_cache",
    "artifacts",
)
MAX_SITE_PACKAGES_MB = 100


@dataclass(frozen=True)
class FreshVenv:
    python: Path
    site_packages: Path
    core_packages: list[str]
    core_bytes: int
    wheel: Path


def _run(*args: str, **kwargs: object) -> subprocess.CompletedProcess[str]:
    # never from the repository, whose reqtrail.egg-info would count as a second install
    kwargs.setdefault("cwd", tempfile.gettempdir())
    done = subprocess.run(args, capture_output=True, text=True, timeout=600, **kwargs)  # type: ignore[call-overload]
    assert done.returncode == 0, f"{' '.join(args)} failed: {done.stdout}{done.stderr}"
    return done  # type: ignore[no-any-return]


def _site_packages_bytes(site: Path) -> int:
    return sum(p.stat().st_size for p in site.rglob("*") if p.is_file() and not p.is_symlink())


@pytest.fixture(scope="module")
def fresh_venv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FreshVenv]:
    """The wheel, installed without extras into a new venv; its packages counted first."""
    base = tmp_path_factory.mktemp("wheel")
    # from a copy: setuptools leaves build/ behind and would reuse stale files from it
    source = base / "source"
    shutil.copytree(ROOT, source, symlinks=True, ignore=shutil.ignore_patterns(*NOT_SOURCE))
    _run(UV, "build", "--wheel", "--out-dir", str(base / "dist"), str(source))
    (wheel,) = (base / "dist").glob("reqtrail-*.whl")
    venv = base / "venv"
    _run(UV, "venv", "--python", sys.executable, str(venv))
    python = venv / "bin" / "python"
    _run(UV, "pip", "install", "--python", str(python), str(wheel))
    listing = _run(
        str(python),
        "-c",
        "import importlib.metadata as m; print(*sorted(d.name for d in m.distributions()))",
    )
    packages = listing.stdout.split()
    site = Path(
        _run(
            str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"
        ).stdout.strip()
    )
    size = _site_packages_bytes(site)
    summary = f"{len(packages)} packages, {size / 1e6:.1f} MB"
    print(f"\nreqtrail without extras: {summary}: {' '.join(packages)}")
    _run(UV, "pip", "install", "--python", str(python), *FRAMEWORKS)
    yield FreshVenv(python, site, packages, size, wheel)


def test_the_wheel_installs_one_import_name(fresh_venv: FreshVenv) -> None:
    """Installed, the distribution's files sit under exactly one top-level import name."""
    listing = _run(
        str(fresh_venv.python),
        "-c",
        "import importlib.metadata as m; print('\\n'.join(str(f) for f in m.files('reqtrail')))",
    ).stdout.split()
    tops = {
        Path(name).parts[0]
        for name in listing
        if not Path(name).parts[0].endswith(".dist-info") and not name.startswith("..")
    }
    assert tops == {"reqtrail"}


def test_the_core_is_small(fresh_venv: FreshVenv) -> None:
    """Without extras, reqtrail brings at most 15 packages and 100 MB, and none of the UI,
    Elasticsearch or Prometheus libraries."""
    names = {name.lower() for name in fresh_venv.core_packages}
    assert len(names) <= MAX_PACKAGES, sorted(names)
    assert fresh_venv.core_bytes <= MAX_SITE_PACKAGES_MB * 1_000_000
    unwanted = {"elasticsearch", "streamlit", "pandas", "pyarrow", "sentry-sdk", "numpy"}
    unwanted |= {"prometheus-client", "prometheus_client"}  # reqtrail.metrics: the app's own
    assert not names & unwanted


@pytest.fixture
def user_project(tmp_path: Path) -> Path:
    """A game server whose own modules are named like reqtrail's stage folders."""
    project = tmp_path / "game"
    (project / "dashboards").mkdir(parents=True)
    (project / "dashboards" / "__init__.py").write_text("OWNER = 'the game'\n")
    (project / "reqtrail.schemas.py").write_text("OWNER = 'the game'\n")
    (project / "reqtrail.consumers.py").write_text("OWNER = 'the game'\n")
    (project / "reqtrail.producers.py").write_text("OWNER = 'the game'\n")
    return project


def test_three_middlewares_record_to_kafka_beside_a_users_own_modules(
    fresh_venv: FreshVenv, user_project: Path, kafka_bootstrap: str
) -> None:
    """From a project with its own schemas.py, consumers.py and dashboards/ first on the path,
    each middleware serves a request whose record reaches Kafka, and nothing loads
    Elasticsearch, Streamlit, pandas or pyarrow."""
    topic = f"t-wheel-{uuid.uuid4().hex[:8]}"
    env = {
        **os.environ,
        "PYTHONPATH": str(user_project),
        "REQTRAIL_KAFKA_BOOTSTRAP": kafka_bootstrap,
        "REQTRAIL_TOPIC": topic,
        "REQTRAIL_SERVICE": "wheel-test",
    }
    script = HERE / "serve_three_frameworks.py"
    answer = _run(str(fresh_venv.python), str(script), cwd=user_project, env=env)
    report = json.loads(answer.stdout.strip().splitlines()[-1])
    assert report["heavy_loaded"] == []
    assert report["produced"] == report["delivered"] == 3

    consumer = KafkaConsumer(
        topic,
        bootstrap_servers=kafka_bootstrap,
        auto_offset_reset="earliest",
        consumer_timeout_ms=15000,
    )
    try:
        seen = {json.loads(message.value)["request_id"] for message in consumer}
    finally:
        consumer.close()
    assert seen == set(report["served"])


def test_the_cli_runs_beside_a_users_own_modules(fresh_venv: FreshVenv, user_project: Path) -> None:
    """From such a project, `reqtrail --version` runs on the core alone, a command says in one
    line that it needs reqtrail[cli], and with that extra a command needing another extra names
    it in one line while `reqtrail settings` runs."""
    env = {**os.environ, "PYTHONPATH": str(user_project)}
    reqtrail = str(fresh_venv.python.with_name("reqtrail"))

    def one_line_error(*args: str) -> str:
        answer = subprocess.run(
            [reqtrail, *args], cwd=user_project, env=env, capture_output=True, text=True
        )
        assert answer.returncode == 2, answer.stdout + answer.stderr
        lines = answer.stderr.strip().splitlines()
        assert len(lines) == 1, answer.stderr
        return lines[0]

    version = _run(reqtrail, "--version", cwd=user_project, env=env)
    assert version.stdout.strip() == f"reqtrail {metadata.version('reqtrail')}"
    assert "pip install 'reqtrail[cli]'" in one_line_error("resend-spill", "--help")

    _run(
        UV,
        "pip",
        "install",
        "--python",
        str(fresh_venv.python),
        f"reqtrail[cli] @ {fresh_venv.wheel.as_uri()}",
    )
    assert "pip install 'reqtrail[dashboard]'" in one_line_error("dashboard")
    settings = _run(reqtrail, "settings", cwd=user_project, env=env)
    assert "kafka_bootstrap = " in settings.stdout
