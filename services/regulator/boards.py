"""The checked-in dashboard JSON (dashboards/json), as the console reads it: one artifact for Grafana
and for the console.

Every panel and variable query must filter on `${jurisdiction}` (the jurisdiction variable itself
excepted, whose values the console filters): the console forces that variable to the signed-in
regulator's jurisdiction, so a query that did not use it would read other jurisdictions' rows. A
dashboard that breaks this does not load.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

FOLDER = Path(__file__).resolve().parents[2] / "dashboards" / "json"
SCOPED = "${jurisdiction}"


class BoardError(ValueError):
    pass


@dataclass(frozen=True)
class Board:
    uid: str
    title: str
    document: dict[str, Any]

    @property
    def panels(self) -> dict[int, dict[str, Any]]:
        return {panel["id"]: panel for panel in self.document["panels"]}

    @property
    def variables(self) -> dict[str, dict[str, Any]]:
        return {variable["name"]: variable for variable in self.document["templating"]["list"]}

    def panel_sql(self, panel_id: int) -> tuple[str, dict[str, Any]] | None:
        panel = self.panels.get(panel_id)
        return (panel["targets"][0]["rawSql"], panel) if panel else None

    def variable_sql(self, name: str) -> str | None:
        variable = self.variables.get(name)
        return variable["query"]["rawSql"] if variable else None


class Boards:
    def __init__(self, boards: dict[str, Board]) -> None:
        self._boards = boards

    @classmethod
    def load(cls, folder: Path = FOLDER) -> Boards:
        boards: dict[str, Board] = {}
        for path in sorted(folder.glob("*.json")):
            document = orjson.loads(path.read_bytes())
            board = Board(document["uid"], document["title"], document)
            _check_scoped(board)
            boards[board.uid] = board
        return cls(boards)

    def __iter__(self) -> Iterator[Board]:
        return iter(self._boards.values())

    def get(self, uid: str) -> Board | None:
        return self._boards.get(uid)


def _check_scoped(board: Board) -> None:
    for panel in board.document["panels"]:
        for target in panel["targets"]:
            if SCOPED not in target["rawSql"]:
                raise BoardError(f"{board.uid}: panel {panel['id']} ({panel['title']}) does not filter on {SCOPED}")
    for name, variable in board.variables.items():
        if name != "jurisdiction" and SCOPED not in variable["query"]["rawSql"]:
            raise BoardError(f"{board.uid}: variable {name} does not filter on {SCOPED}")
