"""ClickHouse's HTTP interface over the seeded warehouse, read by clickhouse-connect as a notebook or
Superset would (`proxy_path="/clickhouse"`): every panel's SQL gives the console's rows, and nothing
but a read gets through."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from typing import Any

import clickhouse_connect
import pytest
import requests
from aiohttp import web
from clickhouse_connect.driver.exceptions import DatabaseError

from dashboards.macros import ALL, expand
from services.regulator.boards import Boards
from streams.clickhouse_http import ClickHouseHttp
from streams.warehouse import ChdbWarehouse, ReadPool
from tests.integration.test_dashboards import SINCE, UNTIL
from tests.support.browser import served

pytestmark = pytest.mark.integration
PASSWORD = "reader-password-for-tests"
# What the reference read returns in JSON, as the Native reply's typed values compare with it.
REFERENCE_SETTINGS = (
    " SETTINGS date_time_output_format = 'unix_timestamp', output_format_json_quote_64bit_integers = 0,"
    " output_format_json_quote_decimals = 0, output_format_json_quote_64bit_floats = 0"
)


@pytest.fixture(scope="module")
def endpoint(seeded: ChdbWarehouse) -> Iterator[str]:
    """The worker's `/clickhouse` pages, mounted on a server of their own over a read-only connection."""
    reads = ReadPool([ChdbWarehouse(seeded.path, read_only=True)])
    clickhouse = ClickHouseHttp(reads, ThreadPoolExecutor(1), PASSWORD)
    app = web.Application()
    app.router.add_route("*", "/clickhouse", clickhouse.handle)
    app.router.add_route("*", "/clickhouse/", clickhouse.handle)
    app.router.add_get("/clickhouse/ping", clickhouse.ping)
    with served(app) as url:
        yield url


@pytest.fixture(scope="module")
def client(endpoint: str) -> Any:
    host, port = endpoint.removeprefix("http://").split(":")
    return clickhouse_connect.get_client(
        host=host, port=int(port), username="reader", password=PASSWORD, proxy_path="/clickhouse"
    )


def same(value: Any) -> Any:
    """A value as both replies compare: instants as unix seconds, numbers (quoted or not) as floats."""
    if isinstance(value, dt.datetime):
        return same((value if value.tzinfo else value.replace(tzinfo=dt.UTC)).timestamp())
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, str):
        try:
            return same(float(value))
        except ValueError:
            return value
    if isinstance(value, Decimal | float | int) and not isinstance(value, bool):
        return pytest.approx(float(value), rel=1e-6, abs=1e-9)  # Float32 columns: JSON prints 36.4
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, list | tuple):
        return [same(item) for item in value]
    return value


def test_every_panel_through_clickhouse_connect_gives_the_consoles_rows(seeded, client):
    variables = {"jurisdiction": "3301", "brand": ALL, "site": ALL}
    compared = 0
    for board in Boards.load():
        for panel_id in board.panels:
            sql, _ = board.panel_sql(panel_id) or ("", {})
            site = {"site": "hz-intl-01"} if "${site}" in sql and board.uid == "tongfang-site" else {}
            expanded = expand(sql, SINCE, UNTIL, {**variables, **site}, 3600)
            result = client.query(expanded)
            expected = seeded.query(expanded + REFERENCE_SETTINGS)
            assert list(result.column_names) == (list(expected[0]) if expected else list(result.column_names))
            got = [[same(value) for value in row] for row in result.result_rows]
            want = [[same(value) for value in row.values()] for row in expected]
            assert got == want, (board.uid, panel_id)
            compared += bool(want)
    assert compared > 25  # most panels have rows on the seeded day


def test_parameters_formats_and_the_handshake(endpoint, client):
    assert requests.get(f"{endpoint}/clickhouse/ping", timeout=5).text == "Ok.\n"
    result = client.query("SELECT {n:UInt32} * 2 AS twice, {s:String} AS said", parameters={"n": 21, "s": "it's"})
    assert result.result_rows == [(42, "it's")]
    auth = ("reader", PASSWORD)
    csv = requests.post(f"{endpoint}/clickhouse/", data="SELECT 1 AS a, 'x' AS b FORMAT CSVWithNames", auth=auth)
    assert (csv.status_code, csv.text, csv.headers["X-ClickHouse-Format"]) == (200, '"a","b"\n1,"x"\n', "CSVWithNames")
    tsv = requests.get(f"{endpoint}/clickhouse/", params={"query": "SELECT count() FROM raw_events"}, auth=auth)
    assert int(tsv.text) == int(client.command("SELECT count() FROM raw_events")) > 0
    by_header = requests.get(
        f"{endpoint}/clickhouse/",
        params={"query": "SELECT 7", "default_format": "JSONEachRow"},
        headers={"X-ClickHouse-User": "reader", "X-ClickHouse-Key": PASSWORD},
    )
    assert by_header.text == '{"7":7}\n'


@pytest.mark.parametrize(
    ("query", "params", "code", "status"),
    [
        ("INSERT INTO raw_events SELECT * FROM raw_events LIMIT 1", {}, 164, 403),
        ("SELECT 1 SETTINGS readonly = 0", {}, 164, 403),
        ("SELECT 1", {"readonly": "0"}, 164, 403),
        ("SELECT 1", {"max_threads": "64"}, 164, 403),
        ("SELECT * FROM file('/etc/hostname', 'LineAsString')", {}, 164, 403),
        ("SELECT * FROM url('http://127.0.0.1:1/', 'LineAsString')", {}, 164, 403),
        ("SELECT 1 INTO OUTFILE '/tmp/tongfang-outfile'", {}, 164, 403),
        ("DROP TABLE raw_events", {}, 164, 403),
        ("SELECT 1; SELECT 2", {}, 62, 400),
        ("SELEC 1", {}, 62, 400),
        ("SELECT * FROM no_such_table", {}, 60, 404),
    ],
)
def test_anything_but_a_read_is_refused_in_clickhouses_words(seeded, endpoint, query, params, code, status):
    before = seeded.query("SELECT count() AS n FROM raw_events")[0]["n"]
    response = requests.post(
        f"{endpoint}/clickhouse/", params=params, data=query, auth=("reader", PASSWORD), timeout=10
    )
    assert (response.status_code, response.headers["X-ClickHouse-Exception-Code"]) == (status, str(code))
    assert response.text.startswith(f"Code: {code}. DB::Exception: ")
    assert response.text.endswith(f"(version {seeded.query('SELECT version() AS v')[0]['v']})\n")
    assert seeded.query("SELECT count() AS n FROM raw_events")[0]["n"] == before
    assert seeded.query("SELECT count() AS n FROM system.tables WHERE name = 'raw_events'")[0]["n"] in (1, "1")


def test_a_wrong_password_is_refused_before_the_query_runs(endpoint):
    for auth in [("reader", "wrong"), ("default", PASSWORD), None]:
        response = requests.get(f"{endpoint}/clickhouse/", params={"query": "SELECT 1"}, auth=auth, timeout=5)
        assert (response.status_code, response.headers["X-ClickHouse-Exception-Code"]) == (403, "516")
    host, port = endpoint.removeprefix("http://").split(":")
    with pytest.raises(DatabaseError, match="516"):
        clickhouse_connect.get_client(
            host=host, port=int(port), username="reader", password="x", proxy_path="/clickhouse"
        )
