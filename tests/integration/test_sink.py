from __future__ import annotations

import base64
import re
from datetime import timedelta

import orjson
import pytest

from streams.records import Record
from streams.sink import Sink
from streams.warehouse import id_set, migrate, pair_set
from tests import factories

pytestmark = pytest.mark.integration
KAFKA_TIME_MS = int((factories.BASE_TIME + timedelta(hours=1)).timestamp() * 1000)


def records(*values: object, start: int = 0) -> list[Record]:
    out = []
    for offset, value in enumerate(values, start):
        raw = value if isinstance(value, bytes) else orjson.dumps(value)
        out.append(Record("events", 0, offset, b"site-a1", raw, KAFKA_TIME_MS))
    return out


def test_batch_record_lands_in_raw_and_typed_tables_with_site_placement(clean_warehouse):
    sink = Sink(clean_warehouse)
    batch = [factories.site_registered(division="330106", brand="sf"), factories.parcels_received(count=42)]
    result = sink.write(records(batch))
    assert (result.stored, result.duplicates, result.parked) == (2, 0, [])
    rows = clean_warehouse.query("SELECT site_id, division_code, brand, item_count, origin FROM parcel_events")
    assert rows == [
        {"site_id": "site-a1", "division_code": "330106", "brand": "sf", "item_count": 42, "origin": "domestic"}
    ]
    assert clean_warehouse.query("SELECT name, division_code FROM sites") == [
        {"name": "文三路网点", "division_code": "330106"}
    ]


def test_replayed_records_and_repeated_ids_are_stored_once(clean_warehouse):
    sink = Sink(clean_warehouse)
    batch = records([factories.site_registered(), factories.parcels_received()], factories.health_checked())
    assert sink.write(batch).stored == 3
    again = Sink(clean_warehouse).write(batch)  # a fresh worker after a crash replays the same records
    assert (again.stored, again.duplicates) == (0, 3)
    assert clean_warehouse.query("SELECT count() AS n, uniqExact(event_id) AS ids FROM raw_events") == [
        {"n": 3, "ids": 3}
    ]


def test_malformed_and_invalid_records_are_parked_with_the_reason(clean_warehouse):
    sink = Sink(clean_warehouse)
    sink.write(records(factories.site_registered()))
    bad_event = factories.health_checked(temperature=51)
    result = sink.write(records(b"\xff\xfegarbage", [factories.parcels_received(), bad_event], start=10))
    assert result.stored == 1
    parked = clean_warehouse.query(
        "SELECT kafka_offset, record_index, event_id, field, reason, value_base64 FROM dead_letters "
        "ORDER BY kafka_offset, record_index"
    )
    assert [(p["kafka_offset"], p["record_index"], p["field"]) for p in parked] == [
        (10, 0, "$"),
        (11, 1, "payload.temperature"),
    ]
    assert "not valid JSON" in parked[0]["reason"]
    assert parked[1]["event_id"] == bad_event["event_id"]
    assert base64.b64decode(parked[0]["value_base64"]) == b"\xff\xfegarbage"


def test_events_for_unregistered_or_foreign_sites_are_parked_not_stored(clean_warehouse):
    sink = Sink(clean_warehouse)
    sink.write(records(factories.site_registered(enterprise="ent-a")))
    intruder = factories.parcels_received(enterprise="ent-b")
    orphan = factories.parcels_received(site="site-unknown")
    result = Sink(clean_warehouse).write(records(intruder, orphan))
    assert result.stored == 0
    assert sorted(letter.reason for letter in result.parked) == [
        "the site is not registered; post site.registered first",
        "the site is registered to another enterprise",
    ]
    assert clean_warehouse.query("SELECT count() AS n FROM raw_events WHERE event_type = 'parcels.received'") == [
        {"n": 0}
    ]


def test_received_at_defaults_to_the_kafka_timestamp_for_outside_producers(clean_warehouse):
    Sink(clean_warehouse).write(records(factories.site_registered()))
    row = clean_warehouse.query("SELECT toUnixTimestamp64Milli(received_at) AS ms FROM raw_events")[0]
    assert row["ms"] == KAFKA_TIME_MS


def test_a_batch_larger_than_one_lookup_query_is_deduplicated_too(clean_warehouse):
    sink = Sink(clean_warehouse)
    sink.write(records(factories.site_registered()))
    many = [factories.health_checked() for _ in range(9000)]  # more ids than fit in one IN (...) query
    batch = records(many[:4500], many[4500:], start=1)
    assert sink.write(batch).stored == 9000
    assert Sink(clean_warehouse).write(batch).duplicates == 9000
    assert clean_warehouse.query("SELECT count() AS n FROM raw_events") == [{"n": 9001}]


