"""企业与品牌: which brands and franchisees are worst, how compliance moved day by day per district,
and how late each enterprise's records come. A brand's headquarters answers for its franchisees.

Late (补录) is the catalogue's LEDGER-LATE threshold of the normal profile, read when the dashboard
is built; records are counted by the event time they record.
"""

from __future__ import annotations

from dashboards.grades import GRADING, LATE_AFTER_S, graded_sites
from dashboards.spec import SCOPE, SCOPE_BY_SITE, DashboardSpec, PanelSpec
from streams.read_models import OPEN

DELAY = "dateDiff('second', raw_events.occurred_at, raw_events.received_at)"
SITES = f"SELECT site_id, brand, enterprise_id, operation FROM sites FINAL WHERE {SCOPE}"
OPEN_BY_SITE = (
    "SELECT site_id AS alert_site, uniqExact(alert_id) AS open_alerts, "
    "uniqExactIf(alert_id, severity = 'critical') AS critical_alerts "
    f"FROM alerts WHERE {OPEN} AND {SCOPE_BY_SITE} GROUP BY site_id"
)
RECORDS_BY_SITE = (
    f"SELECT site_id AS record_site, count() AS records, countIf({DELAY} > {LATE_AFTER_S}) AS late_records "
    f"FROM raw_events WHERE $__timeFilter(raw_events.occurred_at) AND {SCOPE} GROUP BY site_id"
)


def ranking(key: str, label: str, extra: str, extra_columns: tuple[str, ...]) -> tuple[str, tuple[str, ...]]:
    """Open and critical alerts now, records and late records in the range, per `key` of the sites."""
    sql = (
        f"SELECT s.{key} AS `{label}`, {extra}uniqExact(s.site_id) AS `网点数`, "
        "sum(a.open_alerts) AS `未解除预警`, sum(a.critical_alerts) AS `严重预警`, "
        "sum(r.late_records) AS `补录记录`, "
        "if(sum(r.records) = 0, 0, sum(r.late_records) / sum(r.records)) AS `补录率` "
        f"FROM ({SITES}) AS s LEFT JOIN ({OPEN_BY_SITE}) AS a ON a.alert_site = s.site_id "
        f"LEFT JOIN ({RECORDS_BY_SITE}) AS r ON r.record_site = s.site_id "
        f"GROUP BY s.{key} ORDER BY `严重预警` DESC, `未解除预警` DESC, `补录率` DESC, `{label}` LIMIT 50"
    )
    return sql, (label, *extra_columns, "网点数", "未解除预警", "严重预警", "补录记录", "补录率")


BRANDS = ranking("brand", "品牌", "uniqExact(s.enterprise_id) AS `企业数`, ", ("企业数",))
ENTERPRISES = ranking(
    "enterprise_id",
    "企业",
    "any(s.brand) AS `品牌`, if(countIf(s.operation = 'franchise') > 0, '加盟', '直营') AS `经营方式`, ",
    ("品牌", "经营方式"),
)
# Per district and day: batches first received needing disinfection, and those that raised a
# deadline alert (DIS-IMPORT, DIS-DOMESTIC) due that day.
DAILY_COMPLIANCE = (
    "SELECT toDateTime(b.day) AS time, b.batch_division AS `辖区`, "
    "greatest(0, 1 - ifNull(a.late, 0) / b.batches) AS `消毒合规率` "
    "FROM (SELECT toDate(first_at) AS day, batch_division, count() AS batches FROM ("
    "SELECT site_id, batch_id, any(division_code) AS batch_division, min(occurred_at) AS first_at FROM parcel_events "
    f"WHERE event_type = 'parcels.received' AND (origin = 'imported' OR from_outside_city) AND {SCOPE} "
    "AND $__timeFilter(occurred_at) GROUP BY site_id, batch_id) GROUP BY day, batch_division) AS b "
    "LEFT JOIN (SELECT toDate(deadline) AS due_day, division_code AS alert_division, "
    "uniqExact((site_id, subject_id)) AS late FROM alerts WHERE alert_type = 'alert.raised' "
    "AND rule_id IN ('DIS-IMPORT', 'DIS-DOMESTIC') AND $__timeFilter(deadline) "
    f"AND {SCOPE_BY_SITE} GROUP BY due_day, alert_division) AS a "
    "ON a.due_day = b.day AND a.alert_division = b.batch_division "
    "ORDER BY time, `辖区`"
)

DASHBOARD = DashboardSpec(
    uid="tongfang-enterprises",
    title="企业与品牌",
    description="品牌与企业（含加盟企业）按未解除预警、补录率排名；各区逐日消毒合规率。",
    time_from="now-30d",
    panels=(
        PanelSpec(
            "品牌排名",
            "table",
            BRANDS[0],
            BRANDS[1],
            "头部企业对加盟企业负责：按严重预警、未解除预警和补录率排序。",
            width=12,
            height=9,
            column_units=(("补录率", "percentunit"),),
        ),
        PanelSpec(
            "企业排名",
            "table",
            ENTERPRISES[0],
            ENTERPRISES[1],
            "各企业（含加盟企业）的未解除预警和所选时段的补录情况。",
            width=12,
            height=9,
            column_units=(("补录率", "percentunit"),),
        ),
        PanelSpec(
            "网点分级",
            "table",
            "SELECT site_id AS `网点`, site_name AS `名称`, site_brand AS `品牌`, grade AS `等级`, "
            "open_critical AS `严重预警`, overdue_tests AS `检测超期人数`, late_rate AS `补录率` "
            f"FROM ({graded_sites()}) ORDER BY indexOf(['红', '黄', '绿'], grade), open_critical DESC, "
            "late_rate DESC, site_id LIMIT 200",
            ("网点", "名称", "品牌", "等级", "严重预警", "检测超期人数", "补录率"),
            GRADING.description.zh,
            width=24,
            height=9,
            site_link_column="网点",
            column_units=(("补录率", "percentunit"),),
        ),
        PanelSpec(
            "各区消毒合规率（逐日）",
            "timeseries",
            DAILY_COMPLIANCE,
            ("time", "辖区", "消毒合规率"),
            "每天首次到达的需消毒批次中，在时限内有消毒记录的比例，按区县。",
            unit="percentunit",
            width=16,
            height=9,
        ),
        PanelSpec(
            "补录率（按企业）",
            "barchart",
            f"SELECT enterprise_id AS `企业`, countIf({DELAY} > {LATE_AFTER_S}) / count() AS `补录率` "
            f"FROM raw_events WHERE $__timeFilter(raw_events.occurred_at) AND {SCOPE} "
            "GROUP BY enterprise_id ORDER BY `补录率` DESC, `企业` LIMIT 20",
            ("企业", "补录率"),
            "所选时段内，接收时间晚于发生时间超过规定时长的记录所占比例。",
            unit="percentunit",
            width=8,
            height=9,
        ),
    ),
)
