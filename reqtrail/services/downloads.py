"""Cached downloads of Elasticsearch and Kafka from Maven Central, through ``mvn``.

Layout of the download cache (``REQTRAIL_DOWNLOAD_DIR``, default ``<state_dir>/downloads``)::

    elasticsearch-<version>/       the unzipped integ-test-zip distribution (read-only use)
    kafka-<version>/pom.xml        kafka_2.13 + a log4j2 binding, resolved by mvn
    kafka-<version>/libs/*.jar     its runtime class path
    mvn-<what>.log                 the full mvn output of the last download
    .lock                          serialises concurrent installs

A ``.complete`` marker inside each directory means it is usable; a second ``up`` finds
it and downloads nothing.  ``mvn`` keeps its own copy in ``~/.m2`` as well.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import shutil
import subprocess
import time
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

from reqtrail.services.errors import ServiceError

Report = Callable[[str], None]

ES_ARTIFACT = "org.elasticsearch.distribution.integ-test-zip:elasticsearch:{version}:zip"
LOG4J_VERSION = "2.24.3"
COMPLETE = ".complete"
_ANSI = re.compile(r"\x1b\[[0-9;]*m")

KAFKA_POM = """<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>dev.reqtrail</groupId>
  <artifactId>kafka-runtime</artifactId>
  <version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency>
      <groupId>org.apache.kafka</groupId><artifactId>kafka_2.13</artifactId>
      <version>{version}</version>
    </dependency>
    <!-- Kafka logs through slf4j 1.7; without a binding it logs nothing at all. -->
    <dependency>
      <groupId>org.apache.logging.log4j</groupId><artifactId>log4j-slf4j-impl</artifactId>
      <version>{log4j}</version>
    </dependency>
    <dependency>
      <groupId>org.apache.logging.log4j</groupId><artifactId>log4j-core</artifactId>
      <version>{log4j}</version>
    </dependency>
  </dependencies>
