"""What the notifier delivers: alerts, and the desk's actions addressed to an enterprise.

An alert (alerts topic) is raised or resolved. From the events topic the notifier takes two desk
events, both produced by the regulator service: `alert.assigned` (督办: the enterprise is asked to
act on an alert by a due time) and `site.reminded` (未报送: a site has not reported). Those carry
ids only, so the notifier looks up what a reader needs (the alert's rule and title, the site's name
and division) in the warehouse; routes match them by the alert's or the site's division and by the
enterprise they are addressed to.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import msgspec
import structlog
from tenacity import AsyncRetrying, RetryCallState, stop_never, wait_exponential

from schemas.alerts import AlertRaised, AnyAlert
from schemas.desk import AlertAssigned, SiteReminded
from streams.warehouse import Reader, literal

log = structlog.get_logger("tongfang.notify")
SHANGHAI = ZoneInfo("Asia/Shanghai")
SEVERITY_ZH = {"critical": "严重", "major": "重要", "minor": "一般"}
LATE_ZH = {"record_after_deadline": "记录补录（处置在时限内，记录逾期）", "action_after_deadline": "逾期处置"}
MISSING_ZH = {"staff_checks": "从业人员健康监测", "parcel_records": "邮件快件消毒与收发记录"}
DESK_KINDS = ("alert.assigned", "site.reminded")
DeskEvent = AlertAssigned | SiteReminded


@dataclass(frozen=True)
class Notice:
    """One thing to deliver. `key` names it in the delivery ledger (an alert's id, or a desk event's
    own, so a second assignment of one alert is delivered too); `alert_id` is what the deliveries
    table files it under."""

    kind: str  # alert.raised | alert.resolved | alert.assigned | site.reminded
    key: str
    alert_id: str
    division_code: str
    enterprise_id: str  # whom it concerns: the alert's enterprise, or the one asked to act
    severity: str | None
    alert: AnyAlert | None = None
    event: DeskEvent | None = None
    facts: dict[str, Any] = field(default_factory=dict)  # looked up for a desk event


def alert_notice(alert: AnyAlert) -> Notice:
    kind = "alert.raised" if isinstance(alert, AlertRaised) else "alert.resolved"
    return Notice(
        kind, alert.alert_id, alert.alert_id, alert.division_code, alert.enterprise_id, alert.severity, alert=alert
    )


class Lookup:
    """The facts a desk event's message needs, read from the warehouse."""

    def __init__(self, reader: Reader) -> None:
        self._reader = reader

    async def notice(self, event: DeskEvent) -> Notice:
        site = await self._one(
            "SELECT argMax(name, registered_at) AS site_name, argMax(division_code, registered_at) AS division_code "
            f"FROM sites WHERE site_id = {literal(event.site_id)}"
        )
        facts = {"site_name": site.get("site_name") or event.site_id, "division_code": site.get("division_code", "")}
        if isinstance(event, SiteReminded):
            return Notice(
                "site.reminded", str(event.event_id), str(event.event_id), facts["division_code"],
                event.enterprise_id, None, event=event, facts=facts,
            )  # fmt: skip
        alert = await self._one(
            "SELECT rule_id, title_zh, severity, subject_kind, subject_id, division_code FROM alerts "
            f"WHERE alert_id = toUUID({literal(str(event.payload.alert_id))}) AND alert_type = 'alert.raised' LIMIT 1"
        )
        facts |= alert
        return Notice(
            "alert.assigned", str(event.event_id), str(event.payload.alert_id),
            alert.get("division_code") or facts["division_code"], event.payload.assignee_enterprise_id,
            alert.get("severity"), event=event, facts=facts,
        )  # fmt: skip

    async def _one(self, sql: str) -> dict[str, Any]:
        """The first row, waiting out a warehouse that does not answer yet (the notice waits in Kafka)."""
        async for attempt in AsyncRetrying(
            stop=stop_never, wait=wait_exponential(multiplier=0.5, max=30), before_sleep=_log_retry, reraise=True
        ):
            with attempt:
                rows = await asyncio.get_running_loop().run_in_executor(None, self._reader.query, sql)
        return rows[0] if rows else {}


