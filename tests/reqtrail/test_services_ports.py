"""Which ports the local services bind, derived or configured, and clashes between them."""

from __future__ import annotations

from pathlib import Path

import pytest

from reqtrail.services import ElasticsearchService, KafkaService, LocalStack, ServiceError
from reqtrail.services.ports import PortUse, ensure_no_clash, port_clashes
from reqtrail.settings import Settings, SettingsError, load_settings


def stack_settings(tmp_path: Path, **env: str) -> Settings:
    return load_settings(environ={"REQTRAIL_STATE_DIR": str(tmp_path), **env})


def stack_error(settings: Settings) -> str:
    with pytest.raises(ServiceError) as info:
        LocalStack(settings, report=lambda _line: None).check_ports()
    return str(info.value)


def test_derived_ports_follow_the_configured_ones(tmp_path: Path) -> None:
    """Without their settings, ES transport is HTTP + 100 and the Kafka controller is
    broker + 1, and each use names the setting that would move it."""
    settings = stack_settings(
        tmp_path,
        REQTRAIL_ES_URL="http://127.0.0.1:19200",
        REQTRAIL_KAFKA_BOOTSTRAP="127.0.0.1:19092",
    )
    es, kafka = ElasticsearchService(settings), KafkaService(settings)
    assert es.ports() == {"http": 19200, "transport": 19300}
    assert kafka.ports() == {"broker": 19092, "controller": 19093}
    assert [str(use) for use in es.port_uses() + kafka.port_uses()] == [
        "elasticsearch (http, REQTRAIL_ES_URL)",
        "elasticsearch (transport = HTTP port + 100, REQTRAIL_ES_TRANSPORT_PORT)",
        "kafka (broker, REQTRAIL_KAFKA_BOOTSTRAP)",
        "kafka (controller = broker port + 1, REQTRAIL_KAFKA_CONTROLLER_PORT)",
    ]


def test_transport_and_controller_ports_can_be_configured(tmp_path: Path) -> None:
    """REQTRAIL_ES_TRANSPORT_PORT and REQTRAIL_KAFKA_CONTROLLER_PORT replace the derived ports,
    in the rendered configuration too."""
    settings = stack_settings(
        tmp_path, REQTRAIL_ES_TRANSPORT_PORT="19555", REQTRAIL_KAFKA_CONTROLLER_PORT="19666"
    )
    es, kafka = ElasticsearchService(settings), KafkaService(settings)
    assert es.ports()["transport"] == 19555 and kafka.ports()["controller"] == 19666
    assert str(es.port_uses()[1]) == "elasticsearch (transport, REQTRAIL_ES_TRANSPORT_PORT)"
    kafka.write_config()
    assert "CONTROLLER://127.0.0.1:19666" in kafka.config_file.read_text()
    # explicit constructor arguments (dedicated test instances) still win over the settings
    assert ElasticsearchService(settings, transport_port=29300).ports()["transport"] == 29300


def test_a_derived_port_that_is_another_services_port_is_one_clear_line(tmp_path: Path) -> None:
    """ES on 8992 derives transport 9092, Kafka's port: the error names both users and both
    settings, on one line."""
    settings = stack_settings(
        tmp_path, REQTRAIL_ES_URL="http://127.0.0.1:8992", REQTRAIL_KAFKA_BOOTSTRAP="127.0.0.1:9092"
    )
    assert stack_error(settings) == (
        "port 9092 is wanted by both "
        "elasticsearch (transport = HTTP port + 100, REQTRAIL_ES_TRANSPORT_PORT) and "
        "kafka (broker, REQTRAIL_KAFKA_BOOTSTRAP); give one of them another port"
    )


def test_configured_ports_that_clash_are_named(tmp_path: Path) -> None:
    """A configured ES transport port equal to the derived Kafka controller port, and a
    service whose two ports are one, are both refused with both users named."""
    settings = stack_settings(
        tmp_path,
        REQTRAIL_KAFKA_BOOTSTRAP="127.0.0.1:19092",
        REQTRAIL_ES_TRANSPORT_PORT="19093",
    )
    assert stack_error(settings).startswith(
        "port 19093 is wanted by both elasticsearch (transport, REQTRAIL_ES_TRANSPORT_PORT) and "
        "kafka (controller = broker port + 1, REQTRAIL_KAFKA_CONTROLLER_PORT)"
    )
    same = stack_settings(tmp_path, REQTRAIL_KAFKA_CONTROLLER_PORT="9092")
    with pytest.raises(ServiceError, match=r"port 9092 is wanted by both kafka \(broker.*kafka"):
        KafkaService(same).check_ports()


def test_ports_that_do_not_clash_pass(tmp_path: Path) -> None:
    """The default stack (9200/9300, 9092/9093) has no clash."""
    LocalStack(stack_settings(tmp_path), report=lambda _line: None).check_ports()


def test_every_clash_is_counted() -> None:
    """Each port wanted again is paired with its first user; the message counts the rest."""
    uses = [
        PortUse("a", "x", 1, "A_X"),
        PortUse("b", "y", 1, "B_Y"),
        PortUse("c", "z", 2, "C_Z"),
        PortUse("d", "w", 2, "D_W"),
        PortUse("e", "v", 3, "E_V"),
    ]
    assert [(first.service, second.service) for first, second in port_clashes(uses)] == [
        ("a", "b"),
        ("c", "d"),
    ]
    with pytest.raises(ServiceError, match=r"\(and 1 more ports\)"):
        ensure_no_clash(uses)


@pytest.mark.parametrize("value", ["70000", "-1"])
def test_port_settings_must_be_ports(value: str) -> None:
    """A transport or controller port outside 0-65535 fails early, naming the variable."""
    with pytest.raises(SettingsError, match="REQTRAIL_ES_TRANSPORT_PORT must be a port"):
        load_settings(environ={"REQTRAIL_ES_TRANSPORT_PORT": value})
