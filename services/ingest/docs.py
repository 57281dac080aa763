"""The ingest API's /docs page, for a brand's IT and a branch's developer: every event type with its
fields (type, required, what is accepted) and an example that the API accepts, all read from the
same OpenAPI document the models generate (`services.ingest.openapi`). Chinese, self-contained."""

from __future__ import annotations

import html
import json
from typing import Any

from services.ingest.openapi import openapi_document
from streams.settings import Settings

# A value for each pattern the models use, and for fields whose name says more than their pattern.
PATTERN_EXAMPLES = {
    "^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$": "B-20261123-001",
    "^ps_[0-9a-f]{32}$": "ps_3fcda40c1743887ce3d9de428e589045",
    "^[A-Z]{2}$": "KR",
    r"^\d{4}-\d{2}-\d{2}$": "2026-11-23",
}
NAMED_EXAMPLES = {
    "event_id": "0b6f6c3e-3f0e-4a55-9d55-2f1b3c9d8e21",
    "enterprise_id": "sf-hz",
    "site_id": "sf-330106-0001",
    "vehicle_id": "ZJ-A12345",
    "route_id": "R-HZ-1",
    "division_code": "330106",
    "occurred_at": "2026-11-23T08:30:00+08:00",
    "window_start": "2026-11-23T08:00:00+08:00",
    "window_end": "2026-11-23T12:00:00+08:00",
    "sampled_at": "2026-11-23T07:00:00+08:00",
    "temperature": 36.5,
    "latitude": 30.27,
    "longitude": 120.15,
}
# The models describe their fields in English (for developers and the JSON Schema); the page says it in Chinese.
DESCRIPTIONS_ZH = {
    "Letters, digits and _.:- ; 1 to 64 characters, starting with a letter or digit.": "字母、数字及 _.:-，1 至 64 个字符，以字母或数字开头",  # noqa: E501
    "RFC 3339 timestamp with an offset, e.g. 2026-11-23T08:30:00+08:00.": "RFC 3339 时间，带时区，如 2026-11-23T08:30:00+08:00",  # noqa: E501
    "Keyed pseudonym of a person: ps_ and 32 hex digits (HMAC of the ID number).": "人员化名：ps_ 加 32 位十六进制（由身份证号经密钥计算，不可逆）",  # noqa: E501
    "GB/T 2260 division code: 6 digits, or 9 for a street.": "行政区划代码（GB/T 2260）：6 位，街道 9 位",
    "A positive count of items.": "件数，正整数",
    "Site ids, in order.": "按顺序排列的网点编号",
    "Body temperature in degrees Celsius.": "体温（摄氏度）",
    "ISO 3166-1 alpha-2 country code.": "来源国家/地区代码（ISO 3166-1 两位字母）",
}
TYPE_NAMES = {
    "string": "文本",
    "integer": "整数",
    "number": "数值",
    "boolean": "是/否",
    "array": "列表",
    "object": "对象",
}


def event_types(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any], dict[str, Any]]]:
    """(event type, schema name, event schema, payload schema) of every event the API takes."""
    schemas = document["components"]["schemas"]
    found = []
    for name, schema in schemas.items():
        event_type = schema.get("properties", {}).get("event_type", {}).get("enum", [None])[0]
        payload = schema.get("properties", {}).get("payload", {}).get("$ref", "")
        if event_type and payload:
            found.append((event_type, name, schema, schemas[payload.rsplit("/", 1)[1]]))
    return sorted(found)


def example(schema: dict[str, Any], schemas: dict[str, Any], name: str = "") -> Any:
    """A value `schema` accepts: named, from the pattern, enum or bounds; objects with their required fields."""
    if "$ref" in schema:
        return example(schemas[schema["$ref"].rsplit("/", 1)[1]], schemas, name)
    if "anyOf" in schema:
        return example(next(s for s in schema["anyOf"] if s.get("type") != "null"), schemas, name)
    if name in NAMED_EXAMPLES:
        return NAMED_EXAMPLES[name]
    if "enum" in schema:
        return schema["enum"][0]
    kind = schema.get("type")
    if kind == "object":
        required = schema.get("required", [])
        return {key: example(value, schemas, key) for key, value in schema["properties"].items() if key in required}
    if kind == "array":
        item = example(schema.get("items", {}), schemas, name)
        return [
            item if n == 0 or not isinstance(item, str) else f"{item}-{n + 1}" for n in range(schema.get("minItems", 0))
        ]
    if kind == "string":
        if schema.get("format") == "date-time":
            return NAMED_EXAMPLES["occurred_at"]
        if schema.get("format") == "uuid":
            return NAMED_EXAMPLES["event_id"]
        return PATTERN_EXAMPLES.get(schema.get("pattern", ""), "示例")
    if kind in ("integer", "number"):
        low = schema.get("minimum", schema.get("exclusiveMinimum", 0) + 1)
        return max(low, min(schema.get("maximum", 100), 100))
    if kind == "boolean":
        return schema.get("default", True)
    return None


def event_example(event_type: str, schema: dict[str, Any], schemas: dict[str, Any]) -> dict[str, Any]:
    body: dict[str, Any] = example(schema, schemas)
    body["event_type"] = event_type
    return body


