"""ClickHouse's HTTP interface, read-only, on the worker's read connections to the embedded chDB.

So a single-node deployment can be read by what reads ClickHouse: clickhouse-connect (notebooks,
Superset) with `proxy_path="/clickhouse"`, curl, a Grafana elsewhere. The protocol as ClickHouse
documents it (https://clickhouse.com/docs/interfaces/http):

- `GET /clickhouse/ping` answers `Ok.`; `GET|POST /clickhouse/` runs the query in `?query=`, the
  POST body, or both joined (the URL's part first);
- the output format is the query's own `FORMAT` clause, else `default_format`, else TabSeparated,
  and is named in `X-ClickHouse-Format`;
- `param_<name>=<value>` fills the query's `{name:Type}` placeholders, typed by ClickHouse;
- user `reader` with the reader password, as basic auth, `X-ClickHouse-User`/`X-ClickHouse-Key`
  headers or `user`/`password` parameters;
- errors come as ClickHouse words them (`Code: 60. DB::Exception: … (UNKNOWN_TABLE)`) with
  `X-ClickHouse-Exception-Code` and the HTTP status ClickHouse gives that code.

Every query runs with `readonly = 1` (the connection's own setting): no write, no DDL, no SETTINGS,
no table function reaching the machine's files or its network. Settings in the URL are refused as
a readonly ClickHouse refuses them, except the parameters of the protocol itself, which are read or
ignored (a session, compression, progress headers, the client's protocol revision). Output is
uncompressed; clients that ask for compression take it as it comes.

The Native output is chDB's: without the block info and serialization bytes of client protocol
revisions after 54405, which is what clickhouse-go (Grafana's plugin) asks for and cannot read.
"""

from __future__ import annotations

import asyncio
import base64
import hmac
import re
from collections.abc import Mapping
from concurrent.futures import Executor
from typing import Protocol

from aiohttp import web

READER_USER = "reader"
DEFAULT_FORMAT = "TabSeparated"
# Parameters of the HTTP protocol, not settings: read here or harmlessly ignored.
_PROTOCOL = frozenset(
    {
        "query", "database", "default_format", "user", "password", "query_id", "session_id", "session_timeout",
        "session_check", "compress", "decompress", "enable_http_compression", "http_zlib_compression_level",
        "wait_end_of_query", "client_protocol_version", "buffer_size", "quota_key", "send_progress_in_http_headers",
        "http_headers_progress_interval_ms", "cancel_http_readonly_queries_on_client_close", "role",
        "http_native_compression_disable_checksumming_on_decompress",
    }
)  # fmt: skip
_FORMAT_CLAUSE = re.compile(r"\bFORMAT\s+([A-Za-z0-9_]+)\s*$", re.I)
# The one write a read-only chDB connection still runs: chDB writes the file itself.
INTO_OUTFILE = re.compile(r"\bINTO\s+OUTFILE\b", re.I)
_CODE = re.compile(r"^Code: (\d+)\. DB::Exception: ")
_CONTENT_TYPES = {
    "TabSeparated": "text/tab-separated-values; charset=UTF-8",
    "TSV": "text/tab-separated-values; charset=UTF-8",
    "CSV": "text/csv; charset=UTF-8; header=absent",
    "CSVWithNames": "text/csv; charset=UTF-8; header=present",
    "JSON": "application/json; charset=UTF-8",
    "JSONEachRow": "application/x-ndjson; charset=UTF-8",
    "JSONCompact": "application/json; charset=UTF-8",
}
# The HTTP status ClickHouse's HTTP handler gives an exception code (HTTPHandler.cpp).
_STATUS = {
    62: 400, 36: 400, 43: 400, 47: 400, 53: 400, 70: 400, 72: 400, 73: 400, 117: 400, 115: 400, 456: 400,
    60: 404, 81: 404, 46: 404, 16: 404,
    164: 403, 497: 403, 193: 403, 516: 403, 192: 403, 194: 403,
    159: 500, 48: 501,
}  # fmt: skip


class RawReads(Protocol):
    def query_raw(self, sql: str, fmt: str, params: Mapping[str, str]) -> bytes: ...


class ClickHouseError(Exception):
    """An answer in ClickHouse's words: `Code: <code>. DB::Exception: <message> (<name>)`."""

    def __init__(self, code: int, name: str, message: str) -> None:
        super().__init__(f"Code: {code}. DB::Exception: {message}. ({name})")
        self.code = code


