"""The regulators' console: sign-in, and the checked-in dashboards drawn in the browser.

The browser never sends SQL. It asks for a panel by dashboard uid and panel id with Grafana's URL
parameters (`from`, `to`, `var-<name>`); the server expands that panel's SQL with the project's macro
expansion (dashboards/macros.py, as the ClickHouse plugin does) and the jurisdiction of the signed-in
regulator. `var-jurisdiction` may narrow it (杭州市 → 西湖区) but never widen it: a code outside is
403, a site outside is 404.

Sessions: a regulator signs in with its token and gets an HttpOnly, SameSite=Strict cookie; the
session ends when it expires, at sign-out, or at the next request after the regulator was re-keyed
or revoked. Every POST carries the session's CSRF token (header X-CSRF-Token, or a form field).

GET  /login, POST /login, POST /logout
GET  /, /d/{uid}[/{slug}]                                   the console page (signed in), else → /login
GET  /api/session                                           who is signed in, the CSRF token
GET  /api/dashboards, /api/dashboards/{uid}                 the dashboard list, one dashboard's JSON
GET  /api/dashboards/{uid}/variables/{name}?var-…           a variable's choices
GET  /api/dashboards/{uid}/panels/{id}?from&to&var-…        a panel's rows
"""

from __future__ import annotations

import asyncio
import hmac
import html
import re
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import orjson
import structlog
from aiohttp import web

from dashboards.macros import ALL, Value, expand
from dashboards.timerange import SHANGHAI, TimeRange, TimeRangeError, parse_range
from schemas.envelope import IDENTIFIER_PATTERN
from services.problems import Problem
from services.ratelimit import RateLimiter
from services.registry import Registry, Session
from services.regulator.boards import Board, Boards
from services.regulator.divisions import Divisions
from services.sessions import set_session_cookie
from streams.warehouse import Reader, WarehouseError, literal

log = structlog.get_logger("tongfang.console")
STATIC = Path(__file__).parent / "static"
COOKIE, LOGIN_COOKIE = "tf_session", "tf_login"
DIVISION_COLUMN = "辖区"  # a panel column of division codes, shown with their names
DIVISION_PREFIX = re.compile(r"^[0-9]{2,9}$")
SITE_ID = re.compile(IDENTIFIER_PATTERN)
# Brand and site values are pasted into SQL inside quotes: letters (Chinese too), digits and _.:- only.
_VALUE = re.compile(r"^[\w.:-]{1,64}$")
_SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


@dataclass(frozen=True)
class Scope:
    """What a request may read: the variables its panel SQL is expanded with, the jurisdiction forced."""

    variables: dict[str, Value]
    span: TimeRange


