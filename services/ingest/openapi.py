"""The ingest API's OpenAPI 3.1 document, generated from the same msgspec models that validate."""

from __future__ import annotations

from typing import Any

import msgspec

from schemas.events import AnyEvent
from streams.settings import Settings


class ErrorBody(msgspec.Struct):
    error: str
    field: str
    reason: str


def openapi_document(settings: Settings) -> dict[str, Any]:
    from services.ingest.intake import IngestResponse

    (event, batch, response, error), components = msgspec.json.schema_components(
        (AnyEvent, list[AnyEvent], IngestResponse, ErrorBody), ref_template="#/components/schemas/{name}"
    )
    batch = {**batch, "minItems": 1, "maxItems": settings.ingest_max_events}

    def answer(description: str, schema: dict[str, Any]) -> dict[str, Any]:
        return {"description": description, "content": {"application/json": {"schema": schema}}}

    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Tongfang ingest API",
            "version": "1",
            "description": (
                "Enterprises post 人物同防 events: one JSON object, or an array of up to "
                f"{settings.ingest_max_events} events ({settings.ingest_max_body_bytes} bytes at most). "
                "An event is accepted only after Kafka acknowledged it; the same event_id twice is a duplicate."
            ),
        },
        "servers": [{"url": f"http://{settings.ingest_host}:{settings.ingest_port}"}],
        "paths": {
            "/v1/events": {
                "post": {
                    "summary": "Post one event or a batch",
                    "operationId": "postEvents",
                    "security": [{"bearer": []}],
                    "parameters": [
                        {
                            "name": "backfill",
                            "in": "query",
                            "required": False,
                            "schema": {"type": "boolean", "default": False},
                            "description": "The events are history posted after the fact (a day or a month of "
                            "paper ledgers): each is recorded with backfill true and judged as if it had arrived "
                            "on time; it still counts as a late record.",
                        }
                    ],
                    "requestBody": {
                        "required": True,
                        "content": {"application/json": {"schema": {"oneOf": [event, batch]}}},
                    },
                    "responses": {
                        "202": answer("Every event accepted or a duplicate", response),
                        "207": answer("Some accepted, some rejected: see results", response),
                        "401": answer("Missing or unknown token", error),
                        "403": answer("Every event is for a site or enterprise the token may not post for", response),
                        "409": answer("Every event_id is already taken by another enterprise", response),
                        "413": answer("Body or batch too large", error),
                        "415": answer("Not application/json", error),
                        "422": answer("Every event invalid, or the body is not JSON", response),
                        "503": answer("Kafka did not acknowledge; retry with the same event_ids", response),
                    },
                }
            },
            "/v1/operators": {
                "post": {
                    "summary": "Create a site operator's account (enterprise token); its token is in the answer, once",
                    "operationId": "createOperator",
                    "security": [{"bearer": []}],
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "required": ["label", "sites"],
                                    "additionalProperties": False,
                                    "properties": {
                                        "label": {"type": "string", "minLength": 1, "maxLength": 120},
                                        "sites": {"type": "array", "items": {"type": "string"}, "minItems": 1},
                                    },
                                }
                            }
                        },
                    },
                    "responses": {
                        "201": {"description": "operator_id, label, actor_id (its pseudonym), sites, token"},
                        "403": answer("A site operator's token: this is the enterprise's to do", error),
                        "422": answer("A site not registered by this enterprise, or a malformed body", error),
                    },
                },
                "get": {
                    "summary": "The enterprise's operator accounts that are not revoked",
                    "operationId": "listOperators",
                    "security": [{"bearer": []}],
                    "responses": {"200": {"description": "enterprise_id and operators"}},
                },
            },
            "/v1/operators/{operator_id}": {
                "delete": {
                    "summary": "Revoke an operator: its token and sessions end at once",
                    "operationId": "revokeOperator",
                    "security": [{"bearer": []}],
                    "parameters": [
                        {"name": "operator_id", "in": "path", "required": True, "schema": {"type": "string"}}
                    ],
                    "responses": {"200": {"description": "Revoked"}, "404": answer("No such operator", error)},
                }
            },
            "/v1/imports": {
                "post": {
                    "summary": "Import a ledger file (a template of GET /v1/templates), row by row, as history",
                    "operationId": "importLedger",
                    "security": [{"bearer": []}],
                    "parameters": [
                        {"name": "ledger", "in": "query", "required": True, "schema": {"type": "string"}},
                        {
                            "name": "format",
                            "in": "query",
                            "required": False,
                            "schema": {"enum": ["xlsx", "csv"]},
                            "description": "Else from the Content-Type",
                        },
                    ],
                    "requestBody": {"required": True, "content": {"application/octet-stream": {}}},
                    "responses": {
                        "200": {
                            "description": "rows, accepted, duplicate, rejected, failed, the first problems, "
                            "errors_url and results_url (CSV)"
                        },
                        "413": answer("Larger than the import limit", error),
                        "422": answer("Not the ledger's file (no header row, not a workbook)", error),
                        "503": {
                            "description": "Kafka did not take a chunk: the import stopped there (see the "
                            "summary); upload the same file again"
                        },
                    },
                }
            },
            "/v1/templates": {
                "get": {
                    "summary": "The ledgers and their templates (/v1/templates/<ledger>.xlsx or .csv)",
                    "operationId": "listTemplates",
                    "responses": {"200": {"description": "ledgers: name, title, columns, links"}},
                }
            },
            "/health": {
                "get": {
                    "summary": "Liveness",
                    "operationId": "health",
                    "responses": {"200": {"description": "The service is up"}},
                }
            },
        },
        "components": {
            "schemas": components,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }
