"""The game's tables: catalogues shared by everyone, and rows each player owns."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models

USER = settings.AUTH_USER_MODEL


class ByCode(models.Manager):  # type: ignore[type-arg]
    def get_by_natural_key(self, code: str) -> Any:
        return self.get(code=code)


class ItemKind(models.Model):
    """Catalogue (not a player's): found by its natural key in another database."""

    code = models.CharField(max_length=32, unique=True)
    objects = ByCode()

    def natural_key(self) -> tuple[str]:
        return (self.code,)


class Guild(models.Model):
    """Shared; a player's memberships are link rows of ``members``."""

    code = models.CharField(max_length=32, unique=True)
    members = models.ManyToManyField(USER, related_name="guilds", blank=True)
    objects = ByCode()

    def natural_key(self) -> tuple[str]:
        return (self.code,)


class Profile(models.Model):
    user = models.OneToOneField(USER, on_delete=models.CASCADE, primary_key=True)
    level = models.IntegerField()
    api_secret = models.CharField(max_length=64, default="")
    favourite_guild = models.ForeignKey(Guild, null=True, on_delete=models.SET_NULL)


class Unit(models.Model):
    owner = models.ForeignKey(USER, on_delete=models.CASCADE, related_name="units")
    name = models.CharField(max_length=32)
    level = models.IntegerField()


class InventoryItem(models.Model):
    owner = models.ForeignKey(USER, on_delete=models.CASCADE)
    kind = models.ForeignKey(ItemKind, on_delete=models.PROTECT)
    count = models.IntegerField()


class Battle(models.Model):
    player = models.ForeignKey(USER, on_delete=models.CASCADE)
    stage = models.CharField(max_length=16)
    result = models.CharField(max_length=8)
    units = models.ManyToManyField(Unit, related_name="battles")


class BattleLog(models.Model):
    battle = models.ForeignKey(Battle, on_delete=models.CASCADE, related_name="logs")
    turn = models.IntegerField()
    text = models.CharField(max_length=64)


class AuditLog(models.Model):
    """Excluded in settings.REQTRAIL: never exported, never replaced."""

    user = models.ForeignKey(USER, on_delete=models.CASCADE)
    action = models.CharField(max_length=32)
