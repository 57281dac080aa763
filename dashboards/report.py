"""一天一报告: the daily report for a jurisdiction, as one self-contained HTML page.

Figures come from the dashboards' own panel queries, expanded for the chosen day, so the report
and the dashboards never disagree. Charts are inline SVG: the page needs no network to view.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from dashboards import alerts, disinfection, overview, staff_health
from dashboards.macros import ALL, expand
from dashboards.spec import PanelSpec

SHANGHAI = ZoneInfo("Asia/Shanghai")


class Reader(Protocol):
    def query(self, sql: str) -> list[dict[str, Any]]: ...


def _panel(spec_panels: tuple[PanelSpec, ...], title: str) -> PanelSpec:
    return next(panel for panel in spec_panels if panel.title == title)


HEADLINES = [
    _panel(overview.DASHBOARD.panels, "事件总数"),
    _panel(overview.DASHBOARD.panels, "消毒合规率"),
    _panel(overview.DASHBOARD.panels, "健康监测合规率"),
    _panel(overview.DASHBOARD.panels, "核酸检测合规率"),
    _panel(overview.DASHBOARD.panels, "未解除严重预警"),
    _panel(staff_health.DASHBOARD.panels, "发热、有症状或健康码异常"),
]
TREND = _panel(disinfection.DASHBOARD.panels, "到达与消毒件数")
BY_RULE = _panel(alerts.DASHBOARD.panels, "按规则")
WORST_SITES = _panel(overview.DASHBOARD.panels, "问题最多的网点")
WORST_ENTERPRISES = _panel(alerts.DASHBOARD.panels, "按企业")
OPEN_ALERTS = _panel(alerts.DASHBOARD.panels, "未解除预警")
LATE_RECORDS = _panel(disinfection.DASHBOARD.panels, "补录与逾期消毒")


@dataclass(frozen=True)
class DailyReport:
    jurisdiction: str
    day: date
    headlines: list[tuple[str, Any, str | None]]
    trend: list[dict[str, Any]]
    by_rule: list[dict[str, Any]]
    worst_sites: list[dict[str, Any]]
    worst_enterprises: list[dict[str, Any]]
    critical_alerts: list[dict[str, Any]]
    late_records: list[dict[str, Any]]


def report_day(text: str) -> date:
    """A report's day from YYYY-MM-DD, between 2000 and 2100; ValueError saying why otherwise."""
    try:
        day = date.fromisoformat(text)
    except ValueError:
        raise ValueError("expected YYYY-MM-DD") from None
    if not 2000 <= day.year <= 2100:
        raise ValueError("expected a date between 2000 and 2100")
    return day


def gather(reader: Reader, jurisdiction: str, day: date) -> DailyReport:
    since = datetime.combine(day, time(0, 0), SHANGHAI)
    until = since + timedelta(days=1) - timedelta(seconds=1)
    variables = {"jurisdiction": jurisdiction, "brand": ALL, "site": ALL}

    def run(panel: PanelSpec, interval_s: int = 3600) -> list[dict[str, Any]]:
        return reader.query(expand(panel.sql, since, until, variables, interval_s))

    headlines = []
    for panel in HEADLINES:
        rows = run(panel)
        value = next(iter(rows[0].values())) if rows else 0
        headlines.append((panel.title, value, panel.unit))
    return DailyReport(
        jurisdiction=jurisdiction,
        day=day,
        headlines=headlines,
        trend=run(TREND),
        by_rule=run(BY_RULE),
        worst_sites=run(WORST_SITES),
        worst_enterprises=run(WORST_ENTERPRISES)[:10],
        critical_alerts=[row for row in run(OPEN_ALERTS) if row["级别"] == "严重"],
        late_records=run(LATE_RECORDS),
    )


