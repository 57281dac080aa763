"""The regulator API's OpenAPI 3.1 document (GET /openapi.json): the /v1 endpoints a regulator's
own systems call with a Bearer token. Its response schemas are checked against real answers
(tests/integration/test_regulator_api.py), and every /v1 route must be in it."""

from __future__ import annotations

from typing import Any

SEVERITY = {"type": "string", "enum": ["critical", "major", "minor"]}
TIME = {"type": "string", "description": "ISO 8601 time, Asia/Shanghai"}
NULLABLE_TIME = {"anyOf": [TIME, {"type": "null"}]}
DAY = {"type": "string", "pattern": r"^\d{4}-\d{2}-\d{2}$", "description": "YYYY-MM-DD (2000 to 2100)"}
DIVISION = {"type": "string", "pattern": r"^[0-9]{2,9}$", "description": "A division-code prefix: 33, 3301, 330106 …"}

ALERT = {
    "type": "object",
    "required": ["alert_id", "rule_id", "severity", "title_zh", "site_id", "division_code", "subject_id", "at"],
    "properties": {
        "alert_id": {"type": "string", "format": "uuid"},
        "rule_id": {"type": "string"},
        "severity": SEVERITY,
        "title_zh": {"type": "string"},
        "site_id": {"type": "string"},
        "enterprise_id": {"type": "string"},
        "division_code": {"type": "string"},
        "subject_kind": {"type": "string"},
        "subject_id": {"type": "string"},
        "at": TIME,
        "deadline": NULLABLE_TIME,
        "profile": {"type": "string", "enum": ["normal", "response"]},
        "evidence": {"type": "array", "items": {"type": "string"}},
        "details": {"type": "string", "description": "JSON text: what the rule found"},
    },
}
PROBLEM = {
    "type": "object",
    "required": ["error", "field", "reason"],
    "properties": {"error": {"type": "string"}, "field": {"type": "string"}, "reason": {"type": "string"}},
}
ROWS = {"type": "array", "items": {"type": "object"}}


def _json(description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _problems(*statuses: int) -> dict[str, Any]:
    words = {
        401: "no valid regulator token",
        403: "a jurisdiction outside the token's",
        404: "no such site in the token's jurisdiction",
        422: "a parameter is wrong: `field` names it, `reason` says why",
        429: "too many requests for this token; retry after Retry-After seconds",
    }
    return {str(status): _json(words[status], {"$ref": "#/components/schemas/Problem"}) for status in statuses}


def _query(name: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "schema": schema, "description": description}


def openapi_document() -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Tongfang regulator API",
            "version": "1",
            "description": (
                "监管部门系统对接接口：每个令牌属于一个监管部门，限定其辖区（行政区划代码前缀）；"
                "所有查询只返回辖区内的数据，辖区外的网点答 404、辖区外的辖区答 403。"
                " Each token belongs to one regulator and its jurisdiction; every answer is limited to it."
            ),
        },
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {"Alert": ALERT, "Problem": PROBLEM},
        },
        "security": [{"bearer": []}],
        "paths": {
            "/v1/alerts/open": {
                "get": {
                    "summary": "未解除的预警（辖区内，最新 1000 条）",
                    "operationId": "openAlerts",
                    "parameters": [
                        _query("severity", SEVERITY, "only this severity"),
                        _query("rule", {"type": "string", "pattern": "^[A-Z]+(-[A-Z]+)*$"}, "only this rule id"),
                    ],
                    "responses": {
                        "200": _json(
                            "the open alerts",
                            {
                                "type": "object",
                                "required": ["jurisdiction", "count", "alerts"],
                                "properties": {
                                    "jurisdiction": {"type": "string"},
                                    "count": {"type": "integer"},
                                    "alerts": {"type": "array", "items": {"$ref": "#/components/schemas/Alert"}},
                                },
                            },
                        ),
                        **_problems(401, 422, 429),
                    },
                }
            },
            "/v1/sites/{site_id}": {
                "get": {
                    "summary": "一个网点的登记信息、未解除预警数与最近上报",
                    "operationId": "site",
                    "parameters": [
                        {"name": "site_id", "in": "path", "required": True, "schema": {"type": "string"}},
                    ],
                    "responses": {
                        "200": _json(
                            "the site",
                            {
                                "type": "object",
                                "required": ["site_id", "enterprise_id", "division_code", "open_alerts"],
                                "properties": {
                                    "site_id": {"type": "string"},
                                    "enterprise_id": {"type": "string"},
                                    "brand": {"type": "string"},
                                    "name": {"type": "string"},
                                    "site_kind": {"type": "string"},
                                    "division_code": {"type": "string"},
                                    "handles_international": {"type": "boolean"},
                                    "open_alerts": {
                                        "type": "object",
                                        "additionalProperties": {"type": "integer"},
                                        "description": "open alerts per severity",
                                    },
                                    "last_event_at": NULLABLE_TIME,
                                    "events_today": {"type": "integer"},
                                },
                            },
                        ),
                        **_problems(401, 404, 422, 429),
                    },
                }
            },
            "/v1/jurisdictions/{code}/daily": {
                "get": {
                    "summary": "辖区一天的指标（一天一报告的数据）",
                    "operationId": "daily",
                    "parameters": [
                        {"name": "code", "in": "path", "required": True, "schema": DIVISION},
                        _query("date", DAY, "the day; default today"),
                    ],
                    "responses": {
                        "200": _json(
                            "the day's figures",
                            {
                                "type": "object",
                                "required": ["jurisdiction", "date", "headlines"],
                                "properties": {
                                    "jurisdiction": {"type": "string"},
                                    "date": DAY,
                                    "headlines": {
                                        "type": "object",
                                        "additionalProperties": {"type": ["number", "null"]},
                                        "description": "合规率为 null 表示当天无可计算的数据",
                                    },
                                    "alerts_by_rule": ROWS,
                                    "worst_sites": ROWS,
                                    "worst_enterprises": ROWS,
                                    "open_critical_alerts": {"type": "integer"},
                                    "late_records": {"type": "integer"},
                                },
                            },
                        ),
                        **_problems(401, 403, 422, 429),
                    },
                }
            },
            "/v1/reports/daily": {
                "get": {
                    "summary": "一天一报告（HTML 页面，可离线打开、打印）",
                    "operationId": "report",
                    "parameters": [
                        _query("date", DAY, "the day; default today"),
                        _query("jurisdiction", DIVISION, "within the token's; default the token's own"),
                    ],
                    "responses": {
                        "200": {"description": "the report", "content": {"text/html": {"schema": {"type": "string"}}}},
                        **_problems(401, 403, 422, 429),
                    },
                }
            },
        },
    }
