"""A seeded city of the express sector, and the events of its days.

`City` is built from a seed: brands and their enterprises, sites in Hangzhou's districts (GB/T
2260 codes), staff with roles and employers (known only by pseudonym), line-haul vehicles on
closed loops from sorting centres. `City.events(start, hours)` yields that period's events in
time order: pre-shift checks and shifts, tests by role, parcel batches (an imported share at
international sites) with disinfection and dispatch, premises disinfection, vehicle loops; with
configurable rates of every kind of violation. Party branches (党支部) of the brands have
responsibility zones (党员责任区: a set of sites, one of them the vanguard post 党员先锋岗): the
records of a zone's sites carry the branch's id (the branch vouches for them), and its members,
couriers at those sites, report anomalies they see in their communities (流动网格员) from the
street (9-digit division code). The same seed and period give the same events.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from schemas.pseudonym import check_digit, pseudonymize

SHANGHAI = ZoneInfo("Asia/Shanghai")
DISTRICTS = {
    "330102": "上城区",
    "330105": "拱墅区",
    "330106": "西湖区",
    "330108": "滨江区",
    "330109": "萧山区",
    "330110": "余杭区",
    "330113": "临平区",
    "330114": "钱塘区",
}
BRANDS = {"sf": "顺丰", "yto": "圆通", "zto": "中通", "yunda": "韵达", "sto": "申通", "jd": "京东", "ems": "邮政EMS"}
ROLES_BY_KIND = {
    "sorting_centre": ["sorter", "sorter", "driver", "other_logistics"],
    "international_processing": ["international_exposed", "international_handler", "sorter"],
    "outlet": ["courier", "courier", "courier", "sorter"],
    "station": ["courier", "other_logistics"],
}
KIND_ZH = {
    "sorting_centre": "分拨中心",
    "international_processing": "国际邮件处理中心",
    "outlet": "网点",
    "station": "驿站",
}
ANOMALIES = [
    ("unregistered_arrival", "楼道内有外地返回人员未登记"),
    ("crowding", "快递柜前取件人员聚集"),
    ("sick_resident", "收件人自述发热咳嗽"),
    ("closed_area_breach", "封控小区有人翻越围挡取件"),
    ("parcel_hazard", "境外包裹外包装破损"),
    ("other", "驿站门口未设扫码点"),
]
COMMUNITIES = ["文新", "翠苑", "古荡", "三墩", "闻堰", "良渚", "乔司", "下沙", "长河", "湖滨"]
TEST_DAYS = {
    "international_exposed": 3,
    "international_handler": 6,
    "courier": 6,
    "sorter": 6,
    "driver": 1,  # drivers carry a negative test from the last 24 hours
    "other_logistics": 12,
}


@dataclass(frozen=True)
class Violations:
    """Share of occasions on which each rule is broken (0 to 1)."""

    missed_disinfection: float = 0.03
    late_disinfection: float = 0.05
    partial_disinfection: float = 0.02
    dispatch_before_disinfection: float = 0.01
    early_imported_dispatch: float = 0.02
    missed_check: float = 0.03
    fever: float = 0.005
    worked_sick: float = 0.2  # of those with a failed check
    overdue_test: float = 0.05
    positive: float = 0.0005
    premises_once: float = 0.05
    off_route: float = 0.02
    overdue_vehicle: float = 0.03
    broken_seal: float = 0.01
    long_dwell: float = 0.03
    out_of_order: float = 0.02  # records sent a little out of order (within the allowed lateness)
    anomaly_reports: float = 0.05  # per Party member and day: a community anomaly reported

    @classmethod
    def none(cls) -> Violations:
        return cls(**{name: 0.0 for name in cls.__dataclass_fields__})


@dataclass
class Site:
    site_id: str
    enterprise_id: str
    brand: str
    division_code: str
    kind: str
    name: str
    latitude: float
    longitude: float
    staff: list[tuple[str, str]] = field(default_factory=list)  # (pseudonym, role)


@dataclass
class PartyBranch:
    branch_id: str
    name: str
    zone: list[str]  # site ids: the responsibility zone
    vanguard_post: str  # the site of the zone that is the vanguard post
    members: list[tuple[str, str]]  # (pseudonym, site id): couriers who are Party members


@dataclass
class Route:
    route_id: str
    vehicle_id: str
    driver: str
    stops: list[str]


class City:
    def __init__(self, seed: int = 1, sites: int = 60, violations: Violations | None = None) -> None:
        self.seed = seed
        self.violations = violations or Violations()
        rng = random.Random(seed)
        key = f"tongfang-simulator-{seed}".encode()
        self.sites: list[Site] = []
        self.routes: list[Route] = []
        self.branches: list[PartyBranch] = []
        brands = list(BRANDS)
        districts = list(DISTRICTS)
        for number in range(sites):
            brand = brands[number % len(brands)]
            division = districts[rng.randrange(len(districts))]
            kind = "sorting_centre" if number < max(2, sites // 10) else "outlet"
            if number % 29 == 3:
                kind = "international_processing"
            elif kind == "outlet" and rng.random() < 0.3:
                kind = "station"
            site = Site(
                site_id=f"{brand}-{division}-{number:04d}",
                enterprise_id=f"{brand}-hz",
                brand=brand,
                division_code=division,
                kind=kind,
                name=f"{BRANDS[brand]}{DISTRICTS[division]}{KIND_ZH[kind]}{number}",
                latitude=round(30.15 + rng.random() * 0.3, 5),
                longitude=round(120.0 + rng.random() * 0.4, 5),
            )
            roles = [rng.choice(ROLES_BY_KIND[kind]) for _ in range(rng.randint(4, 12))]
            if kind == "sorting_centre":
                roles += ["driver", "driver"]
            for person, role in enumerate(roles):
                site.staff.append((pseudonymize(_id_number(rng, division, person), key), role))
            self.sites.append(site)
        outlets = [s for s in self.sites if s.kind in ("outlet", "station")]
        for centre in (s for s in self.sites if s.kind == "sorting_centre"):
            drivers = [p for p, role in centre.staff if role == "driver"]
            same_brand = [s.site_id for s in outlets if s.brand == centre.brand] or [s.site_id for s in outlets]
            for loop in range(2):
                stops = rng.sample(same_brand, k=min(2, len(same_brand)))
                route_id, vehicle_id = f"R-{centre.site_id}-{loop}", f"V-{centre.site_id}-{loop}"
                loop_stops = [centre.site_id, *stops, centre.site_id]  # a closed loop comes home
                self.routes.append(Route(route_id, vehicle_id, drivers[loop % len(drivers)], loop_stops))

        self._by_id = {site.site_id: site for site in self.sites}
        self._party_branches(rng)

    def _party_branches(self, rng: random.Random) -> None:
        """A branch per brand and district, where the brand has two or more sites; members are a
        third of the couriers and sorters of the zone."""
        zones: dict[tuple[str, str], list[Site]] = {}
        for site in self.sites:
            zones.setdefault((site.brand, site.division_code), []).append(site)
        for (brand, division), sites in sorted(zones.items()):
            if len(sites) < 2:
                continue
            members = [
                (person, site.site_id)
                for site in sites
                for person, role in site.staff
                if role in ("courier", "sorter") and rng.random() < 1 / 3
            ]
            self.branches.append(
                PartyBranch(
                    branch_id=f"pb-{brand}-{division}",
                    name=f"{BRANDS[brand]}{DISTRICTS[division]}党支部",
                    zone=[site.site_id for site in sites],
                    vanguard_post=sites[0].site_id,
                    members=members,
                )
            )
        self._branch_of = {site_id: branch.branch_id for branch in self.branches for site_id in branch.zone}

    @property
    def enterprises(self) -> dict[str, str]:
        return {site.enterprise_id: f"{BRANDS[site.brand]}速递杭州公司" for site in self.sites}

    def registrations(self, at: datetime) -> list[dict[str, Any]]:
        """Sites, staff, vehicles and routes, registered at `at`."""
        rng = random.Random(self.seed * 7 + 1)
        out = []
        for site in self.sites:
            out.append(
                self._event(
                    rng,
                    site,
                    "site.registered",
                    at,
                    {
                        "brand": site.brand,
                        "operation": "direct" if site.kind == "sorting_centre" else "franchise",
                        "site_kind": site.kind,
                        "division_code": site.division_code,
                        "name": site.name,
                        "latitude": site.latitude,
                        "longitude": site.longitude,
                        "handles_international": site.kind == "international_processing",
                    },
                )
            )
            for person, role in site.staff:
                employer = rng.choice(["direct", "franchise", "labour_dispatch"])
                payload = {"staff_id": person, "role": role, "employer": employer}
                out.append(self._event(rng, site, "staff.enrolled", at, payload))
                out.append(self._event(rng, site, "staff.vaccinated", at, {"staff_id": person, "dose": 3}))
        for route in self.routes:
            centre = self.site(route.stops[0])
            out.append(
                self._event(
                    rng, centre, "vehicle.registered", at, {"vehicle_id": route.vehicle_id, "vehicle_kind": "line_haul"}
                )
            )
        return out

    def events(self, start: datetime, hours: float, history_from: datetime | None = None) -> Iterator[dict[str, Any]]:
        """The period's events in time order (a few swapped within the allowed lateness). With
        `history_from`, where the city's posted history begins, a batch received before it is left
        out whole: its disinfection or dispatch alone would read as a dispatch with no receipt."""
        end = start + timedelta(hours=hours)
        day = start.astimezone(SHANGHAI).replace(hour=0, minute=0, second=0, microsecond=0)
        while day < end:
            rng = random.Random(f"{self.seed}/{day:%Y-%m-%d}")
            events = sorted(self._day(rng, day), key=lambda item: item[0])
            jitter = random.Random(f"{self.seed}/{day:%Y-%m-%d}/order")
            for index in range(len(events) - 1):
                if jitter.random() < self.violations.out_of_order and (
                    events[index + 1][0] - events[index][0]
                ) < timedelta(minutes=4):
                    events[index], events[index + 1] = events[index + 1], events[index]
            cut = _batches_received_before(events, history_from) if history_from else set()
            for moment, body in events:
                if start <= moment < end and (body["site_id"], body["payload"].get("batch_id")) not in cut:
                    yield body
            day += timedelta(days=1)

    # one day --------------------------------------------------------------------------------------

    def _day(self, rng: random.Random, day: datetime) -> list[tuple[datetime, dict[str, Any]]]:
        out: list[tuple[datetime, dict[str, Any]]] = []
        v = self.violations
        for site in self.sites:
            out += self._people(rng, site, day)
            out += self._parcels(rng, site, day)
            cleanings = 1 if rng.random() < v.premises_once else 2
            for n in range(cleanings):
                moment = day + timedelta(hours=7 + n * 10, minutes=rng.randint(0, 50))
                payload = {"area": "whole_site", "method": "spray", "agent": "含氯消毒液"}
                out.append((moment, self._event(rng, site, "site.disinfected", moment, payload)))
            if site.kind == "international_processing":
                moment = day + timedelta(hours=15)
                sample = {"area": "international", "result": "negative"}
                out.append((moment, self._event(rng, site, "site.environment_sampled", moment, sample)))
                if day.day == 1:
                    inspection = {"inspector_authority": "post-330100", "passed": True}
                    out.append((moment, self._event(rng, site, "site.inspected", moment, inspection)))
        for route in self.routes:
            out += self._loop(rng, route, day)
        for branch in self.branches:
            out += self._anomalies(rng, branch, day)
        for _, body in out:
            branch_id = self._branch_of.get(body["site_id"])
            if branch_id:
                body["party_branch_id"] = branch_id
        return out

    def _anomalies(
        self, rng: random.Random, branch: PartyBranch, day: datetime
    ) -> list[tuple[datetime, dict[str, Any]]]:
        out = []
        for person, site_id in branch.members:
            if rng.random() >= self.violations.anomaly_reports:
                continue
            site = self.site(site_id)
            moment = day + timedelta(hours=rng.randint(9, 19), minutes=rng.randint(0, 59))
            category, description = ANOMALIES[rng.randrange(len(ANOMALIES))]
            street = f"{site.division_code}{rng.randint(1, 12):03d}"
            payload = {
                "category": category,
                "description": description,
                "community": f"{DISTRICTS[site.division_code]}{rng.choice(COMMUNITIES)}社区",
                "grid_id": f"G-{street}-{rng.randint(1, 30):02d}",
                "division_code": street,
            }
            body = self._event(rng, site, "anomaly.reported", moment, payload)
            body["actor_id"] = person
            out.append((moment, body))
        return out

    def _people(self, rng: random.Random, site: Site, day: datetime) -> list[tuple[datetime, dict[str, Any]]]:
        v = self.violations
        out = []
        for index, (person, role) in enumerate(site.staff):
            shift = day + timedelta(hours=7, minutes=rng.randint(0, 120))
            failed = rng.random() < v.fever
            if rng.random() >= v.missed_check:
                check = shift - timedelta(minutes=rng.randint(5, 30))
                payload = {
                    "staff_id": person,
                    "temperature": round(rng.uniform(37.4, 38.6) if failed else rng.uniform(36.0, 37.1), 1),
                    "health_code": "green",
                    "symptoms": ["fever"] if failed else [],
                }
                out.append((check, self._event(rng, site, "staff.health_checked", check, payload)))
            if not failed or rng.random() < v.worked_sick:
                out.append((shift, self._event(rng, site, "staff.shift_started", shift, {"staff_id": person})))
            every = TEST_DAYS[role]
            if (day.toordinal() + index) % every == 0 and rng.random() >= v.overdue_test:
                hour = 6 if role == "driver" else 12  # drivers test before the day's first departure
                sampled = day + timedelta(hours=hour, minutes=rng.randint(0, 60))
                result = "positive" if rng.random() < v.positive else "negative"
                payload = {
                    "staff_id": person,
                    "test_kind": "nucleic_acid",
                    "sampled_at": sampled.isoformat(),
                    "result": result,
                }
                out.append((sampled, self._event(rng, site, "staff.tested", sampled, payload)))
        return out

    def _parcels(self, rng: random.Random, site: Site, day: datetime) -> list[tuple[datetime, dict[str, Any]]]:
        v = self.violations
        batches = {"sorting_centre": 12, "international_processing": 8, "outlet": 4, "station": 2}[site.kind]
        out = []
        for number in range(batches):
            batch = f"{site.site_id}-{day:%Y%m%d}-{number:02d}"
            received = day + timedelta(hours=6, minutes=rng.randint(0, 14 * 60))
            imported = site.kind == "international_processing" and rng.random() < 0.7
            count = rng.randint(50, 800)
            payload: dict[str, Any] = {
                "batch_id": batch,
                "item_count": count,
                "origin": "imported" if imported else "domestic",
            }
            payload |= (
                {"origin_country": rng.choice(["KR", "JP", "US", "DE", "SG"])}
                if imported
                else {"from_outside_city": rng.random() < 0.6}
            )
            out.append((received, self._event(rng, site, "parcels.received", received, payload)))
            deadline = timedelta(hours=1 if imported else 4)
            disinfected = None
            if rng.random() >= v.missed_disinfection:
                late = rng.random() < v.late_disinfection
                delay = (
                    deadline + timedelta(minutes=rng.randint(10, 90))
                    if late
                    else timedelta(minutes=rng.randint(5, int(deadline.total_seconds() // 60) - 10))
                )
                disinfected = received + delay
                items = int(count * 0.8) if rng.random() < v.partial_disinfection else count
                payload = {
                    "batch_id": batch,
                    "item_count": items,
                    "method": "spray",
                    "agent": "含氯消毒液",
                    "operator_id": site.staff[0][0],
                }
                out.append((disinfected, self._event(rng, site, "parcels.disinfected", disinfected, payload)))
            if imported and rng.random() >= v.early_imported_dispatch:
                continue  # resting for four days: dispatched on a later day
            early = rng.random() < v.dispatch_before_disinfection
            base = received if early or disinfected is None else disinfected
            dispatched = base + timedelta(minutes=rng.randint(10, 60))
            payload = {"batch_id": batch, "item_count": count}
            out.append((dispatched, self._event(rng, site, "parcels.dispatched", dispatched, payload)))
        return out

    def _loop(self, rng: random.Random, route: Route, day: datetime) -> list[tuple[datetime, dict[str, Any]]]:
        v = self.violations
        centre = self.site(route.stops[0])
        start = day + timedelta(hours=8, minutes=rng.randint(0, 60))
        window_end = start + timedelta(hours=(len(route.stops) - 1) * 1.5)
        plan = {
            "route_id": route.route_id,
            "vehicle_id": route.vehicle_id,
            "stops": route.stops,
            "window_start": start.isoformat(),
            "window_end": window_end.isoformat(),
        }
        planned = start - timedelta(hours=1)
        out = [(planned, self._event(rng, centre, "route.planned", planned, plan))]
        moment, seal = start, f"SEAL-{route.vehicle_id}-{day:%m%d}"
        overdue = rng.random() < v.overdue_vehicle
        stops = list(route.stops)
        if rng.random() < v.off_route:
            stops.insert(1, self.sites[rng.randrange(len(self.sites))].site_id)
        for index, site_id in enumerate(stops):
            site = self.site(site_id)
            if index > 0:
                moment += timedelta(minutes=rng.randint(30, 70) + (150 if overdue and index == len(stops) - 1 else 0))
                arrival = {
                    "vehicle_id": route.vehicle_id,
                    "route_id": route.route_id,
                    "seal_id": seal,
                    "seal_intact": rng.random() >= v.broken_seal,
                }
                out.append((moment, self._event(rng, site, "vehicle.arrived", moment, arrival)))
                dwell = rng.randint(150, 200) if rng.random() < v.long_dwell else rng.randint(10, 40)
                moment += timedelta(minutes=dwell)
            if index < len(stops) - 1:
                depart = {
                    "vehicle_id": route.vehicle_id,
                    "route_id": route.route_id,
                    "seal_id": seal,
                    "driver_id": route.driver,
                }
                out.append((moment, self._event(rng, site, "vehicle.departed", moment, depart)))
        return out

    # helpers --------------------------------------------------------------------------------------

    def site(self, site_id: str) -> Site:
        return self._by_id[site_id]

    @staticmethod
    def _event(
        rng: random.Random, site: Site, event_type: str, at: datetime, payload: dict[str, Any]
    ) -> dict[str, Any]:
        return {
            "event_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            "event_type": event_type,
            "occurred_at": at.isoformat(),
            "enterprise_id": site.enterprise_id,
            "site_id": site.site_id,
            "payload": payload,
        }


def _id_number(rng: random.Random, division: str, person: int) -> str:
    """A made-up ID-card number with a valid check digit; only its pseudonym ever leaves here."""
    born = datetime(1970, 1, 1) + timedelta(days=rng.randint(0, 12000))
    first17 = f"{division}{born:%Y%m%d}{person % 1000:03d}"
    return first17 + check_digit(first17)


def _batches_received_before(events: list[tuple[datetime, dict[str, Any]]], moment: datetime) -> set[tuple[str, Any]]:
    """(site, batch) of the parcel batches first received before `moment`."""
    return {
        (body["site_id"], body["payload"]["batch_id"])
        for at, body in events
        if body["event_type"] == "parcels.received" and at < moment
    }
