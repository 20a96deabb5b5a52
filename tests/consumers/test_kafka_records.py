"""FastPartitionRecords against kafka-python's own PartitionRecords, record by record.

Batches are built with kafka-python's builders (the broker stores what producers send),
then read by both iterators; every ConsumerRecord and the fetch state they leave behind
(position, leader epoch, metrics counters) must be equal, and so must the error, and the
records handed out before it, when a batch is corrupt.
"""

from __future__ import annotations

import random
import struct
import time
from typing import Any

import kafka.codec
import orjson
import pytest
from kafka import KafkaConsumer, KafkaProducer
from kafka.consumer.fetcher import Fetcher
from kafka.errors import CorruptRecordError, UnsupportedCodecError
from kafka.protocol.consumer import IsolationLevel
from kafka.record.default_records import DefaultRecordBatch
from kafka.record.memory_records import MemoryRecords, MemoryRecordsBuilder
from kafka.record.util import calc_crc32c
from kafka.structs import TopicPartition

from reqtrail.consumers.clients import indexer_consumer
from reqtrail.consumers.kafka_records import (
    FastPartitionRecords,
    install_fast_unpacking,
    read_varint,
    unpack_batch,
)
from reqtrail.consumers.setup import ensure_topics
from reqtrail.schemas.samples import sample_records
from reqtrail.settings import Settings

TP = TopicPartition("reqtrail.requests", 3)
NONE, GZIP, ZSTD = 0, 1, 4
ATTRIBUTES_AT = struct.calcsize(">qiibI")
LEADER_EPOCH_AT = struct.calcsize(">qi")

Entry = tuple[bytes | None, bytes | None, list[tuple[str, bytes | None]]]


def build(
    entries: list[Entry], codec: int = NONE, magic: int = 2, offset: int = 0, ts: int = 1_700_000
) -> bytes:
    """One batch (or, for magic < 2, a message set) holding ``entries`` from ``offset``."""
    builder = MemoryRecordsBuilder(
        magic=magic, compression_type=codec, batch_size=1 << 30, offset=offset
    )
    for i, (key, value, headers) in enumerate(entries):
        meta = builder.append(
            timestamp=ts + i * 7, key=key, value=value, headers=headers if magic == 2 else []
        )
        assert meta is not None
    builder.close()
    return bytes(builder.buffer())


def patched(batch: bytes, *, attributes_or: int = 0, leader_epoch: int | None = None) -> bytes:
    """``batch`` with attribute bits set / another leader epoch, and its CRC made right again."""
    data = bytearray(batch)
    (attributes,) = struct.unpack_from(">h", data, ATTRIBUTES_AT)
    struct.pack_into(">h", data, ATTRIBUTES_AT, attributes | attributes_or)
    if leader_epoch is not None:
        struct.pack_into(">i", data, LEADER_EPOCH_AT, leader_epoch)
    struct.pack_into(">I", data, ATTRIBUTES_AT - 4, calc_crc32c(bytes(data[ATTRIBUTES_AT:])))
    return bytes(data)


def read(
    cls: Any,
    data: bytes,
    fetch_offset: int = 0,
    takes: tuple[int | None, ...] = (None,),
    **options: Any,
) -> dict[str, Any]:
    """What a PartitionRecords class hands out over successive ``take`` calls, and its state."""
    parts = cls(fetch_offset, TP, MemoryRecords(data), on_drain=lambda _: None, **options)
    taken: list[Any] = []
    for n in takes:
        try:
            taken.append(parts.take(n))
        except Exception as exc:  # noqa: BLE001 - the exception itself is compared
            # the same message, but for the IndexError's "bytearray index" in kafka-python's
            taken.append((type(exc), str(exc).replace("bytearray index", "index")))
    return {
        "taken": taken,
        "position": parts.next_fetch_offset,
        "leader_epoch": parts.leader_epoch,
        "records_read": parts.records_read,
        "bytes_read": parts.bytes_read,
        "drained": parts.record_iterator is None,
    }


def assert_same(data: bytes, **kwargs: Any) -> dict[str, Any]:
    stock = read(Fetcher.PartitionRecords, data, **kwargs)
    fast = read(FastPartitionRecords, data, **kwargs)
    assert fast == stock
    return fast


def reqtrail_entries(n: int, seed: int = 5) -> list[Entry]:
    return [(str(r["user_id"]).encode(), orjson.dumps(r), []) for r in sample_records(n, seed=seed)]


ODD_ENTRIES: list[Entry] = [
    (None, b"{}", []),
    (b"", b"", []),
    (b"k", None, []),
    (None, None, [("h", None)]),
    (b"user-\xff", b"x" * 300, [("trace", b"abc"), ("\u00e9t\u00e9", b""), ("n", None)]),
    (b"k" * 200, b"v" * 70_000, [("big", b"h" * 5000)]),
]