def _kind(schema: dict[str, Any], schemas: dict[str, Any]) -> str:
    if "$ref" in schema:
        return _kind(schemas[schema["$ref"].rsplit("/", 1)[1]], schemas)
    if "anyOf" in schema:
        return " 或 ".join(_kind(part, schemas) for part in schema["anyOf"] if part.get("type") != "null")
    if "enum" in schema:
        return "取值之一：" + "、".join(str(value) for value in schema["enum"])
    kind = TYPE_NAMES.get(schema.get("type", ""), schema.get("type", ""))
    if schema.get("format") == "date-time":
        return "时间（RFC 3339，带时区）"
    if schema.get("type") == "array":
        return f"{kind}（每项：{_kind(schema.get('items', {}), schemas)}）"
    return str(kind)


def _rules(schema: dict[str, Any]) -> str:
    if "anyOf" in schema:
        schema = next(s for s in schema["anyOf"] if s.get("type") != "null")
    described = schema.get("description")
    parts = [DESCRIPTIONS_ZH.get(described, described)] if described else []
    for key, label in (("minimum", "≥"), ("exclusiveMinimum", ">"), ("maximum", "≤"), ("maxLength", "最长")):
        if key in schema:
            parts.append(f"{label} {schema[key]}")
    return "；".join(parts)


def docs_page(settings: Settings) -> str:
    document = openapi_document(settings)
    schemas = document["components"]["schemas"]
    types = event_types(document)
    sections = []
    for event_type, name, schema, payload in types:
        required = set(payload.get("required", []))
        rows = "".join(
            f"<tr><td><code>payload.{html.escape(field)}</code></td><td>{html.escape(_kind(spec, schemas))}</td>"
            f"<td>{'必填' if field in required else '选填'}</td><td>{html.escape(_rules(spec))}</td></tr>"
            for field, spec in payload.get("properties", {}).items()
        )
        body = json.dumps(event_example(event_type, schema, schemas), ensure_ascii=False, indent=2)
        sections.append(
            f"<section id='{html.escape(event_type)}'><h3><code>{html.escape(event_type)}</code> "
            f"<small>{html.escape(name)}</small></h3>"
            f"<table><tr><th>字段</th><th>类型</th><th></th><th>要求</th></tr>{rows}</table>"
            f"<p>示例：</p><pre>{html.escape(body)}</pre></section>"
        )
    index = "".join(f"<li><a href='#{html.escape(t)}'><code>{html.escape(t)}</code></a></li>" for t, *_ in types)
    return f"""<!doctype html><html lang="zh-CN"><head><meta charset="utf-8"><title>同防上报接口说明</title>
<style>
body {{ font-family: "Noto Sans CJK SC", sans-serif; margin: 24px; max-width: 1100px; color: #1f2933; }}
table {{ border-collapse: collapse; margin: 6px 0; font-size: 14px; }}
th, td {{ border: 1px solid #d9dee5; padding: 4px 8px; text-align: left; vertical-align: top; }}
th {{ background: #eef2f6; }} pre {{ background: #f6f8fa; padding: 8px; overflow-x: auto; }}
section {{ margin-top: 28px; }} small {{ color: #5f6b7a; font-weight: normal; }}
</style></head><body>
<h1>同防上报接口说明（ingest API）</h1>
<p>企业以令牌（Bearer）调用 <code>POST /v1/events</code> 上报事件：一个 JSON 对象，或最多
{settings.ingest_max_events} 个事件的数组（请求体最大 {settings.ingest_max_body_bytes} 字节）。
Kafka 确认写入后才返回“已接收”；同一 <code>event_id</code> 再次上报返回 <code>duplicate</code>，不会重复记录。
字段有误时返回 422，并指出字段与原因；人员一律以化名（<code>ps_…</code>）上报，身份证号与手机号会被拒收。
补录已结束日期的历史台账请加 <code>?backfill=true</code>（或用 <code>tongfang import --backfill</code>）。</p>
<pre>curl -X POST {html.escape(settings.ingest_url)}/v1/events \\
  -H "Authorization: Bearer $TOKEN" -H "Content-Type: application/json" \\
  -d @event.json</pre>
<p>机器可读的接口文档：<a href="/openapi.json">/openapi.json</a>（OpenAPI 3.1）。</p>
<h2>公共字段</h2>
<table><tr><th>字段</th><th>说明</th></tr>
<tr><td><code>event_id</code></td><td>UUID，由上报方生成；重发时保持不变</td></tr>
<tr><td><code>event_type</code></td><td>事件类型（见下）</td></tr>
<tr><td><code>occurred_at</code></td><td>发生时间，RFC 3339，带时区，如 2026-11-23T08:30:00+08:00</td></tr>
<tr><td><code>enterprise_id</code>、<code>site_id</code></td>
<td>本企业编号、网点编号（网点须先以 site.registered 登记）</td></tr>
<tr><td><code>payload</code></td><td>各类型的内容（见下）</td></tr></table>
<h2>事件类型</h2><ul>{index}</ul>
{"".join(sections)}
</body></html>
"""
