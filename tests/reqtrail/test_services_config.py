"""Pure parts of the local services: rendered configs, derived ports, probes, mvn progress."""

from __future__ import annotations

import base64
import socket
import struct
import threading
from pathlib import Path

import pytest

from reqtrail.services.base import ServiceStatus, first_error_line
from reqtrail.services.cli import format_status
from reqtrail.services.docker import compose_environment
from reqtrail.services.downloads import KAFKA_POM, MvnProgress
from reqtrail.services.elasticsearch import derived_transport_port, render_es_config
from reqtrail.services.kafka import (
    derived_controller_port,
    new_cluster_id,
    render_log4j2,
    render_server_properties,
)
from reqtrail.services.probes import (
    decode_metadata_response,
    encode_metadata_request,
    kafka_health,
)
from reqtrail.settings import load_settings


def parse_yaml_lines(text: str) -> dict[str, str]:
    lines = [line for line in text.splitlines() if line and not line.startswith("#")]
    return dict(line.split(": ", 1) for line in lines)


def test_es_config_is_a_secure_off_single_node_on_localhost() -> None:
    """elasticsearch.yml: single node, 127.0.0.1, given ports and paths, security off."""
    config = parse_yaml_lines(
        render_es_config(
            cluster_name="reqtrail-x",
            node_name="x",
            http_port=19200,
            transport_port=19300,
            data_dir=Path("/s/x/data"),
            logs_dir=Path("/s/x/logs"),
        )
    )
    assert config["discovery.type"] == '"single-node"'
    assert config["network.host"] == '"127.0.0.1"'
    assert config["http.port"] == "19200" and config["transport.port"] == "19300"
    assert config["xpack.security.enabled"] == "false"
    assert config["path.data"] == '"/s/x/data"' and config["path.logs"] == '"/s/x/logs"'


def test_es_extra_config_adds_and_overrides_settings() -> None:
    """extra_config entries are rendered with YAML types and win over the defaults."""
    config = parse_yaml_lines(
        render_es_config(
            cluster_name="c",
            node_name="n",
            http_port=1,
            transport_port=2,
            data_dir=Path("/d"),
            logs_dir=Path("/l"),
            extra={"thread_pool.write.queue_size": 1, "xpack.security.enabled": True},
        )
    )
    assert config["thread_pool.write.queue_size"] == "1"
    assert config["xpack.security.enabled"] == "true"


def test_kafka_properties_describe_a_one_node_kraft_cluster() -> None:
    """server.properties: broker+controller, quorum on the controller port, 1-replica topics."""
    text = render_server_properties(
        port=19092,
        controller_port=19093,
        data_dir=Path("/s/k/data"),
        extra={"num.partitions": 6},
    )
    props = dict(line.split("=", 1) for line in text.splitlines() if not line.startswith("#"))
    assert props["process.roles"] == "broker,controller"
    assert props["controller.quorum.voters"] == "1@127.0.0.1:19093"
    assert props["listeners"] == "PLAINTEXT://127.0.0.1:19092,CONTROLLER://127.0.0.1:19093"
    assert props["advertised.listeners"] == "PLAINTEXT://127.0.0.1:19092"
    assert props["offsets.topic.replication.factor"] == "1"
    assert props["log.dirs"] == "/s/k/data" and props["num.partitions"] == "6"


def test_kafka_logs_to_a_file_through_log4j2() -> None:
    """The log4j2 config writes server.log in the logs dir, and the pom adds the binding."""
    assert "fileName = /s/k/logs/server.log" in render_log4j2(Path("/s/k/logs"))
    assert "log4j-slf4j-impl" in KAFKA_POM and "kafka_2.13" in KAFKA_POM


def test_derived_ports_pair_with_the_configured_ones() -> None:
    """9200 goes with transport 9300, 9092 with controller 9093, and never past 65535."""
    assert derived_transport_port(9200) == 9300 and derived_transport_port(65500) == 65400
    assert derived_controller_port(9092) == 9093 and derived_controller_port(65535) == 65534


def test_cluster_ids_are_22_url_safe_characters() -> None:
    """Kafka cluster ids are base64url of 16 bytes without padding, different each time."""
    first, second = new_cluster_id(), new_cluster_id()
    assert len(first) == 22 and first != second and "=" not in first


def test_cluster_ids_never_start_with_a_dash() -> None:
    """10,000 cluster ids: none starts with "-" (a command line reads that as an option), and
    each decodes to 16 bytes."""
    ids = [new_cluster_id() for _ in range(10_000)]
    assert not [cluster_id for cluster_id in ids if cluster_id.startswith("-")]
    assert all(len(base64.urlsafe_b64decode(cluster_id + "==")) == 16 for cluster_id in ids)
    # about 1 in 64 raw draws starts with "-": 10,000 ids would show ~156 without the redraw
    assert len({cluster_id[0] for cluster_id in ids}) == 63


