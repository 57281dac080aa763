"""What a webhook receives: a generic JSON body, or a markdown message for WeCom/DingTalk robots."""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

import msgspec

from schemas.alerts import AlertRaised, AnyAlert

SHANGHAI = ZoneInfo("Asia/Shanghai")
SEVERITY_ZH = {"critical": "严重", "major": "重要", "minor": "一般"}
LATE_ZH = {"record_after_deadline": "记录补录（处置在时限内，记录逾期）", "action_after_deadline": "逾期处置"}


def body(alert: AnyAlert, fmt: str) -> dict[str, Any]:
    if fmt == "markdown":
        title = _title(alert)
        text = markdown(alert)
        # WeCom reads markdown.content, DingTalk markdown.title and markdown.text.
        return {"msgtype": "markdown", "markdown": {"title": title, "text": text, "content": text}}
    payload: dict[str, Any] = msgspec.to_builtins(alert)
    return {"alert": payload, "text": _title(alert)}


def _title(alert: AnyAlert) -> str:
    if isinstance(alert, AlertRaised):
        return f"【{SEVERITY_ZH[alert.severity]}】{alert.title_zh}"
    return f"【已解除】{alert.rule_id} {alert.subject_id}"


def _local(moment: Any) -> str:
    return str(moment.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M"))


def markdown(alert: AnyAlert) -> str:
    lines = [f"### {_title(alert)}", f"- 规则：{alert.rule_id}（规则目录 {alert.catalogue_version}）"]
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
