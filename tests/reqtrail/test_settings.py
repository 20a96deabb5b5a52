"""Settings come from defaults, a TOML file and REQTRAIL_* variables, and fail clearly."""

from __future__ import annotations

from pathlib import Path

import pytest

from reqtrail.settings import SettingsError, load_settings


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
