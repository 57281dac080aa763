from __future__ import annotations

import uuid
from datetime import timedelta

import msgspec
import orjson
import pytest
from kafka.partitioner.default import DefaultPartitioner

from schemas import events
from services.ingest.intake import Outcome, assess, http_status, pack, summarize
from services.registry import Enterprise, Operator, Registry
from tests import factories

NOW = factories.BASE_TIME + timedelta(hours=1)
ENT_A = Enterprise("ent-a", "A 快递")
ENT_B = Enterprise("ent-b", "B 快递")


@pytest.fixture
def registry(tmp_path):
    store = Registry(tmp_path / "ingest.sqlite")
    store.create_enterprise("ent-a", "A 快递")
    store.create_enterprise("ent-b", "B 快递")
    yield store
    store.close()


def raws(*bodies: dict[str, object]) -> list[msgspec.Raw]:
    return events.split(orjson.dumps(list(bodies)))


def test_registering_a_site_claims_it_and_later_events_for_it_are_accepted(registry):
    intake = assess(raws(factories.site_registered(), factories.parcels_received()), ENT_A, registry, set(), NOW)
    assert [o.status for o in intake.outcomes] == ["accepted", "accepted"]
    assert registry.site_owners(["site-a1"]) == {"site-a1": "ent-a"}


def test_event_for_an_unregistered_site_is_forbidden(registry):
    intake = assess(raws(factories.parcels_received(site="nowhere")), ENT_A, registry, set(), NOW)
    outcome = intake.outcomes[0]
    assert (outcome.status, outcome.field, outcome.problem) == ("rejected", "site_id", "forbidden")
    assert http_status(intake.outcomes) == 403


def test_enterprise_cannot_post_for_or_re_register_another_enterprises_site(registry):
    assess(raws(factories.site_registered()), ENT_A, registry, set(), NOW)
    b_events = raws(
        factories.parcels_received(enterprise="ent-b"),
        factories.site_registered(enterprise="ent-b"),
    )
    intake = assess(b_events, ENT_B, registry, set(), NOW)
    assert [(o.status, o.field) for o in intake.outcomes] == [("rejected", "site_id"), ("rejected", "site_id")]
    assert registry.site_owners(["site-a1"]) == {"site-a1": "ent-a"}


def test_a_site_another_ingest_process_claims_is_seen_here_and_kept_by_its_first_owner(registry, tmp_path):
    other = Registry(tmp_path / "ingest.sqlite")  # a second ingest process on the same registry
    assert registry.site_owners(["site-b1"]) == {}  # not claimed yet: looked up again next time
    other.claim_sites("ent-b", ["site-b1"])
    assert registry.site_owners(["site-b1", "site-a9"]) == {"site-b1": "ent-b"}
    intake = assess(raws(factories.site_registered(site="site-b1")), ENT_A, registry, set(), NOW)
    assert [(o.status, o.field) for o in intake.outcomes] == [("rejected", "site_id")]
    other.close()


def test_envelope_enterprise_must_match_the_token(registry):
    intake = assess(raws(factories.site_registered(enterprise="ent-b")), ENT_A, registry, set(), NOW)
    assert intake.outcomes[0].field == "enterprise_id"
    assert intake.accepted == []


def test_policy_events_are_not_for_enterprises(registry):
    policy = factories.examples()["policy.level_changed"]
    policy["enterprise_id"] = "ent-a"
    intake = assess(raws(policy), ENT_A, registry, set(), NOW)
    assert (intake.outcomes[0].field, intake.outcomes[0].problem) == ("event_type", "forbidden")


@pytest.mark.parametrize("event_type", ["alert.acknowledged", "alert.assigned", "alert.closed", "site.reminded"])
def test_desk_actions_are_not_for_enterprises(registry, event_type):
    assess(raws(factories.site_registered()), ENT_A, registry, set(), NOW)
    intake = assess(raws(factories.examples()[event_type]), ENT_A, registry, set(), NOW)
    assert (intake.outcomes[0].field, intake.outcomes[0].problem) == ("event_type", "forbidden")
    assert intake.accepted == []