class Console:
    def __init__(
        self,
        registry: Registry,
        reader: Reader,
        boards: Boards,
        divisions: Divisions,
        session_hours: float = 8.0,
        limiter: RateLimiter | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(SHANGHAI),
    ) -> None:
        self.registry, self.reader, self.boards, self.divisions = registry, reader, boards, divisions
        self.session_s = session_hours * 3600
        # A dashboard asks for all its panels and variables at once, and again at each refresh.
        self.limiter = limiter or RateLimiter(30, 120)
        self.clock = clock

    # Sessions ------------------------------------------------------------------------------------

    def session(self, request: web.Request) -> Session | None:
        token = request.cookies.get(COOKIE)
        return self.registry.session(token) if token else None

    def signed_in(self, request: web.Request) -> Session:
        session = self.session(request)
        if session is None:
            raise Problem(401, "session", "not signed in, or the session has ended: sign in again at /login")
        if self.limiter.take(session.regulator.regulator_id) > 0:
            raise Problem(429, "session", "too many requests; retry shortly")
        return session

    def checked_post(self, request: web.Request, form: dict[str, str] | None = None) -> Session:
        session = self.signed_in(request)
        sent = request.headers.get("X-CSRF-Token") or (form or {}).get("csrf", "")
        if not hmac.compare_digest(sent.encode(), session.csrf.encode()):
            raise Problem(403, "X-CSRF-Token", "missing or wrong CSRF token: reload the page and try again")
        return session

    # Pages ---------------------------------------------------------------------------------------

    async def login_page(self, request: web.Request) -> web.Response:
        return self._login_form(_local_path(request.query.get("next", "/")))

    def _login_form(self, target: str, error: str = "", status: int = 200) -> web.Response:
        nonce = secrets.token_urlsafe(24)
        page = (STATIC / "login.html").read_text(encoding="utf-8")
        page = (
            page.replace("{{csrf}}", nonce)
            .replace("{{next}}", html.escape(target, quote=True))
            .replace("{{error}}", html.escape(error))
        )
        response = web.Response(text=page, status=status, content_type="text/html", headers=_SECURITY_HEADERS)
        response.set_cookie(LOGIN_COOKIE, nonce, httponly=True, samesite="Strict", max_age=900, path="/login")
        return response

    async def login(self, request: web.Request) -> web.StreamResponse:
        form = {key: str(value) for key, value in (await request.post()).items()}
        target = _local_path(form.get("next", "/"))
        nonce = request.cookies.get(LOGIN_COOKIE, "")
        if not nonce or not hmac.compare_digest(form.get("csrf", "").encode(), nonce.encode()):
            return self._login_form(target, "登录页面已过期，请重新输入令牌。", status=403)
        opened = self.registry.open_session(form.get("token", "").strip(), self.session_s)
        if opened is None:
            log.info("console_sign_in_refused", remote=request.remote)
            return self._login_form(target, "令牌无效或已被吊销，请核对后重试。", status=401)
        session_token, session = opened
        log.info("console_signed_in", regulator=session.regulator.regulator_id)
        response = _see_other(target)
        set_session_cookie(response, request, COOKIE, session_token, self.session_s, path="/")
        response.del_cookie(LOGIN_COOKIE, path="/login")
        return response

    async def logout(self, request: web.Request) -> web.StreamResponse:
        form = {key: str(value) for key, value in (await request.post()).items()}
        self.checked_post(request, form)
        self.registry.close_session(request.cookies[COOKIE])
        response = _see_other("/login")
        response.del_cookie(COOKIE, path="/")
        return response

    async def page(self, request: web.Request) -> web.StreamResponse:
        if request.path == "/":
            if self.session(request) is not None:
                raise web.HTTPFound("/d/tongfang-overview")
        elif self.boards.get(request.match_info.get("uid", "")) is None:
            raise Problem(404, "uid", "no such dashboard")
        return await self.page_file(request, "console.html")

    async def page_file(self, request: web.Request, name: str) -> web.StreamResponse:
        """Another page of the console (the desk, ...): signed in, else to sign-in and back."""
        if self.session(request) is None:
            raise web.HTTPFound(f"/login?next={quote(request.path_qs, safe='')}")
        return web.FileResponse(STATIC / name, headers=_SECURITY_HEADERS)

    # The dashboards' API -------------------------------------------------------------------------

    async def session_info(self, request: web.Request) -> web.Response:
        session = self.signed_in(request)
        regulator = session.regulator
        return json_response(
            {
                "regulator_id": regulator.regulator_id,
                "name": regulator.name,
                "jurisdiction": regulator.jurisdiction,
                "jurisdiction_label": self.divisions.label(regulator.jurisdiction),
                "csrf": session.csrf,
            }
        )

    async def dashboard_list(self, request: web.Request) -> web.Response:
        self.signed_in(request)
        return json_response({"dashboards": [{"uid": board.uid, "title": board.title} for board in self.boards]})

    async def dashboard(self, request: web.Request) -> web.Response:
        self.signed_in(request)
        return json_response(self._board(request).document)

    async def variable(self, request: web.Request) -> web.Response:
        session = self.signed_in(request)
        board = self._board(request)
        name = request.match_info["name"]
        sql = board.variable_sql(name)
        if sql is None:
            raise Problem(404, "name", "no such variable on this dashboard")
        scope = await self._scope(session, board, request, check_sites=False)
        expanded = expand(sql, scope.span.since, scope.span.until, scope.variables)
        if name == "jurisdiction":
            own = literal(session.regulator.jurisdiction)
            expanded = f"SELECT code FROM ({expanded}) WHERE startsWith(code, {own}) ORDER BY length(code), code"
        rows = await self.rows(expanded)
        values = [str(next(iter(row.values()))) for row in rows]
        options = [{"value": value, "text": self._text(name, value)} for value in values]
        return json_response({"name": name, "options": options})

    async def panel(self, request: web.Request) -> web.Response:
        session = self.signed_in(request)
        board = self._board(request)
        try:
            found = board.panel_sql(int(request.match_info["panel_id"]))
        except ValueError:
            found = None
        if found is None:
            raise Problem(404, "panel_id", "no such panel on this dashboard")
        sql, _ = found
        scope = await self._scope(session, board, request, check_sites=True)
        expanded = expand(sql, scope.span.since, scope.span.until, scope.variables, scope.span.interval_s())
        started = time.perf_counter()
        rows = await self.rows(expanded)
        columns = list(rows[0]) if rows else []
        values = [list(row.values()) for row in rows]
        if DIVISION_COLUMN in columns:  # regulators read 西湖区 (330106), not 330106
            index = columns.index(DIVISION_COLUMN)
            for row_values in values:
                row_values[index] = self.divisions.label(str(row_values[index]))
        return json_response(
            {
                "columns": columns,
                "rows": values,
                "from": int(scope.span.since.timestamp() * 1000),
                "to": int(scope.span.until.timestamp() * 1000),
                "ms": round((time.perf_counter() - started) * 1000, 1),
            }
        )

    # Helpers -------------------------------------------------------------------------------------

    def _board(self, request: web.Request) -> Board:
        board = self.boards.get(request.match_info["uid"])
        if board is None:
            raise Problem(404, "uid", "no such dashboard")
        return board

    async def _scope(self, session: Session, board: Board, request: web.Request, check_sites: bool) -> Scope:
        own = session.regulator.jurisdiction
        jurisdiction = request.query.get("var-jurisdiction", own) or own
        if not DIVISION_PREFIX.match(jurisdiction):
            raise Problem(422, "var-jurisdiction", "expected a division code of 2 to 9 digits")
        if not jurisdiction.startswith(own):
            raise Problem(403, "var-jurisdiction", f"outside your jurisdiction ({self.divisions.label(own)})")
        variables: dict[str, Value] = {"jurisdiction": jurisdiction}
        for name, variable in board.variables.items():
            if name == "jurisdiction":
                continue
            values = [value for value in request.query.getall(f"var-{name}", []) if value not in ("", "All")]
            if not values or ALL in values:
                variables[name] = ALL if variable.get("multi") else ""
                continue
            for value in values:
                if not _VALUE.match(value):
                    raise Problem(422, f"var-{name}", "letters, digits and _.:- only; 1 to 64 characters")
            variables[name] = values if variable.get("multi") else values[0]
        if check_sites:
            await self._check_sites(variables, jurisdiction)
        defaults = board.document.get("time") or {"from": "now-24h", "to": "now"}
        try:
            span = parse_range(
                request.query.get("from", defaults["from"]), request.query.get("to", defaults["to"]), self.clock()
            )
        except TimeRangeError as exc:
            raise Problem(422, exc.field, exc.reason) from None
        return Scope(variables, span)

    async def _check_sites(self, variables: dict[str, Value], jurisdiction: str) -> None:
        """A site named in the URL must be one of the jurisdiction's: another's is 404, as if unknown."""
        chosen = variables.get("site", ALL)
        if chosen in (ALL, ""):
            return
        sites = [chosen] if isinstance(chosen, str) else list(chosen)
        found = await self.rows(
            f"SELECT DISTINCT site_id FROM sites WHERE site_id IN ({', '.join(literal(s) for s in sites)}) "
            f"AND startsWith(division_code, {literal(jurisdiction)})"
        )
        if len(found) < len(set(sites)):
            raise Problem(404, "var-site", "no such site in your jurisdiction")

    async def site(self, jurisdiction: str, site_id: str) -> dict[str, Any] | None:
        """A site of the jurisdiction as last registered; None for a malformed id or a site elsewhere."""
        if not SITE_ID.match(site_id):
            return None
        rows = await self.rows(
            "SELECT site_id, argMax(enterprise_id, registered_at) AS owner, "
            "argMax(brand, registered_at) AS site_brand, "
            "argMax(name, registered_at) AS site_name, argMax(site_kind, registered_at) AS kind, "
            "argMax(operation, registered_at) AS site_operation, argMax(division_code, registered_at) AS division, "
            "argMax(latitude, registered_at) AS lat, argMax(longitude, registered_at) AS lon, "
            "argMax(handles_international, registered_at) AS international "
            f"FROM sites WHERE site_id = {literal(site_id)} GROUP BY site_id"
        )
        if not rows or not rows[0]["division"].startswith(jurisdiction):
            return None
        row = rows[0]
        return {
            "site_id": row["site_id"],
            "enterprise_id": row["owner"],
            "brand": row["site_brand"],
            "name": row["site_name"],
            "site_kind": row["kind"],
            "operation": row["site_operation"],
            "division_code": row["division"],
            "latitude": row["lat"],
            "longitude": row["lon"],
            "handles_international": row["international"],
        }

    async def rows(self, sql: str) -> list[dict[str, Any]]:
        try:
            return await asyncio.to_thread(self.reader.query, sql)
        except WarehouseError as exc:
            log.warning("console_query_failed", error=str(exc))
            raise Problem(502, "warehouse", "the warehouse could not answer; retry shortly") from None

    def _text(self, name: str, value: str) -> str:
        return self.divisions.label(value) if name == "jurisdiction" else value


