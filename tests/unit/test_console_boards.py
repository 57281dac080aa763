"""The console reads the checked-in dashboards only when every query is scoped by jurisdiction, and
names divisions from the packaged GB/T 2260 dataset."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from services.regulator.boards import BoardError, Boards
from services.regulator.divisions import Divisions


def write_board(folder: Path, panel_sql: str, variable_sql: str = "SELECT 1 WHERE '${jurisdiction}' != ''") -> None:
    document = {
        "uid": "test-board",
        "title": "测试",
        "panels": [{"id": 1, "title": "面板", "type": "stat", "targets": [{"rawSql": panel_sql}]}],
        "templating": {
            "list": [
                {"name": "jurisdiction", "query": {"rawSql": "SELECT code FROM sites"}},
                {"name": "brand", "query": {"rawSql": variable_sql}},
            ]
        },
    }
    (folder / "test-board.json").write_text(json.dumps(document))


def test_the_checked_in_dashboards_all_load():
    assert {board.uid for board in Boards.load()} >= {"tongfang-overview", "tongfang-site", "tongfang-alerts"}


def test_a_panel_that_ignores_the_jurisdiction_is_refused(tmp_path):
    write_board(tmp_path, "SELECT count() FROM raw_events")
    with pytest.raises(BoardError, match="panel 1"):
        Boards.load(tmp_path)


def test_a_variable_that_ignores_the_jurisdiction_is_refused(tmp_path):
    write_board(
        tmp_path, "SELECT count() FROM raw_events WHERE startsWith(division_code, '${jurisdiction}')", "SELECT 1"
    )
    with pytest.raises(BoardError, match="variable brand"):
        Boards.load(tmp_path)


def test_divisions_are_named_from_the_dataset_and_unknown_codes_stay_codes():
    divisions = Divisions.load()
    assert len(divisions) > 3000, "run `make console-assets`"
    assert divisions.label("3301") == "杭州市 (3301)"
    assert divisions.label("330109") == "萧山区 (330109)"
    assert divisions.full_name("330106") == "浙江省杭州市西湖区"
    assert divisions.label("1101") == "北京市 (1101)"  # a municipality's one city reads as the municipality
    assert divisions.label("330106001") == "330106001"
