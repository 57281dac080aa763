"""Credentials and what goes with them: enterprises (who may post, for which sites, which event ids
they have used) and regulators (which jurisdiction they may read).

A small SQLite file. Tokens are stored as SHA-256 digests (they are 256-bit random strings, so a
plain digest is enough; the clear token is shown once, when it is created). A site becomes an
enterprise's own when the enterprise posts its `site.registered`; a site registered by one
enterprise can never be posted for by another.
"""

from __future__ import annotations

import hashlib
import secrets
import sqlite3
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from tenacity import Retrying, retry_if_exception, stop_after_delay, wait_random

T = TypeVar("T")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS enterprises (
    enterprise_id TEXT PRIMARY KEY,
    name          TEXT NOT NULL,
    created_at    REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS tokens (
    token_sha256  TEXT PRIMARY KEY,
    enterprise_id TEXT NOT NULL REFERENCES enterprises(enterprise_id),
    created_at    REAL NOT NULL,
    revoked       INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS sites (
    site_id       TEXT PRIMARY KEY,
    enterprise_id TEXT NOT NULL REFERENCES enterprises(enterprise_id),
    claimed_at    REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS accepted_ids (
    seq           INTEGER PRIMARY KEY,   -- in the order accepted: forgetting deletes from the low end
    event_id      BLOB NOT NULL UNIQUE,  -- the UUID's 16 bytes
    enterprise_id TEXT NOT NULL,
    accepted_at   REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS regulators (
    regulator_id  TEXT PRIMARY KEY,
    name          TEXT NOT NULL,
    jurisdiction  TEXT NOT NULL,
    token_sha256  TEXT NOT NULL UNIQUE,
    created_at    REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS regulator_sessions (
    session_sha256 TEXT PRIMARY KEY,
    regulator_id   TEXT NOT NULL,
    token_sha256   TEXT NOT NULL,  -- the token signed in with: a re-keyed or revoked regulator is out
    csrf           TEXT NOT NULL,
    expires_at     REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS operators (
    operator_id   TEXT PRIMARY KEY,
    enterprise_id TEXT NOT NULL REFERENCES enterprises(enterprise_id),
    label         TEXT NOT NULL,         -- what the enterprise calls the account; never in events
    actor_id      TEXT NOT NULL UNIQUE,  -- the pseudonym its events carry as actor_id
    token_sha256  TEXT NOT NULL UNIQUE,
    created_at    REAL NOT NULL,
    revoked_at    REAL
);
CREATE TABLE IF NOT EXISTS operator_sites (
    operator_id   TEXT NOT NULL REFERENCES operators(operator_id),
    site_id       TEXT NOT NULL,
    PRIMARY KEY (operator_id, site_id)
);
CREATE TABLE IF NOT EXISTS operator_sessions (
    session_sha256 TEXT PRIMARY KEY,
    operator_id    TEXT NOT NULL,
    csrf           TEXT NOT NULL,
    expires_at     REAL NOT NULL
);
"""


@dataclass(frozen=True)
class Enterprise:
    enterprise_id: str
    name: str


@dataclass(frozen=True)
class Regulator:
    regulator_id: str
    name: str
    jurisdiction: str  # a division-code prefix: 33 (province), 3301 (city), 330106 (district)


@dataclass(frozen=True)
class Session:
    regulator: Regulator
    csrf: str  # what the console's POSTs must carry (X-CSRF-Token): a page of another origin cannot read it


@dataclass(frozen=True)
class Operator:
    """A site operator's account: posts only for `sites`, only a site's own events, as `actor_id`."""

    operator_id: str
    enterprise_id: str
    label: str
    actor_id: str
    sites: frozenset[str]

    @property
    def enterprise(self) -> Enterprise:
        return Enterprise(self.enterprise_id, "")


@dataclass(frozen=True)
class OperatorSession:
    operator: Operator
    csrf: str


class UnknownSites(ValueError):
    """Sites an operator account was asked for that are not the enterprise's own."""


class Registry:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        # Ingest and the regulator API open the file together when the stack starts. Two
        # connections setting up a new file can each wait on the other's lock, and SQLite then
        # answers "database is locked" at once rather than wait; the setup is idempotent, so try again.
        for attempt in Retrying(
            retry=retry_if_exception(_locked), wait=wait_random(0.02, 0.2), stop=stop_after_delay(30), reraise=True
        ):
            with attempt:
                self._db.execute("PRAGMA journal_mode=WAL")
                self._db.execute("PRAGMA synchronous=NORMAL")
                self._db.executescript(_SCHEMA)
                _move_text_ids(self._db)
        # Every accepted id lands at a random place in the id index, so a batch dirties hundreds of
        # pages: checkpointing every 4 000 pages (16 MB of log) rather than SQLite's 1 000 writes a
        # page changed by several batches once, and a larger cache keeps more of the index in memory.
        # The batch that checkpoints waits for it: at 600 000 ids a batch's p99 was 65 ms, against
        # 32 ms with SQLite's default and 118 ms checkpointing every 10 000 pages.
        self._db.execute("PRAGMA wal_autocheckpoint=4000")
        self._db.execute("PRAGMA cache_size=-65536")
        # Claims are never undone or changed (INSERT OR IGNORE: the first enterprise keeps the site),
        # so a site's owner, once read, is kept here; a site not yet claimed is looked up each time.
        self._owners: dict[str, str] = {}

    def close(self) -> None:
        self._db.close()

    # Credentials -------------------------------------------------------------------------------

    def create_enterprise(self, enterprise_id: str, name: str) -> str:
        """Create the enterprise (if new) and a fresh token for it; return the clear token."""
        now = time.time()
        with self._db:
            self._db.execute("BEGIN")
            self._db.execute(
                "INSERT OR IGNORE INTO enterprises (enterprise_id, name, created_at) VALUES (?, ?, ?)",
                (enterprise_id, name, now),
            )
            token = f"tf_{secrets.token_urlsafe(32)}"
            self._db.execute(
                "INSERT INTO tokens (token_sha256, enterprise_id, created_at) VALUES (?, ?, ?)",
                (_digest(token), enterprise_id, now),
            )
        return token

    def revoke_tokens(self, enterprise_id: str) -> int:
        cursor = self._db.execute("UPDATE tokens SET revoked = 1 WHERE enterprise_id = ?", (enterprise_id,))
        return cursor.rowcount

    def authenticate(self, token: str) -> Enterprise | None:
        row = self._db.execute(
            "SELECT e.enterprise_id, e.name FROM tokens t JOIN enterprises e USING (enterprise_id) "
            "WHERE t.token_sha256 = ? AND t.revoked = 0",
            (_digest(token),),
        ).fetchone()
        return Enterprise(row[0], row[1]) if row else None

    def create_regulator(self, regulator_id: str, name: str, jurisdiction: str) -> str:
        """Create (or re-key) a regulator for a jurisdiction; return the clear token."""
        token = f"tfr_{secrets.token_urlsafe(32)}"
        self._db.execute(
            "INSERT OR REPLACE INTO regulators (regulator_id, name, jurisdiction, token_sha256, created_at) "
            "VALUES (?, ?, ?, ?, ?)",
            (regulator_id, name, jurisdiction, _digest(token), time.time()),
        )
        return token

    def regulators(self) -> list[Regulator]:
        rows = self._db.execute("SELECT regulator_id, name, jurisdiction FROM regulators ORDER BY regulator_id")
        return [Regulator(*row) for row in rows]

    def authenticate_regulator(self, token: str) -> Regulator | None:
        row = self._db.execute(
            "SELECT regulator_id, name, jurisdiction FROM regulators WHERE token_sha256 = ?", (_digest(token),)
        ).fetchone()
        return Regulator(row[0], row[1], row[2]) if row else None

    def revoke_regulator(self, regulator_id: str) -> bool:
        """Remove the regulator: its token stops working and its console sessions end at their next request."""
        with self._db:
            self._db.execute("BEGIN")
            self._db.execute("DELETE FROM regulator_sessions WHERE regulator_id = ?", (regulator_id,))
            removed = self._db.execute("DELETE FROM regulators WHERE regulator_id = ?", (regulator_id,)).rowcount
        return removed > 0

    # Console sessions ----------------------------------------------------------------------------

    def open_session(self, token: str, lifetime_s: float) -> tuple[str, Session] | None:
        """Sign a regulator in with its token: a fresh session token (for the cookie) and the session."""
        regulator = self.authenticate_regulator(token)
        if regulator is None:
            return None
        owner = {"regulator_id": regulator.regulator_id, "token_sha256": _digest(token)}
        session_token, csrf = self._open("regulator_sessions", owner, lifetime_s)
        return session_token, Session(regulator, csrf)

    def session(self, session_token: str) -> Session | None:
        """The live session of that cookie: not expired, and its regulator still holds the token it signed in with."""
        row = self._db.execute(
            "SELECT r.regulator_id, r.name, r.jurisdiction, s.csrf FROM regulator_sessions s "
            "JOIN regulators r ON r.regulator_id = s.regulator_id AND r.token_sha256 = s.token_sha256 "
            "WHERE s.session_sha256 = ? AND s.expires_at > ?",
            (_digest(session_token), time.time()),
        ).fetchone()
        return Session(Regulator(row[0], row[1], row[2]), row[3]) if row else None

    def _open(self, table: str, owner: dict[str, str], lifetime_s: float) -> tuple[str, str]:
        """A fresh session in `table` (regulator_sessions, operator_sessions) for `owner`'s columns, the
        expired ones swept: the session token (for the cookie; its digest is kept) and its CSRF token."""
        session_token, csrf, now = secrets.token_urlsafe(32), secrets.token_urlsafe(24), time.time()
        columns = ", ".join(["session_sha256", *owner, "csrf", "expires_at"])
        with self._db:
            self._db.execute("BEGIN")
            self._db.execute(f"DELETE FROM {table} WHERE expires_at <= ?", (now,))
            self._db.execute(
                f"INSERT INTO {table} ({columns}) VALUES ({', '.join('?' * (len(owner) + 3))})",
                (_digest(session_token), *owner.values(), csrf, now + lifetime_s),
            )
        return session_token, csrf

    def close_session(self, session_token: str) -> None:
        self._db.execute("DELETE FROM regulator_sessions WHERE session_sha256 = ?", (_digest(session_token),))

    # Site operators ----------------------------------------------------------------------------

    def create_operator(self, enterprise_id: str, label: str, site_ids: Iterable[str]) -> tuple[Operator, str]:
        """A new operator account for sites the enterprise has registered; the account and its clear
        token (shown once: only its digest is kept)."""
        sites = frozenset(site_ids)
        if not sites:
            raise UnknownSites("sites: at least one site is required")
        owners = self.site_owners(sites)
        foreign = sorted(site for site in sites if owners.get(site) != enterprise_id)
        if foreign:
            raise UnknownSites(f"sites: not registered by {enterprise_id}: {', '.join(foreign)}")
        operator = Operator(f"op_{secrets.token_hex(6)}", enterprise_id, label, f"ps_{secrets.token_hex(16)}", sites)
        token = f"tfo_{secrets.token_urlsafe(32)}"
        with self._db:
            self._db.execute("BEGIN")
            self._db.execute(
                "INSERT INTO operators (operator_id, enterprise_id, label, actor_id, token_sha256, created_at) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (operator.operator_id, enterprise_id, label, operator.actor_id, _digest(token), time.time()),
            )
            self._db.executemany(
                "INSERT INTO operator_sites (operator_id, site_id) VALUES (?, ?)",
                [(operator.operator_id, site) for site in sorted(sites)],
            )
        return operator, token

    def operators(self, enterprise_id: str) -> list[Operator]:
        """The enterprise's operator accounts that are not revoked."""
        rows = self._db.execute(
            "SELECT operator_id FROM operators WHERE enterprise_id = ? AND revoked_at IS NULL ORDER BY created_at",
            (enterprise_id,),
        ).fetchall()
        return [operator for (operator_id,) in rows if (operator := self._operator(operator_id)) is not None]

    def revoke_operator(self, enterprise_id: str, operator_id: str) -> bool:
        """Revoke the enterprise's operator: its token and its sessions stop working at once."""
        with self._db:
            self._db.execute("BEGIN")
            revoked = self._db.execute(
                "UPDATE operators SET revoked_at = ? WHERE operator_id = ? AND enterprise_id = ? "
                "AND revoked_at IS NULL",
                (time.time(), operator_id, enterprise_id),
            ).rowcount
            self._db.execute("DELETE FROM operator_sessions WHERE operator_id = ?", (operator_id,))
        return revoked > 0

    def authenticate_operator(self, token: str) -> Operator | None:
        row = self._db.execute(
            "SELECT operator_id FROM operators WHERE token_sha256 = ? AND revoked_at IS NULL", (_digest(token),)
        ).fetchone()
        return self._operator(row[0]) if row else None

    def open_operator_session(self, token: str, lifetime_s: float) -> tuple[str, OperatorSession] | None:
        """Sign an operator in with its token: a fresh session token (for the cookie) and the session."""
        operator = self.authenticate_operator(token)
        if operator is None:
            return None
        session_token, csrf = self._open("operator_sessions", {"operator_id": operator.operator_id}, lifetime_s)
        return session_token, OperatorSession(operator, csrf)

    def operator_session(self, session_token: str) -> OperatorSession | None:
        """The live session of that cookie: not expired, its operator not revoked."""
        row = self._db.execute(
            "SELECT operator_id, csrf FROM operator_sessions WHERE session_sha256 = ? AND expires_at > ?",
            (_digest(session_token), time.time()),
        ).fetchone()
        operator = self._operator(row[0]) if row else None  # None once revoked
        return OperatorSession(operator, row[1]) if operator is not None else None

    def close_operator_session(self, session_token: str) -> None:
        self._db.execute("DELETE FROM operator_sessions WHERE session_sha256 = ?", (_digest(session_token),))

    def _operator(self, operator_id: str) -> Operator | None:
        row = self._db.execute(
            "SELECT enterprise_id, label, actor_id FROM operators WHERE operator_id = ? AND revoked_at IS NULL",
            (operator_id,),
        ).fetchone()
        if row is None:
            return None
        sites = self._db.execute("SELECT site_id FROM operator_sites WHERE operator_id = ?", (operator_id,))
        return Operator(operator_id, row[0], row[1], row[2], frozenset(site for (site,) in sites))

    # Sites -------------------------------------------------------------------------------------

    def site_owners(self, site_ids: Iterable[str]) -> dict[str, str]:
        """site_id -> the enterprise that claimed it, for the sites claimed."""
        ids = set(site_ids)
        missing = list(ids - self._owners.keys())
        for chunk in _chunks(missing):
            marks = ",".join("?" * len(chunk))
            self._owners.update(
                self._db.execute(f"SELECT site_id, enterprise_id FROM sites WHERE site_id IN ({marks})", chunk)
            )
        return {site_id: self._owners[site_id] for site_id in ids if site_id in self._owners}

    def claim_sites(self, enterprise_id: str, site_ids: Iterable[str]) -> None:
        now = time.time()
        with self._db:
            self._db.execute("BEGIN")
            self._db.executemany(
                "INSERT OR IGNORE INTO sites (site_id, enterprise_id, claimed_at) VALUES (?, ?, ?)",
                [(site_id, enterprise_id, now) for site_id in set(site_ids)],
            )

    # Event ids ---------------------------------------------------------------------------------

    def known_event_ids(self, event_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, str]:
        """event_id -> enterprise that posted it, for the ids already accepted."""
        ids = list({event_id.bytes for event_id in event_ids})
        known: dict[uuid.UUID, str] = {}
        for chunk in _chunks(ids):
            marks = ",".join("?" * len(chunk))
            rows = self._db.execute(
                f"SELECT event_id, enterprise_id FROM accepted_ids WHERE event_id IN ({marks})", chunk
            )
            known.update((uuid.UUID(bytes=event_id), enterprise_id) for event_id, enterprise_id in rows)
        return known

    def remember_event_ids(self, enterprise_id: str, event_ids: Iterable[uuid.UUID]) -> None:
        now = time.time()
        with self._db:
            self._db.execute("BEGIN")
            self._db.executemany(
                "INSERT OR IGNORE INTO accepted_ids (event_id, enterprise_id, accepted_at) VALUES (?, ?, ?)",
                [(event_id.bytes, enterprise_id, now) for event_id in event_ids],
            )

    def forget_event_ids_before(self, cutoff: float) -> int:
        """Forget the ids accepted before `cutoff`, oldest first, up to the first one accepted at or
        after it: if the clock ever stepped back, an id is forgotten late, never early."""
        return self._db.execute(
            "DELETE FROM accepted_ids WHERE seq < coalesce("
            "(SELECT seq FROM accepted_ids WHERE accepted_at >= ? ORDER BY seq LIMIT 1), 9223372036854775807)",
            (cutoff,),
        ).rowcount


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _move_text_ids(db: sqlite3.Connection) -> None:
    """Registries written before accepted_ids kept the ids as text in event_ids: move them over, in
    the order they were accepted, once. Only a registry that has them takes the write lock for it."""
    if not _has_text_ids(db):
        return
    with db:
        db.execute("BEGIN IMMEDIATE")
        if not _has_text_ids(db):  # another process opening the file moved them first
            return
        rows = db.execute("SELECT event_id, enterprise_id, accepted_at FROM event_ids ORDER BY accepted_at")
        db.executemany(
            "INSERT OR IGNORE INTO accepted_ids (event_id, enterprise_id, accepted_at) VALUES (?, ?, ?)",
            ((uuid.UUID(event_id).bytes, enterprise_id, accepted_at) for event_id, enterprise_id, accepted_at in rows),
        )
        db.execute("DROP TABLE event_ids")


def _has_text_ids(db: sqlite3.Connection) -> bool:
    return db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'event_ids'").fetchone() is not None


def _chunks(items: list[T], size: int = 900) -> Iterable[list[T]]:
    # SQLite allows at most 999 bound parameters in older builds.
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _locked(error: BaseException) -> bool:
    return isinstance(error, sqlite3.OperationalError) and "locked" in str(error)