def test_repeated_ids_are_duplicates_for_the_owner_and_a_conflict_for_others(registry):
    assess(raws(factories.site_registered()), ENT_A, registry, set(), NOW)
    first = factories.parcels_received()
    registry.remember_event_ids("ent-a", [uuid.UUID(first["event_id"])])
    again_in_batch = factories.parcels_received()
    intake = assess(raws(first, again_in_batch, again_in_batch), ENT_A, registry, set(), NOW)
    assert [o.status for o in intake.outcomes] == ["duplicate", "accepted", "duplicate"]
    assert http_status(intake.outcomes) == 202

    assess(raws(factories.site_registered(enterprise="ent-b", site="site-b1")), ENT_B, registry, set(), NOW)
    stolen = factories.parcels_received(enterprise="ent-b", site="site-b1", event_id=first["event_id"])
    intake = assess(raws(stolen), ENT_B, registry, set(), NOW)
    assert (intake.outcomes[0].problem, intake.outcomes[0].field) == ("conflict", "event_id")
    assert http_status(intake.outcomes) == 409


def test_one_id_twice_in_a_request_for_different_content_is_a_conflict_naming_the_first(registry):
    assess(raws(factories.site_registered()), ENT_A, registry, set(), NOW)
    first = factories.parcels_received(count=100)
    other = factories.parcels_received(count=120, event_id=first["event_id"])
    intake = assess(raws(first, first, other), ENT_A, registry, set(), NOW)
    assert [o.status for o in intake.outcomes] == ["accepted", "duplicate", "rejected"]
    refused = intake.outcomes[2]
    assert (refused.problem, refused.field, refused.event_id) == ("conflict", "event_id", first["event_id"])
    assert "index 0" in (refused.reason or "")
    assert [index for index, _ in intake.accepted] == [0]
    assert http_status(intake.outcomes) == 207


def test_id_in_flight_in_another_request_is_a_duplicate(registry):
    assess(raws(factories.site_registered()), ENT_A, registry, set(), NOW)
    body = factories.parcels_received()
    intake = assess(raws(body), ENT_A, registry, {uuid.UUID(body["event_id"])}, NOW)
    assert intake.outcomes[0].status == "duplicate"


def test_mixed_batch_is_207_and_all_invalid_is_422(registry):
    assess(raws(factories.site_registered()), ENT_A, registry, set(), NOW)
    bad = factories.health_checked(temperature=50)
    mixed = assess(raws(factories.parcels_received(), bad), ENT_A, registry, set(), NOW)
    assert http_status(mixed.outcomes) == 207
    assert http_status(assess(raws(bad), ENT_A, registry, set(), NOW).outcomes) == 422


def kafka_partition(key: bytes, partitions: int) -> int:
    """What kafka-python's default partitioner (Java's algorithm) picks for a keyed record."""

    class Cluster:
        def topics(self) -> set[str]:
            return {"events"}

        def partitions_for_topic(self, topic: str) -> set[int]:
            return set(range(partitions))

        available_partitions_for_topic = partitions_for_topic

    return int(DefaultPartitioner().partition("events", key, key, None, None, Cluster()))


def test_pack_keeps_one_sites_events_in_order_on_the_sites_partition_in_records_of_bounded_size():
    sites = [f"site-{n}" for n in range(6)]
    bodies = [factories.parcels_received(batch=f"B{i}", site=sites[i % 6]) for i in range(40)]
    decoded = [(i, events.decode(orjson.dumps(b))) for i, b in enumerate(bodies)]
    records = pack(decoded, max_events=5, partitions=3)
    by_site: dict[str, list[int]] = {}
    for record in records:
        assert len(record.indexes) <= 5
        stored = [events.decode(raw) for raw in events.split(record.value)]
        assert all(event.received_at is not None for event in stored)
        for index, event in zip(record.indexes, stored, strict=True):
            # the partition Kafka's own partitioner picks for the site's id as a key
            assert record.partition == kafka_partition(event.site_id.encode(), 3)
            by_site.setdefault(event.site_id, []).append(index)
    assert by_site == {site: list(range(n, 40, 6)) for n, site in enumerate(sites)}
    assert len(records) < 40 / 5 + 3  # sites sharing a partition share records


