"""Settings come from defaults, a TOML file and REQTRAIL_* variables, and fail clearly."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest

from reqtrail.settings import SettingsError, SettingsWarning, config_section, load_settings


def test_defaults_without_environment() -> None:
    """With no file and no variables, the documented defaults apply."""
    s = load_settings(environ={})
    assert s.kafka_bootstrap == "127.0.0.1:9092"
    assert s.es_url == "http://127.0.0.1:9200"
    assert s.read_alias == "reqtrail" and s.es_port == 9200 and s.kafka_port == 9092


def test_environment_overrides_and_coerces_types() -> None:
    """REQTRAIL_* variables override defaults with the field's type."""
    s = load_settings(
        environ={
            "REQTRAIL_BATCH_SIZE": "250",
            "REQTRAIL_SAMPLE_RATE": "0.25",
            "REQTRAIL_HASH_CLIENT_IP": "yes",
            "REQTRAIL_REDACT_KEYS": "pin, otp ,",
        }
    )
    assert s.batch_size == 250 and s.sample_rate == 0.25 and s.hash_client_ip is True
    assert s.redact_keys == ("pin", "otp")


def test_config_file_is_overridden_by_environment(tmp_path: Path) -> None:
    """Values from the TOML file apply unless a variable overrides them."""
    config = tmp_path / "reqtrail.toml"
    config.write_text('index_prefix = "acme"\nbatch_size = 10\n')
    s = load_settings(environ={"REQTRAIL_CONFIG": str(config), "REQTRAIL_BATCH_SIZE": "20"})
    assert s.index_prefix == "acme" and s.batch_size == 20


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("REQTRAIL_ES_URL", "localhost:9200", "REQTRAIL_ES_URL is not a URL: 'localhost:9200'"),
        ("REQTRAIL_KAFKA_BOOTSTRAP", "kafka", "REQTRAIL_KAFKA_BOOTSTRAP is not host:port"),
        ("REQTRAIL_BATCH_SIZE", "many", "REQTRAIL_BATCH_SIZE is not a valid int: 'many'"),
        ("REQTRAIL_BATCH_SIZE", "0", "REQTRAIL_BATCH_SIZE must be positive"),
        ("REQTRAIL_SAMPLE_RATE", "2", "REQTRAIL_SAMPLE_RATE must be within 0..1"),
        ("REQTRAIL_HASH_CLIENT_IP", "maybe", "REQTRAIL_HASH_CLIENT_IP is not a valid bool"),
    ],
)
def test_bad_values_fail_with_a_message_naming_the_variable(
    variable: str, value: str, message: str
) -> None:
    """A bad value raises SettingsError whose message names the variable and the value."""
    with pytest.raises(SettingsError) as err:
        load_settings(environ={variable: value})
    assert message in str(err.value)


def test_unknown_key_in_config_file_is_an_error(tmp_path: Path) -> None:
    """A typo in the config file is reported, not ignored."""
    config = tmp_path / "reqtrail.toml"
    config.write_text("index_prefx = 'x'\n")
    with pytest.raises(SettingsError, match="unknown setting 'index_prefx'"):
        load_settings(environ={"REQTRAIL_CONFIG": str(config)})


def test_framework_overrides_sit_between_the_file_and_the_environment(tmp_path: Path) -> None:
    """A framework's dict beats the TOML file; a REQTRAIL_* variable beats the dict."""
    config = tmp_path / "reqtrail.toml"
    config.write_text('service = "from-file"\nenvironment = "from-file"\ntopic = "from-file"\n')
    s = load_settings(
        environ={"REQTRAIL_CONFIG": str(config), "REQTRAIL_TOPIC": "from-env"},
        overrides={"SERVICE": "from-dict", "TOPIC": "from-dict", "BATCH_SIZE": 7},
    )
    assert (s.service, s.environment, s.topic, s.batch_size) == (
        "from-dict",
        "from-file",
        "from-env",
        7,
    )


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (
            {"KAFKA_BOOTSTRAP": "kafka"},
            "settings.REQTRAIL[\"KAFKA_BOOTSTRAP\"] is not host:port[,host:port]: 'kafka'",
        ),
        ({"BATCH_SIZE": "many"}, "settings.REQTRAIL[\"BATCH_SIZE\"] is not a valid int: 'many'"),
        ({"SAMPLE_RATE": 3}, 'settings.REQTRAIL["SAMPLE_RATE"] must be within 0..1: 3.0'),
        (
            {"KAFKA_BOOTSTRP": "k:9092"},
            "unknown setting 'KAFKA_BOOTSTRP' in settings.REQTRAIL; did you mean "
            "'KAFKA_BOOTSTRAP'?",
        ),
        (
            {"service": "x"},
            "unknown setting 'service' in settings.REQTRAIL; did you mean 'SERVICE'?",
        ),
    ],
)
def test_bad_framework_keys_are_named_as_the_framework_spells_them(
    overrides: dict[str, object], message: str
) -> None:
    """An error in a framework's dict names that dict and key, in one line."""
    with pytest.raises(SettingsError) as err:
        load_settings(environ={}, overrides=overrides, overrides_source="settings.REQTRAIL")
    assert str(err.value) == message