class ClickHouseHttp:
    """Answers the ClickHouse HTTP protocol from `reads` (run in the threads of `beside`)."""

    def __init__(
        self, reads: RawReads | None, beside: Executor, password: str, adhoc: asyncio.Semaphore | None = None
    ) -> None:
        """`reads` None: the warehouse is a ClickHouse server, which has this interface of its own.
        `adhoc`: the slots people's queries share (`streams.web.adhoc_slots`)."""
        self._reads, self._beside, self._password = reads, beside, password
        self._adhoc = adhoc or asyncio.Semaphore(1)
        self._version = ""  # chDB's, read with the first error that names it

    async def ping(self, request: web.Request) -> web.Response:
        return web.Response(text="Ok.\n")

    async def handle(self, request: web.Request) -> web.Response:
        try:
            self.authenticate(request)
            if self._reads is None:
                raise ClickHouseError(
                    48, "NOT_IMPLEMENTED", "the warehouse is a ClickHouse server: use its own HTTP interface"
                )
            sql, fmt, params = await self._statement(request)
            async with self._adhoc:
                body = await asyncio.get_running_loop().run_in_executor(
                    self._beside, self._reads.query_raw, sql, fmt, params
                )
        except ClickHouseError as exc:
            await self._learn_version()
            return self._error(exc.code, str(exc))
        except Exception as exc:  # chDB's text is ClickHouse's, nested once per layer it passed
            await self._learn_version()
            text = str(exc).strip()
            if not (code := _CODE.match(text)):
                return self._error(1001, f"Code: 1001. DB::Exception: {text}. (STD_EXCEPTION)")
            message = text.rsplit("DB::Exception: ", 1)[1].split(" (version ", 1)[0]
            return self._error(int(code[1]), f"Code: {code[1]}. DB::Exception: {message}")
        headers = {"X-ClickHouse-Format": fmt, "X-ClickHouse-Server-Display-Name": "tongfang"}
        if query_id := request.query.get("query_id"):
            headers["X-ClickHouse-Query-Id"] = query_id
        return web.Response(
            body=body,
            headers=headers,
            content_type=_CONTENT_TYPES.get(fmt, "application/octet-stream").split(";")[0],
            charset="UTF-8" if fmt in _CONTENT_TYPES else None,
        )

    async def _learn_version(self) -> None:
        """chDB's version, for errors as ClickHouse words them; read once, in the read threads."""
        if self._version or self._reads is None:
            return
        answer = await asyncio.get_running_loop().run_in_executor(
            self._beside, self._reads.query_raw, "SELECT version()", "TabSeparated", {}
        )
        self._version = answer.decode().strip()

    def authenticate(self, request: web.Request) -> None:
        """Refuse (AUTHENTICATION_FAILED) anyone but user `reader` with the reader password."""
        user, key = request.headers.get("X-ClickHouse-User"), request.headers.get("X-ClickHouse-Key")
        authorization = request.headers.get("Authorization", "")
        if authorization.startswith("Basic "):
            try:
                user, _, key = base64.b64decode(authorization[6:]).decode().partition(":")
            except ValueError:
                user = key = None
        user = user or request.query.get("user")
        key = key if key is not None else request.query.get("password")
        if user != READER_USER or not hmac.compare_digest((key or "").encode(), self._password.encode()):
            raise ClickHouseError(
                516, "AUTHENTICATION_FAILED",
                f"{user or 'default'}: Authentication failed: password is incorrect, or there is no such user",
            )  # fmt: skip

    async def _statement(self, request: web.Request) -> tuple[str, str, dict[str, str]]:
        """The query, its output format and its parameters, or the refusal ClickHouse would give."""
        body = (await request.text()) if request.method == "POST" else ""
        sql = "\n".join(part for part in (request.query.get("query", ""), body) if part).strip().rstrip(";").strip()
        if not sql:
            raise ClickHouseError(62, "SYNTAX_ERROR", "Empty query")
        if ";" in sql:
            raise ClickHouseError(62, "SYNTAX_ERROR", "Multi-statements are not allowed")
        if INTO_OUTFILE.search(sql):
            raise ClickHouseError(164, "READONLY", "Cannot execute query in readonly mode: INTO OUTFILE writes a file")
        if request.query.get("database", "default") not in ("default", ""):
            raise ClickHouseError(81, "UNKNOWN_DATABASE", f"Database {request.query['database']} does not exist")
        params: dict[str, str] = {}
        for name, value in request.query.items():
            if name.startswith("param_"):
                params[name.removeprefix("param_")] = value
            elif name == "readonly" and value == "1":
                continue  # asks for what every query already has
            elif name not in _PROTOCOL:
                raise ClickHouseError(164, "READONLY", f"Cannot modify '{name}' setting in readonly mode")
        clause = _FORMAT_CLAUSE.search(sql)
        fmt = clause[1] if clause else request.query.get("default_format") or DEFAULT_FORMAT
        return sql, fmt, params

    def _error(self, code: int, text: str) -> web.Response:
        return web.Response(
            text=f"{text} (version {self._version or 'unknown'})\n",
            status=_STATUS.get(code, 500),
            headers={"X-ClickHouse-Exception-Code": str(code)},
        )