def test_events_from_the_future_or_the_distant_past_are_parked(clean_warehouse):
    sink = Sink(clean_warehouse)
    sink.write(records(factories.site_registered()))
    future = factories.parcels_received(at=factories.BASE_TIME + timedelta(days=3))
    ancient = factories.parcels_received(at=factories.BASE_TIME - timedelta(days=500))
    result = sink.write(records(future, ancient, start=5))
    assert result.stored == 0
    assert [(letter.field, letter.reason.split(" (")[0].split(" than")[0]) for letter in result.parked] == [
        ("occurred_at", "is in the future"),
        ("occurred_at", "is more"),
    ]


def batch_counts(warehouse) -> dict[tuple[str, str, str], int]:
    """Net batches per (hour, kind, origin) in the ledger, its timeline and its hourly rollup."""
    counts = {}
    for table, time, value in (
        ("batch_firsts", "toStartOfHour(occurred_at)", "sum(sign)"),
        ("batch_firsts_timeline", "toStartOfHour(occurred_at)", "sum(sign)"),
        ("batch_firsts_hourly", "hour", "sum(batches)"),
    ):
        rows = warehouse.query(
            f"SELECT toString({time}) AS hour, event_type, origin, {value} AS n FROM {table} "
            "GROUP BY hour, event_type, origin HAVING n != 0 ORDER BY hour, event_type, origin"
        )
        counts[table] = {(row["hour"][11:16], row["event_type"][8:], row["origin"]): row["n"] for row in rows}
    assert counts["batch_firsts"] == counts["batch_firsts_timeline"] == counts["batch_firsts_hourly"]
    return counts["batch_firsts"]


def test_a_batch_counts_once_at_its_first_receipt_and_first_disinfection(clean_warehouse):
    sink = Sink(clean_warehouse)
    hour = timedelta(hours=1)
    t = factories.BASE_TIME - 6 * hour  # 02:00, all before the records' Kafka time
    sink.write(records(factories.site_registered()))
    sink.write(
        records(
            [
                factories.parcels_received("B1", at=t + 2 * hour),
                factories.parcels_received("B1", at=t + 3 * hour),  # a second truck of the same batch
                factories.parcels_received("B2", origin="imported", at=t + 2 * hour),
                factories.parcels_disinfected("B1", at=t + 4 * hour),
            ],
            start=1,
        )
    )
    assert batch_counts(clean_warehouse) == {
        ("04:00", "received", "domestic"): 1,
        ("04:00", "received", "imported"): 1,
        ("06:00", "disinfected", ""): 1,
    }
    # Records of B1 that happened earlier arrive late: B1 moves to its earliest receipt and
    # disinfection, and is still one batch of each kind.
    sink.write(
        records(
            factories.parcels_received("B1", at=t),
            factories.parcels_disinfected("B1", at=t + 3 * hour),
            factories.parcels_received("B2", origin="imported", at=t + 5 * hour),  # later: no change
            start=2,
        )
    )
    assert batch_counts(clean_warehouse) == {
        ("02:00", "received", "domestic"): 1,
        ("04:00", "received", "imported"): 1,
        ("05:00", "disinfected", ""): 1,
    }


def test_a_replay_after_the_ledger_was_written_but_not_the_events_counts_nothing_twice(clean_warehouse):
    sink = Sink(clean_warehouse)
    sink.write(records(factories.site_registered()))
    earlier = factories.BASE_TIME - timedelta(hours=1)
    batch = records(factories.parcels_received("B1"), factories.parcels_received("B2", at=earlier), start=1)
    events_insert = clean_warehouse.insert_json

    def crash_on_events(table: str, lines: bytes) -> None:
        if table == "raw_events":
            raise RuntimeError("killed before the events were stored")
        events_insert(table, lines)

    clean_warehouse.insert_json = crash_on_events
    try:
        with pytest.raises(RuntimeError):
            sink.write(batch)
    finally:
        clean_warehouse.insert_json = events_insert
    assert clean_warehouse.query("SELECT count() AS n FROM parcel_events") == [{"n": 0}]
    counted = batch_counts(clean_warehouse)
    assert sum(counted.values()) == 2

    again = Sink(clean_warehouse).write(batch)  # the worker restarts and reads the records again
    assert again.stored == 2
    assert batch_counts(clean_warehouse) == counted
    assert clean_warehouse.query("SELECT count() AS n FROM batch_firsts") == [{"n": 2}]