def test_events_dated_in_the_future_are_rejected_naming_occurred_at(registry):
    assess(raws(factories.site_registered()), ENT_A, registry, set(), now=factories.BASE_TIME)
    later = factories.parcels_received(at=factories.BASE_TIME + timedelta(hours=2))
    intake = assess(raws(later), ENT_A, registry, set(), now=factories.BASE_TIME)
    assert (intake.outcomes[0].field, intake.outcomes[0].problem) == ("occurred_at", "invalid")


def test_a_mixed_batch_gets_one_outcome_per_event_in_order_and_only_the_valid_one_is_accepted(registry):
    """[invalid, wrong enterprise, unregistered site, valid]: a rejection does not stop the rest."""
    assess(raws(factories.site_registered()), ENT_A, registry, set(), NOW)
    invalid = factories.health_checked(temperature=50)
    wrong_enterprise = factories.parcels_received(enterprise="ent-b")
    unregistered = factories.parcels_received(site="nowhere")
    valid = factories.parcels_received(batch="B-ok")
    intake = assess(raws(invalid, wrong_enterprise, unregistered, valid), ENT_A, registry, set(), NOW)
    assert [(o.index, o.status, o.event_id, o.field, o.problem) for o in intake.outcomes] == [
        (0, "rejected", invalid["event_id"], "payload.temperature", "invalid"),
        (1, "rejected", wrong_enterprise["event_id"], "enterprise_id", "forbidden"),
        (2, "rejected", unregistered["event_id"], "site_id", "forbidden"),
        (3, "accepted", valid["event_id"], None, None),
    ]
    assert [o.reason for o in intake.outcomes[1:3]] == [
        "does not match the credentials (expected ent-a)",
        "the site is not registered; post site.registered first",
    ]
    assert [index for index, _ in intake.accepted] == [3]


def test_later_events_still_get_outcomes_after_conflicts_and_a_duplicate(registry):
    assess(raws(factories.site_registered()), ENT_A, registry, set(), NOW)
    again = factories.parcels_received(batch="B-2")
    reused = {**factories.parcels_received(batch="B-3"), "event_id": again["event_id"]}
    last = factories.parcels_received(batch="B-4")
    taken = factories.parcels_received(batch="B-5")
    registry.remember_event_ids("ent-b", [uuid.UUID(taken["event_id"])])  # another enterprise's id
    intake = assess(raws(taken, again, again, reused, last), ENT_A, registry, set(), NOW)
    assert [(o.index, o.status, o.problem) for o in intake.outcomes] == [
        (0, "rejected", "conflict"),
        (1, "accepted", None),
        (2, "duplicate", None),
        (3, "rejected", "conflict"),
        (4, "accepted", None),
    ]
    assert intake.outcomes[0].reason == "this event_id is already taken"


def test_a_lost_registration_race_rejects_that_sites_events_and_keeps_the_rest(registry, tmp_path):
    """Another ingest process claims site-b1 between this request's lookup and its claim."""
    assess(raws(factories.site_registered()), ENT_A, registry, set(), NOW)
    other = Registry(tmp_path / "ingest.sqlite")
    claim = registry.claim_sites

    def claimed_first_by_b(enterprise_id: str, site_ids: object) -> None:
        other.claim_sites("ent-b", ["site-b1"])
        claim(enterprise_id, site_ids)

    registry.claim_sites = claimed_first_by_b
    contested = factories.site_registered(site="site-b1")
    its_receipt = factories.parcels_received(site="site-b1")
    mine = factories.parcels_received(batch="B-mine")
    intake = assess(raws(contested, its_receipt, mine), ENT_A, registry, set(), NOW)
    other.close()
    assert [(o.index, o.status, o.field) for o in intake.outcomes] == [
        (0, "rejected", "site_id"),
        (1, "rejected", "site_id"),
        (2, "accepted", None),
    ]
    assert intake.outcomes[0].reason == "the site is registered to another enterprise"
    assert [index for index, _ in intake.accepted] == [2]
    assert registry.site_owners(["site-b1"]) == {"site-b1": "ent-b"}


