"""Rule state goes to the changelog as orjson bytes and reads back, also when faust's codec wrote it."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
import pytest
from faust.serializers import codecs

from streams.app import PartitionKeyedTable, TableStore
from streams.consumer import App

STATE = {"rules": {"DIS-IMPORT": {"open": [["B1", 1764300000000]]}}, "site": {"name": "杭州西湖网点"}}


@pytest.fixture
def table() -> PartitionKeyedTable:
    app = App("table-test", broker="kafka://127.0.0.1:9", web_enabled=False, store="memory://")
    return PartitionKeyedTable(app, name="state", partitions=2, value_type=bytes)


def test_saved_state_is_sent_as_json_bytes_and_loads_back(table: PartitionKeyedTable, monkeypatch) -> None:
    sent: list[tuple[int, str, Any]] = []

    def send_changelog(partition: int, key: str, value: Any) -> asyncio.Future[None]:
        sent.append((partition, key, value))
        done = asyncio.get_running_loop().create_future()
        done.set_result(None)
        return done

    monkeypatch.setattr(table, "send_changelog", send_changelog)
    store = TableStore(table)
    asyncio.run(store.save(1, {"site-a": STATE}))
    assert sent == [(1, "1|site-a", orjson.dumps(STATE))]
    assert store.load(1) == {"site-a": STATE}
    assert store.load(0) == {}


def test_state_recovered_from_a_changelog_faust_s_codec_wrote_loads(table: PartitionKeyedTable) -> None:
    table.data["0|site-b"] = codecs.dumps("json", STATE)  # what recovery puts in the table
    assert TableStore(table).load(0) == {"site-b": STATE}
