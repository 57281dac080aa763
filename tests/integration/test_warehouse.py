from __future__ import annotations

import pytest

from streams.warehouse import MIGRATIONS_DIR, WarehouseError, migrate

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
