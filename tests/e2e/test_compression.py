"""Ingest's records reach the broker compressed as the setting says, and the worker's client reads them."""

from __future__ import annotations

import asyncio
import struct
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer

from deploy.kafka_broker import KafkaBroker
from services.ingest.producer import EventProducer
from streams.topics import ensure_topics
from tests.conftest import stack_settings

CODECS = {"none": 0, "gzip": 1, "lz4": 3, "zstd": 4}  # the record batch's attributes, bits 0-2
VALUE = b'[{"event_type":"parcels.received","payload":{"item_count":120}}]' * 50


def batch_codecs(segment: Path) -> list[int]:
    """The compression of each record batch in a log segment (Kafka's v2 batch header)."""
    data, codecs, at = segment.read_bytes(), [], 0
    while at + 23 <= len(data):
        (length,) = struct.unpack_from(">i", data, at + 8)
        (attributes,) = struct.unpack_from(">h", data, at + 21)
        codecs.append(attributes & 0x7)
        at += 12 + length
    return codecs


@pytest.mark.parametrize("codec", ["lz4", "zstd", "none"])
def test_ingest_produces_compressed_batches_that_the_worker_s_client_reads(
    kafka: KafkaBroker, tmp_path: Path, codec: str
) -> None:
    settings = stack_settings(kafka.bootstrap, tmp_path, ingest_compression=codec, topic_partitions=1)
    ensure_topics(settings)

    async def produce_and_read() -> bytes:
        producer = EventProducer(settings)
        try:
            await producer.send(b"site-a", VALUE, 0)
        finally:
            producer.close()
        consumer = AIOKafkaConsumer(
            settings.topic_events, bootstrap_servers=kafka.bootstrap, auto_offset_reset="earliest"
        )
        await consumer.start()
        try:
            record = await asyncio.wait_for(consumer.getone(), timeout=30)
        finally:
            await consumer.stop()
        return bytes(record.value)

    assert asyncio.run(produce_and_read()) == VALUE
    segments = sorted((kafka.data_dir / "log" / f"{settings.topic_events}-0").glob("*.log"))
    assert batch_codecs(segments[0]) == [CODECS[codec]]