def _log_retry(state: RetryCallState) -> None:
    error = state.outcome.exception() if state.outcome else None
    log.warning("notice_lookup_retrying", attempt=state.attempt_number, error=str(error))


def body(notice: Notice, fmt: str) -> dict[str, Any]:
    """A generic JSON body, or a markdown message for WeCom/DingTalk robots."""
    if fmt == "markdown":
        text = markdown(notice)
        # WeCom reads markdown.content, DingTalk markdown.title and markdown.text.
        return {"msgtype": "markdown", "markdown": {"title": title(notice), "text": text, "content": text}}
    if notice.alert is not None:
        return {"alert": msgspec.to_builtins(notice.alert), "text": title(notice)}
    return {
        "notice": {"kind": notice.kind, "event": msgspec.to_builtins(notice.event), **notice.facts},
        "text": title(notice),
    }


def title(notice: Notice) -> str:
    alert, event = notice.alert, notice.event
    if isinstance(alert, AlertRaised):
        return f"【{SEVERITY_ZH[alert.severity]}】{alert.title_zh}"
    if alert is not None:
        return f"【已解除】{alert.rule_id} {alert.subject_id}"
    if isinstance(event, AlertAssigned):
        return f"【督办】{notice.facts.get('title_zh') or '预警'}：请于 {_local(event.payload.due)} 前处置"
    return f"【未报送提醒】{notice.facts['site_name']} {event.payload.day if event else ''}"


def markdown(notice: Notice) -> str:
    if notice.alert is not None:
        return _alert_markdown(notice.alert)
    event, facts = notice.event, notice.facts
    site = f"{facts['site_name']}（{event.site_id if event else ''}，区划 {notice.division_code or '未知'}）"
    lines = [f"### {title(notice)}", f"- 网点：{site}"]
    if isinstance(event, AlertAssigned):
        lines += [
            f"- 预警：{facts.get('rule_id', '')} {facts.get('subject_kind', '')} {facts.get('subject_id', '')}",
            f"- 督办企业：{event.payload.assignee_enterprise_id}",
            f"- 办理期限：{_local(event.payload.due)}",
            f"- 督办人：{event.payload.regulator_id}（{_local(event.occurred_at)}）",
        ]
    elif isinstance(event, SiteReminded):
        missing = "、".join(MISSING_ZH[item] for item in event.payload.missing)
        lines += [
            f"- 日期：{event.payload.day}",
            f"- 未报送：{missing}",
            f"- 提醒人：{event.payload.regulator_id}（{_local(event.occurred_at)}）",
        ]
    if event is not None and event.payload.note:
        lines.append(f"- 说明：{event.payload.note}")
    return "\n".join(lines)


def _alert_markdown(alert: AnyAlert) -> str:
    lines = [f"### {title(alert_notice(alert))}", f"- 规则：{alert.rule_id}（规则目录 {alert.catalogue_version}）"]
    lines += [
        f"- 网点：{alert.site_id}（区划 {alert.division_code or '未知'}）",
        f"- 企业：{alert.enterprise_id or '未知'}",
        f"- 对象：{alert.subject_kind} {alert.subject_id}",
    ]
    if isinstance(alert, AlertRaised):
        profile = "应急响应" if alert.profile == "response" else "常态"
        lines += [f"- 时限：{_local(alert.deadline)}（{profile}标准）", f"- 发现时间：{_local(alert.at)}"]
    else:
        lines.append(f"- 解除时间：{_local(alert.at)}")
        if alert.late and alert.late_reason:
            lines.append(f"- 说明：{LATE_ZH[alert.late_reason]}")
    lines.append(f"- 证据事件：{len(alert.evidence)} 条")
    return "\n".join(lines)


def _local(moment: datetime) -> str:
    return moment.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M")
