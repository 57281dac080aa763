"""The panels that read the hourly rollups answer exactly what a scan of the event tables answers,
for ranges on and off the hour, shorter than an hour, and buckets under, at and over an hour;
migration 009 backfills the rollups from events stored before it, migration 010 sorts the
stored events by hour with the views still filling and reading the tables, migration 011
counts the batches of the events stored before it, and migration 016 partitions the rollups
sorted by site first by week with the views still filling them."""

from __future__ import annotations

import random
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

import orjson
import pytest

from dashboards.build import SPECS
from dashboards.macros import ALL, Value, expand
from dashboards.spec import SCOPE
from deploy.simulator import SHANGHAI, City
from streams.records import Record
from streams.sink import Sink
from streams.warehouse import ChdbWarehouse, literal, migrate
from tests.conftest import truncate

pytestmark = pytest.mark.integration
START = datetime(2026, 11, 20, tzinfo=SHANGHAI)
HOURS = 52
TIME = "$__timeFilter(occurred_at)"
RECEIVED = "event_type = 'parcels.received'"
# Each batch at its first record of each kind, placed and described as that record was.
FIRSTS = (
    "(SELECT site_id, batch_id, event_type, min(t) AS occurred_at, argMin(division_code, t) AS division_code, "
    "argMin(brand, t) AS brand, argMin(origin, t) AS origin, argMin(from_outside_city, t) AS from_outside_city "
    "FROM (SELECT *, occurred_at AS t FROM parcel_events "
    "WHERE event_type IN ('parcels.received', 'parcels.disinfected')) GROUP BY site_id, batch_id, event_type)"
)

# What each panel showed when it scanned the event tables, the reference it must still match (time
# series and the per-site bar chart now leave out buckets and sites with none of the counted events).
SCANS = {
    ("tongfang-overview", "事件总数"): f"SELECT count() AS `事件数` FROM raw_events WHERE {TIME} AND {SCOPE}",
    ("tongfang-disinfection", "到达与消毒件数"): (
        "SELECT toStartOfInterval(toDateTime(occurred_at), toIntervalSecond(BUCKET)) AS time, "
        "sumIf(item_count, event_type = 'parcels.received') AS `到达件数`, "
        "sumIf(item_count, event_type = 'parcels.disinfected') AS `消毒件数` FROM parcel_events "
        f"WHERE event_type IN ('parcels.received', 'parcels.disinfected') AND {TIME} AND {SCOPE} "
        "GROUP BY time ORDER BY time"
    ),
    ("tongfang-disinfection", "进口与国内批次"): (
        "SELECT if(origin = 'imported', '进口', '国内') AS `来源`, count() AS `批次数` "
        f"FROM {FIRSTS} WHERE {RECEIVED} AND {TIME} AND {SCOPE} GROUP BY `来源` ORDER BY `来源`"
    ),
    ("tongfang-disinfection", "各网点消毒批次"): (
        "SELECT site_id AS `网点`, countIf(event_type = 'parcels.received') AS `到达批次`, "
        f"countIf(event_type = 'parcels.disinfected') AS `已消毒批次` FROM {FIRSTS} "
        f"WHERE {TIME} AND {SCOPE} GROUP BY site_id ORDER BY `到达批次` DESC, `网点` LIMIT 20"
    ),
    ("tongfang-staff-health", "健康监测与上岗人次"): (
        "SELECT toStartOfInterval(toDateTime(occurred_at), toIntervalSecond(BUCKET)) AS time, "
        "countIf(event_type = 'staff.health_checked') AS `监测人次`, "
        "countIf(event_type = 'staff.shift_started') AS `上岗人次` "
        "FROM staff_health_events WHERE event_type IN ('staff.health_checked', 'staff.shift_started') "
        f"AND {TIME} AND {SCOPE} GROUP BY time ORDER BY time"
    ),
    ("tongfang-vehicles", "闭环运行车辆"): (
        "SELECT uniqExact(vehicle_id) AS `车辆数` FROM vehicle_events "
        f"WHERE event_type = 'vehicle.departed' AND {TIME} AND {SCOPE}"
    ),
    ("tongfang-vehicles", "发车与到达"): (
        "SELECT toStartOfInterval(toDateTime(occurred_at), toIntervalSecond(BUCKET)) AS time, "
        "countIf(event_type = 'vehicle.departed') AS `发车`, countIf(event_type = 'vehicle.arrived') AS `到达` "
        "FROM vehicle_events WHERE event_type IN ('vehicle.departed', 'vehicle.arrived') "
        f"AND {TIME} AND {SCOPE} GROUP BY time ORDER BY time"
    ),
    ("tongfang-vehicles", "各线路运行情况"): (
        "SELECT route_id AS `线路`, uniqExact(vehicle_id) AS `车辆数`, "
        "countIf(event_type = 'vehicle.departed') AS `发车次数`, "
        "countIf(event_type = 'vehicle.arrived') AS `到达次数`, "
        "countIf(event_type = 'vehicle.stopped') AS `计划外停车` FROM vehicle_events "
        f"WHERE route_id != '' AND {TIME} AND {SCOPE} GROUP BY route_id ORDER BY `线路`"
    ),
    ("tongfang-overview", "健康监测合规率"): (
        "SELECT countIf(event_type = 'staff.shift_started') AS shifts FROM staff_health_events "
        f"WHERE {TIME} AND {SCOPE}"
    ),
    ("tongfang-overview", "消毒合规率"): (
        f"SELECT count() AS batches FROM {FIRSTS} WHERE "
        f"{RECEIVED} AND (origin = 'imported' OR from_outside_city) AND {TIME} AND {SCOPE}"
    ),
}
# The two rates divide by a count the rollups now give; compare that count, taken from the panel.
DENOMINATORS = {"健康监测合规率": "shifts", "消毒合规率": "batches"}


def panel_sql(uid: str, title: str) -> str:
    [panel] = [p for spec in SPECS if spec.uid == uid for p in spec.panels if p.title == title]
    if title in DENOMINATORS:  # the panel's own denominator subquery, `… AS s` / `… AS b` before CROSS JOIN
        alias = DENOMINATORS[title]
        inner = panel.sql.split("FROM (", 1)[1].rsplit(" CROSS JOIN ", 1)[0]
        return f"SELECT {alias} FROM ({inner.rsplit(') AS ', 1)[0]})"
    return panel.sql


def bucket_seconds(interval_s: int) -> int:
    return interval_s if interval_s < 1800 else -(-interval_s // 3600) * 3600


def ranges() -> list[tuple[datetime, datetime]]:
    rng = random.Random(9)
    fixed = [
        (START, START + timedelta(hours=HOURS)),  # on the hour
        (START + timedelta(hours=7, minutes=17, seconds=23), START + timedelta(hours=31, seconds=41)),
        (START + timedelta(hours=9, minutes=5), START + timedelta(hours=9, minutes=55)),  # inside one hour
        (START + timedelta(hours=9, minutes=30), START + timedelta(hours=10, minutes=30)),  # across one boundary
    ]
    drawn = []
    for _ in range(8):
        since = START + timedelta(seconds=rng.randrange(HOURS * 3600))
        drawn.append((since, since + timedelta(seconds=rng.randrange(60, 30 * 3600))))
    return fixed + drawn


def city_events() -> list[dict[str, Any]]:
    city = City(seed=5, sites=10)
    return city.registrations(START - timedelta(days=1)) + list(city.events(START, HOURS))


def store(warehouse: ChdbWarehouse, bodies: list[dict[str, Any]]) -> None:
    now = int(datetime.now(SHANGHAI).timestamp() * 1000)
    records = [Record("events", 0, n, b"", orjson.dumps(body), now) for n, body in enumerate(bodies)]
    for start in range(0, len(records), 5000):
        Sink(warehouse).write(records[start : start + 5000])


def assert_panels_match_scans(warehouse: ChdbWarehouse) -> int:
    compared = 0
    scopes: list[dict[str, Value]] = [
        {"jurisdiction": "33", "brand": ALL, "site": ALL},
        {"jurisdiction": "3301", "brand": ["sf", "yt"], "site": ALL},
    ]
    for (uid, title), scan in SCANS.items():
        for since, until in ranges():
            for interval_s in (300, 1800, 3600, 7200):
                for variables in scopes:
                    expected = warehouse.query(
                        expand(scan.replace("BUCKET", str(bucket_seconds(interval_s))), since, until, variables)
                    )
                    got = warehouse.query(expand(panel_sql(uid, title), since, until, variables, interval_s))
                    assert got == expected, (title, since, until, interval_s, variables)
                    compared += bool(expected) and any(v not in (0, "0") for row in expected for v in row.values())
    return compared


@pytest.fixture(scope="module")
def city(warehouse: ChdbWarehouse) -> ChdbWarehouse:
    store(truncate(warehouse), city_events())
    return warehouse


def test_rollup_panels_equal_scans_of_the_event_tables(city):
    assert city.query("SELECT count() AS n FROM parcels_hourly")[0]["n"] > 0
    assert assert_panels_match_scans(city) > 500  # most comparisons are over non-empty answers


def test_the_migration_backfills_rollups_from_events_stored_before_it(city):
    for name in ("events_hourly", "parcels_hourly", "vehicles_hourly"):
        city.execute(f"DROP TABLE {name}_mv")
        city.execute(f"DROP TABLE {name}")
    city.execute("ALTER TABLE schema_migrations DELETE WHERE version = 9 SETTINGS mutations_sync = 1")
    truncate(city)
    store(city, city_events())
    assert migrate(city) == ["009_hourly_rollups.sql"]
    assert assert_panels_match_scans(city) > 500


def test_the_migration_counts_the_batches_of_events_stored_before_it(city):
    truncate(city)
    store(city, city_events())
    for name in ("batch_firsts_timeline_mv", "batch_firsts_hourly_mv", "batch_firsts_timeline", "batch_firsts_hourly"):
        city.execute(f"DROP TABLE {name}")
    city.execute("DROP TABLE batch_firsts")  # as before 011: the events are stored, no batch counted
    city.execute("ALTER TABLE schema_migrations DELETE WHERE version = 11 SETTINGS mutations_sync = 1")
    assert migrate(city) == ["011_batch_firsts.sql"]
    assert city.query("SELECT sum(sign) > 100 AS ok FROM batch_firsts") == [{"ok": 1}]
    assert assert_panels_match_scans(city) > 500


# The sorting keys before migration 010, to rebuild the layout it starts from.
SITE_FIRST = {
    "raw_events": "site_id, occurred_at, event_id",
    "parcel_events": "division_code, site_id, event_type, occurred_at, event_id",
    "site_hygiene_events": "division_code, site_id, event_type, occurred_at, event_id",
    "staff_health_events": "division_code, site_id, event_type, occurred_at, event_id",
    "vehicle_events": "division_code, vehicle_id, occurred_at, event_id",
}
TYPED = [name for name in SITE_FIRST if name != "raw_events"]


def lay_out(warehouse: ChdbWarehouse, table: str, engine: str, partition: str, key: str) -> None:
    """Put an empty `table` of the layout a migration starts from in its place (views follow the name)."""
    warehouse.execute(
        f"CREATE TABLE {table}_before AS {table} ENGINE = {engine} PARTITION BY {partition} ORDER BY ({key})"
    )
    warehouse.execute(f"EXCHANGE TABLES {table} AND {table}_before")
    warehouse.execute(f"DROP TABLE {table}_before")


def table_column(warehouse: ChdbWarehouse, names: Iterable[str], column: str) -> dict[str, str]:
    """A column of system.tables (sorting_key, partition_key) for each of the tables `names`."""
    rows = warehouse.query(
        f"SELECT name, {column} AS value FROM system.tables WHERE database = currentDatabase() "
        f"AND name IN ({', '.join(literal(name) for name in names)})"
    )
    return {row["name"]: row["value"] for row in rows}


def row_counts(warehouse: ChdbWarehouse) -> dict[str, int]:
    return {name: warehouse.query(f"SELECT count() AS n FROM {name}")[0]["n"] for name in SITE_FIRST}


def test_the_migration_sorts_stored_events_by_hour_and_the_views_go_on_filling_and_reading_them(city):
    for table, key in SITE_FIRST.items():
        lay_out(city, table, "ReplacingMergeTree", "toYYYYMM(occurred_at)", key)
    city.execute("ALTER TABLE schema_migrations DELETE WHERE version = 10 SETTINGS mutations_sync = 1")
    truncate(city)
    bodies = city_events()
    store(city, bodies[: len(bodies) // 2])
    before = row_counts(city)
    assert min(before.values()) > 0

    assert migrate(city) == ["010_hour_first_event_keys.sql"]
    keys = table_column(city, SITE_FIRST, "sorting_key")
    assert len(keys) == len(SITE_FIRST)
    assert all(key.startswith("toStartOfHour(occurred_at), ") for key in keys.values()), keys
    assert row_counts(city) == before

    store(city, bodies[len(bodies) // 2 :])  # through the views on the exchanged tables
    assert row_counts(city)["raw_events"] > before["raw_events"]
    for table in TYPED:
        missing = city.query(
            f"SELECT count() AS n FROM raw_events WHERE event_type IN (SELECT event_type FROM {table}) "
            f"AND event_id NOT IN (SELECT event_id FROM {table})"
        )
        assert missing == [{"n": 0}], table
    for rollup, table in (
        ("events_hourly", "raw_events"),
        ("parcels_hourly", "parcel_events"),
        ("vehicles_hourly", "vehicle_events"),
    ):
        summed = city.query(f"SELECT sum(events) = (SELECT count() FROM {table}) AS ok FROM {rollup}")
        assert summed == [{"ok": 1}], rollup


# The rollups migration 016 partitions by week (their sorting keys put the site before the hour).
WEEKLY_ROLLUPS = ("events_hourly", "parcels_hourly", "vehicles_hourly")


def test_the_migration_partitions_the_rollups_by_week_and_the_views_go_on_filling_them(clean_warehouse):
    warehouse = clean_warehouse
    for table, key in table_column(warehouse, WEEKLY_ROLLUPS, "sorting_key").items():
        lay_out(warehouse, table, "AggregatingMergeTree", "toYYYYMM(hour)", key)
    warehouse.execute("ALTER TABLE schema_migrations DELETE WHERE version = 16 SETTINGS mutations_sync = 1")
    bodies = city_events()
    store(warehouse, bodies[: len(bodies) // 2])

    assert migrate(warehouse) == ["016_weekly_rollup_partitions.sql"]
    partitions = table_column(warehouse, WEEKLY_ROLLUPS, "partition_key")
    assert sorted(partitions.values()) == ["toMonday(hour)"] * len(WEEKLY_ROLLUPS), partitions

    store(warehouse, bodies[len(bodies) // 2 :])  # through the views into the exchanged tables
    assert assert_panels_match_scans(warehouse) > 500  # half of each answer was copied, half came after
