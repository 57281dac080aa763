"""The ingest /docs page: every event type, its fields, and an example the API accepts."""

from __future__ import annotations

import orjson
import pytest

from schemas import events
from services.ingest.docs import docs_page, event_example, event_types
from services.ingest.openapi import openapi_document
from streams.settings import Settings

DOCUMENT = openapi_document(Settings())
TYPES = event_types(DOCUMENT)


def test_every_event_type_is_documented() -> None:
    assert {event_type for event_type, *_ in TYPES} == set(events.EVENT_TYPES)


@pytest.mark.parametrize(("event_type", "name", "schema", "payload"), TYPES, ids=[t for t, *_ in TYPES])
def test_each_example_is_accepted_and_each_field_listed(event_type, name, schema, payload) -> None:
    body = event_example(event_type, schema, DOCUMENT["components"]["schemas"])
    decoded = events.decode(orjson.dumps(body))
    assert events.event_type(decoded) == event_type
    page = docs_page(Settings())
    for field in payload.get("properties", {}):
        assert f"payload.{field}" in page
    assert f"id='{event_type}'" in page
