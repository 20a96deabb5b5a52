"""Typed settings, one class per role over shared connection sections, read from the
environment (``REQTRAIL_*``), an optional ``reqtrail.toml`` and a framework's configuration.

See ``docs/configuration.md`` for every setting, by role.
"""

from reqtrail.settings.base import ENV_PREFIX, SettingsError, SettingsWarning, env_name
from reqtrail.settings.connections import ElasticsearchConnection, KafkaConnection
from reqtrail.settings.loading import closest, config_section, load_settings, setting_keys
from reqtrail.settings.roles import (
    DashboardSettings,
    IndexerSettings,
    LocalStackSettings,
    ProducerSettings,
    Settings,
)
from reqtrail.settings.tables import settings_tables

__all__ = [
    "ENV_PREFIX",
    "DashboardSettings",
    "ElasticsearchConnection",
    "IndexerSettings",
    "KafkaConnection",
    "LocalStackSettings",
    "ProducerSettings",
    "Settings",
    "SettingsError",
    "SettingsWarning",
    "closest",
    "config_section",
    "env_name",
    "load_settings",
    "setting_keys",
    "settings_tables",
]
