"""GB/T 2260 division names (省, 市, 区县) from the china-division package that `make console-assets`
fetches from npm: regulators read 杭州市 (3301), not 3301.

A code the dataset does not name (a street's 9 digits, a division created since) is shown as its
code alone, never guessed.
"""

from __future__ import annotations

import csv
from pathlib import Path

DATASET = Path(__file__).parent / "static" / "vendor" / "china-division" / "dist"


class Divisions:
    def __init__(self, names: dict[str, str]) -> None:
        self._names = names

    @classmethod
    def load(cls, folder: Path = DATASET) -> Divisions:
        names: dict[str, str] = {}
        for file in ("provinces.csv", "cities.csv", "areas.csv"):
            path = folder / file
            if not path.exists():
                continue
            with path.open(encoding="utf-8", newline="") as handle:
                for row in csv.DictReader(handle):
                    # Municipalities list their one city as 市辖区: the province's own name reads right.
                    city_of_municipality = file == "cities.csv" and row["name"] in ("市辖区", "县")
                    names[row["code"]] = (
                        names.get(row.get("provinceCode", ""), "") if city_of_municipality else row["name"]
                    )
        return cls(names)

    def __len__(self) -> int:
        return len(self._names)

    def name(self, code: str) -> str | None:
        return self._names.get(code) or None

    def label(self, code: str) -> str:
        """杭州市 (3301); the code alone where the dataset has no name for it."""
        name = self.name(code)
        return f"{name} ({code})" if name else code

    def full_name(self, code: str) -> str:
        """浙江省杭州市西湖区: the names of the code's province, city and district, as far as known."""
        parts = [self.name(code[:length]) for length in (2, 4, 6) if len(code) >= length]
        return "".join(dict.fromkeys(part for part in parts if part)) or code
