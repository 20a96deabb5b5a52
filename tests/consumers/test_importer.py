"""`reqtrail import` loads an export into another index prefix: same documents, idempotent."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest
from elasticsearch import Elasticsearch

from reqtrail.consumers.importer import import_file
from reqtrail.dashboards.queries.export import write_export
from reqtrail.dashboards.queries.filters import TimeRange
from reqtrail.es import es_client
from reqtrail.schemas.samples import sample_records
from reqtrail.seed import count, delete_prefix, seed
from reqtrail.settings import Settings

pytestmark = pytest.mark.integration
USER = "player-00007"


@pytest.fixture
def exported(settings: Settings, tmp_path: Path) -> Iterator[tuple[Elasticsearch, Path, int]]:
    """One player's 240 records, spread over two days, seeded and exported to a file."""
    es = es_client(settings)
    now = datetime.now(UTC).replace(microsecond=0)
    records = list(
        sample_records(240, seed=19, start=now - timedelta(hours=40), span=timedelta(hours=39))
    )
    for record in records:
        record["user_id"] = USER
    seed(es, settings.index_prefix, records)
    path = tmp_path / "player.json"
    with path.open("wb") as out:
        written = write_export(
            out, es, settings.index_prefix, USER, TimeRange(now - timedelta(days=2), now)
        )
    assert written == 240
    try:
        yield es, path, written
    finally:
        delete_prefix(es, settings.index_prefix)
        es.close()


def _import(settings: Settings, path: Path, prefix: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "REQTRAIL_ES_URL": settings.es_url, "REQTRAIL_INDEX_PREFIX": prefix}
    return subprocess.run(
        [sys.executable, "-m", "reqtrail.cli", "import", str(path)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_import_into_another_prefix_gives_the_same_documents_and_is_idempotent(
    settings: Settings, exported: tuple[Elasticsearch, Path, int]
) -> None:
    """The imported documents equal the originals field by field; a second import adds none."""
    es, path, written = exported
    target = f"c{settings.index_prefix}"
    try:
        first = _import(settings, path, target)
        assert first.returncode == 0, first.stderr
        assert f"read {written}, indexed {written}, rejected 0" in first.stdout
        assert count(es, target) == written
        again = _import(settings, path, target)
        assert again.returncode == 0, again.stderr
        assert count(es, target) == written
        source = es.search(index=settings.index_prefix, size=written)["hits"]["hits"]
        assert {h["_index"].rsplit("-", 1)[1] for h in source} == {
            h["_index"].rsplit("-", 1)[1]
            for h in es.search(index=target, size=written)["hits"]["hits"]
        }  # the same daily indices: two days
        for hit in source[::20]:
            copy = es.get(index=f"{target}-{hit['_index'].rsplit('-', 1)[1]}", id=hit["_id"])
            assert copy["_source"] == hit["_source"]
    finally:
        delete_prefix(es, target)


def test_wrong_format_version_is_refused_in_one_line_and_writes_nothing(
    settings: Settings, exported: tuple[Elasticsearch, Path, int], tmp_path: Path
) -> None:
    """A file with another format_version exits 2 with one line; no index is created."""
    es, path, _ = exported
    bad = tmp_path / "future.json"
    bad.write_bytes(path.read_bytes().replace(b'"format_version":1', b'"format_version":7', 1))
    target = f"n{settings.index_prefix}"
    result = _import(settings, bad, target)
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0, result.stderr
    assert "format_version 7 is not supported" in result.stderr and "future.json" in result.stderr
    assert not es.indices.exists_index_template(name=target)
    assert count(es, target) == 0


def test_invalid_records_are_rejected_by_reason_and_the_rest_indexed(
    settings: Settings, exported: tuple[Elasticsearch, Path, int], tmp_path: Path
) -> None:
    """Two records that break the schema are counted with their reason; exit 1."""
    es, path, written = exported
    lines = path.read_bytes().split(b"\n")
    broken = orjson.loads(lines[3].rstrip(b","))
    broken["status"] = "teapot"
    lines[3] = orjson.dumps(broken) + b","
    lines[4] = b'"just a string",'
    bad = tmp_path / "two-bad.json"
    bad.write_bytes(b"\n".join(lines))
    target = f"p{settings.index_prefix}"
    try:
        result = _import(settings, bad, target)
        assert result.returncode == 1, result.stderr
        assert f"read {written}, indexed {written - 2}, rejected 2" in result.stdout
        assert "rejected 1: not a JSON object" in result.stdout
        assert "rejected 1: schema: data.status" in result.stdout
        assert count(es, target) == written - 2
    finally:
        delete_prefix(es, target)


def test_progress_reaches_the_end_of_the_file(
    settings: Settings, exported: tuple[Elasticsearch, Path, int]
) -> None:
    """The progress callback sees every record and, at the end, every byte of the file."""
    es, path, written = exported
    seen: list[tuple[int, int, int]] = []
    target = settings.replace(index_prefix=f"p{uuid.uuid4().hex[:4]}{settings.index_prefix}")
    try:
        result = import_file(target, es, path, chunk_size=50, progress=lambda *a: seen.append(a))
        assert result.indexed == written and not result.rejected
        assert [s[0] for s in seen] == list(range(1, written + 1))
        assert seen[-1][1] <= seen[-1][2] == path.stat().st_size
        assert result.read == written
    finally:
        delete_prefix(es, target.index_prefix)


def test_unreachable_elasticsearch_is_one_line_naming_the_setting(tmp_path: Path) -> None:
    """With nothing listening at REQTRAIL_ES_URL, import exits 2 and names the setting."""
    path = tmp_path / "x.json"
    out = io.BytesIO()
    out.write(b'{"format":"reqtrail.export","format_version":1,"schema_version":1,\n')
    out.write(b'"records":[\n],\n"count":0,"truncated":false}\n')
    path.write_bytes(out.getvalue())
    env = {**os.environ, "REQTRAIL_ES_URL": "http://127.0.0.1:9", "REQTRAIL_INDEX_PREFIX": "x"}
    result = subprocess.run(
        [sys.executable, "-m", "reqtrail.cli", "import", str(path)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "REQTRAIL_ES_URL" in result.stderr and result.stderr.strip().count("\n") == 0
