"""今日待办: what is due at a site today, from its records in the warehouse and the catalogue's limits
(the same deadlines the rules set, for the profile in force in the site's jurisdiction now).

- batches received and not yet dispatched: the disinfection deadline and minutes left (imported, and
  domestic from outside the city), items disinfected so far, the end of an imported batch's rest
  period; the dispatch gate (四无不出) is judged on these;
- staff on the roster with no health check today;
- staff whose last negative test falls due within a day (or is overdue), by role;
- vehicles whose planned loop calls here today and have not arrived;
- premises disinfections still owed today (SITE-DISINFECT).

Everything is read in the site's own records; the warehouse lags ingest by a flush (seconds), and the
workbench adds what the device itself recorded since.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from streams.compliance.catalogue import Catalogue
from streams.compliance.engine import ms, ms_of
from streams.compliance.rules.disinfection import Deadline, Rest
from streams.compliance.rules.site import PerDay
from streams.compliance.rules.staff import RoleIntervals
from streams.read_models import level_now, profile_of
from streams.warehouse import Reader, literal

SHANGHAI_DAY = "Asia/Shanghai"
TEST_DUE_WITHIN = timedelta(days=1)


def due_today(reader: Reader, catalogue: Catalogue, site: dict[str, Any], now: datetime) -> dict[str, Any]:
    site_id = literal(site["site_id"])
    now_sql = f"fromUnixTimestamp64Milli({ms(now)}, '{SHANGHAI_DAY}')"
    day = f"toStartOfDay({now_sql})"
    profile = profile_of(reader.query(level_now(site["division_code"], now_sql)))
    deadlines = {
        rule: catalogue.rule(rule).limits(profile, Deadline).deadline for rule in ("DIS-IMPORT", "DIS-DOMESTIC")
    }
    rest = catalogue.rule("REST-IMPORT").limits(profile, Rest).rest
    horizon_days = max(rest.days + 1, 3)
    batches = reader.query(
        "SELECT batch_id AS batch, anyIf(origin, event_type = 'parcels.received') AS origin, "
        "anyIf(from_outside_city, event_type = 'parcels.received') AS outside, "
        "sumIf(item_count, event_type = 'parcels.received') AS items, "
        "sumIf(item_count, event_type = 'parcels.disinfected') AS disinfected_items, "
        "toUnixTimestamp64Milli(minIf(occurred_at, event_type = 'parcels.received')) AS received_ms, "
        "countIf(event_type = 'parcels.disinfected') AS disinfections "
        f"FROM (SELECT * FROM parcel_events WHERE site_id = {site_id} "
        f"AND occurred_at >= {now_sql} - INTERVAL {horizon_days} DAY ORDER BY occurred_at LIMIT 1 BY event_id) "
        "GROUP BY batch_id HAVING countIf(event_type = 'parcels.received') > 0 "
        "AND countIf(event_type = 'parcels.dispatched') = 0 ORDER BY received_ms LIMIT 500"
    )
    now_ms = ms(now)
    for batch in batches:
        imported = batch["origin"] == "imported"
        deadline = deadlines["DIS-IMPORT" if imported else "DIS-DOMESTIC"]
        timed = imported or bool(batch["outside"])
        due = batch["received_ms"] + ms_of(deadline) if timed else None
        batch["deadline_ms"] = due
        batch["minutes_left"] = None if due is None else (due - now_ms) // 60_000
        batch["disinfected"] = batch.pop("disinfections") > 0
        batch["rest_ends_ms"] = batch["received_ms"] + ms_of(rest) if imported else None
    staff = reader.query(
        f"SELECT staff_id, role FROM staff FINAL WHERE site_id = {site_id} AND active ORDER BY role, staff_id"
    )
    health = reader.query(
        "SELECT staff_id, countIf(event_type = 'staff.health_checked' AND occurred_at >= " + day + ") AS checks, "
        "toUnixTimestamp64Milli(maxIf(sampled_at, event_type = 'staff.tested' AND result = 'negative')) AS negative_ms "
        f"FROM staff_health_events WHERE site_id = {site_id} GROUP BY staff_id"
    )
    by_staff = {row["staff_id"]: row for row in health}
    intervals = catalogue.rule("STAFF-TEST-DUE").limits(profile, RoleIntervals).intervals
    unchecked, tests = [], []
    for person in staff:
        seen = by_staff.get(person["staff_id"], {})
        if not seen.get("checks"):
            unchecked.append(person)
        interval = intervals.get(person["role"])
        negative = seen.get("negative_ms") or 0
        if interval is not None:
            due_ms = negative + ms_of(interval) if negative > 0 else now_ms
            if due_ms <= now_ms + ms_of(TEST_DUE_WITHIN):
                tests.append({**person, "due_ms": due_ms, "last_negative_ms": negative or None})
    vehicles = reader.query(
        "SELECT route_id, vehicle_id, toUnixTimestamp64Milli(window_start) AS window_start_ms, "
        "toUnixTimestamp64Milli(window_end) AS window_end_ms FROM routes FINAL "
        f"WHERE has(stops, {site_id}) AND window_end >= {day} AND window_start < {day} + INTERVAL 1 DAY "
        "AND route_id NOT IN (SELECT route_id FROM vehicle_events WHERE event_type = 'vehicle.arrived' "
        f"AND site_id = {site_id} AND occurred_at >= {day}) ORDER BY window_end LIMIT 100"
    )
    done = reader.query(
        f"SELECT count() AS done FROM (SELECT event_id FROM site_hygiene_events WHERE site_id = {site_id} "
        f"AND event_type = 'site.disinfected' AND occurred_at >= {day} LIMIT 1 BY event_id)"
    )
    required = catalogue.rule("SITE-DISINFECT").limits(profile, PerDay).per_day
    return {
        "site_id": site["site_id"],
        "now_ms": now_ms,
        "profile": profile,
        "batches": batches,
        "staff": staff,
        "staff_unchecked": unchecked,
        "tests_due": sorted(tests, key=lambda person: person["due_ms"]),
        "vehicles_expected": vehicles,
        "premises": {"required": required, "done": done[0]["done"] if done else 0},
    }


def known_batches(reader: Reader, site_id: str, batch_ids: list[str]) -> set[str]:
    """Which of `batch_ids` the site has a receipt of on record."""
    if not batch_ids:
        return set()
    listed = ", ".join(literal(batch) for batch in batch_ids)
    rows = reader.query(
        f"SELECT DISTINCT batch_id FROM parcel_events WHERE site_id = {literal(site_id)} "
        f"AND event_type = 'parcels.received' AND batch_id IN ({listed})"
    )
    return {row["batch_id"] for row in rows}


def site_rows(reader: Reader, site_ids: list[str]) -> dict[str, dict[str, Any]]:
    """The registrations of these sites, by id."""
    if not site_ids:
        return {}
    listed = ", ".join(literal(site_id) for site_id in site_ids)
    rows = reader.query(
        f"SELECT site_id, name, division_code, handles_international FROM sites FINAL WHERE site_id IN ({listed})"
    )
    return {row["site_id"]: row for row in rows}
