"""The one interface to ClickHouse: chDB in-process (default) or a server over the native protocol.

Both speak the same SQL. Rows go in as JSON lines (JSONEachRow) and come out as dicts. chDB holds
its data directory for one process only, so in the embedded setup the stream worker owns it and
other processes read through the worker's HTTP endpoint (streams/web.py).
"""

from __future__ import annotations

import base64
import hashlib
import os
import queue
import re
import secrets
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from typing import Any, NamedTuple, Protocol

import orjson

from streams.settings import Settings

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "schemas" / "migrations"
# An insert into raw_events feeds some 15 materialized views, each writing parts of its own; they
# are fed side by side rather than one after another (parallel_view_processing). A paced run's
# received -> queryable at 3 000 events/s, four runs each (bench/HISTORY.md): p50 0.51 to 0.81 s
# and p99 1.21 to 1.80 s, against 0.74 to 0.95 s and 1.61 to 2.51 s, for the same CPU.
INSERT_SETTINGS = (
    "date_time_input_format = 'best_effort', input_format_skip_unknown_fields = 0, "
    "input_format_json_read_objects_as_strings = 1, parallel_view_processing = 1"
)
MAX_QUERY_SIZE = 64 * 1024 * 1024
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class WarehouseError(RuntimeError):
    pass


class Reader(Protocol):
    def query(self, sql: str) -> list[dict[str, Any]]: ...


class Warehouse(Protocol):
    def execute(self, sql: str) -> None: ...

    def query(self, sql: str) -> list[dict[str, Any]]: ...

    def insert_json(self, table: str, lines: bytes) -> None:
        """Insert JSONEachRow bytes (one JSON object per line) into `table`."""

    def close(self) -> None: ...


class ChdbWarehouse:
    """chDB on a local data directory. Calls are serialized: one connection, one statement at a time.

    Further connections to the same directory in the same process (chDB 4) share its data and run
    beside this one. With `read_only`, ClickHouse itself refuses on the connection what is not a
    plain read (readonly = 1): a write, DDL, a SETTINGS clause, and table functions such as file()
    and url(), which would read the machine's files or its network. It does not refuse SELECT …
    INTO OUTFILE, which chDB writes: the worker's `/query` refuses that itself (streams/web.py)."""

    def __init__(self, path: Path, *, read_only: bool = False, limits: QueryLimits | None = None) -> None:
        """`limits`: each query's longest run and most memory, set before `read_only` forbids settings."""
        import chdb

        path.mkdir(parents=True, exist_ok=True)
        self.path = path
        try:
            self._conn = chdb.connect(str(path))  # type: ignore[no-untyped-call]
        except Exception as exc:  # chDB raises a bare RuntimeError when another process holds the path
            raise WarehouseError(f"cannot open chDB at {path}: {exc} (is another worker using it?)") from exc
        self._lock = threading.Lock()
        # Id lookups pass a batch's ids as one string; let such a query be larger than 256 kB.
        self._conn.query(f"SET max_query_size = {MAX_QUERY_SIZE}")
        # Binary columns (the rollups' aggregate states) come out as valid UTF-8 JSON, not as bytes
        # the JSON reader refuses.
        self._conn.query("SET output_format_json_validate_utf8 = 1")
        for name, value in (limits.settings() if limits else {}).items():
            self._conn.query(f"SET {name} = {value}")
        if read_only:
            self._conn.query("SET readonly = 1")

    def execute(self, sql: str) -> None:
        with self._lock:
            self._conn.query(sql)

    def query(self, sql: str) -> list[dict[str, Any]]:
        with self._lock:
            result = self._conn.query(sql, "JSONEachRow")
        text = result.bytes() if hasattr(result, "bytes") else str(result).encode()
        return [orjson.loads(line) for line in text.splitlines() if line]

    def query_raw(self, sql: str, fmt: str, params: Mapping[str, str]) -> bytes:
        """The result as ClickHouse writes it in `fmt` (a FORMAT clause in `sql` wins), with
        `{name:Type}` placeholders filled from `params`."""
        with self._lock:
            result = self._conn.query(sql, fmt, params=dict(params) or None)
        return bytes(result.bytes())

    def insert_json(self, table: str, lines: bytes) -> None:
        if not lines:
            return
        with (
            self._lock,
            self._conn.send_insert(
                f"INSERT INTO {_checked(table)} SETTINGS {INSERT_SETTINGS}", "JSONEachRow"
            ) as inserter,
        ):
            inserter.append(lines)
            inserter.finish()

    def close(self) -> None:
        with self._lock:
            self._conn.close()


