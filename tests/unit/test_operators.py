"""Site operators' accounts: created for the enterprise's own sites, stored hashed, revoked at once."""

from __future__ import annotations

import hashlib
import sqlite3

import pytest

from services.ingest.intake import assess
from services.registry import Enterprise, Registry, UnknownSites
from tests import factories
from tests.unit.test_intake import NOW, raws


@pytest.fixture
def registry(tmp_path):
    store = Registry(tmp_path / "ingest.sqlite")
    store.create_enterprise("ent-a", "A 快递")
    store.create_enterprise("ent-b", "B 快递")
    assess(raws(factories.site_registered(site="site-a1")), Enterprise("ent-a", ""), store, set(), NOW)
    assess(
        raws(factories.site_registered(enterprise="ent-b", site="site-b1")), Enterprise("ent-b", ""), store, set(), NOW
    )
    yield store
    store.close()


def test_an_operator_is_created_for_the_enterprises_own_sites_only(registry):
    with pytest.raises(UnknownSites, match="site-b1"):
        registry.create_operator("ent-a", "越权", ["site-a1", "site-b1"])
    with pytest.raises(UnknownSites, match="site-x"):
        registry.create_operator("ent-a", "未登记", ["site-x"])
    with pytest.raises(UnknownSites, match="at least one"):
        registry.create_operator("ent-a", "无网点", [])
    assert registry.operators("ent-a") == []


def test_an_operator_token_is_shown_once_and_kept_as_a_digest(registry, tmp_path):
    operator, token = registry.create_operator("ent-a", "早班", ["site-a1"])
    assert (token[:4], operator.actor_id[:3], len(operator.actor_id)) == ("tfo_", "ps_", 35)
    stored = sqlite3.connect(tmp_path / "ingest.sqlite").execute("SELECT token_sha256 FROM operators").fetchall()
    assert stored == [(hashlib.sha256(token.encode()).hexdigest(),)]
    assert registry.authenticate_operator(token) == operator
    assert registry.authenticate_operator(token + "x") is None
    assert registry.authenticate(token) is None  # not an enterprise's token


def test_revoking_an_operator_ends_its_token_and_sessions_at_once(registry):
    operator, token = registry.create_operator("ent-a", "早班", ["site-a1"])
    opened = registry.open_operator_session(token, 3600)
    assert opened is not None
    session_token, session = opened
    assert registry.operator_session(session_token) == session
    assert not registry.revoke_operator("ent-b", operator.operator_id)  # another enterprise's operator
    assert registry.revoke_operator("ent-a", operator.operator_id)
    assert registry.authenticate_operator(token) is None
    assert registry.operator_session(session_token) is None
    assert registry.open_operator_session(token, 3600) is None
    assert registry.operators("ent-a") == []


def test_an_operator_session_ends_when_it_expires(registry):
    _, token = registry.create_operator("ent-a", "早班", ["site-a1"])
    opened = registry.open_operator_session(token, -1)
    assert opened is not None
    assert registry.operator_session(opened[0]) is None
