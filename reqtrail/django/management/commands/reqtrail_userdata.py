"""``manage.py reqtrail_userdata``: copy a player's game data from one database to a dev one.

    python manage.py reqtrail_userdata export USER_PK -o player.json [--database NAME]
    python manage.py reqtrail_userdata import player.json --as-user DEV_PK [--database NAME]

What belongs to a player, and which fields are blanked, is configured in
``settings.REQTRAIL["USERDATA"]`` (see ``reqtrail.django.userdata``). Both refuse to run
with ``DEBUG = False`` unless given ``--force``: reading a player's data out of a
production database, or replacing rows in one, should be a deliberate act.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError
from django.core.serializers.json import DjangoJSONEncoder
from django.db import DEFAULT_DB_ALIAS

from reqtrail.django.userdata import UserdataConfig, UserdataError, export_document
from reqtrail.django.userdata_import import import_document


class Command(BaseCommand):  # type: ignore[misc]  # no django-stubs
    help = "Export a player's rows to JSON, or import them as a dev user (one transaction)."

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True, metavar="export|import")
        export = actions.add_parser("export", help="Write the rows that belong to USER_PK.")
        export.add_argument("user_pk", metavar="USER_PK")
        export.add_argument("-o", "--output", required=True, type=Path, help="File to write.")
        load = actions.add_parser("import", help="Replace DEV_PK's rows with the exported ones.")
        load.add_argument("file", type=Path)
        load.add_argument("--as-user", required=True, metavar="DEV_PK", dest="as_user")
        for sub in (export, load):
            sub.add_argument("--database", default=DEFAULT_DB_ALIAS, help="Database alias.")
            sub.add_argument("--force", action="store_true", help="Run even though DEBUG is False.")

    def handle(self, *args: Any, **options: Any) -> None:
        if not settings.DEBUG and not options["force"]:
            raise CommandError(
                "DEBUG is False, so this looks like production: reqtrail_userdata copies "
                "player data (import replaces rows); pass --force if you mean it"
            )
        try:
            config = UserdataConfig.from_settings()
            if options["action"] == "export":
                self._export(config, options)
            else:
                self._import(config, options)
        except (UserdataError, ImproperlyConfigured) as exc:
            raise CommandError(str(exc)) from None

    def _export(self, config: UserdataConfig, options: dict[str, Any]) -> None:
        document = export_document(options["user_pk"], options["database"], config)
        output: Path = options["output"]
        output.write_text(json.dumps(document, cls=DjangoJSONEncoder, indent=1) + "\n")
        counts = ", ".join(f"{name} {n}" for name, n in document["counts"].items()) or "no rows"
        self.stdout.write(
            f"exported {len(document['objects'])} rows of {document['user_model']} "
            f"{document['user_pk']} to {output} ({counts})"
        )

    def _import(self, config: UserdataConfig, options: dict[str, Any]) -> None:
        path: Path = options["file"]
        try:
            document = json.loads(path.read_text())
        except OSError as exc:
            raise UserdataError(f"{path}: cannot be read ({exc.strerror or exc})") from None
        except ValueError as exc:
            raise UserdataError(f"{path}: not JSON ({exc})") from None
        try:
            summary = import_document(document, options["as_user"], options["database"], config)
        except UserdataError as exc:
            raise UserdataError(f"import failed, nothing changed: {exc}") from None
        inserted = ", ".join(f"{k} {v}" for k, v in summary.inserted.items()) or "none"
        self.stdout.write(
            f"replaced {sum(summary.deleted.values())} earlier rows of user {options['as_user']} "
            f"with {sum(summary.inserted.values())} imported rows in database "
            f"{options['database']!r} ({inserted})"
        )