def metadata_response(correlation_id: int, brokers: list[tuple[int, str, int]]) -> bytes:
    body = struct.pack(">ii", correlation_id, 0) + struct.pack(">i", len(brokers))
    for node_id, host, port in brokers:
        body += struct.pack(">ih", node_id, len(host)) + host.encode()
        body += struct.pack(">ih", port, -1)
    body += struct.pack(">h", 3) + b"abc" + struct.pack(">ii", 1, 0)
    return body


def test_metadata_request_is_a_v4_request_for_no_topics() -> None:
    """The probe sends Metadata (key 3) v4 with an empty topic list."""
    request = encode_metadata_request(7)
    size, api_key, version, correlation = struct.unpack_from(">ihhi", request)
    assert size == len(request) - 4 and (api_key, version, correlation) == (3, 4, 7)
    assert request.endswith(struct.pack(">i?", 0, False))


def test_metadata_response_lists_brokers() -> None:
    """A Metadata v4 response decodes to its brokers, cluster id and controller."""
    decoded = decode_metadata_response(metadata_response(5, [(1, "127.0.0.1", 9092)]), 5)
    assert decoded.brokers == [(1, "127.0.0.1", 9092)]
    assert decoded.cluster_id == "abc" and decoded.controller_id == 1
    with pytest.raises(ValueError):
        decode_metadata_response(metadata_response(5, []), 6)


def serve_once(response: bytes) -> int:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)

    def answer() -> None:
        conn, _ = server.accept()
        with conn:
            size = struct.unpack(">i", conn.recv(4))[0]
            while size > 0:
                size -= len(conn.recv(size))
            conn.sendall(struct.pack(">i", len(response)) + response)
        server.close()

    threading.Thread(target=answer, daemon=True).start()
    return int(server.getsockname()[1])


def test_kafka_health_needs_a_live_broker() -> None:
    """Healthy when the broker lists itself; not when the list is empty or nobody answers."""
    assert kafka_health("127.0.0.1", serve_once(metadata_response(1, [(1, "h", 1)]))) == (
        True,
        "1 broker",
    )
    assert kafka_health("127.0.0.1", serve_once(metadata_response(1, [])))[0] is False
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()
    assert kafka_health("127.0.0.1", port) == (False, "not answering")


def test_mvn_progress_is_throttled_and_keeps_errors() -> None:
    """Progress lines become at most one message per interval; [ERROR] lines are kept."""
    now = [0.0]
    progress = MvnProgress("ES", interval_s=2.0, clock=lambda: now[0])
    assert progress.feed("Progress (1): 4/130 MB") is None  # too soon
    now[0] = 2.5
    message = progress.feed("\x1b[1mProgress (1): 50/130 MB\x1b[0m")
    assert message is not None and "50/130 MB" in message
    assert progress.feed("Progress (1): 51/130 MB") is None
    progress.feed("[ERROR] ")
    progress.feed("[ERROR] Failed to execute goal x: Could not find artifact y")
    assert progress.first_error().startswith("Failed to execute goal x")


def test_first_error_line_skips_stack_frames() -> None:
    """The summary of a crash is the first error line, not a stack frame or ES's footer."""
    lines = [
        "[INFO ] loaded module [apm]",
        "[ERROR][o.e.b.Elasticsearch] fatal exception: unknown setting [x]",
        "\tat org.elasticsearch.Foo(Foo.java:1)",
        "ERROR: Elasticsearch did not exit normally - check the logs",
    ]
    assert first_error_line(lines).startswith("[ERROR][o.e.b.Elasticsearch] fatal")
    assert first_error_line(["all fine"]) == ""


def test_status_table_has_one_row_per_service() -> None:
    """The status table shows name, address, pid, health, version and detail."""
    rows = [
        ServiceStatus("elasticsearch", "http://127.0.0.1:9200", 42, True, True, "green", "9.5.0"),
        ServiceStatus("kafka", "127.0.0.1:9092", None, False, False, "not answering", None),
    ]
    lines = format_status(rows).splitlines()
    assert lines[0].split() == ["SERVICE", "ADDRESS", "PID", "HEALTH", "VERSION", "DETAIL"]
    assert lines[1].split() == [
        "elasticsearch",
        "http://127.0.0.1:9200",
        "42",
        "healthy",
        "9.5.0",
        "green",
    ]
    assert lines[2].split()[:5] == ["kafka", "127.0.0.1:9092", "-", "DOWN", "-"]


def test_compose_gets_ports_and_versions_from_settings() -> None:
    """`--docker` passes the configured ports and versions to docker-compose.yml."""
    settings = load_settings(environ={}).replace(
        es_url="http://127.0.0.1:19200", kafka_bootstrap="127.0.0.1:19092"
    )
    env = compose_environment(settings)
    assert env["REQTRAIL_ES_PORT"] == "19200" and env["REQTRAIL_KAFKA_PORT"] == "19092"
    assert env["REQTRAIL_ES_VERSION"] == settings.es_version
