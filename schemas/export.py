"""`python -m schemas.export`: write the JSON Schema outside producers validate against.

schemas/jsonschema/events.schema.json describes one Kafka record or HTTP body: a single event, or
an array of events (of one site, or of sites sharing the record's partition). It is generated
from the models; a test fails when it is stale.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import msgspec

from schemas.events import AnyEvent

SCHEMA_PATH = Path(__file__).resolve().parent / "jsonschema" / "events.schema.json"


def events_schema() -> dict[str, Any]:
    schema = msgspec.json.schema(AnyEvent | list[AnyEvent])
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://tongfang.example/schemas/events.schema.json",
        "title": "Tongfang event record",
        "description": "One event (object) or an ordered batch of events (array) of sites sharing a partition.",
        **schema,
    }


def render() -> str:
    return json.dumps(events_schema(), ensure_ascii=False, indent=2, sort_keys=True) + "\n"


def main() -> None:
    SCHEMA_PATH.parent.mkdir(parents=True, exist_ok=True)
    SCHEMA_PATH.write_text(render())
    print(f"wrote {SCHEMA_PATH}")


if __name__ == "__main__":
    main()
