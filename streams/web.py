"""The worker's loopback HTTP endpoints: health, sink counters and read-only SQL.

In the embedded setup the worker is the only process that may open chDB, so this is how an
operator, `tongfang sql` and the tests read the warehouse while the stack runs.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from concurrent.futures import Executor
from typing import Any

import faust
from faust.web import Request, Response, View

from streams.warehouse import Warehouse

_READ_ONLY = re.compile(r"^\s*(SELECT|WITH|SHOW|DESCRIBE|DESC|EXISTS)\b", re.I)


def register_pages(
    app: faust.App, warehouse: Warehouse, executor: Executor, stats: Callable[[], dict[str, Any]]
) -> None:
    @app.page("/health")
    class Health(View):
        async def get(self, request: Request) -> Response:
            return self.json({"status": "ok"})

    @app.page("/stats")
    class Stats(View):
        async def get(self, request: Request) -> Response:
            return self.json(stats())

    @app.page("/query")
    class Query(View):
        async def get(self, request: Request) -> Response:
            sql = request.query.get("sql", "")
            if not _READ_ONLY.match(sql) or ";" in sql.strip().rstrip(";"):
                return self.json({"error": "sql: one SELECT/WITH/SHOW/DESCRIBE statement expected"}, status=400)
            loop = asyncio.get_running_loop()
            try:
                rows = await loop.run_in_executor(executor, warehouse.query, sql.strip().rstrip(";"))
            except Exception as exc:  # the warehouse's message is the useful answer here
                return self.json({"error": str(exc).strip().splitlines()[0]}, status=400)
            return self.json({"rows": rows})
