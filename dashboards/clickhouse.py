"""The ClickHouse datasource plugin's query, as a grafana-foundation-sdk Dataquery variant.

The SDK has no builder for grafana-clickhouse-datasource; this is the small variant its custom
query example describes, registered so generated dashboards parse back into the same objects.
"""

from __future__ import annotations

from typing import Any, Self

from grafana_foundation_sdk.cog import builder as cogbuilder
from grafana_foundation_sdk.cog import runtime as cogruntime
from grafana_foundation_sdk.cog import variants as cogvariants
from grafana_foundation_sdk.models.common import DataSourceRef

PLUGIN = "grafana-clickhouse-datasource"
DATASOURCE_UID = "tongfang-clickhouse"
FORMAT_TIME_SERIES, FORMAT_TABLE = 0, 1


def datasource() -> DataSourceRef:
    return DataSourceRef(type_val=PLUGIN, uid=DATASOURCE_UID)


class ClickHouseQuery(cogvariants.Dataquery):
    def __init__(self, ref_id: str = "A", raw_sql: str = "", format_: int = FORMAT_TABLE) -> None:
        self.ref_id = ref_id
        self.raw_sql = raw_sql
        self.format = format_

    def to_json(self) -> dict[str, object]:
        return {
            "datasource": {"type": PLUGIN, "uid": DATASOURCE_UID},
            "editorType": "sql",
            "format": self.format,
            "queryType": "table" if self.format == FORMAT_TABLE else "timeseries",
            "rawSql": self.raw_sql,
            "refId": self.ref_id,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Self:
        return cls(data.get("refId", "A"), data.get("rawSql", ""), int(data.get("format", FORMAT_TABLE)))


class Query(cogbuilder.Builder[ClickHouseQuery]):
    def __init__(self, sql: str, format_: int = FORMAT_TABLE, ref_id: str = "A") -> None:
        self._internal = ClickHouseQuery(ref_id, sql, format_)

    def build(self) -> ClickHouseQuery:
        return self._internal


def register() -> None:
    cogruntime.Runtime().register_dataquery_variant(
        cogruntime.DataqueryConfig(identifier=PLUGIN, from_json_hook=ClickHouseQuery.from_json)
    )