def test_prefixed_framework_keys_are_read_and_suggested_with_their_prefix() -> None:
    """Flask-style ``REQTRAIL_*`` config keys work, and a typo is named with the prefix."""
    s = load_settings(
        environ={}, overrides={"REQTRAIL_SERVICE": "shop"}, overrides_prefix="REQTRAIL_"
    )
    assert s.service == "shop"
    with pytest.raises(SettingsError) as err:
        load_settings(
            environ={},
            overrides={"REQTRAIL_SERVCE": "shop"},
            overrides_source="app.config",
            overrides_prefix="REQTRAIL_",
        )
    assert str(err.value) == (
        "unknown setting 'REQTRAIL_SERVCE' in app.config; did you mean 'REQTRAIL_SERVICE'?"
    )


def test_misspelled_variable_warns_once_naming_the_closest_setting() -> None:
    """REQTRAIL_KAFKA_BOOTSTRP warns (once per process) that REQTRAIL_KAFKA_BOOTSTRAP exists."""
    environ = {"REQTRAIL_KAFKA_BOOTSTRP_T1": "k:9092", "REQTRAIL_DEMO_PACE": "2"}
    with pytest.warns(SettingsWarning) as first:
        load_settings(environ=environ)
    assert [str(w.message) for w in first] == [
        "REQTRAIL_KAFKA_BOOTSTRP_T1 is not a reqtrail setting; "
        "did you mean REQTRAIL_KAFKA_BOOTSTRAP?"
    ]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        load_settings(environ=environ)  # a second load stays quiet


def test_gate_table_is_left_to_its_command(tmp_path: Path) -> None:
    """A [gate] table is not a setting: load_settings skips it, config_section returns it."""
    config = tmp_path / "reqtrail.toml"
    config.write_text('index_prefix = "acme"\n[gate]\nmin_requests = 50\n')
    environ = {"REQTRAIL_CONFIG": str(config)}
    assert load_settings(environ=environ).index_prefix == "acme"
    assert config_section("gate", environ=environ) == ({"min_requests": 50}, str(config))
    assert config_section("gate", environ={"REQTRAIL_CONFIG": ""}) == ({}, None)
    config.write_text("gate = 3\n")
    with pytest.raises(SettingsError, match=r"\[gate\] in .* must be a table"):
        config_section("gate", environ=environ)


def test_es_url_may_list_the_nodes_of_a_cluster() -> None:
    """Comma-separated URLs are the cluster's nodes (first one's port for the local stack);
    a bad one is named with the whole value."""
    settings = load_settings(
        environ={"REQTRAIL_ES_URL": "http://127.0.0.1:9200, http://127.0.0.1:9201"}
    )
    assert settings.es_urls == ("http://127.0.0.1:9200", "http://127.0.0.1:9201")
    assert settings.es_ports == (9200, 9201) and settings.es_port == 9200
    with pytest.raises(SettingsError) as info:
        load_settings(environ={"REQTRAIL_ES_URL": "http://a:9200,b:9201"})
    assert str(info.value) == ("REQTRAIL_ES_URL is not a URL: 'b:9201' (in 'http://a:9200,b:9201')")


def test_index_replicas_are_automatic_or_a_count() -> None:
    """-1 (the default) means automatic; below that is refused, naming the variable."""
    assert load_settings(environ={}).index_replicas == -1
    with pytest.raises(SettingsError, match="REQTRAIL_INDEX_REPLICAS must be -1"):
        load_settings(environ={"REQTRAIL_INDEX_REPLICAS": "-2"})
