"""Pure parts of local clusters: node ports and names, rendered configs, the recorded shape,
the compose arguments, and the metadata the cluster health line is made of."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from reqtrail.services import LocalStack, ServiceError
from reqtrail.services.cluster import StackShape, record_shape, resolve_shape
from reqtrail.services.docker import CLUSTER_SERVICES, compose_environment, up_arguments
from reqtrail.services.elasticsearch import render_es_config
from reqtrail.services.kafka import render_server_properties, replication
from reqtrail.services.probes import decode_metadata_response, encode_metadata_request
from reqtrail.settings import Settings, load_settings


def stack_settings(tmp_path: Path, **env: str) -> Settings:
    return load_settings(environ={"REQTRAIL_STATE_DIR": str(tmp_path), **env})


def quiet_stack(settings: Settings, **shape: int) -> LocalStack:
    return LocalStack(settings, report=lambda _line: None, **shape)


def test_cluster_nodes_follow_the_first_ports_and_never_clash(tmp_path: Path) -> None:
    """3 + 3 nodes on the default ports: ES HTTP 9200-9202 with transport + 100, Kafka
    brokers every other port from 9092 with controllers + 1; every derived port says what
    it follows, and the whole stack has no clash."""
    stack = quiet_stack(stack_settings(tmp_path), kafka_brokers=3, es_nodes=3)
    assert [n.name for n in stack.services] == [
        "elasticsearch",
        "elasticsearch-2",
        "elasticsearch-3",
        "kafka",
        "kafka-2",
        "kafka-3",
    ]
    assert [n.ports() for n in stack.es_nodes] == [
        {"http": 9200 + i, "transport": 9300 + i} for i in range(3)
    ]
    assert [n.ports() for n in stack.kafka_nodes] == [
        {"broker": 9092 + 2 * i, "controller": 9093 + 2 * i} for i in range(3)
    ]
    assert [n.node_id for n in stack.kafka_nodes] == [1, 2, 3]
    assert str(stack.es_nodes[2].port_uses()[0]) == (
        "elasticsearch-3 (http = first HTTP port + 2, REQTRAIL_ES_URL)"
    )
    assert str(stack.kafka_nodes[1].port_uses()[0]) == (
        "kafka-2 (broker = first broker port + 2, REQTRAIL_KAFKA_BOOTSTRAP)"
    )
    assert stack.kafka_bootstrap == "127.0.0.1:9092,127.0.0.1:9094,127.0.0.1:9096"
    assert stack.es_url == "http://127.0.0.1:9200,http://127.0.0.1:9201,http://127.0.0.1:9202"
    stack.check_ports()


def test_listed_ports_and_port_settings_place_the_nodes(tmp_path: Path) -> None:
    """Listed URLs and brokers give each node its port; the transport and controller port
    settings are the first node's, the others count up from them."""
    settings = stack_settings(
        tmp_path,
        REQTRAIL_ES_URL="http://127.0.0.1:19200,http://127.0.0.1:19250",
        REQTRAIL_KAFKA_BOOTSTRAP="127.0.0.1:19092,127.0.0.1:19192,127.0.0.1:19292",
        REQTRAIL_ES_TRANSPORT_PORT="19500",
        REQTRAIL_KAFKA_CONTROLLER_PORT="19600",
    )
    stack = quiet_stack(settings, kafka_brokers=3, es_nodes=3)
    assert [n.ports() for n in stack.es_nodes] == [
        {"http": 19200, "transport": 19500},
        {"http": 19250, "transport": 19501},
        {"http": 19202, "transport": 19502},
    ]
    assert [n.port for n in stack.kafka_nodes] == [19092, 19192, 19292]
    assert [n.controller_port for n in stack.kafka_nodes] == [19600, 19601, 19602]


def test_a_cluster_whose_ports_clash_is_refused_naming_both_nodes(tmp_path: Path) -> None:
    """Brokers listed on neighbouring ports collide with the derived controller ports: one
    line names both nodes and both settings, before anything starts."""
    settings = stack_settings(tmp_path, REQTRAIL_KAFKA_BOOTSTRAP="127.0.0.1:19092,127.0.0.1:19093")
    with pytest.raises(ServiceError) as info:
        quiet_stack(settings, kafka_brokers=2).check_ports()
    assert str(info.value).startswith(
        "port 19093 is wanted by both kafka (controller = broker port + 1, "
        "REQTRAIL_KAFKA_CONTROLLER_PORT) and kafka-2 (broker, REQTRAIL_KAFKA_BOOTSTRAP)"
    )


def test_es_cluster_config_seeds_every_node_and_bootstraps_once() -> None:
    """A cluster node has no single-node discovery, seeds on every transport port, and lists
    the initial masters only when asked (its first start)."""

    def render(initial: list[str]) -> dict[str, str]:
        text = render_es_config(
            cluster_name="reqtrail-elasticsearch",
            node_name="elasticsearch-2",
            http_port=9201,
            transport_port=9301,
            data_dir=Path("/d"),
            logs_dir=Path("/l"),
            seed_hosts=["127.0.0.1:9300", "127.0.0.1:9301"],
            initial_master_nodes=initial,
        )
        lines = [line for line in text.splitlines() if not line.startswith("#")]
        return dict(line.split(": ", 1) for line in lines)

    first = render(["elasticsearch", "elasticsearch-2"])
    assert "discovery.type" not in first
    assert first["discovery.seed_hosts"] == '["127.0.0.1:9300", "127.0.0.1:9301"]'
    assert first["cluster.initial_master_nodes"] == '["elasticsearch", "elasticsearch-2"]'
    assert "cluster.initial_master_nodes" not in render([])


