"""The worker's HTTP endpoints: health, sink counters and read-only SQL.

In the embedded setup the worker is the only process that may open chDB, so this is how an
operator, `tongfang sql`, the regulator API and the tests read the warehouse while the stack runs:
`/query` (JSON rows) and `/clickhouse` (ClickHouse's HTTP interface, streams/clickhouse_http.py),
both for user `reader` with the reader password only (`streams.warehouse.reader_password`).

A read runs on a read-only connection (`ReadPool`), TONGFANG_WORKER_READ_CONNECTIONS of them side
by side and beside the inserts, and sees each table as far as it is written (an insert commits
`raw_events` before its views' tables). With `after_inserts=1`, or with no read connections of
their own, it runs in the worker's warehouse thread instead, after the inserts already begun, and
sees each of their batches in every table or not at all (`streams.checkpoint` submits an insert as it
begins a batch): the bench's measure of when events are queryable.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from concurrent.futures import Executor
from typing import Any, cast

import faust
from aiohttp import web
from faust.web import Request, Response, View

from streams.clickhouse_http import INTO_OUTFILE, ClickHouseError, ClickHouseHttp
from streams.warehouse import Reader

_READ_ONLY = re.compile(r"^\s*(SELECT|WITH|SHOW|DESCRIBE|DESC|EXISTS)\b", re.I)


class QueryRefused(ValueError):
    pass


class Queries:
    """The SQL `/query` runs: one read-only statement, on `reads` in the threads of `beside`, or
    with `after_inserts` in the warehouse thread the inserts run in, once those already begun end.
    A person's query (`adhoc`: the CLI, and everything on /clickhouse) first takes one of the
    `adhoc` slots, one fewer than the read connections: a connection stays free for the services."""

    def __init__(self, reads: Reader, beside: Executor, after_inserts: Executor, adhoc: asyncio.Semaphore) -> None:
        self._reads, self._beside, self._after_inserts, self._adhoc = reads, beside, after_inserts, adhoc

    async def rows(self, sql: str, *, after_inserts: bool = False, adhoc: bool = False) -> list[dict[str, Any]]:
        statement = sql.strip().rstrip(";")
        if not _READ_ONLY.match(statement) or ";" in statement:
            raise QueryRefused("sql: one SELECT/WITH/SHOW/DESCRIBE statement expected")
        if INTO_OUTFILE.search(statement):
            raise QueryRefused("sql: INTO OUTFILE would write a file on the worker's machine")
        executor = self._after_inserts if after_inserts else self._beside
        run = asyncio.get_running_loop().run_in_executor
        if not adhoc:
            return await run(executor, self._reads.query, statement)
        async with self._adhoc:
            return await run(executor, self._reads.query, statement)


def adhoc_slots(read_connections: int) -> asyncio.Semaphore:
    """How many people's queries may run at once: all read connections but one (at least one)."""
    return asyncio.Semaphore(max(1, read_connections - 1))


def register_pages(
    app: faust.App,
    queries: Queries,
    clickhouse: ClickHouseHttp,
    stats: Callable[[], dict[str, Any]],
    kafka: Callable[[], bool] = lambda: True,
) -> None:
    @app.page("/health")
    class Health(View):
        async def get(self, request: Request) -> Response:
            if not await asyncio.to_thread(kafka):
                return self.json({"status": "unavailable", "kafka": "unreachable"}, status=503)
            return self.json({"status": "ok", "kafka": "ok"})

    @app.page("/stats")
    class Stats(View):
        async def get(self, request: Request) -> Response:
            return self.json(stats())

    @app.page("/query")
    class Query(View):
        async def get(self, request: Request) -> Response:
            try:
                clickhouse.authenticate(_aiohttp(request))
            except ClickHouseError as exc:
                return self.json({"error": str(exc)}, status=401)
            after_inserts = request.query.get("after_inserts") in ("1", "true")
            adhoc = request.query.get("adhoc") in ("1", "true")
            try:
                rows = await queries.rows(request.query.get("sql", ""), after_inserts=after_inserts, adhoc=adhoc)
            except QueryRefused as exc:
                return self.json({"error": str(exc)}, status=400)
            except Exception as exc:  # the warehouse's message is the useful answer here
                return self.json({"error": str(exc).strip().splitlines()[0]}, status=400)
            return self.json({"rows": rows})

    class ClickHouse(View):
        async def get(self, request: Request) -> Response:
            return cast(Response, await clickhouse.handle(_aiohttp(request)))

        async def post(self, request: Request) -> Response:
            return cast(Response, await clickhouse.handle(_aiohttp(request)))

    # clickhouse-connect's `proxy_path` asks for /clickhouse, curl users type /clickhouse/.
    app.page("/clickhouse", name="clickhouse")(ClickHouse)
    app.page("/clickhouse/", name="clickhouse-slash")(type("ClickHouseSlash", (ClickHouse,), {}))

    @app.page("/clickhouse/ping")
    class Ping(View):
        async def get(self, request: Request) -> Response:
            return cast(Response, await clickhouse.ping(_aiohttp(request)))


def _aiohttp(request: Request) -> web.Request:
    """The request as it is: faust's web driver is aiohttp's, and its views get aiohttp's requests."""
    return cast(web.Request, request)
