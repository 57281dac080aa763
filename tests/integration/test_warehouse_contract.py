"""One contract for both `Warehouse` implementations: what the sink, the rules' stores and the
readers rely on. chDB runs here always; a ClickHouse server only when one is given
(TONGFANG_TEST_CLICKHOUSE_HOST, port TONGFANG_TEST_CLICKHOUSE_PORT, user default): none can be
started on this machine (no container engine, and Debian's clickhouse-server is 18.16, years older
than the SQL the migrations use), so on it the contract runs against chDB alone."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import orjson
import pytest

from streams.settings import Settings
from streams.warehouse import ServerWarehouse, Warehouse, WarehouseError, migrate

pytestmark = pytest.mark.integration

SERVER = os.environ.get("TONGFANG_TEST_CLICKHOUSE_HOST")


@pytest.fixture(params=["chdb", "server"])
def store(request: pytest.FixtureRequest, warehouse: Warehouse) -> Iterator[Warehouse]:
    if request.param == "chdb":
        yield warehouse
        return
    if not SERVER:
        pytest.skip("no ClickHouse server given (TONGFANG_TEST_CLICKHOUSE_HOST); none can start here")
    port = int(os.environ.get("TONGFANG_TEST_CLICKHOUSE_PORT", "9000"))
    database = f"contract_{uuid.uuid4().hex[:8]}"
    admin = ServerWarehouse(Settings(warehouse="clickhouse", clickhouse_host=SERVER, clickhouse_port=port))
    admin.execute(f"CREATE DATABASE {database}")
    server = ServerWarehouse(
        Settings(warehouse="clickhouse", clickhouse_host=SERVER, clickhouse_port=port, clickhouse_database=database)
    )
    migrate(server)
    yield server
    server.close()
    admin.execute(f"DROP DATABASE {database}")
    admin.close()


def test_rows_inserted_as_json_lines_read_back_with_their_types(store: Warehouse) -> None:
    table = f"contract_{uuid.uuid4().hex[:8]}"
    store.execute(
        f"CREATE TABLE {table} (id UUID, n UInt32, at DateTime64(3, 'UTC'), tags Array(String)) "
        "ENGINE = MergeTree ORDER BY id"
    )
    rows = [{"id": str(uuid.uuid4()), "n": n, "at": "2026-11-23 00:00:00.125", "tags": ["a", "乙"]} for n in range(3)]
    store.insert_json(table, b"\n".join(orjson.dumps(row) for row in rows))
    read = store.query(f"SELECT toString(id) AS id, n, toUnixTimestamp64Milli(at) AS ms, tags FROM {table} ORDER BY n")
    assert [(row["id"], row["n"], int(row["ms"]), row["tags"]) for row in read] == [
        (row["id"], row["n"], 1795392000125, ["a", "乙"]) for row in rows
    ]
    store.execute(f"DROP TABLE {table}")


def test_an_empty_insert_writes_nothing_and_a_table_name_is_checked(store: Warehouse) -> None:
    table = f"contract_{uuid.uuid4().hex[:8]}"
    store.execute(f"CREATE TABLE {table} (n UInt32) ENGINE = MergeTree ORDER BY n")
    store.insert_json(table, b"")
    assert store.query(f"SELECT count() AS c FROM {table}") == [{"c": 0}]
    with pytest.raises(WarehouseError, match="not a table name"):
        store.insert_json(f"{table}; DROP TABLE {table}", b'{"n": 1}')
    store.execute(f"DROP TABLE {table}")


def test_the_migrations_leave_the_tables_the_pipeline_writes(store: Warehouse) -> None:
    names = {row["name"] for row in store.query("SELECT name FROM system.tables WHERE database = currentDatabase()")}
    assert {"raw_events", "alerts", "dead_letters", "schema_migrations", "sites", "staff"} <= names


def test_a_bad_statement_raises_and_the_store_still_answers(store: Warehouse) -> None:
    with pytest.raises(Exception, match=r"(?i)unknown|syntax|exist"):
        store.query("SELECT * FROM no_such_table_here")
    assert store.query("SELECT 1 AS one") == [{"one": 1}]