def render(report: DailyReport) -> str:
    cards = "".join(
        f"<div class='card'><div class='label'>{_e(title)}</div>"
        f"<div class='value'>{_e(_figure(value, unit))}</div></div>"
        for title, value, unit in report.headlines
    )
    trend_values = [(str(row["time"])[11:16], row["到达件数"], row["消毒件数"]) for row in report.trend]
    rule_values = [(row["规则"], row["预警数"]) for row in report.by_rule]
    return f"""<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8">
<title>人物同防日报 {report.jurisdiction} {report.day:%Y-%m-%d}</title>
<style>
body {{ font-family: "Noto Sans CJK SC", "Noto Sans SC", sans-serif; margin: 24px; color: #1f2933; }}
h1 {{ font-size: 24px; margin: 0 0 4px; }}
h2 {{ font-size: 18px; margin: 28px 0 8px; border-left: 4px solid #c0392b; padding-left: 8px; }}
.sub {{ color: #5f6b7a; margin-bottom: 16px; }}
.cards {{ display: flex; flex-wrap: wrap; gap: 12px; }}
.card {{ border: 1px solid #d9dee5; border-radius: 6px; padding: 12px 16px; min-width: 150px; background: #f8fafc; }}
.label {{ color: #5f6b7a; font-size: 13px; }} .value {{ font-size: 26px; font-weight: 600; margin-top: 4px; }}
table {{ border-collapse: collapse; margin-top: 6px; font-size: 13px; }}
th, td {{ border: 1px solid #d9dee5; padding: 4px 8px; text-align: left; }} th {{ background: #eef2f6; }}
.empty {{ color: #5f6b7a; }}
</style></head><body>
<h1>人物同防日报（一天一报告）</h1>
<div class="sub">辖区 {_e(report.jurisdiction)} · {report.day:%Y年%m月%d日} ·
生成于 {datetime.now(SHANGHAI):%Y-%m-%d %H:%M}</div>
<h2>核心指标</h2><div class="cards">{cards}</div>
<h2>邮件快件到达与消毒（按小时）</h2>{_line_chart(trend_values)}
<h2>预警（按规则）</h2>{_bar_chart(rule_values)}
<h2>问题最多的网点</h2>{_table(report.worst_sites)}
<h2>预警最多的企业</h2>{_table(report.worst_enterprises)}
<h2>未解除的严重预警</h2>{_table(report.critical_alerts)}
<h2>补录与逾期记录</h2>{_table(report.late_records)}
</body></html>
"""


def _e(value: Any) -> str:
    return html.escape(str(value))


def _figure(value: Any, unit: str | None) -> str:
    if value is None:
        return "无数据"  # a rate of nothing (no batches, no shifts that day): not 100 %
    if unit == "percentunit":
        return f"{float(value) * 100:.1f}%"
    return f"{value:,}" if isinstance(value, int) else str(value)


def _table(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return "<p class='empty'>无</p>"
    head = "".join(f"<th>{_e(column)}</th>" for column in rows[0])
    body = "".join("<tr>" + "".join(f"<td>{_e(value)}</td>" for value in row.values()) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _bar_chart(values: list[tuple[str, Any]]) -> str:
    if not values:
        return "<p class='empty'>无</p>"
    width, bar, gap, label = 720, 22, 8, 260
    peak = max(float(count) for _, count in values) or 1.0
    height = len(values) * (bar + gap) + gap
    bars = []
    for index, (name, count) in enumerate(values):
        y = gap + index * (bar + gap)
        length = (width - label - 60) * float(count) / peak
        bars.append(
            f"<text x='{label - 8}' y='{y + 16}' text-anchor='end' font-size='13'>{_e(name)}</text>"
            f"<rect x='{label}' y='{y}' width='{length:.1f}' height='{bar}' fill='#c0392b'/>"
            f"<text x='{label + length + 6:.1f}' y='{y + 16}' font-size='13'>{_e(count)}</text>"
        )
    return f"<svg xmlns='http://www.w3.org/2000/svg' width='{width}' height='{height}' role='img'>{''.join(bars)}</svg>"


def _line_chart(points: list[tuple[str, Any, Any]]) -> str:
    if not points:
        return "<p class='empty'>无</p>"
    width, height, left, bottom = 720, 240, 50, 30
    peak = max(max(float(a), float(b)) for _, a, b in points) or 1.0
    step = (width - left - 20) / max(1, len(points) - 1)

    def path(index: int, colour: str) -> str:
        coords = " ".join(
            f"{left + i * step:.1f},{height - bottom - (height - bottom - 20) * float(p[index]) / peak:.1f}"
            for i, p in enumerate(points)
        )
        return f"<polyline fill='none' stroke='{colour}' stroke-width='2' points='{coords}'/>"

    labels = "".join(
        f"<text x='{left + i * step:.1f}' y='{height - 8}' font-size='11' text-anchor='middle'>{_e(p[0])}</text>"
        for i, p in enumerate(points)
        if i % max(1, len(points) // 8) == 0
    )
    legend = (
        "<rect x='60' y='4' width='12' height='12' fill='#2c7be5'/><text x='78' y='15' font-size='12'>到达件数</text>"
        "<rect x='150' y='4' width='12' height='12' fill='#c0392b'/><text x='168' y='15' font-size='12'>消毒件数</text>"
    )
    return (
        f"<svg xmlns='http://www.w3.org/2000/svg' width='{width}' height='{height}' role='img'>"
        f"<line x1='{left}' y1='{height - bottom}' x2='{width - 10}' y2='{height - bottom}' stroke='#9aa5b1'/>"
        f"{path(1, '#2c7be5')}{path(2, '#c0392b')}{labels}{legend}"
        f"<text x='4' y='30' font-size='11'>{peak:.0f}</text></svg>"
    )
