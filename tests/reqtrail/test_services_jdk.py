"""JDK discovery picks a JDK >= 21 from ES_JAVA_HOME, JAVA_HOME or the JVM directory."""

from __future__ import annotations

from pathlib import Path

import pytest

from reqtrail.services.errors import ServiceError
from reqtrail.services.jdk import Candidate, choose_jdk, find_jdk, parse_java_major


def fake_jdk(root: Path, name: str, version: str) -> Path:
    home = root / name
    (home / "bin").mkdir(parents=True)
    (home / "bin" / "java").write_text("#!/bin/sh\n")
    (home / "release").write_text(f'IMPLEMENTOR="x"\nJAVA_VERSION="{version}"\n')
    return home


@pytest.mark.parametrize(
    ("text", "major"),
    [
        ('JAVA_VERSION="25.0.3"', 25),
        ('JAVA_VERSION="21"', 21),
        ('JAVA_VERSION="1.8.0_392"', 8),
        ('openjdk version "17.0.15" 2025-04-15', 17),
        ("no version here", None),
    ],
)
def test_parse_java_major(text: str, major: int | None) -> None:
    """The major version is read from release files and `java -version` output alike."""
    assert parse_java_major(text) == major


def test_explicit_home_wins_when_new_enough() -> None:
    """ES_JAVA_HOME/JAVA_HOME is used as is when it is >= 21, even if a newer one exists."""
    versions = {Path("/env"): 21, Path("/sys/a"): 25}
    candidates = [Candidate(Path("/env"), True), Candidate(Path("/sys/a"), False)]
    jdk, _ = choose_jdk(candidates, versions.get)
    assert jdk is not None and jdk.home == Path("/env") and jdk.major == 21


def test_too_old_explicit_home_falls_back_to_newest_system_jdk() -> None:
    """An explicit Java 17 is skipped (and noted); the newest system JDK >= 21 is chosen."""
    versions = {Path("/env"): 17, Path("/sys/a"): 21, Path("/sys/b"): 25, Path("/sys/c"): 11}
    candidates = [Candidate(Path("/env"), True)] + [
        Candidate(Path(p), False) for p in ("/sys/a", "/sys/b", "/sys/c")
    ]
    jdk, notes = choose_jdk(candidates, versions.get)
    assert jdk is not None and jdk.home == Path("/sys/b")
    assert "/env: Java 17" in notes and "/sys/c: Java 11" in notes


def test_find_jdk_searches_the_jvm_directory(tmp_path: Path) -> None:
    """Without variables, the newest suitable JDK under the JVM directory is found."""
    fake_jdk(tmp_path, "java-17-openjdk", "17.0.15")
    newest = fake_jdk(tmp_path, "temurin-25-jdk", "25.0.3")
    fake_jdk(tmp_path, "temurin-21-jdk", "21.0.8")
    assert find_jdk(environ={}, jvm_dir=tmp_path).home == newest


def test_find_jdk_prefers_es_java_home(tmp_path: Path) -> None:
    """ES_JAVA_HOME comes before JAVA_HOME and the JVM directory."""
    es_home = fake_jdk(tmp_path / "es", "jdk", "21.0.1")
    java_home = fake_jdk(tmp_path / "java", "jdk", "24")
    fake_jdk(tmp_path / "sys", "temurin-25", "25")
    env = {"ES_JAVA_HOME": str(es_home), "JAVA_HOME": str(java_home)}
    assert find_jdk(environ=env, jvm_dir=tmp_path / "sys").home == es_home


def test_no_suitable_jdk_is_a_one_line_error(tmp_path: Path) -> None:
    """Only old JDKs: the error is one line naming what was found and what to do."""
    fake_jdk(tmp_path, "java-17-openjdk", "17.0.15")
    with pytest.raises(ServiceError) as info:
        find_jdk(environ={"JAVA_HOME": str(tmp_path / "missing")}, jvm_dir=tmp_path)
    message = str(info.value)
    assert "\n" not in message
    assert "no JDK >= 21 found" in message and "Java 17" in message
    assert "ES_JAVA_HOME" in message