</project>
"""


class MvnProgress:
    """Turns mvn's console lines into a few progress messages (at most one per interval)."""

    def __init__(
        self, what: str, interval_s: float = 2.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.what = what
        self.interval_s = interval_s
        self.clock = clock
        self.downloaded = 0
        self.errors: list[str] = []
        self._last = clock()

    def feed(self, raw: str) -> str | None:
        line = _ANSI.sub("", raw).strip()
        if line.startswith("[ERROR]"):
            text = line.removeprefix("[ERROR]").strip()
            if text:
                self.errors.append(text)
            return None
        if line.startswith("Downloaded from"):
            self.downloaded += 1
        if not line.startswith(("Progress", "Downloaded from")):
            return None
        now = self.clock()
        if now - self._last < self.interval_s:
            return None
        self._last = now
        detail = line.split(":", 1)[1].strip() if line.startswith("Progress") else ""
        current = f", current file {detail}" if detail else ""
        return f"  downloading {self.what}: {self.downloaded} files done{current}"

    def first_error(self) -> str:
        for text in self.errors:
            if text.startswith("Failed to execute goal") or "Could not" in text:
                return text
        return self.errors[0] if self.errors else "no error message"


def run_mvn(args: list[str], cwd: Path, what: str, log_path: Path, report: Report) -> None:
    """Run mvn, streaming its progress to ``report``; one-line ServiceError on failure."""
    mvn = shutil.which("mvn")
    if mvn is None:
        raise ServiceError(
            f"mvn (Apache Maven) is not installed; it downloads {what} from Maven Central: "
            "install it (e.g. `apt-get install maven`) and retry"
        )
    progress = MvnProgress(what)
    command = [mvn, "-Dstyle.color=never", *args]
    with (
        log_path.open("w") as log,
        subprocess.Popen(
            command,
            cwd=cwd,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        ) as proc,
    ):
        assert proc.stdout is not None
        for raw in _console_lines(proc.stdout):
            log.write(raw + "\n")
            message = progress.feed(raw)
            if message:
                report(message)
        code = proc.wait()
    if code != 0:
        raise ServiceError(
            f"download of {what} with mvn failed (exit {code}): {progress.first_error()} "
            f"(full output: {log_path})"
        )


def _console_lines(stream: IO[bytes]) -> Iterator[str]:
    """Lines of a byte stream where both \\r and \\n end a line (mvn redraws progress)."""
    pending = b""
    while chunk := os.read(stream.fileno(), 65536):
        pending += chunk
        parts = re.split(rb"[\r\n]", pending)
        pending = parts.pop()
        for part in parts:
            if part.strip():
                yield part.decode(errors="replace")
    if pending.strip():
        yield pending.decode(errors="replace")


@contextlib.contextmanager
def install_lock(cache_dir: Path) -> Iterator[None]:
    """Serialise installs into one cache directory across processes."""
    make_readable_dir(cache_dir)
    with (cache_dir / ".lock").open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def make_readable_dir(path: Path) -> None:
    """Create ``path`` (and parents) readable by every user, as service users need."""
    path.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(PermissionError):
        path.chmod(0o755)


def extract_zip(archive: Path, dest: Path) -> None:
    """Unzip keeping the executable bits; everything readable by all users."""
    with zipfile.ZipFile(archive) as zipped:
        for info in zipped.infolist():
            target = dest / info.filename
            if info.is_dir():
                target.mkdir(parents=True, exist_ok=True)
                target.chmod(0o755)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            with zipped.open(info) as src, target.open("wb") as out:
                shutil.copyfileobj(src, out, 1024 * 1024)
            mode = (info.external_attr >> 16) & 0o777
            target.chmod(0o755 if mode & 0o111 else 0o644)
    for root, dirs, _files in os.walk(dest):
        for name in dirs:
            (Path(root) / name).chmod(0o755)


def is_installed(path: Path) -> bool:
    return (path / COMPLETE).is_file()


def ensure_elasticsearch(cache_dir: Path, version: str, report: Report) -> Path:
    """The home of the unzipped Elasticsearch ``version``; downloaded on first use only."""
    home = cache_dir / f"elasticsearch-{version}"
    if is_installed(home):
        return home
    with install_lock(cache_dir):
        if is_installed(home):
            return home
        report(f"downloading Elasticsearch {version} with mvn (first time only, ~130 MB)")
        staging = cache_dir / f".staging-elasticsearch-{version}"
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir()
        try:
            run_mvn(
                [
                    "dependency:copy",
                    f"-Dartifact={ES_ARTIFACT.format(version=version)}",
                    f"-DoutputDirectory={staging}",
                ],
                staging,
                f"Elasticsearch {version}",
                cache_dir / "mvn-elasticsearch.log",
                report,
            )
            archive = staging / f"elasticsearch-{version}.zip"
            report(f"unpacking {archive.name}")
            extract_zip(archive, staging)
            shutil.rmtree(home, ignore_errors=True)
            (staging / f"elasticsearch-{version}").rename(home)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        (home / COMPLETE).write_text(version + "\n")
        report(f"Elasticsearch {version} installed in {home}")
    return home


def ensure_kafka(cache_dir: Path, version: str, report: Report) -> Path:
    """The ``libs`` directory (class path) of Kafka ``version``; downloaded on first use."""
    home = cache_dir / f"kafka-{version}"
    if is_installed(home):
        return home / "libs"
    with install_lock(cache_dir):
        if is_installed(home):
            return home / "libs"
        report(f"downloading Kafka {version} jars with mvn (first time only, ~45 jars)")
        shutil.rmtree(home, ignore_errors=True)
        make_readable_dir(home)
        (home / "pom.xml").write_text(KAFKA_POM.format(version=version, log4j=LOG4J_VERSION))
        run_mvn(
            [
                "dependency:copy-dependencies",
                "-DincludeScope=runtime",
                f"-DoutputDirectory={home / 'libs'}",
            ],
            home,
            f"Kafka {version}",
            cache_dir / "mvn-kafka.log",
            report,
        )
        make_readable_dir(home / "libs")
        for jar in (home / "libs").iterdir():
            jar.chmod(0o644)
        (home / COMPLETE).write_text(version + "\n")
        report(f"Kafka {version} installed in {home}")
    return home / "libs"
