"""Find a JDK >= 21 for Elasticsearch and Kafka.

Search order: ``ES_JAVA_HOME``, ``JAVA_HOME``, then every directory under the system's
JVM directory (``/usr/lib/jvm``), newest version first.  A candidate's version comes
from its ``release`` file (``JAVA_VERSION="25.0.3"``), falling back to ``java -version``.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from reqtrail.services.errors import ServiceError

MIN_JAVA_MAJOR = 21
SYSTEM_JVM_DIR = Path("/usr/lib/jvm")


@dataclass(frozen=True)
class Jdk:
    """A JDK home directory and its major version."""

    home: Path
    major: int

    @property
    def java(self) -> Path:
        return self.home / "bin" / "java"


def parse_java_major(text: str) -> int | None:
    """The major version in ``JAVA_VERSION="25.0.3"``, ``"1.8.0_392"`` or ``java -version`` text."""
    match = re.search(r'version[=\s]+"(\d+)(?:\.(\d+))?', text, re.IGNORECASE)
    if match is None:
        return None
    major = int(match.group(1))
    if major == 1 and match.group(2) is not None:  # "1.8.0" style
        major = int(match.group(2))
    return major


def java_major(home: Path) -> int | None:
    """The major version of the JDK at ``home``, or None when it is not a usable JDK."""
    if not (home / "bin" / "java").is_file():
        return None
    release = home / "release"
    try:
        parsed = parse_java_major(release.read_text(errors="replace"))
    except OSError:
        parsed = None
    if parsed is not None:
        return parsed
    try:
        proc = subprocess.run(
            [str(home / "bin" / "java"), "-version"], capture_output=True, text=True, timeout=20
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return parse_java_major(proc.stderr + proc.stdout)


@dataclass(frozen=True)
class Candidate:
    """A directory that may hold a JDK; ``explicit`` when named by an environment variable."""

    home: Path
    explicit: bool


def candidate_homes(environ: Mapping[str, str], jvm_dir: Path = SYSTEM_JVM_DIR) -> list[Candidate]:
    """JDK homes to try, in search order, without duplicates (symlinks resolved)."""
    found = [
        Candidate(Path(environ[var]), True)
        for var in ("ES_JAVA_HOME", "JAVA_HOME")
        if environ.get(var)
    ]
    if jvm_dir.is_dir():
        found.extend(Candidate(p, False) for p in sorted(jvm_dir.iterdir()) if p.is_dir())
    unique: list[Candidate] = []
    seen: set[Path] = set()
    for candidate in found:
        key = candidate.home.resolve()
        if key not in seen:
            seen.add(key)
            unique.append(candidate)
    return unique


def choose_jdk(
    candidates: Iterable[Candidate],
    version_of: Callable[[Path], int | None],
    minimum: int = MIN_JAVA_MAJOR,
) -> tuple[Jdk | None, list[str]]:
    """The first explicit candidate that is new enough, else the newest suitable one of the
    rest; plus a note per rejected candidate (for the error message)."""
    notes: list[str] = []
    best: Jdk | None = None
    for candidate in candidates:
        home = candidate.home
        major = version_of(home)
        if major is None:
            notes.append(f"{home}: no JDK")
            continue
        if major < minimum:
            notes.append(f"{home}: Java {major}")
            continue
        jdk = Jdk(home, major)
        if candidate.explicit:
            return jdk, notes
        if best is None or major > best.major:
            best = jdk
    return best, notes


def find_jdk(environ: Mapping[str, str] | None = None, jvm_dir: Path = SYSTEM_JVM_DIR) -> Jdk:
    """A JDK >= 21, or a one-line ServiceError listing what was found instead."""
    env = os.environ if environ is None else environ
    jdk, notes = choose_jdk(candidate_homes(env, jvm_dir), java_major)
    if jdk is None:
        found = "; ".join(notes) if notes else "nothing"
        raise ServiceError(
            f"no JDK >= {MIN_JAVA_MAJOR} found (searched ES_JAVA_HOME, JAVA_HOME, {jvm_dir}/*: "
            f"{found}); install one (e.g. Temurin 21+) and set ES_JAVA_HOME to it"
        )
    return jdk
