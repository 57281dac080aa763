"""The worker's other sinks: alerts and webhook deliveries, one JSON record a row."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import msgspec
import orjson

from schemas.alerts import AlertRaised, AnyAlert
from streams.records import Record
from streams.warehouse import Warehouse, id_set


class RowSink:
    """Stores JSON records (alerts, deliveries) as rows of one table.

    With `dedupe` (a SQL expression over the table and the same key computed from a row), rows whose
    key is already stored are skipped, so a replayed or re-raised record is one row.
    """

    def __init__(
        self,
        warehouse: Warehouse,
        table: str,
        to_row: Callable[[bytes], dict[str, Any] | None],
        dedupe: tuple[str, Callable[[dict[str, Any]], str]] | None,
    ) -> None:
        self._warehouse = warehouse
        self._table = table
        self._to_row = to_row
        self._dedupe = dedupe

    def write(self, records: list[Record]) -> int:
        rows = [row for row in (self._to_row(record.value) for record in records) if row is not None]
        if self._dedupe is not None and rows:
            expression, key = self._dedupe
            ids = sorted({str(row["alert_id"]) for row in rows})
            stored = {
                item["key"]
                for item in self._warehouse.query(
                    f"SELECT DISTINCT {expression} AS key FROM {self._table} WHERE alert_id IN {id_set(ids)}"
                )
            }
            fresh = []
            for row in rows:
                if key(row) not in stored:
                    stored.add(key(row))
                    fresh.append(row)
            rows = fresh
        self._warehouse.insert_json(self._table, b"".join(orjson.dumps(row) + b"\n" for row in rows))
        return len(rows)


_alert_decoder: msgspec.json.Decoder[AnyAlert] = msgspec.json.Decoder(AnyAlert)


def alert_row(value: bytes) -> dict[str, Any] | None:
    try:
        alert = _alert_decoder.decode(value)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None  # only the worker writes this topic; nothing else is expected on it
    row: dict[str, Any] = {
        "alert_id": alert.alert_id,
        "alert_type": "alert.raised" if isinstance(alert, AlertRaised) else "alert.resolved",
        "rule_id": alert.rule_id,
        "catalogue_version": alert.catalogue_version,
        "severity": alert.severity,
        "enterprise_id": alert.enterprise_id,
        "site_id": alert.site_id,
        "division_code": alert.division_code,
        "subject_kind": alert.subject_kind,
        "subject_id": alert.subject_id,
        "at": alert.at.isoformat(),
        "evidence": alert.evidence,
    }
    if isinstance(alert, AlertRaised):
        row.update(
            deadline=alert.deadline.isoformat(),
            profile=alert.profile,
            title_zh=alert.title_zh,
            details=orjson.dumps(alert.details).decode(),
        )
    else:
        row.update(late=alert.late, late_reason=alert.late_reason or "")
    return row


def alert_key(row: dict[str, Any]) -> str:
    return f"{row['alert_id']}{row['alert_type']}"


def delivery_row(value: bytes) -> dict[str, Any] | None:
    row: dict[str, Any] = orjson.loads(value)
    return row