class QueryLimits(NamedTuple):
    """What one read may take: its run and its memory (`query_max_seconds`, `query_max_memory_bytes`)."""

    seconds: float
    memory_bytes: int

    @classmethod
    def of(cls, settings: Settings) -> QueryLimits:
        return cls(settings.query_max_seconds, settings.query_max_memory_bytes)

    def settings(self) -> dict[str, float | int]:
        return {"max_execution_time": self.seconds, "max_memory_usage": self.memory_bytes}


class ServerWarehouse:
    """A ClickHouse server through clickhouse-driver (native protocol). A `reader` connects as
    `clickhouse_reader_user` when one is configured — a readonly=1 user whose profile sets the
    limits, so the server itself refuses writes, url(), remote() and settings — and otherwise as
    `clickhouse_user`, with the limits sent with each read."""

    def __init__(self, settings: Settings, *, reader: bool = False) -> None:
        from clickhouse_driver import Client

        as_reader = reader and bool(settings.clickhouse_reader_user)
        user = settings.clickhouse_reader_user if as_reader else settings.clickhouse_user
        secret = settings.clickhouse_reader_password if as_reader else settings.clickhouse_password
        password = secret.get_secret_value()
        if not reader:
            admin = Client(
                host=settings.clickhouse_host,
                port=settings.clickhouse_port,
                user=user,
                password=password,
                secure=settings.clickhouse_secure,
            )
            admin.execute(f"CREATE DATABASE IF NOT EXISTS {_checked(settings.clickhouse_database)}")
            admin.disconnect()
        self._client = Client(
            host=settings.clickhouse_host,
            port=settings.clickhouse_port,
            user=user,
            password=password,
            database=settings.clickhouse_database,
            secure=settings.clickhouse_secure,
        )
        # A readonly=1 user may set nothing (its profile holds its limits); otherwise reads send them.
        self._read_settings: dict[str, Any] = (
            {}
            if as_reader
            else {"max_query_size": MAX_QUERY_SIZE, **(QueryLimits.of(settings).settings() if reader else {})}
        )
        self._lock = threading.Lock()

    def execute(self, sql: str) -> None:
        with self._lock:
            self._client.execute(sql)

    def query(self, sql: str) -> list[dict[str, Any]]:
        with self._lock:
            rows, columns = self._client.execute(sql, with_column_types=True, settings=self._read_settings)
        names = [name for name, _ in columns]
        return [orjson.loads(orjson.dumps(dict(zip(names, row, strict=True)), default=str)) for row in rows]

    def insert_json(self, table: str, lines: bytes) -> None:
        if not lines:
            return
        # The native protocol has no raw-format insert; the format() table function reads the same
        # JSON lines on the server, so both implementations parse rows with one ClickHouse parser.
        with self._lock:
            self._client.execute(
                f"INSERT INTO {_checked(table)} SELECT * FROM format(JSONEachRow, %(data)s)",
                {"data": lines.decode()},
                settings={
                    "max_query_size": len(lines) * 2 + 65536,
                    "date_time_input_format": "best_effort",
                    "input_format_json_read_objects_as_strings": 1,
                    "parallel_view_processing": 1,
                },
            )

    def close(self) -> None:
        self._client.disconnect()


READER_USER = "reader"