@pytest.mark.parametrize("codec", [NONE, GZIP, ZSTD])
def test_reqtrail_records_read_the_same_in_every_codec(codec: int) -> None:
    data = build(reqtrail_entries(400), codec=codec, offset=1000)
    result = assert_same(data)
    assert len(result["taken"][0]) == 400
    assert result["position"] == 1400
    assert result["drained"]


@pytest.mark.parametrize("codec", [NONE, GZIP, ZSTD])
def test_odd_keys_values_and_headers_read_the_same(codec: int) -> None:
    assert_same(build(ODD_ENTRIES, codec=codec, offset=7))


def test_several_batches_taken_a_few_records_at_a_time() -> None:
    data = b"".join(
        build(reqtrail_entries(30, seed=s), codec=c, offset=100 + 30 * s)
        for s, c in enumerate([NONE, ZSTD, GZIP, ZSTD])
    )
    result = assert_same(data, takes=(1, 7, 50, 0, None))
    assert sum(len(t) for t in result["taken"]) == 120


def test_records_before_the_fetch_offset_are_skipped_alike() -> None:
    """A fetch from the middle of a compressed batch returns the whole batch."""
    data = build(reqtrail_entries(50), codec=ZSTD, offset=200)
    result = assert_same(data, fetch_offset=233)
    assert [r.offset for r in result["taken"][0]] == list(range(233, 250))


def test_log_append_time_and_leader_epoch_come_from_the_batch() -> None:
    data = patched(build(reqtrail_entries(5), codec=ZSTD), attributes_or=0x08, leader_epoch=9)
    result = assert_same(data)
    records = result["taken"][0]
    assert {r.timestamp_type for r in records} == {1}
    assert result["leader_epoch"] == 9
    assert len({r.timestamp for r in records}) == 1


def test_control_batches_are_skipped_but_move_the_position() -> None:
    data = (
        build(reqtrail_entries(3), offset=0)
        + patched(
            build([(b"\x00\x00\x00\x00", b"\x00\x00\x00\x00\x00\x00", [])], offset=3),
            attributes_or=0x30,
        )
        + build(reqtrail_entries(2, seed=8), offset=4)
    )
    result = assert_same(data)
    assert [r.offset for r in result["taken"][0]] == [0, 1, 2, 4, 5]


@pytest.mark.parametrize("magic", [0, 1])
def test_legacy_message_formats_read_the_same(magic: int) -> None:
    entries: list[Entry] = [(k, v, []) for k, v, _ in reqtrail_entries(20)]
    assert_same(build(entries, magic=magic, offset=40))
    assert_same(build(entries, magic=magic, codec=GZIP, offset=40))


@pytest.mark.parametrize("codec", [2, 3, 5, 7])
def test_missing_or_unknown_codecs_fail_alike(codec: int) -> None:
    """snappy and lz4 are not installed here; 5-7 are no codec at all."""
    if codec == 2 and kafka.codec.has_snappy() or codec == 3 and kafka.codec.has_lz4():
        pytest.skip("codec library installed: garbage would not decode alike")
    result = assert_same(patched(build(reqtrail_entries(3)), attributes_or=codec))
    assert result["taken"][0][0] is UnsupportedCodecError


def test_a_batch_with_a_wrong_crc_fails_alike() -> None:
    data = bytearray(build(reqtrail_entries(10), codec=ZSTD))
    data[-3] ^= 0xFF
    result = assert_same(bytes(data))
    assert result["taken"][0][0] is CorruptRecordError


def test_corrupt_records_give_the_same_records_then_the_same_error() -> None:
    """Unchecked CRCs, mangled bytes: the good records before the damage, then the error."""
    clean = build(reqtrail_entries(12) + ODD_ENTRIES, offset=50)
    rng = random.Random(11)
    errors = 0
    for _ in range(600):
        data = bytearray(clean)
        for _ in range(rng.choice([1, 1, 2, 4])):
            at = rng.randrange(61, len(data))  # the records, past the batch header
            data[at] = rng.randrange(256)
        result = assert_same(bytes(data), takes=(None, None), check_crcs=False)
        errors += any(isinstance(t, tuple) for t in result["taken"])
    assert errors > 100  # the damage was seen, not just skipped over


def test_a_wrong_record_length_fails_alike() -> None:
    """Each record's own length (a one-byte varint here) one byte off, up or down."""
    entries: list[Entry] = [(b"k%d" % i, b"v" * i, []) for i in range(8)]
    clean = build(entries)
    starts, pos = [], 61  # the records follow the batch header
    for _ in entries:
        starts.append(pos)
        length, after = read_varint(clean, pos)
        pos = after + length
    for at in starts:
        length, _ = read_varint(clean, at)
        for wrong in (length - 1, length + 1):
            data = bytearray(clean)
            data[at] = wrong << 1  # zig-zag of a small positive number
            result = assert_same(bytes(data), takes=(None, None), check_crcs=False)
            assert any(isinstance(t, tuple) for t in result["taken"]), result["taken"]


