"""Pure parts of the demo's example searches."""

from __future__ import annotations

from reqtrail.demo_examples import version_key


def test_versions_sort_numerically() -> None:
    """1.10.0 is newer than 1.9.2, and pre-release words sort before numbers."""
    versions = ["1.10.0", "1.9.2", "1.4.2", "1.5.0"]
    assert sorted(versions, key=version_key) == ["1.4.2", "1.5.0", "1.9.2", "1.10.0"]
    assert sorted(["1.5.rc1", "1.5.0"], key=version_key) == ["1.5.rc1", "1.5.0"]
