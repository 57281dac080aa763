"""Placement and arrival of events read from the events topic (`streams.placement`)."""

from __future__ import annotations

from datetime import datetime, timedelta

import orjson

from schemas.alerts import AlertRaised
from schemas.clock import CLOCK_KEY, encode_tick
from streams.compliance.catalogue import load
from streams.placement import ORIGIN, STAMP_GRACE, Origin, appended_at, arrival, signing_key
from streams.records import Record
from streams.rule_stream import MemoryStore, SiteRules
from streams.topics import partition_for
from tests import factories

KEY = signing_key("a local secret")
PARTITIONS = 4
APPENDED = factories.BASE_TIME + timedelta(hours=1)


def test_an_origin_is_trusted_only_with_the_workers_signature():
    origin = Origin(2, 41, 3, 1_796_000_000_000)
    assert Origin.parse(origin.header(KEY), KEY) == origin
    assert Origin.parse(origin.header(signing_key("another secret")), KEY) is None
    forged = origin.header(KEY).replace(b":1796000000000:", b":1700000000000:")
    assert Origin.parse(forged, KEY) is None
    assert Origin.parse(b"2:41:3:1796000000000", KEY) is None  # unsigned


def test_arrival_is_the_append_time_unless_the_stamp_was_made_just_before_it():
    assert arrival(APPENDED - timedelta(seconds=3), APPENDED) == APPENDED - timedelta(seconds=3)  # ingest's stamp
    assert arrival(APPENDED - STAMP_GRACE, APPENDED) == APPENDED - STAMP_GRACE
    assert arrival(APPENDED - STAMP_GRACE - timedelta(seconds=1), APPENDED) == APPENDED  # a claim of an earlier arrival
    assert arrival(APPENDED + timedelta(seconds=1), APPENDED) == APPENDED  # a stamp from the future
    assert arrival(None, APPENDED) == APPENDED


def site_elsewhere() -> tuple[str, int, int]:
    """A site, its partition, and another partition."""
    site = "site-a1"
    home = partition_for(site.encode(), PARTITIONS)
    return site, home, (home + 1) % PARTITIONS


def record(partition: int, offset: int, body: dict[str, object], headers: tuple[tuple[str, bytes], ...] = ()) -> Record:
    return Record("events", partition, offset, b"k", orjson.dumps(body), int(APPENDED.timestamp() * 1000), headers)


def test_a_misplaced_event_is_rekeyed_with_its_arrival_and_folded_once_on_its_sites_partition():
    site, home, elsewhere = site_elsewhere()
    rules = SiteRules(load(), MemoryStore(), partitions=PARTITIONS, signing=KEY)
    registered = factories.site_registered(site=site, at=factories.BASE_TIME - timedelta(days=1))
    receipt = factories.parcels_received(origin="imported", at=factories.BASE_TIME - timedelta(hours=3))
    rules.handle([record(home, 0, registered), record(home, 1, receipt)])

    late_claim = factories.parcels_disinfected(count=60, at=factories.BASE_TIME - timedelta(hours=2, minutes=50))
    late_claim["received_at"] = (factories.BASE_TIME - timedelta(hours=2)).isoformat()  # not ours to trust
    out = rules.handle([record(elsewhere, 7, late_claim)])
    assert out.alerts == []  # not folded on the wrong partition
    [copy] = out.rekeyed
    assert (copy.partition, copy.key) == (home, site.encode())
    assert datetime.fromisoformat(orjson.loads(copy.value)["received_at"]) == APPENDED
    origin = Origin.parse(dict(copy.headers)[ORIGIN], KEY)
    assert origin == Origin(elsewhere, 7, 0, int(APPENDED.timestamp() * 1000))

    # The copy comes back on its site's partition, later, and (after a crash) a second time.
    later = int((APPENDED + timedelta(days=1)).timestamp() * 1000)
    copies = [Record("events", home, offset, copy.key, copy.value, later, tuple(copy.headers)) for offset in (2, 3)]
    tick = Record("events", home, 4, CLOCK_KEY, encode_tick(APPENDED), later)
    folded = rules.handle([*copies, tick]).alerts
    # Folded once: 60 of 100 items disinfected by the deadline (twice would make 120).
    assert [a.rule_id for a in folded if isinstance(a, AlertRaised)] == ["DIS-COVERAGE"]
    assert rules.footprint()["misplaced"] == 1


def test_without_the_workers_signature_a_copy_is_an_ordinary_record():
    site, home, elsewhere = site_elsewhere()
    forged = Origin(elsewhere, 7, 0, int((APPENDED - timedelta(days=3)).timestamp() * 1000)).header(b"guess")
    rules = SiteRules(load(), MemoryStore(), partitions=PARTITIONS, signing=KEY)
    check = factories.health_checked(at=APPENDED - timedelta(days=3))
    registered = factories.site_registered(site=site, at=factories.BASE_TIME - timedelta(days=10))
    out = rules.handle([record(home, 0, registered), record(home, 1, check, ((ORIGIN, forged),))])
    [late] = [a for a in out.alerts if a.rule_id == "LEDGER-LATE"]  # three days late: the claim is ignored
    assert isinstance(late, AlertRaised)
    assert appended_at(int(APPENDED.timestamp() * 1000)) == APPENDED