def reader_password(settings: Settings) -> str:
    """The password of the worker's read endpoints: the setting, else <data_dir>/reader.key, made
    (readable by its owner only) by whichever process needs it first."""
    if configured := settings.reader_password.get_secret_value():
        return configured
    path = settings.data_dir / "reader.key"
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        for _ in range(50):  # another process may have created it and not yet written it
            if key := path.read_text().strip():
                return key
            time.sleep(0.02)
        raise WarehouseError(f"{path} is empty: delete it and start again") from None
    key = secrets.token_urlsafe(24)
    with os.fdopen(descriptor, "w") as file:
        file.write(key + "\n")
    return key


def reader_authorization(settings: Settings) -> str:
    """The `Authorization` header value of the read endpoints' user."""
    return "Basic " + base64.b64encode(f"{READER_USER}:{reader_password(settings)}".encode()).decode()


class WorkerReader:
    """Read-only SQL through the running worker (the only process that may open an embedded chDB)."""

    def __init__(self, settings: Settings, *, after_inserts: bool = False, adhoc: bool = False) -> None:
        """`after_inserts`: each read waits for the inserts the worker has begun, and sees their
        batches in every table or not at all (streams/web.py). `adhoc`: a person's query (the CLI),
        which waits for an ad-hoc slot so that one connection stays free for the services."""
        self._url = f"http://{settings.worker_web_host}:{settings.worker_web_port}/query"
        self._extra = {"after_inserts": "1"} if after_inserts else {}
        if adhoc:
            self._extra["adhoc"] = "1"
        self._authorization = reader_authorization(settings)

    def query(self, sql: str) -> list[dict[str, Any]]:
        url = f"{self._url}?{urllib.parse.urlencode({'sql': sql, **self._extra})}"
        request = urllib.request.Request(url, headers={"Authorization": self._authorization})  # noqa: S310
        try:
            with urllib.request.urlopen(request, timeout=300) as response:  # noqa: S310 (loopback URL from settings)
                rows: list[dict[str, Any]] = orjson.loads(response.read())["rows"]
                return rows
        except urllib.error.HTTPError as exc:
            raise WarehouseError(f"the worker refused the query: {orjson.loads(exc.read()).get('error')}") from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise WarehouseError(f"no worker answers at {self._url} ({reason}): is the stack running?") from None


class ReadPool:
    """Reads, each query on a connection of its own borrowed for its length: side by side when
    called from as many threads as there are connections."""

    def __init__(self, readers: list[Reader]) -> None:
        if not readers:
            raise ValueError("ReadPool: no readers")
        self._idle: queue.SimpleQueue[Reader] = queue.SimpleQueue()
        for reader in readers:
            self._idle.put(reader)

    def query(self, sql: str) -> list[dict[str, Any]]:
        reader = self._idle.get()
        try:
            return reader.query(sql)
        finally:
            self._idle.put(reader)

    def query_raw(self, sql: str, fmt: str, params: Mapping[str, str]) -> bytes:
        """`ChdbWarehouse.query_raw` on a borrowed connection (the pool is of chDB connections)."""
        reader = self._idle.get()
        try:
            if not isinstance(reader, ChdbWarehouse):
                raise WarehouseError("raw reads need chDB connections")
            return reader.query_raw(sql, fmt, params)
        finally:
            self._idle.put(reader)


def open_reads(settings: Settings) -> ReadPool:
    """The connections the worker answers `/query` on, `worker_read_connections` of them (one when
    that is 0, for reads in the warehouse thread): read-only ones to its chDB directory (opened
    after the writer, which runs the migrations) or clients of the server."""
    connections = range(max(1, settings.worker_read_connections))
    if settings.warehouse == "clickhouse":
        return ReadPool([ServerWarehouse(settings, reader=True) for _ in connections])
    limits = QueryLimits.of(settings)
    return ReadPool([ChdbWarehouse(settings.chdb_dir, read_only=True, limits=limits) for _ in connections])


def open_reader(settings: Settings) -> Reader:
    """Who answers read queries for a process other than the worker."""
    if settings.warehouse == "clickhouse":
        return ServerWarehouse(settings, reader=True)
    return WorkerReader(settings)