def test_truncated_records_section_fails_alike() -> None:
    clean = build(reqtrail_entries(6), offset=0)
    for cut in (1, 2, 50, 400):
        data = bytearray(clean[:-cut])
        struct.pack_into(">i", data, 8, len(data) - 12)  # batch length says what is left
        assert_same(bytes(data), takes=(None, None), check_crcs=False)


def test_unpack_batch_reports_records_up_to_the_damage() -> None:
    data = bytearray(build(reqtrail_entries(4)))
    header, records, error = unpack_batch(bytes(data))
    assert error is None and len(records) == header.record_count == 4
    data.extend(b"\x00\x01")
    struct.pack_into(">i", data, 8, len(data) - 12)
    _header, records, error = unpack_batch(bytes(data))
    assert len(records) == 4
    assert isinstance(error, CorruptRecordError) and "unconsumed" in str(error)
    with pytest.raises(CorruptRecordError, match="magic"):
        unpack_batch(build(reqtrail_entries(1), magic=1))


@pytest.mark.parametrize("value", [0, 1, -1, 63, -64, 64, 300, -300, 2**31, -(2**63), 2**63 - 1])
def test_read_varint_reads_zig_zag_varints(value: int) -> None:
    zigzag = (value << 1) ^ (value >> 63)
    encoded = bytearray()
    while True:
        byte = zigzag & 0x7F
        zigzag >>= 7
        if zigzag:
            encoded.append(byte | 0x80)
        else:
            encoded.append(byte)
            break
    assert read_varint(b"\xaa" + bytes(encoded) + b"\x00", 1) == (value, 1 + len(encoded))


def test_read_varint_refuses_more_than_64_bits() -> None:
    with pytest.raises(ValueError, match="int64"):
        read_varint(b"\xff" * 10 + b"\x01", 0)


class Upper:
    def deserialize(self, topic: str, headers: Any, data: bytes) -> bytes:
        return data.upper()


def test_deserializing_or_read_committed_consumers_keep_the_stock_path() -> None:
    entries = reqtrail_entries(3)
    data = build(entries)
    assert_same(data, value_deserializer=Upper())
    parts = FastPartitionRecords(
        0, TP, MemoryRecords(data), value_deserializer=Upper(), on_drain=lambda _: 0
    )
    assert [r.value for r in parts.take()] == [bytes(v or b"").upper() for _, v, _ in entries]
    assert_same(data, isolation_level=IsolationLevel.READ_COMMITTED)


def test_install_refuses_what_it_does_not_know() -> None:
    class NotAConsumer:
        _fetcher = object()

    assert install_fast_unpacking(NotAConsumer()) is False
    assert "_buffer" in DefaultRecordBatch.__slots__


def _read_all(consumer: Any, expected: int) -> list[Any]:
    records: list[Any] = []
    deadline = time.monotonic() + 60
    while len(records) < expected and time.monotonic() < deadline:
        for batch in consumer.poll(timeout_ms=500).values():
            records.extend(batch)
    return sorted(records, key=lambda r: (r.partition, r.offset))


@pytest.mark.integration
def test_the_indexer_reads_from_the_real_broker_what_kafka_python_reads(
    settings: Settings,
) -> None:
    """Keyed zstd batches with headers, from the broker: the same ConsumerRecords both ways."""
    ensure_topics(settings)
    producer = KafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap, compression_type="zstd", linger_ms=20
    )
    try:
        # a producer refuses a record with neither key nor value, and null header values
        odd: list[Entry] = [
            (key, value, [(name, data or b"") for name, data in headers])
            for key, value, headers in ODD_ENTRIES
            if key is not None or value is not None
        ]
        entries = reqtrail_entries(500) + odd
        for key, value, headers in entries:
            producer.send(settings.topic, key=key, value=value, headers=headers)
        producer.flush(timeout=30)
    finally:
        producer.close(timeout=5)
    fast = indexer_consumer(settings, group_id=None)
    stock = KafkaConsumer(bootstrap_servers=settings.kafka_bootstrap, auto_offset_reset="earliest")
    try:
        assert fast._fetcher.PartitionRecords is FastPartitionRecords
        assert stock._fetcher.PartitionRecords is Fetcher.PartitionRecords
        partitions = [TopicPartition(settings.topic, p) for p in range(settings.topic_partitions)]
        for consumer in (fast, stock):
            consumer.assign(partitions)
            consumer.seek_to_beginning()
        fast_records = _read_all(fast, len(entries))
        assert len(fast_records) == len(entries)
        assert fast_records == _read_all(stock, len(entries))
    finally:
        fast.close()
        stock.close()
