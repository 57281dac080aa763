"""docs/branches.md ends with the import templates' columns, generated from the ledgers: a column
added or re-described without regenerating it fails here."""

from __future__ import annotations

from pathlib import Path

from services.ingest.ledgers import LEDGERS, templates_markdown

DOC = Path(__file__).parents[2] / "docs" / "branches.md"


def test_the_template_tables_in_the_branches_guide_are_generated_from_the_ledgers():
    text = DOC.read_text(encoding="utf-8")
    assert text.endswith(templates_markdown()), "regenerate the tables: python -m services.ingest.ledgers"
    for ledger in LEDGERS.values():
        assert f"/v1/templates/{ledger.name}.xlsx" in text
