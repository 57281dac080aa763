"""The accepted ids ingest answers `duplicate` from: kept as the UUIDs' bytes, in the order accepted."""

from __future__ import annotations

import sqlite3
import uuid
from pathlib import Path

import pytest

from services.registry import Registry


@pytest.fixture
def registry(tmp_path: Path):
    store = Registry(tmp_path / "ingest.sqlite")
    yield store
    store.close()


def test_remembered_ids_are_known_with_their_enterprise_and_others_are_not(registry: Registry) -> None:
    mine, theirs, new = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    registry.remember_event_ids("ent-a", [mine])
    registry.remember_event_ids("ent-b", [theirs, mine])  # a later acceptance does not take it over
    assert registry.known_event_ids([mine, theirs, new, mine]) == {mine: "ent-a", theirs: "ent-b"}


def test_more_ids_than_one_query_holds_are_all_looked_up(registry: Registry) -> None:
    ids = [uuid.uuid4() for _ in range(2000)]
    registry.remember_event_ids("ent-a", ids[::2])
    assert set(registry.known_event_ids(ids)) == set(ids[::2])


def test_forgetting_stops_at_the_first_id_accepted_after_the_cutoff(registry: Registry, monkeypatch) -> None:
    clock = iter([100.0, 200.0, 150.0, 300.0])  # the clock steps back once, between the second and third
    monkeypatch.setattr("services.registry.time.time", lambda: next(clock))
    batches = [[uuid.uuid4(), uuid.uuid4()] for _ in range(4)]
    for batch in batches:
        registry.remember_event_ids("ent-a", batch)

    assert registry.forget_event_ids_before(180.0) == 2  # the third (150) came after one at 200: kept
    assert set(registry.known_event_ids(id_ for batch in batches for id_ in batch)) == set(
        batches[1] + batches[2] + batches[3]
    )
    assert registry.forget_event_ids_before(1000.0) == 6
    assert registry.known_event_ids(batches[3]) == {}


def test_a_registry_with_ids_kept_as_text_moves_them_over_once(tmp_path: Path) -> None:
    path = tmp_path / "ingest.sqlite"
    older, newer = uuid.uuid4(), uuid.uuid4()
    with sqlite3.connect(path) as db:  # the layout before accepted_ids
        db.executescript(
            "CREATE TABLE event_ids (event_id TEXT PRIMARY KEY, enterprise_id TEXT NOT NULL,"
            " accepted_at REAL NOT NULL) WITHOUT ROWID;"
            "CREATE INDEX event_ids_accepted_at ON event_ids (accepted_at);"
        )
        db.executemany(
            "INSERT INTO event_ids VALUES (?, ?, ?)", [(str(newer), "ent-b", 200.0), (str(older), "ent-a", 100.0)]
        )
    registry = Registry(path)
    assert registry.known_event_ids([older, newer]) == {older: "ent-a", newer: "ent-b"}
    assert registry.forget_event_ids_before(150.0) == 1  # moved in the order accepted
    assert registry.known_event_ids([older, newer]) == {newer: "ent-b"}
    registry.close()

    again = Registry(path)  # opening it again finds nothing left to move
    assert again.known_event_ids([older, newer]) == {newer: "ent-b"}
    again.close()
    with sqlite3.connect(path) as db:
        names = {name for (name,) in db.execute("SELECT name FROM sqlite_master")}
    assert names.isdisjoint({"event_ids", "event_ids_accepted_at"})
