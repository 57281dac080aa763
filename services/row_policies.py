"""ClickHouse row policies that scope each regulator's database role to its jurisdiction.

On a ClickHouse server, Grafana and ad-hoc SQL read as a database user; giving that user the role
of one regulator limits every table that carries a `division_code` to the regulator's prefix, in
the database itself rather than in each query. Tables without a division code are not granted.
The services' own user keeps seeing every row through a permissive `USING 1` policy (once any
policy exists on a table, users it does not name may see no rows).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from services.registry import Regulator
from streams.warehouse import Reader, literal

JURISDICTION = re.compile(r"^[1-8][0-9]{1,8}$")


def role_name(regulator_id: str) -> str:
    return f"tf_regulator_{regulator_id}"


def scoped_tables(reader: Reader) -> list[str]:
    """Tables of the current database with a `division_code` column (materialized views write into them)."""
    rows = reader.query(
        "SELECT DISTINCT table FROM system.columns WHERE database = currentDatabase() AND name = 'division_code' "
        "AND table IN (SELECT name FROM system.tables WHERE database = currentDatabase() "
        "AND engine NOT IN ('MaterializedView', 'View')) ORDER BY table"
    )
    return [row["table"] for row in rows]


def condition(jurisdiction: str) -> str:
    if not JURISDICTION.match(jurisdiction):
        raise ValueError(f"jurisdiction {jurisdiction!r}: expected a division-code prefix of 2 to 9 digits")
    return f"startsWith(division_code, {literal(jurisdiction)})"


def statements(regulators: Iterable[Regulator], tables: list[str], database: str, service_user: str) -> list[str]:
    """Idempotent SQL: a role per regulator, SELECT on the scoped tables, a row policy per table and role."""
    out = []
    db = _quoted(database)
    service = _quoted(service_user)
    for table in tables:
        name = _quoted(f"tf_service_{table}")
        out.append(f"CREATE ROW POLICY OR REPLACE {name} ON {db}.{_quoted(table)} FOR SELECT USING 1 TO {service}")
    for regulator in regulators:
        role = _quoted(role_name(regulator.regulator_id))
        where = condition(regulator.jurisdiction)
        out.append(f"CREATE ROLE IF NOT EXISTS {role}")
        for table in tables:
            target = f"{db}.{_quoted(table)}"
            out.append(f"GRANT SELECT ON {target} TO {role}")
            name = _quoted(f"tf_{regulator.regulator_id}_{table}")
            out.append(f"CREATE ROW POLICY OR REPLACE {name} ON {target} FOR SELECT USING {where} TO {role}")
    return out


def _quoted(identifier: str) -> str:
    if not re.match(r"^[A-Za-z0-9_.:\-]{1,128}$", identifier):
        raise ValueError(f"identifier {identifier!r}: letters, digits and _.:- only")
    return f"`{identifier}`"
