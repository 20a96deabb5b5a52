"""Unpacking Kafka record batches (message format v2) in one tight loop.

kafka-python turns every record of a fetched batch into a ``DefaultRecord`` through a
chain of properties (attributes -> timestamp type, first timestamp, base offset, control
flag, each looked up again per record), then reads that object's properties once more to
build the ``ConsumerRecord``. On reqtrail's records that is ~6-8 us a record, about a
third of the indexer's CPU (see README, Benchmarks). ``unpack_batch`` reads a batch's
header once and its records with local variables only; ``FastPartitionRecords`` plugs it
into kafka-python's fetcher so every ``ConsumerRecord`` (and every bit of fetch state:
positions, leader epoch, control batches, CRC checks, metrics) stays as kafka-python
makes it. ``tests/consumers/test_kafka_records.py`` compares the two record by record.

The hook uses kafka-python internals (``Fetcher.PartitionRecords``, a batch's buffer), so
pyproject pins kafka-python below 3.1 and ``install_fast_unpacking`` leaves the stock
path in place (with a warning) when those internals are not what it expects, or when
the consumer reads transactions as read_committed or deserializes records itself.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from typing import Any, NamedTuple

import kafka.codec as codecs
from kafka.consumer.fetcher import ConsumerRecord, Fetcher
from kafka.errors import CorruptRecordError, UnsupportedCodecError
from kafka.protocol.consumer import IsolationLevel
from kafka.record.default_records import DefaultRecordBatch

log = logging.getLogger(__name__)

BATCH_HEADER = DefaultRecordBatch.HEADER_STRUCT  # kafka-python's own layout of a v2 batch header
# codec id -> (name, decoder, whether its library is installed)
_CODECS: dict[int, tuple[str, Callable[[bytes], bytes], Callable[[], bool]]] = {
    1: ("gzip", codecs.gzip_decode, codecs.has_gzip),
    2: ("snappy", codecs.snappy_decode, codecs.has_snappy),
    3: ("lz4", codecs.lz4_decode, codecs.has_lz4),
    4: ("zstd", codecs.zstd_decode, codecs.has_zstd),
}
_TIMESTAMP_TYPE_MASK = DefaultRecordBatch.TIMESTAMP_TYPE_MASK


class BatchHeader(NamedTuple):
    base_offset: int
    length: int
    leader_epoch: int
    magic: int
    crc: int
    attributes: int
    last_offset_delta: int
    first_timestamp: int
    max_timestamp: int
    producer_id: int
    producer_epoch: int
    base_sequence: int
    record_count: int


Header = tuple[str, bytes | None]
# (size in bytes, offset, timestamp, key, value, headers)
RawRecord = tuple[int, int, int, bytes | None, bytes | None, list[Header]]


def read_varint(buffer: bytes, pos: int) -> tuple[int, int]:
    """A zig-zag varint (Kafka's varint and varlong) at ``pos``: (value, next position)."""
    byte = buffer[pos]
    if byte < 0x80:
        return (byte >> 1) ^ -(byte & 1), pos + 1
    result = byte & 0x7F
    shift = 7
    pos += 1
    while True:
        byte = buffer[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return (result >> 1) ^ -(result & 1), pos
        shift += 7
        if shift >= 64:
            raise ValueError("varint out of int64 range")


def read_bytes(buffer: bytes, pos: int) -> tuple[bytes | None, int]:
    """Kafka's nullable bytes at ``pos``: a varint length (negative: null), then the bytes."""
    length, pos = read_varint(buffer, pos)
    if length < 0:
        return None, pos
    return buffer[pos : pos + length], pos + length


def batch_header(batch: bytes | bytearray | memoryview) -> BatchHeader:
    return BatchHeader(*BATCH_HEADER.unpack_from(batch))


def batch_records(header: BatchHeader, batch: bytes | bytearray | memoryview) -> bytes:
    """The records section of a v2 batch, decompressed."""
    codec = header.attributes & DefaultRecordBatch.CODEC_MASK
    body = memoryview(batch)[BATCH_HEADER.size : 12 + header.length]
    if codec == 0:
        return body.tobytes()
    if codec not in _CODECS:
        raise UnsupportedCodecError(f"Unrecognized compression type: {codec}")
    name, decode, installed = _CODECS[codec]
    if not installed():
        raise UnsupportedCodecError(f"Libraries for {name} compression codec not found")
    return bytes(decode(body.tobytes()))


class UnpackedBatch(NamedTuple):
    """A batch's header, its records up to the first corrupt one, and that corruption."""

    header: BatchHeader
    records: list[RawRecord]
    error: CorruptRecordError | None


def unpack_batch(batch: bytes | bytearray | memoryview) -> UnpackedBatch:
    """Every record of one v2 record batch, as kafka-python's DefaultRecordBatch reads them.

    Where kafka-python raises CorruptRecordError after the good records before it (fields
    that do not add up to the record's length, a negative header count, a truncated record,
    bytes left after the last record), ``error`` holds it and ``records`` those records."""
    header = batch_header(batch)
    if header.magic != 2:
        raise CorruptRecordError(f"not a v2 record batch (magic {header.magic})")
    records: list[RawRecord] = []
    try:
        _read_records(header, batch_records(header, batch), records)
    except CorruptRecordError as exc:
        return UnpackedBatch(header, records, exc)
    except (ValueError, IndexError) as exc:
        error = CorruptRecordError(f"Found invalid record structure: {exc!r}")
        return UnpackedBatch(header, records, error)
    return UnpackedBatch(header, records, None)


def _read_records(header: BatchHeader, data: bytes, records: list[RawRecord]) -> None:
    base_offset = header.base_offset
    first_timestamp = header.first_timestamp
    log_append_time = header.max_timestamp if header.attributes & _TIMESTAMP_TYPE_MASK else None
    varint = read_varint
    append = records.append
    pos = 0
    for _ in range(header.record_count):
        length, pos = varint(data, pos)
        start = pos
        if data[pos] < 0x80:  # attributes, unused in v2: one byte unless corrupt
            pos += 1
        else:
            _attributes, pos = varint(data, pos)
        timestamp_delta, pos = varint(data, pos)
        offset_delta, pos = varint(data, pos)
        key, pos = read_bytes(data, pos)
        value, pos = read_bytes(data, pos)
        header_count, pos = varint(data, pos)
        headers: list[Header] = []
        if header_count:
            headers, pos = _read_headers(data, pos, header_count)
        if pos - start != length:
            raise CorruptRecordError(
                f"Invalid record size: expected to read {length} bytes in record payload,"
                f" but instead read {pos - start}"
            )
        timestamp = (
            first_timestamp + timestamp_delta if log_append_time is None else log_append_time
        )
        append((length, base_offset + offset_delta, timestamp, key, value, headers))
    if pos != len(data):
        raise CorruptRecordError(f"{len(data) - pos} unconsumed bytes after all records consumed")


def _read_headers(data: bytes, pos: int, count: int) -> tuple[list[Header], int]:
    if count < 0:
        raise CorruptRecordError(f"Found invalid number of record headers {count}")
    headers: list[Header] = []
    for _ in range(count):
        key_length, pos = read_varint(data, pos)
        if key_length < 0:
            raise CorruptRecordError(f"Invalid negative header key size {key_length}")
        key = data[pos : pos + key_length].decode("utf-8")
        pos += key_length
        value, pos = read_bytes(data, pos)
        headers.append((key, value))
    return headers, pos


def header_size(headers: list[Header]) -> int:
    """ConsumerRecord.serialized_header_size, as kafka-python computes it."""
    if not headers:
        return -1
    return sum(
        len(key.encode("utf-8")) + (len(value) if value is not None else 0)
        for key, value in headers
    )


class FastPartitionRecords(Fetcher.PartitionRecords):  # type: ignore[misc]
    """kafka-python's per-partition record iterator, with v2 batches read by unpack_batch.

    Everything but the per-record parsing is kafka-python's: the constructor, ``take``,
    skipping records before the fetch offset, ``drain`` and its metrics. Consumers that
    deserialize records or read committed transactions only keep the stock path."""

    def _unpack_records(
        self, tp: Any, records: Any, key_deserializer: Any, value_deserializer: Any
    ) -> Iterator[ConsumerRecord]:
        if (
            key_deserializer is not None
            or value_deserializer is not None
            or self.isolation_level != IsolationLevel.READ_UNCOMMITTED
        ):
            yield from super()._unpack_records(tp, records, key_deserializer, value_deserializer)
            return
        try:
            last_batch = None
            batch = records.next_batch()
            while batch is not None:
                last_batch = batch
                if self.check_crcs and not batch.validate_crc():
                    raise CorruptRecordError(
                        f"Record batch for partition {self.topic_partition} at offset"
                        f" {batch.base_offset} failed crc check"
                    )
                if batch.magic == 2:
                    yield from self._unpack_v2(tp, batch)
                else:
                    yield from self._unpack_legacy(tp, batch)
                batch = records.next_batch()
            # v2 keeps a batch's last offset even when compaction removed its last record
            if last_batch is not None and last_batch.magic == 2:
                self.next_fetch_offset = last_batch.next_offset
            self.drain()
        except StopIteration as exc:  # would silently end the generator (kafka-python #545)
            raise RuntimeError("StopIteration raised unpacking messageset") from exc

    def _unpack_v2(self, tp: Any, batch: Any) -> Iterator[ConsumerRecord]:
        self.leader_epoch = batch.leader_epoch
        if batch.is_control_batch:  # transaction markers are not returned to the consumer
            self.next_fetch_offset = batch.next_offset
            return
        header, unpacked, error = unpack_batch(batch._buffer)
        topic, partition, epoch = tp.topic, tp.partition, self.leader_epoch
        timestamp_type = 1 if header.attributes & _TIMESTAMP_TYPE_MASK else 0
        new = tuple.__new__  # ConsumerRecord(...) itself is a Python-level __new__: 2x slower
        for size, offset, timestamp, key, value, headers in unpacked:
            self.records_read += 1
            self.bytes_read += size
            self.next_fetch_offset = offset + 1
            yield new(
                ConsumerRecord,
                (
                    topic,
                    partition,
                    epoch,
                    offset,
                    timestamp,
                    timestamp_type,
                    key,
                    value,
                    headers,
                    None,  # v2 records carry no checksum of their own
                    -1 if key is None else len(key),
                    -1 if value is None else len(value),
                    header_size(headers),
                ),
            )
        if error is not None:
            raise error

    def _unpack_legacy(self, tp: Any, batch: Any) -> Iterator[ConsumerRecord]:
        """Message format v0/v1 (brokers before 0.11 wrote it), record by record."""
        for record in batch:
            if self.check_crcs and not record.validate_crc():
                raise CorruptRecordError(
                    f"Record for partition {self.topic_partition} at offset {record.offset}"
                    " failed crc check"
                )
            key, value, headers = record.key, record.value, record.headers
            self.records_read += 1
            self.bytes_read += record.size_in_bytes
            self.next_fetch_offset = record.offset + 1
            yield ConsumerRecord(
                tp.topic,
                tp.partition,
                self.leader_epoch,
                record.offset,
                record.timestamp,
                record.timestamp_type,
                key,
                value,
                headers,
                record.checksum,
                -1 if key is None else len(key),
                -1 if value is None else len(value),
                header_size(headers),
            )


def install_fast_unpacking(consumer: Any) -> bool:
    """Make ``consumer`` (a KafkaConsumer) read v2 batches with unpack_batch.

    False, with a warning, when kafka-python's internals are not the ones this was written
    and tested against (the stock path then stays: slower, same records)."""
    fetcher: Any = getattr(consumer, "_fetcher", None)
    fits = (
        isinstance(fetcher, Fetcher)
        and type(fetcher).PartitionRecords is Fetcher.PartitionRecords
        and callable(getattr(Fetcher.PartitionRecords, "_unpack_records", None))
        and "_buffer" in getattr(DefaultRecordBatch, "__slots__", ())
    )
    if not fits:
        log.warning("kafka-python internals differ from 3.0: records unpacked the stock way")
        return False
    fetcher.PartitionRecords = FastPartitionRecords
    return True
