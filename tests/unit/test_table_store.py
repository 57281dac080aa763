"""Rule state goes to the changelog as orjson bytes and reads back, also when faust's codec wrote it."""

from __future__ import annotations

import asyncio
from typing import Any, cast

import orjson
import pytest
from faust.serializers import codecs
from faust.types import Message, ProducerT

from streams.faust_adapter.consumer import App
from streams.faust_adapter.table import PartitionKeyedTable, TableStore

STATE = {"rules": {"DIS-IMPORT": {"open": [["B1", 1764300000000]]}}, "site": {"name": "杭州西湖网点"}}


@pytest.fixture
def table() -> PartitionKeyedTable:
    app = App("table-test", broker="kafka://127.0.0.1:9", web_enabled=False, store="memory://")
    return PartitionKeyedTable(app, name="state", partitions=2, value_type=bytes)


class Producer:
    """Records what is sent, as faust's producer would take it, and acknowledges at once."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes, bytes, int]] = []

    async def send(
        self, topic: str, key: bytes, value: bytes, partition: int, timestamp: Any, headers: Any
    ) -> asyncio.Future[None]:
        self.sent.append((topic, key, value, partition))
        done = asyncio.get_running_loop().create_future()
        done.set_result(None)
        return done


def test_saved_state_goes_to_the_changelog_as_faust_s_recovery_reads_it(table: PartitionKeyedTable) -> None:
    producer = Producer()
    asyncio.run(TableStore(table, cast("ProducerT", producer)).save(1, {"site-a": STATE}))
    assert [(topic, value, partition) for topic, _, value, partition in producer.sent] == [
        ("table-test-state-changelog", orjson.dumps(STATE), 1)
    ]

    async def recovered() -> PartitionKeyedTable:
        """A fresh worker's table, from the changelog records through faust's own decoding."""
        fresh = PartitionKeyedTable(table.app, name="state2", partitions=2, value_type=bytes)
        events = [
            await fresh.changelog_topic.decode(
                Message(topic, partition, 0, 0.0, 0, None, key, value, None), propagate=True
            )
            for topic, key, value, partition in producer.sent
        ]
        fresh.apply_changelog_batch(events)
        return fresh

    fresh = asyncio.run(recovered())
    assert TableStore(fresh, cast("ProducerT", producer)).load(1) == {"site-a": STATE}
    assert TableStore(fresh, cast("ProducerT", producer)).load(0) == {}


def test_state_recovered_from_a_changelog_faust_s_codec_wrote_loads(table: PartitionKeyedTable) -> None:
    table.data["0|site-b"] = codecs.dumps("json", STATE)  # what recovery puts in the table
    assert TableStore(table, cast("ProducerT", Producer())).load(0) == {"site-b": STATE}