def json_response(body: Any, status: int = 200) -> web.Response:
    return web.json_response(body, status=status, headers=_SECURITY_HEADERS, dumps=_dumps)


def _dumps(body: Any) -> str:
    return orjson.dumps(body).decode()


def _see_other(location: str) -> web.Response:
    return web.Response(status=303, headers={**_SECURITY_HEADERS, "Location": location})


def _local_path(target: str) -> str:
    """Where to go after signing in: a path on this server, never another site (open redirect)."""
    if not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


def add_routes(app: web.Application, console: Console) -> None:
    get: Callable[[str, Callable[[web.Request], Awaitable[web.StreamResponse]]], Any] = app.router.add_get
    get("/login", console.login_page)
    app.router.add_post("/login", console.login)
    app.router.add_post("/logout", console.logout)
    get("/", console.page)
    get("/d/{uid}", console.page)
    get("/d/{uid}/{slug}", console.page)
    get("/api/session", console.session_info)
    get("/api/dashboards", console.dashboard_list)
    get("/api/dashboards/{uid}", console.dashboard)
    get("/api/dashboards/{uid}/variables/{name}", console.variable)
    get("/api/dashboards/{uid}/panels/{panel_id}", console.panel)
    app.router.add_static("/static/", STATIC, follow_symlinks=False, append_version=False)