def test_the_response_counts_each_status_and_keeps_the_outcomes_in_order():
    outcomes = [
        Outcome(0, "accepted", "a"),
        Outcome(1, "duplicate", "b"),
        Outcome(2, "rejected", "c", "site_id", "the site is not registered", "forbidden"),
        Outcome(3, "failed", "d", "$", "Kafka did not acknowledge"),
        Outcome(4, "accepted", "e"),
        Outcome(5, "rejected", None, "payload", "bad", "invalid"),
    ]
    response = summarize(outcomes)
    assert (response.accepted, response.duplicates, response.rejected, response.failed) == (2, 1, 2, 1)
    assert response.results == outcomes
    assert http_status(outcomes) == 503  # a failure is answered first: the client sends the batch again
    assert http_status(outcomes[:3]) == 207
    assert http_status([outcomes[2]]) == 403
    assert http_status([Outcome(0, "rejected", "x", "event_id", "taken", "conflict")]) == 409


def an_operator(registry: Registry, sites: tuple[str, ...] = ("site-a1",)) -> Operator:
    assess(
        raws(*(factories.site_registered(site=site) for site in ("site-a1", "site-a2"))), ENT_A, registry, set(), NOW
    )
    operator, _ = registry.create_operator("ent-a", "西湖网点早班", sites)
    return operator


def test_an_operators_events_are_for_its_sites_only_and_carry_its_pseudonym(registry):
    operator = an_operator(registry)
    mine, other = factories.parcels_received(site="site-a1"), factories.parcels_received(site="site-a2")
    intake = assess(raws(other, mine), ENT_A, registry, set(), NOW, operator=operator)
    assert [(o.index, o.status, o.field) for o in intake.outcomes] == [
        (0, "rejected", "site_id"),
        (1, "accepted", None),
    ]
    assert intake.outcomes[0].problem == "forbidden"
    assert "site-a1" in (intake.outcomes[0].reason or "")
    [(index, accepted)] = intake.accepted
    assert (index, accepted.actor_id, accepted.site_id) == (1, operator.actor_id, "site-a1")


@pytest.mark.parametrize(
    "body",
    [
        factories.site_registered(site="site-a1"),
        factories.event("staff.enrolled", {"staff_id": "ps_" + "1" * 32, "role": "sorter", "employer": "direct"}),
        factories.event("staff.left", {"staff_id": "ps_" + "1" * 32}),
        factories.event("vehicle.registered", {"vehicle_id": "V-1", "vehicle_kind": "van"}),
    ],
    ids=lambda body: body["event_type"],
)
def test_an_operator_cannot_post_registry_events(registry, body):
    operator = an_operator(registry)
    [outcome] = assess(raws(body), ENT_A, registry, set(), NOW, operator=operator).outcomes
    assert (outcome.status, outcome.field, outcome.problem) == ("rejected", "event_type", "forbidden")


def test_an_operator_cannot_post_as_another_person(registry):
    operator = an_operator(registry)
    body = {**factories.parcels_received(site="site-a1"), "actor_id": "ps_" + "2" * 32}
    [outcome] = assess(raws(body), ENT_A, registry, set(), NOW, operator=operator).outcomes
    assert (outcome.status, outcome.field) == ("rejected", "actor_id")
    own = {**factories.parcels_received(site="site-a1"), "actor_id": operator.actor_id}
    assert [o.status for o in assess(raws(own), ENT_A, registry, set(), NOW, operator=operator).outcomes] == [
        "accepted"
    ]


def test_an_enterprise_posts_as_whoever_its_events_name(registry):
    an_operator(registry)
    body = {**factories.parcels_received(site="site-a1"), "actor_id": "ps_" + "2" * 32}
    [(_, accepted)] = assess(raws(body), ENT_A, registry, set(), NOW).accepted
    assert accepted.actor_id == "ps_" + "2" * 32
