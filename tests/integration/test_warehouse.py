from __future__ import annotations

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from streams.warehouse import MIGRATIONS_DIR, ChdbWarehouse, QueryLimits, ReadPool, WarehouseError, migrate
from streams.web import Queries, adhoc_slots

pytestmark = pytest.mark.integration


def test_migrations_are_recorded_in_order_and_rerunning_is_a_no_op(warehouse):
    assert migrate(warehouse) == []
    names = [row["name"] for row in warehouse.query("SELECT name FROM schema_migrations ORDER BY version")]
    files = sorted(path.name for path in MIGRATIONS_DIR.glob("[0-9][0-9][0-9]_*.sql"))
    assert names[: len(files)] == files


def test_a_migration_edited_after_it_ran_is_refused(warehouse, tmp_path):
    (tmp_path / "901_probe.sql").write_text(
        "-- probe\nCREATE TABLE IF NOT EXISTS probe_901 (x UInt8) ENGINE = MergeTree ORDER BY x;\n"
    )
    assert migrate(warehouse, tmp_path) == ["901_probe.sql"]
    assert migrate(warehouse, tmp_path) == []
    (tmp_path / "901_probe.sql").write_text("CREATE TABLE probe_901b (x UInt8) ENGINE = MergeTree ORDER BY x;\n")
    with pytest.raises(WarehouseError, match=r"901_probe\.sql changed"):
        migrate(warehouse, tmp_path)


def test_a_worker_that_may_not_migrate_refuses_pending_migrations_and_applies_none(warehouse, tmp_path):
    (tmp_path / "902_probe.sql").write_text("CREATE TABLE probe_902 (x UInt8) ENGINE = MergeTree ORDER BY x;\n")
    with pytest.raises(WarehouseError, match=r"pending migrations \(902_probe\.sql\): run `tongfang migrate`"):
        migrate(warehouse, tmp_path, apply=False)
    assert warehouse.query("SELECT count() AS n FROM system.tables WHERE name = 'probe_902'") == [{"n": 0}]
    assert migrate(warehouse, tmp_path) == ["902_probe.sql"]
    assert migrate(warehouse, tmp_path, apply=False) == []


def test_every_table_states_its_engine_and_sorting_key(warehouse):
    rows = warehouse.query(
        "SELECT name, engine, sorting_key FROM system.tables "
        "WHERE database = currentDatabase() AND engine LIKE '%MergeTree'"
    )
    assert {row["name"] for row in rows} >= {"raw_events", "parcel_events", "staff_health_events", "dead_letters"}
    assert all(row["sorting_key"] for row in rows)


def test_a_query_beside_the_inserts_answers_during_one_and_a_query_after_them_once_it_ended(warehouse):
    warehouse.execute("CREATE TABLE probe_slow (x UInt64) ENGINE = MergeTree ORDER BY x")
    inserts, beside = ThreadPoolExecutor(1), ThreadPoolExecutor(1)
    queries = Queries(ReadPool([ChdbWarehouse(warehouse.path, read_only=True)]), beside, inserts, adhoc_slots(1))
    count = "SELECT count() AS n FROM probe_slow"

    async def during_and_after() -> tuple[list[dict[str, object]], list[dict[str, object]]]:
        return await queries.rows(count), await queries.rows(count, after_inserts=True)

    try:
        inserted = inserts.submit(  # two blocks of 1 000 rows, a second each
            warehouse.execute,
            "INSERT INTO probe_slow SELECT number FROM numbers(2000) WHERE sleepEachRow(0.001) = 0 "
            "SETTINGS max_block_size = 1000",
        )
        time.sleep(0.3)
        assert asyncio.run(during_and_after()) == ([{"n": 0}], [{"n": 2000}])
        assert inserted.done()
    finally:
        inserts.shutdown()
        beside.shutdown()
        warehouse.execute("DROP TABLE IF EXISTS probe_slow")


@pytest.mark.parametrize(
    "sql",
    [
        "INSERT INTO dead_letters (reason) VALUES ('probe')",
        "CREATE TABLE probe_ro (x UInt8) ENGINE = MergeTree ORDER BY x",
        "SELECT count() FROM file('/etc/hostname', 'LineAsString')",
        "SELECT * FROM url('http://127.0.0.1:9/', 'LineAsString')",
        "SELECT 1 SETTINGS readonly = 0",
        "SET readonly = 0",
    ],
)
def test_a_read_only_connection_refuses_what_is_not_a_plain_read(warehouse, sql):
    reader = ChdbWarehouse(warehouse.path, read_only=True)
    try:
        with pytest.raises(RuntimeError, match="readonly mode"):
            reader.query(sql)
        assert reader.query("SELECT count() AS n FROM numbers(3)") == [{"n": 3}]
    finally:
        reader.close()


def test_a_read_connection_stops_a_query_past_its_time_or_its_memory(warehouse):
    reader = ChdbWarehouse(warehouse.path, read_only=True, limits=QueryLimits(seconds=1, memory_bytes=100 * 1024**2))
    try:
        with pytest.raises(RuntimeError, match="TIMEOUT_EXCEEDED"):
            reader.query("SELECT count() FROM numbers(100000000000)")
        with pytest.raises(RuntimeError, match="MEMORY_LIMIT_EXCEEDED"):
            reader.query("SELECT groupArray(number) FROM numbers(100000000)")
        with pytest.raises(RuntimeError, match="readonly mode"):
            reader.query("SELECT 1 SETTINGS max_execution_time = 100")  # the limits cannot be lifted
        assert reader.query("SELECT count() AS n FROM numbers(3)") == [{"n": 3}]
    finally:
        reader.close()


def test_peoples_queries_take_turns_and_leave_a_connection_to_the_services(warehouse):
    """Two read connections, one ad-hoc slot: a second person's query waits for the first, a
    service's runs beside it."""
    pool = ReadPool([ChdbWarehouse(warehouse.path, read_only=True) for _ in range(2)])
    beside = ThreadPoolExecutor(3)
    queries = Queries(pool, beside, beside, adhoc_slots(2))
    slow = "SELECT count() AS n FROM numbers(1500) WHERE sleepEachRow(0.001) = 0"
    order: list[str] = []

    async def run(name: str, sql: str, adhoc: bool) -> None:
        await queries.rows(sql, adhoc=adhoc)
        order.append(name)

    async def three() -> None:
        first = asyncio.create_task(run("person 1", slow, True))
        await asyncio.sleep(0.2)
        second = asyncio.create_task(run("person 2", "SELECT 1", True))
        service = asyncio.create_task(run("service", "SELECT 1", False))
        await asyncio.gather(first, second, service)

    try:
        asyncio.run(three())
    finally:
        beside.shutdown()
    assert order == ["service", "person 1", "person 2"]
