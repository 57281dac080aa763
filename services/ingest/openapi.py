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