def test_ids_stored_before_migration_014_are_still_skipped_and_new_ones_are_indexed(clean_warehouse):
    """014 copies the dedupe index into small granules and exchanges the tables under the view."""
    warehouse = clean_warehouse
    warehouse.execute("CREATE TABLE event_ids_before AS event_ids ENGINE = ReplacingMergeTree ORDER BY event_id")
    warehouse.execute("EXCHANGE TABLES event_ids AND event_ids_before")  # the layout 014 starts from
    warehouse.execute("DROP TABLE event_ids_before")
    warehouse.execute("ALTER TABLE schema_migrations DELETE WHERE version = 14 SETTINGS mutations_sync = 1")
    assert "index_granularity = 256" not in event_ids_definition(warehouse)
    stored = records(factories.site_registered(), *(factories.health_checked() for _ in range(300)))
    assert Sink(warehouse).write(stored).stored == 301

    assert migrate(warehouse) == ["014_event_ids_small_granules.sql"]
    assert "index_granularity = 256" in event_ids_definition(warehouse)
    assert Sink(warehouse).write(stored).duplicates == 301  # found in the copied index
    later = records(*(factories.health_checked() for _ in range(50)), start=301)
    assert Sink(warehouse).write(later).stored == 50
    assert Sink(warehouse).write(later).duplicates == 50  # the view fills the exchanged table
    assert warehouse.query("SELECT count() AS n, uniqExact(event_id) AS ids FROM event_ids") == [{"n": 351, "ids": 351}]


def event_ids_definition(warehouse) -> str:
    rows = warehouse.query(
        "SELECT create_table_query AS sql FROM system.tables WHERE database = currentDatabase() AND name = 'event_ids'"
    )
    return str(rows[0]["sql"])


def test_looking_up_an_alert_id_reads_one_granule_not_the_table(clean_warehouse):
    """Alerts are sorted by division and rule first; the id's bloom filter (015) finds its granule.
    A bloom filter may let a granule of another id through (about 2.5 % each): one more is allowed,
    and the ids are fixed so that the same plan is checked every run."""
    clean_warehouse.execute(
        "INSERT INTO alerts (alert_id, alert_type, rule_id, division_code, at) "
        "SELECT reinterpretAsUUID(MD5(toString(number))), 'alert.raised', "
        "['DIS-IMPORT', 'STAFF-FEVER', 'VEH-ROUTE'][1 + number % 3], "
        "toString(330100 + number % 13), toDateTime64('2026-11-23 08:00:00', 3, 'Asia/Shanghai') FROM numbers(50000)"
    )
    wanted = clean_warehouse.query("SELECT toString(alert_id) AS id FROM alerts ORDER BY alert_id LIMIT 1 OFFSET 30000")
    plan = "\n".join(
        row["explain"]
        for row in clean_warehouse.query(
            f"EXPLAIN indexes = 1 SELECT alert_id FROM alerts WHERE alert_id IN {id_set([wanted[0]['id']])}"
        )
    )
    table = re.search(r"Partition\n.*\n.*\n\s*Granules: \d+/(\d+)", plan)
    assert table is not None, plan
    assert int(table.group(1)) >= 6, plan
    bloom = re.search(r"Name: alert_id_bloom\n.*\n.*\n\s*Granules: (\d+)/\d+", plan)
    assert bloom is not None, plan
    assert int(bloom.group(1)) <= 2, plan


def test_the_ledger_s_lookup_finds_exactly_its_pairs_and_reads_only_their_granules(clean_warehouse):
    """The ledger is looked up by (site, batch) pairs, passed as two strings (`pair_set`); a value
    with a comma, which would split in two, is refused."""
    clean_warehouse.execute(
        "INSERT INTO batch_firsts (site_id, batch_id, event_type, occurred_at, sign) "
        "SELECT concat('S', toString(number % 100)), concat('B', toString(number)), 'parcels.received', "
        "toDateTime64('2026-11-23 08:00:00', 3, 'Asia/Shanghai'), 1 FROM numbers(50000)"
    )
    wanted = [("S1", "B1"), ("S2", "B2"), ("S1", "B2"), ("S7", "B49907")]  # S1 and B2 each exist, not together
    condition = f"(site_id, batch_id) IN {pair_set(wanted)}"
    found = clean_warehouse.query(f"SELECT site_id, batch_id FROM batch_firsts WHERE {condition} ORDER BY batch_id")
    assert [(row["site_id"], row["batch_id"]) for row in found] == [("S1", "B1"), ("S2", "B2"), ("S7", "B49907")]
    plan = "\n".join(
        row["explain"]
        for row in clean_warehouse.query(f"EXPLAIN indexes = 1 SELECT batch_id FROM batch_firsts WHERE {condition}")
    )
    granules = re.search(r"PrimaryKey\n(?:.*\n)*?\s*Granules: (\d+)/(\d+)", plan)
    assert granules is not None, plan
    assert int(granules.group(1)) <= 6 < int(granules.group(2)), plan
    with pytest.raises(ValueError, match="comma"):
        pair_set([("S1", "B1,B2")])
