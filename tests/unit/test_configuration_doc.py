"""docs/configuration.md is generated from the settings model: a field added, renamed or
re-described without regenerating it fails here (as the JSON Schema does in test_jsonschema)."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from streams.settings import Settings, configuration_table

DOC = Path(__file__).parents[2] / "docs" / "configuration.md"


def test_the_configuration_page_is_generated_from_the_model():
    assert DOC.read_text() == configuration_table(), "run: .venv/bin/python -m streams.settings > docs/configuration.md"


def test_every_setting_is_documented_with_its_variable():
    text = configuration_table()
    for name, field in Settings.model_fields.items():
        assert field.description, f"{name} has no description"
        assert f"`TONGFANG_{name.upper()}`" in text


def test_settings_are_frozen():
    settings = Settings()
    with pytest.raises(ValidationError):
        settings.ingest_port = 1  # type: ignore[misc]