def test_es_nodes_share_a_cluster_name_and_bootstrap_on_their_first_start(tmp_path: Path) -> None:
    """The prepared elasticsearch.yml of node 2 names the shared cluster and the three
    initial masters while its data directory is empty, and leaves them out afterwards."""
    stack = quiet_stack(stack_settings(tmp_path), es_nodes=3)
    node = stack.es_nodes[1]
    node.es_home.mkdir(parents=True)
    (node.es_home / "config").mkdir()
    assert node.cluster_name == "reqtrail-elasticsearch" == stack.es_nodes[0].cluster_name
    node.prepare(jdk=None)  # type: ignore[arg-type]  # the JDK is not used by prepare
    config = (node.config_dir / "elasticsearch.yml").read_text()
    assert 'cluster.initial_master_nodes: ["elasticsearch", "elasticsearch-2"' in config
    (node.data_dir / "_state").mkdir()
    node.prepare(jdk=None)  # type: ignore[arg-type]
    assert "initial_master_nodes" not in (node.config_dir / "elasticsearch.yml").read_text()


def test_kafka_cluster_properties_name_the_quorum_and_three_replicas() -> None:
    """Node 2 of 3: its own id, all three voters, 3 replicas and 2 in-sync ones for internal
    and default topics; a single node keeps 1 and 1."""
    text = render_server_properties(
        port=9094,
        controller_port=9095,
        data_dir=Path("/d"),
        node_id=2,
        voters=[(1, 9093), (2, 9095), (3, 9097)],
    )
    props = dict(line.split("=", 1) for line in text.splitlines() if not line.startswith("#"))
    assert props["node.id"] == "2"
    assert props["controller.quorum.voters"] == (
        "1@127.0.0.1:9093,2@127.0.0.1:9095,3@127.0.0.1:9097"
    )
    for key in ("offsets.topic.replication.factor", "default.replication.factor"):
        assert props[key] == "3"
    for key in ("min.insync.replicas", "transaction.state.log.min.isr"):
        assert props[key] == "2"
    assert [replication(n) for n in (1, 2, 3, 5)] == [(1, 1), (2, 1), (3, 2), (3, 2)]


def test_the_shape_is_recorded_and_read_back(tmp_path: Path) -> None:
    """Without counts, the shape of the last ``up`` is used (one of each before any), and a
    count given wins; counts outside 1-9 are refused."""
    settings = stack_settings(tmp_path)
    assert resolve_shape(settings) == StackShape(1, 1)
    record_shape(settings, StackShape(3, 2))
    assert resolve_shape(settings) == StackShape(3, 2)
    assert resolve_shape(settings, es_nodes=1) == StackShape(3, 1)
    assert len(quiet_stack(settings).services) == 5
    with pytest.raises(ServiceError, match="--kafka-brokers must be between 1 and 9: 0"):
        StackShape(0, 1)


def test_a_stack_with_data_keeps_its_shape(tmp_path: Path) -> None:
    """A single-node stack with data cannot become a cluster in place: one line says what
    to do instead."""
    settings = stack_settings(tmp_path)
    single = quiet_stack(settings)
    (single.kafka.data_dir / "meta.properties").parent.mkdir(parents=True)
    (single.kafka.data_dir / "meta.properties").write_text("cluster.id=abc\n")
    with pytest.raises(ServiceError, match=r"was made with 1 Kafka brokers, not 3; .*down"):
        quiet_stack(settings, kafka_brokers=3).check_shape()
    quiet_stack(settings, es_nodes=3).check_shape()  # ES has no data yet: allowed


def test_compose_starts_the_pair_or_the_named_cluster_services() -> None:
    """One of each is plain `up`; 3 + 3 is the cluster profile with its services named (so the
    single pair stays off); other shapes are refused; nodes 2 and 3 get their ports."""
    assert up_arguments(StackShape()) == ("up", "-d", "--wait")
    assert up_arguments(StackShape(3, 3)) == (
        "--profile",
        "cluster",
        "up",
        "-d",
        "--wait",
        *CLUSTER_SERVICES,
    )
    with pytest.raises(ServiceError, match="drop --docker"):
        up_arguments(StackShape(2, 1))
    env = compose_environment(load_settings(environ={}))
    assert env["REQTRAIL_KAFKA_PORT_3"] == "9096" and env["REQTRAIL_ES_PORT_2"] == "9201"
    assert env["REQTRAIL_ES_NODE_HEAP"] == "512m" and env["REQTRAIL_ES_HEAP"] == "1g"


def test_metadata_for_every_topic_tells_leaders_and_in_sync_replicas() -> None:
    """Asked for all topics (a null array), a Metadata v4 answer decodes to each partition's
    leader, replicas and ISR."""
    assert encode_metadata_request(1, all_topics=True).endswith(struct.pack(">i?", -1, False))
    body = struct.pack(">ii", 9, 0) + struct.pack(">i", 0)  # no brokers
    body += struct.pack(">h", -1) + struct.pack(">i", 2)  # cluster id null, controller 2
    body += struct.pack(">i", 1) + struct.pack(">hh", 0, 1) + b"t" + struct.pack(">?", False)
    body += struct.pack(">i", 2)
    body += struct.pack(">hii", 0, 0, 3) + struct.pack(">iiii", 3, 1, 2, 3)
    body += struct.pack(">iii", 2, 3, 1)
    body += struct.pack(">hii", 0, 1, 1) + struct.pack(">iiii", 3, 1, 2, 3)
    body += struct.pack(">iiii", 3, 1, 2, 3)
    decoded = decode_metadata_response(body, 9)
    assert decoded.controller_id == 2 and decoded.leaders("t") == {0: 3, 1: 1}
    assert [(p.replicas, p.isr) for p in decoded.partitions] == [
        ((1, 2, 3), (3, 1)),
        ((1, 2, 3), (1, 2, 3)),
    ]
