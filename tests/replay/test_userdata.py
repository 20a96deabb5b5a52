"""`manage.py reqtrail_userdata`: a player's game data copied into a dev database.

The test project (``tests/replay/django_game``) has two SQLite databases, ``default``
(production) and ``dev``; every command runs in its own process, as a developer runs it.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.replay.servers import ROOT


def run(db_dir: Path, *args: str, debug: bool = True) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.replay.django_game.settings",
        "GAME_DB_DIR": str(db_dir),
        "GAME_DEBUG": "1" if debug else "0",
    }
    return subprocess.run(
        [sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )


def tool(db_dir: Path, *args: str) -> str:
    result = run(db_dir, "-m", "tests.replay.django_game.tool", *args)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def userdata(db_dir: Path, *args: str, debug: bool = True) -> subprocess.CompletedProcess[str]:
    return run(db_dir, "-m", "django", "reqtrail_userdata", *args, debug=debug)


def dump(db_dir: Path, db: str, pk: int) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(tool(db_dir, "dump", db, str(pk)))
    return data


def sql_dump(path: Path) -> list[str]:
    with sqlite3.connect(path) as connection:
        return list(connection.iterdump())


@pytest.fixture(scope="module")
def migrated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Both databases with their tables (made once, copied per test)."""
    db_dir = tmp_path_factory.mktemp("game-template")
    tool(db_dir, "migrate")
    return db_dir


@pytest.fixture
def game(migrated: Path, tmp_path: Path) -> tuple[Path, dict[str, int]]:
    """Production: players alice and bob. Dev: player "other" and the dev user, each with
    rows of their own; catalogue rows are created in another order, so their keys differ."""
    for name in ("prod.sqlite3", "dev.sqlite3"):
        shutil.copy(migrated / name, tmp_path / name)
    users: dict[str, int] = json.loads(tool(tmp_path, "seed", "default", "alice:0", "bob:1"))
    dev = json.loads(tool(tmp_path, "seed", "dev", "other:5", "devuser:9"))
    users.update(other=dev["other"], dev=dev["devuser"])
    assert users["alice"] != users["dev"]  # a different user PK on the dev side
    return tmp_path, users


def test_export_then_import_gives_equal_rows_under_the_dev_user(
    game: tuple[Path, dict[str, int]],
) -> None:
    """The dev user ends with exactly alice's rows (modulo keys): earlier rows replaced,
    other players, excluded models and catalogues untouched, secrets blanked."""
    db_dir, users = game
    export = db_dir / "alice.json"
    exported = userdata(db_dir, "export", str(users["alice"]), "-o", str(export))
    assert exported.returncode == 0, exported.stderr
    document = json.loads(export.read_text())
    assert document["user_pk"] == users["alice"] and "game.auditlog" not in document["models"]
    profile = next(o for o in document["objects"] if o["model"] == "game.profile")
    assert profile["fields"]["api_secret"] == "" and profile["fields"]["favourite_guild"] == [
        "dragons"
    ]  # a natural key: the dev database numbers its guilds differently

    alice, before_other = (
        dump(db_dir, "default", users["alice"]),
        dump(db_dir, "dev", users["other"]),
    )
    earlier = dump(db_dir, "dev", users["dev"])
    assert earlier["units"] != alice["units"]
    imported = userdata(
        db_dir, "import", str(export), "--as-user", str(users["dev"]), "--database", "dev"
    )
    assert imported.returncode == 0, imported.stderr
    assert "replaced 15 earlier rows of user" in imported.stdout

    now = dump(db_dir, "dev", users["dev"])
    expected = {**alice, "profile": [alice["profile"][0], "", "dragons"]}  # secret blanked
    for key in ("profile", "guilds", "units", "items", "battles"):
        assert now[key] == expected[key], key
    assert now["audit"] == earlier["audit"]  # excluded in settings.REQTRAIL: kept as it was
    assert now["totals"] == earlier["totals"] | {"AuditLog": earlier["totals"]["AuditLog"]}
    assert dump(db_dir, "dev", users["other"]) == before_other
    assert dump(db_dir, "default", users["alice"]) == alice  # the source is only read


def test_an_error_halfway_leaves_the_database_untouched(
    game: tuple[Path, dict[str, int]],
) -> None:
    """A bad row late in the file fails the import in one line; the dev DB is byte-for-byte
    what it was (the deletions and earlier inserts rolled back)."""
    db_dir, users = game
    export = db_dir / "alice.json"
    assert userdata(db_dir, "export", str(users["alice"]), "-o", str(export)).returncode == 0
    document = json.loads(export.read_text())
    logs = [i for i, o in enumerate(document["objects"]) if o["model"] == "game.battlelog"]
    position = logs[-1]  # after every other model's rows were inserted
    document["objects"][position]["fields"]["turn"] = "soon"
    export.write_text(json.dumps(document))
    before = sql_dump(db_dir / "dev.sqlite3")
    failed = userdata(
        db_dir, "import", str(export), "--as-user", str(users["dev"]), "--database", "dev"
    )
    assert failed.returncode == 1
    message = failed.stderr.strip()
    assert message.count("\n") == 0, message
    assert message.startswith("CommandError: import failed, nothing changed: object ")
    assert f"object {position + 1} (game.battlelog" in message and "soon" in message
    assert sql_dump(db_dir / "dev.sqlite3") == before


def test_refuses_to_run_without_debug_unless_forced(game: tuple[Path, dict[str, int]]) -> None:
    """With DEBUG = False both commands stop and say why; --force runs them."""
    db_dir, users = game
    export = db_dir / "alice.json"
    refused = userdata(db_dir, "export", str(users["alice"]), "-o", str(export), debug=False)
    assert refused.returncode == 1 and "DEBUG is False" in refused.stderr and not export.exists()
    forced = userdata(
        db_dir, "export", str(users["alice"]), "-o", str(export), "--force", debug=False
    )
    assert forced.returncode == 0 and export.exists()
    args = ("import", str(export), "--as-user", str(users["dev"]), "--database", "dev")
    assert "DEBUG is False" in userdata(db_dir, *args, debug=False).stderr
    assert userdata(db_dir, *args, "--force", debug=False).returncode == 0


def test_unknown_users_and_files_are_one_line_errors(game: tuple[Path, dict[str, int]]) -> None:
    """A missing dev user, a missing player and a wrong format_version each get one line."""
    db_dir, users = game
    export = db_dir / "alice.json"
    assert userdata(db_dir, "export", str(users["alice"]), "-o", str(export)).returncode == 0
    nobody = userdata(db_dir, "import", str(export), "--as-user", "999", "--database", "dev")
    assert "no auth.User with pk '999' in database 'dev'" in nobody.stderr
    missing = userdata(db_dir, "export", "999", "-o", str(db_dir / "x.json"))
    assert missing.returncode == 1 and "no auth.User with pk '999'" in missing.stderr
    future = db_dir / "future.json"
    future.write_text(export.read_text().replace('"format_version": 1', '"format_version": 3'))
    refused = userdata(
        db_dir, "import", str(future), "--as-user", str(users["dev"]), "--database", "dev"
    )
    assert "format_version 3 is not supported" in refused.stderr
    assert refused.stderr.strip().count("\n") == 0
