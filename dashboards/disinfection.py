"""消杀: parcel batches received and disinfected, overdue batches and late records."""

from __future__ import annotations

from dashboards.rollup import series_by_type, whole_and_partial
from dashboards.spec import SCOPE_BY_SITE, DashboardSpec, PanelSpec
from streams.read_models import OPEN

DIS_RULES = "('DIS-IMPORT', 'DIS-DOMESTIC', 'DIS-COVERAGE', 'DIS-BEFORE-DISPATCH', 'REST-IMPORT')"
NEEDS_DISINFECTION = "(origin = 'imported' OR from_outside_city)"
RECEIVED = "event_type = 'parcels.received'"


def first_batches(keys: str, condition: str) -> str:
    """Rows of `keys` and `n`: the batches whose first record of a kind (event_type: received or
    disinfected) falls in the range and meets `condition`. A batch counts once, at its first
    receipt (and its first disinfection), wherever its later records fall (streams/batches.py)."""
    union = whole_and_partial(
        "batch_firsts_hourly",
        "batch_firsts_timeline",
        f"{keys}, sum(batches) AS n",
        f"{keys}, sum(sign) AS n",
        condition,
        keys,
    )
    return f"SELECT {keys}, sum(n) AS n FROM ({union}) GROUP BY {keys}"


DASHBOARD = DashboardSpec(
    uid="tongfang-disinfection",
    title="消杀",
    description="邮件快件到达与消毒、进口与国内批次、超时未消毒批次和补录记录。",
    panels=(
        PanelSpec(
            "到达与消毒件数",
            "timeseries",
            series_by_type(
                "parcels_hourly",
                "parcel_events",
                {"到达件数": "parcels.received", "消毒件数": "parcels.disinfected"},
                sums=("items", "item_count"),
            ),
            ("time", "到达件数", "消毒件数"),
            width=16,
            height=9,
        ),
        PanelSpec(
            "进口与国内批次",
            "piechart",
            "SELECT if(origin = 'imported', '进口', '国内') AS `来源`, sum(n) AS `批次数` "
            f"FROM ({first_batches('origin', RECEIVED)}) GROUP BY `来源` HAVING `批次数` > 0 ORDER BY `来源`",
            ("来源", "批次数"),
            "所选时段内首次到达的批次，按来源统计。",
            width=8,
            height=9,
        ),
        PanelSpec(
            "超时未消毒批次",
            "table",
            "SELECT site_id AS `网点`, subject_id AS `批次`, title_zh AS `预警`, "
            "formatDateTime(deadline, '%Y-%m-%d %H:%i') AS `时限`, "
            "if(JSONExtractString(details, 'origin') = 'imported', '进口', '国内') AS `来源`, "
            "if(JSONExtractUInt(details, 'received_items') = 0, '无到达记录', "
            "toString(JSONExtractUInt(details, 'received_items'))) AS `到达件数`, "
            "JSONExtractUInt(details, 'disinfected_items') AS `已消毒件数` "
            f"FROM alerts WHERE rule_id IN {DIS_RULES} AND {OPEN} AND {SCOPE_BY_SITE} ORDER BY deadline LIMIT 200",
            ("网点", "批次", "预警", "时限", "来源", "到达件数", "已消毒件数"),
            "尚未解除的消毒类预警，按时限排序；“无到达记录”为网点未登记到达即分发的批次（台账缺失）。",
            width=24,
            height=9,
            site_link_column="网点",
        ),
        PanelSpec(
            "补录与逾期消毒",
            "table",
            "SELECT site_id AS `网点`, subject_id AS `批次`, rule_id AS `规则`, "
            "if(late_reason = 'record_after_deadline', '记录补录', '逾期处置') AS `情况`, "
            "formatDateTime(at, '%Y-%m-%d %H:%i') AS `解除时间` FROM alerts "
            f"WHERE alert_type = 'alert.resolved' AND late AND rule_id IN {DIS_RULES} AND $__timeFilter(at) "
            f"AND {SCOPE_BY_SITE} ORDER BY at DESC LIMIT 200",
            ("网点", "批次", "规则", "情况", "解除时间"),
            "时限过后才补录或才处置的批次：台账记录保留并标注。",
            width=12,
            height=9,
        ),
        PanelSpec(
            "各网点消毒批次",
            "barchart",
            "SELECT site_id AS `网点`, sumIf(n, event_type = 'parcels.received') AS `到达批次`, "
            "sumIf(n, event_type = 'parcels.disinfected') AS `已消毒批次` "
            f"FROM ({first_batches('site_id, event_type', '1')}) GROUP BY site_id "
            "HAVING `到达批次` > 0 OR `已消毒批次` > 0 ORDER BY `到达批次` DESC, `网点` LIMIT 20",
            ("网点", "到达批次", "已消毒批次"),
            "所选时段内首次到达的批次和首次消毒的批次，每个批次只计一次。",
            width=12,
            height=9,
        ),
    ),
)
