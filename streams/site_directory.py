"""Which enterprise owns a site, and its division and brand: what the sink checks and stamps rows with."""

from __future__ import annotations

from dataclasses import dataclass

from schemas.registry import SiteRegistered
from streams.warehouse import Warehouse, chunks, literal


@dataclass(frozen=True)
class SiteInfo:
    enterprise_id: str
    division_code: str
    brand: str


class SiteDirectory:
    """Which enterprise owns a site, and its division and brand, to check events and stamp rows.

    A site's registration travels on the site's own partition before its other events, so the
    worker that owns the partition learns it in order; a miss (after a restart or a rebalance)
    is looked up in the warehouse once.
    """

    def __init__(self, warehouse: Warehouse) -> None:
        self._warehouse = warehouse
        self._sites: dict[str, SiteInfo] = {}

    def prefetch(self, site_ids: set[str]) -> None:
        missing = site_ids - self._sites.keys()
        if not missing:
            return
        rows = [
            row
            for chunk in chunks(sorted(missing))
            for row in self._warehouse.query(
                "SELECT site_id, argMax(enterprise_id, registered_at) AS enterprise_id, "
                "argMax(division_code, registered_at) AS division_code, argMax(brand, registered_at) AS brand "
                f"FROM sites WHERE site_id IN ({', '.join(literal(s) for s in chunk)}) GROUP BY site_id"
            )
        ]
        for row in rows:
            self._sites[row["site_id"]] = SiteInfo(row["enterprise_id"], row["division_code"], row["brand"])

    def get(self, site_id: str) -> SiteInfo | None:
        return self._sites.get(site_id)

    def register(self, event: SiteRegistered) -> None:
        self._sites[event.site_id] = SiteInfo(event.enterprise_id, event.payload.division_code, event.payload.brand)
