"""What streams/faust_adapter relies on in faust and aiokafka beyond their public API, pinned: an
upgrade that changes any of it fails here, in one place, before it misbehaves in the worker."""

from __future__ import annotations

import inspect
from importlib.metadata import version

import aiokafka
import faust
from faust import topics as faust_topics
from faust.transport import consumer as faust_consumer
from faust.transport.drivers import aiokafka as aiokafka_driver

from streams.faust_adapter.consumer import App, Consumer, ConsumerThread
from streams.faust_adapter.stream import Stream
from streams.faust_adapter.table import PartitionKeyedTable


def parameters(function: object) -> list[str]:
    return list(inspect.signature(function).parameters)  # type: ignore[arg-type]


def test_faust_is_the_version_the_adapter_was_written_against():
    major, minor, *_ = (int(part) for part in version("faust-streaming").split(".")[:3])
    assert (major, minor) == (0, 15)


def test_the_consumers_offset_bookkeeping_hooks_are_there_with_their_signatures():
    base = faust_consumer.Consumer
    assert parameters(base._new_offset) == ["self", "tp"]
    assert parameters(base._add_gap) == ["self", "tp", "offset_from", "offset_to"]
    assert inspect.iscoroutinefunction(base._add_gap)
    assert inspect.iscoroutinefunction(base.seek_to_committed)
    source = inspect.getsource(base)
    assert "self._acked_index" in source  # the state _new_offset reads
    assert "self._committed_offset" in source
    assert issubclass(Consumer, aiokafka_driver.Consumer)


def test_the_fetch_wait_is_aiokafkas_private_attribute_read_when_the_consumer_starts():
    assert parameters(aiokafka_driver.AIOKafkaConsumerThread._create_worker_consumer) == ["self", "transport"]
    assert "self._fetch_max_wait_ms" in inspect.getsource(aiokafka.AIOKafkaConsumer.__init__)
    assert "_fetch_max_wait_ms" in inspect.getsource(aiokafka.consumer.fetcher.Fetcher.__init__)
    assert issubclass(ConsumerThread, aiokafka_driver.AIOKafkaConsumerThread)


def test_the_stream_hooks_batches_rely_on_are_there():
    for name in ("_enable_passive", "add_processor", "ack", "wait", "enable_acks", "current_event"):
        assert hasattr(faust.Stream, name), name
    assert issubclass(Stream, faust.Stream)


def test_the_table_hooks_rule_state_relies_on_are_there():
    assert parameters(faust.Table.partition_for_key) == ["self", "key"]
    assert parameters(faust_topics.Topic.prepare_key)[:3] == ["self", "key", "key_serializer"]
    assert issubclass(PartitionKeyedTable, faust.Table)
    assert issubclass(App, faust.App)
