"""Set up and read the test game's databases: ``python -m tests.replay.django_game.tool``.

migrate                          create the tables in both databases
seed DB USERNAME [--variant N]   a user and their units, items, battles... (prints the pk)
dump DB PK                       that user's rows as JSON, described without primary keys
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.replay.django_game.settings")


def _setup() -> None:
    import django

    django.setup()


def migrate() -> None:
    from django.core.management import call_command

    for alias in ("default", "dev"):
        call_command("migrate", run_syncdb=True, database=alias, verbosity=0)


def seed(db: str, username: str, variant: int) -> int:
    """A player with data; ``variant`` changes the numbers so two players differ."""
    from django.contrib.auth import get_user_model

    from tests.replay.django_game.game import models as m

    kinds = {
        code: m.ItemKind.objects.using(db).get_or_create(code=code)[0]
        for code in (
            ["potion", "elixir", "ore"] if db == "default" else ["ore", "elixir", "potion"]
        )
    }
    guilds = {
        code: m.Guild.objects.using(db).get_or_create(code=code)[0]
        for code in (["dragons", "wolves"] if db == "default" else ["wolves", "dragons"])
    }
    user = get_user_model().objects.db_manager(db).create_user(username, password="pw")
    m.Profile.objects.using(db).create(
        user=user,
        level=10 + variant,
        api_secret=f"secret-{username}",
        favourite_guild=guilds["dragons"],
    )
    guilds["wolves"].members.add(user)
    units = [
        m.Unit.objects.using(db).create(owner=user, name=f"{name}-{variant}", level=lvl + variant)
        for name, lvl in (("knight", 5), ("archer", 7), ("mage", 3))
    ]
    for code, count in (("potion", 3), ("elixir", 1 + variant), ("ore", 12)):
        m.InventoryItem.objects.using(db).create(owner=user, kind=kinds[code], count=count)
    for i, (stage, result) in enumerate((("1-1", "win"), ("1-2", "lose"))):
        battle = m.Battle.objects.using(db).create(player=user, stage=stage, result=result)
        battle.units.set(units[i : i + 2])
        for turn in range(1, 3 + i):
            m.BattleLog.objects.using(db).create(battle=battle, turn=turn, text=f"{stage} t{turn}")
    m.AuditLog.objects.using(db).create(user=user, action=f"login-{variant}")
    return int(user.pk)


def dump(db: str, pk: str) -> dict[str, Any]:
    """The user's rows, each described by its content (no primary keys)."""
    from tests.replay.django_game.game import models as m

    units = m.Unit.objects.using(db).filter(owner_id=pk)
    battles = m.Battle.objects.using(db).filter(player_id=pk)
    profile = m.Profile.objects.using(db).filter(user_id=pk).first()
    return {
        "profile": None if profile is None else [
            profile.level, profile.api_secret,
            profile.favourite_guild.code if profile.favourite_guild else None,
        ],
        "guilds": sorted(g.code for g in m.Guild.objects.using(db).filter(members__id=pk)),
        "units": sorted([u.name, u.level] for u in units),
        "items": sorted([i.kind.code, i.count] for i in
                        m.InventoryItem.objects.using(db).filter(owner_id=pk)),
        "battles": sorted(
            [b.stage, b.result, sorted(u.name for u in b.units.all()),
             sorted([log.turn, log.text] for log in b.logs.all())]
            for b in battles
        ),
        "audit": sorted(a.action for a in m.AuditLog.objects.using(db).filter(user_id=pk)),
        "totals": {
            model.__name__: model.objects.using(db).count()
            for model in (m.Profile, m.Unit, m.InventoryItem, m.Battle, m.BattleLog, m.AuditLog)
        },
    }  # fmt: skip


def main(argv: list[str]) -> None:
    _setup()
    command, *args = argv
    if command == "migrate":
        migrate()
    elif command == "seed":
        pks = {}
        for spec in args[1:]:
            name, _, variant = spec.partition(":")
            pks[name] = seed(args[0], name, int(variant or 0))
        print(json.dumps(pks))
    elif command == "dump":
        print(json.dumps(dump(args[0], args[1])))
    else:
        raise SystemExit(f"unknown command {command!r}")


if __name__ == "__main__":
    main(sys.argv[1:])
