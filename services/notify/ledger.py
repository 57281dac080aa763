"""The delivery ledger: which alert went to which route, so none is sent twice."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path


class Ledger:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS deliveries (alert_id TEXT, alert_type TEXT, route TEXT, status TEXT, "
            "attempts INTEGER, at REAL, PRIMARY KEY (alert_id, alert_type, route)) WITHOUT ROWID"
        )

    def done(self, alert_id: str, alert_type: str, route: str) -> bool:
        row = self._db.execute(
            "SELECT 1 FROM deliveries WHERE alert_id = ? AND alert_type = ? AND route = ?",
            (alert_id, alert_type, route),
        ).fetchone()
        return row is not None

    def record(self, alert_id: str, alert_type: str, route: str, status: str, attempts: int) -> None:
        self._db.execute(
            "INSERT OR REPLACE INTO deliveries VALUES (?, ?, ?, ?, ?, ?)",
            (alert_id, alert_type, route, status, attempts, time.time()),
        )

    def close(self) -> None:
        self._db.close()