def open_warehouse(settings: Settings) -> Warehouse:
    if settings.warehouse == "clickhouse":
        return ServerWarehouse(settings)
    return ChdbWarehouse(settings.chdb_dir)


LOOKUP_CHUNK = 4000  # ids per IN (...) lookup: ~170 kB of SQL, under ClickHouse's 256 kB max_query_size


def chunks(items: list[str], size: int = LOOKUP_CHUNK) -> list[list[str]]:
    return [items[start : start + size] for start in range(0, len(items), size)]


def id_set(ids: list[str]) -> str:
    """`(SELECT … )` of the given UUIDs, passed as one string: far cheaper to parse than a literal each."""
    return f"(SELECT toUUID(arrayJoin(splitByChar(',', {literal(','.join(ids))}))))"


def pair_set(pairs: list[tuple[str, str]]) -> str:
    """`(SELECT …, …)` of the given pairs, for `(a, b) IN pair_set(...)`: each side passed as one
    string, as `id_set` does, and split at its commas (identifiers have none)."""
    if any("," in a or "," in b for a, b in pairs):
        raise ValueError("pair_set: a value holds a comma, which would split it in two")
    firsts, seconds = literal(",".join(a for a, _ in pairs)), literal(",".join(b for _, b in pairs))
    return (
        "(SELECT tupleElement(pair, 1), tupleElement(pair, 2) FROM "
        f"(SELECT arrayJoin(arrayZip(splitByChar(',', {firsts}), splitByChar(',', {seconds}))) AS pair))"
    )


def literal(value: str) -> str:
    """A ClickHouse string literal."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _checked(name: str) -> str:
    if not _IDENTIFIER.match(name):
        raise WarehouseError(f"not a table name: {name!r}")
    return name


class Migration(NamedTuple):
    version: int
    name: str
    text: str
    checksum: str


def pending(warehouse: Warehouse, directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    """The numbered .sql files not yet recorded, in order; an applied file that changed since is refused."""
    warehouse.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations "
        "(version UInt32, name String, checksum String, applied_at DateTime64(3, 'Asia/Shanghai') DEFAULT now64(3)) "
        "ENGINE = MergeTree ORDER BY version"
    )
    applied = {row["version"]: row for row in warehouse.query("SELECT version, name, checksum FROM schema_migrations")}
    waiting: list[Migration] = []
    for path in sorted(directory.glob("[0-9][0-9][0-9]_*.sql")):
        text = path.read_text()
        migration = Migration(int(path.name[:3]), path.name, text, hashlib.sha256(text.encode()).hexdigest())
        if migration.version not in applied:
            waiting.append(migration)
        elif applied[migration.version]["checksum"] != migration.checksum:
            raise WarehouseError(f"migration {path.name} changed after it was applied; add a new numbered file instead")
    return waiting


def migrate(warehouse: Warehouse, directory: Path = MIGRATIONS_DIR, *, apply: bool = True) -> list[str]:
    """Apply the numbered .sql files not yet recorded, in order; return the names applied. Nothing
    else may write meanwhile: a migration may copy a table (010 does). With apply false, only
    check that none is pending."""
    waiting = pending(warehouse, directory)
    if waiting and not apply:
        names = ", ".join(migration.name for migration in waiting)
        raise WarehouseError(f"pending migrations ({names}): run `tongfang migrate` with the workers stopped")
    for migration in waiting:
        for statement in statements(migration.text):
            warehouse.execute(statement)
        warehouse.execute(
            "INSERT INTO schema_migrations (version, name, checksum) VALUES "
            f"({migration.version}, {literal(migration.name)}, {literal(migration.checksum)})"
        )
    return [migration.name for migration in waiting]


def statements(text: str) -> list[str]:
    """The statements of a migration file, comment lines left out."""
    without_comments = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("--"))
    return [part.strip() for part in without_comments.split(";") if part.strip()]
