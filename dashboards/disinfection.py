"""消杀: parcel batches received and disinfected, overdue batches and late records."""

from __future__ import annotations

from dashboards.rollup import series_by_type, whole_and_partial
from dashboards.spec import OPEN, SCOPE_BY_SITE, DashboardSpec, PanelSpec

DIS_RULES = "('DIS-IMPORT', 'DIS-DOMESTIC', 'DIS-COVERAGE', 'DIS-BEFORE-DISPATCH', 'REST-IMPORT')"
NEEDS_DISINFECTION = "(origin = 'imported' OR from_outside_city)"
ARRIVED_OR_DISINFECTED = "event_type IN ('parcels.received', 'parcels.disinfected')"


def batch_states(keys: str, condition: str) -> str:
    """Rows of `keys` and `b`, the uniqExact state of the batch ids of the parcel events in the range
    that meet `condition`. Batch ids are unique per site, so `keys` must hold site_id."""
    return whole_and_partial(
        "parcels_hourly",
        "parcel_events",
        f"{keys}, uniqExactMergeState(batches) AS b",
        f"{keys}, uniqExactState(batch_id) AS b",
        condition,
        keys,
    )


def batches_by_site(condition: str, by: str = "") -> str:
    """Rows of site_id (and `by`) and `n`, the batches received in the range that meet `condition`."""
    keys = f"site_id, {by}" if by else "site_id"
    states = batch_states(keys, f"event_type = 'parcels.received' AND {condition}")
    return f"SELECT {keys}, uniqExactMerge(b) AS n FROM ({states}) GROUP BY {keys}"


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
            f"FROM ({batches_by_site('1', by='origin')}) GROUP BY `来源` ORDER BY `来源`",
            ("来源", "批次数"),
            width=8,
            height=9,
        ),
        PanelSpec(
            "超时未消毒批次",
            "table",
            "SELECT site_id AS `网点`, subject_id AS `批次`, title_zh AS `预警`, "
            "formatDateTime(deadline, '%Y-%m-%d %H:%i') AS `时限`, "
            "if(JSONExtractString(details, 'origin') = 'imported', '进口', '国内') AS `来源`, "
            "JSONExtractUInt(details, 'received_items') AS `到达件数`, "
            "JSONExtractUInt(details, 'disinfected_items') AS `已消毒件数` "
            f"FROM alerts WHERE rule_id IN {DIS_RULES} AND {OPEN} AND {SCOPE_BY_SITE} ORDER BY deadline LIMIT 200",
            ("网点", "批次", "预警", "时限", "来源", "到达件数", "已消毒件数"),
            "尚未解除的消毒类预警，按时限排序。",
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
            "SELECT site_id AS `网点`, uniqExactMergeIf(b, event_type = 'parcels.received') AS `到达批次`, "
            "uniqExactMergeIf(b, event_type = 'parcels.disinfected') AS `已消毒批次` FROM ("
            f"{batch_states('site_id, event_type', ARRIVED_OR_DISINFECTED)}) "
            "GROUP BY site_id ORDER BY `到达批次` DESC, `网点` LIMIT 20",
            ("网点", "到达批次", "已消毒批次"),
            width=12,
            height=9,
        ),
    ),
)
