"""The branches' workbench (网点工作台): the site's own screen on a phone, served by ingest at /app.

An operator signs in with the token its enterprise gave it (`tongfang enterprise operator create`,
POST /v1/operators) and gets an HttpOnly, SameSite=Strict session cookie scoped to /app; every
write carries the session's CSRF token (X-CSRF-Token). What it posts goes through the same intake
as POST /v1/events, scoped to the operator's sites, with its pseudonym as actor_id.

GET    /app                                   the app (static files under services/ingest/static/app)
POST   /app/api/session                       {token}: sign in (JSON only, so no other site can post it)
GET    /app/api/session                       who is signed in, its sites, the CSRF token
DELETE /app/api/session                       sign out
GET    /app/api/today?site_id=                what is due at the site today (services/ingest/today.py)
POST   /app/api/events                        events made on the device (ids too), as POST /v1/events
POST   /app/api/imports?ledger=&format=       a ledger file, as POST /v1/imports
GET    /app/api/imports/{id}/{errors|results}.csv
GET    /v1/templates, /v1/templates/{ledger}.{xlsx|csv}   the import templates (no data in them)
"""

from __future__ import annotations

import asyncio
import hmac
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import msgspec
import structlog
from aiohttp import web

from schemas import events
from services.ingest import imports
from services.ingest.app import Credentials, Ingest, json_response
from services.ingest.intake import http_status, summarize
from services.ingest.ledgers import LEDGERS, Ledger
from services.ingest.today import due_today, known_batches, site_rows
from services.problems import Problem
from services.registry import OperatorSession
from services.sessions import set_session_cookie
from streams.compliance.catalogue import Catalogue

log = structlog.get_logger("tongfang.workbench")
STATIC = Path(__file__).resolve().parent / "static" / "app"
COOKIE = "tf_operator"
_SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data: blob:; media-src 'self' blob:; "
    "style-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}
_CONTENT_TYPES = {
    ".html": "text/html",
    ".js": "text/javascript",
    ".css": "text/css",
    ".webmanifest": "application/manifest+json",
    ".svg": "image/svg+xml",
}
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


class Workbench:
    def __init__(self, ingest: Ingest, catalogue: Catalogue, clock: Callable[[], datetime]) -> None:
        self.ingest, self.catalogue, self.clock = ingest, catalogue, clock
        self.registry = ingest.registry
        self.session_s = ingest.settings.operator_session_hours * 3600
        self.imports_dir = ingest.settings.data_dir / "imports"

    # Sessions ------------------------------------------------------------------------------------

    def session(self, request: web.Request) -> OperatorSession:
        token = request.cookies.get(COOKIE)
        session = self.registry.operator_session(token) if token else None
        if session is None:
            raise Problem(401, "session", "未登录或登录已过期，请重新登录")
        self.ingest.take(session.operator.enterprise_id)
        return session

    def checked(self, request: web.Request) -> OperatorSession:
        session = self.session(request)
        sent = request.headers.get("X-CSRF-Token", "")
        if not hmac.compare_digest(sent.encode(), session.csrf.encode()):
            raise Problem(403, "X-CSRF-Token", "missing or wrong CSRF token: reload the app and try again")
        return session

    async def sign_in(self, request: web.Request) -> web.Response:
        if request.content_type != "application/json":
            raise Problem(415, "Content-Type", "expected application/json")
        try:
            token = str(msgspec.json.decode(await request.read()).get("token", "")).strip()
        except (msgspec.DecodeError, AttributeError):
            raise Problem(422, "token", 'expected {"token": "tfo_…"}') from None
        opened = self.registry.open_operator_session(token, self.session_s) if token.startswith("tfo_") else None
        if opened is None:
            log.info("operator_sign_in_refused", remote=request.remote)
            raise Problem(401, "token", "令牌无效或已被吊销，请向企业管理员核对")
        session_token, session = opened
        log.info("operator_signed_in", operator=session.operator.operator_id)
        response = json_response(await self._me(session), 200)
        set_session_cookie(response, request, COOKIE, session_token, self.session_s, path="/app")
        return response

    async def me(self, request: web.Request) -> web.Response:
        return json_response(await self._me(self.session(request)), 200)

    async def sign_out(self, request: web.Request) -> web.Response:
        self.checked(request)
        self.registry.close_operator_session(request.cookies[COOKIE])
        response = json_response({"signed_out": True}, 200)
        response.del_cookie(COOKIE, path="/app")
        return response

    async def _me(self, session: OperatorSession) -> dict[str, Any]:
        operator = session.operator
        registered = await self._sites(sorted(operator.sites))
        sites = [
            {
                "site_id": site_id,
                "name": registered.get(site_id, {}).get("name", site_id),
                "handles_international": bool(registered.get(site_id, {}).get("handles_international")),
            }
            for site_id in sorted(operator.sites)
        ]
        return {
            "operator_id": operator.operator_id,
            "label": operator.label,
            "enterprise_id": operator.enterprise_id,
            "actor_id": operator.actor_id,
            "sites": sites,
            "csrf": session.csrf,
            "ledgers": [{"name": ledger.name, "title": ledger.title} for ledger in LEDGERS.values()],
        }

    async def _sites(self, site_ids: list[str]) -> dict[str, dict[str, Any]]:
        """The registrations of these sites in the warehouse, by id (those it has yet), in one query."""
        reader = self.ingest.reader
        if reader is None:
            return {}
        try:
            return await asyncio.to_thread(site_rows, reader, site_ids)
        except Exception as exc:  # the warehouse may be starting: the app still works without names
            log.warning("site_lookup_failed", sites=site_ids, error=repr(exc))
            return {}

    # Today and posting ---------------------------------------------------------------------------

    async def today(self, request: web.Request) -> web.Response:
        session = self.session(request)
        site_id = request.query.get("site_id", "")
        if site_id not in session.operator.sites:
            raise Problem(403, "site_id", "this operator may see only its own sites")
        reader = self.ingest.reader
        if reader is None:
            raise Problem(503, "$", "today's list needs the warehouse, which this service was started without")
        site = (await self._sites([site_id])).get(site_id)
        if site is None:
            raise Problem(404, "site_id", "the site's registration is not in the warehouse yet")
        due = await asyncio.to_thread(due_today, reader, self.catalogue, site, self.clock())
        return json_response(due, 200)

    async def post_events(self, request: web.Request) -> web.Response:
        session = self.checked(request)
        raws = await self.ingest.read_events(request)
        credentials = Credentials(session.operator.enterprise, session.operator)
        ordered = await self.ingest.store(credentials, raws)
        return json_response(summarize(ordered), http_status(ordered))

    # Imports ---------------------------------------------------------------------------------------

    async def app_import(self, request: web.Request) -> web.Response:
        session = self.checked(request)
        return await self.run_import(request, Credentials(session.operator.enterprise, session.operator))

    async def api_import(self, request: web.Request) -> web.Response:
        return await self.run_import(request, self.ingest.authenticate(request))

    async def run_import(self, request: web.Request, credentials: Credentials) -> web.Response:
        ledger = LEDGERS.get(request.query.get("ledger", ""))
        if ledger is None:
            raise Problem(422, "ledger", f"expected one of {', '.join(LEDGERS)}")
        fmt = _format(request)
        import_id = imports.new_import_id()
        folder = self.imports_dir / import_id
        folder.mkdir(parents=True, exist_ok=True)
        descriptor, name = tempfile.mkstemp(prefix="upload-", suffix=f".{fmt}", dir=folder)
        upload = Path(name)
        try:
            with os.fdopen(descriptor, "wb") as target:
                await imports.save_upload(request.content, target, self.ingest.settings.ingest_import_max_bytes)
        except ValueError as exc:
            shutil.rmtree(folder, ignore_errors=True)
            raise Problem(413, "$", str(exc)) from None
        enterprise_id = credentials.enterprise.enterprise_id
        operator_id = credentials.operator.operator_id if credentials.operator else None
        summary = imports.ImportSummary(
            import_id, ledger.name, ledger.title, enterprise_id, operator_id, datetime.now(UTC).timestamp()
        )
        try:
            rows = imports.rows_of(ledger, imports.sheet_rows(upload, fmt))
            importer = imports.Importer(
                ledger,
                enterprise_id,
                lambda raws: self.ingest.store(credentials, raws, backfill=True),
                self._known_batches,
                imports.ResultFiles(folder, ledger),
                summary,
                events.TimeWindow(datetime.now(UTC), self.ingest.settings.max_event_age),
            )
            await importer.run(rows)
        except imports.ImportFileError as exc:
            shutil.rmtree(folder, ignore_errors=True)
            raise Problem(422, "file", str(exc)) from None
        finally:
            await asyncio.to_thread(upload.unlink, True)
        imports.save_summary(folder, summary)
        log.info(
            "ledger_imported",
            import_id=import_id,
            ledger=ledger.name,
            enterprise=enterprise_id,
            rows=summary.rows,
            accepted=summary.accepted,
            duplicate=summary.duplicate,
            rejected=summary.rejected,
            failed=summary.failed,
            seconds=summary.seconds,
        )
        body = asdict(summary) | _links(request, import_id)
        return json_response(body, 200 if summary.complete else 503)

    async def _known_batches(self, site_id: str, batch_ids: list[str]) -> set[str]:
        reader = self.ingest.reader
        if reader is None:
            return set(batch_ids)  # nothing to ask: the rules still judge every record
        return await asyncio.to_thread(known_batches, reader, site_id, batch_ids)

    async def app_import_file(self, request: web.Request) -> web.StreamResponse:
        session = self.session(request)
        return self._import_file(request, session.operator.enterprise_id, session.operator.operator_id)

    async def api_import_file(self, request: web.Request) -> web.StreamResponse:
        credentials = self.ingest.authenticate(request)
        operator = credentials.operator.operator_id if credentials.operator else None
        return self._import_file(request, credentials.enterprise.enterprise_id, operator)

    async def api_import_summary(self, request: web.Request) -> web.Response:
        credentials = self.ingest.authenticate(request)
        operator = credentials.operator.operator_id if credentials.operator else None
        summary = self._own_import(request, credentials.enterprise.enterprise_id, operator)
        return json_response(summary | _links(request, summary["import_id"]), 200)

    def _own_import(self, request: web.Request, enterprise_id: str, operator_id: str | None) -> dict[str, Any]:
        import_id = request.match_info["import_id"]
        summary = imports.load_summary(self.imports_dir / import_id) if import_id.startswith("imp_") else None
        mine = summary is not None and summary["enterprise_id"] == enterprise_id
        if not mine or (operator_id is not None and summary["operator_id"] != operator_id):  # type: ignore[index]
            raise Problem(404, "import_id", "no such import of yours")
        return cast(dict[str, Any], summary)

    def _import_file(self, request: web.Request, enterprise_id: str, operator_id: str | None) -> web.StreamResponse:
        summary = self._own_import(request, enterprise_id, operator_id)
        name = request.match_info["file"]
        if name not in ("errors", "results"):
            raise Problem(404, "file", "expected errors.csv or results.csv")
        path = self.imports_dir / summary["import_id"] / f"{name}.csv"
        disposition = f'attachment; filename="{summary["import_id"]}-{name}.csv"'
        return web.FileResponse(
            path, headers={"Content-Type": "text/csv; charset=utf-8", "Content-Disposition": disposition}
        )

    # Templates and static files ------------------------------------------------------------------

    async def templates(self, request: web.Request) -> web.Response:
        listed = [
            {
                "name": ledger.name,
                "title": ledger.title,
                "columns": [column.header for column in ledger.columns],
                "xlsx": f"/v1/templates/{ledger.name}.xlsx",
                "csv": f"/v1/templates/{ledger.name}.csv",
            }
            for ledger in LEDGERS.values()
        ]
        return json_response({"ledgers": listed}, 200)

    async def template(self, request: web.Request) -> web.Response:
        name, _, fmt = request.match_info["file"].rpartition(".")
        ledger: Ledger | None = LEDGERS.get(name)
        if ledger is None or fmt not in ("xlsx", "csv"):
            raise Problem(404, "ledger", f"expected <ledger>.xlsx or .csv, ledger one of {', '.join(LEDGERS)}")
        body = imports.template_xlsx(ledger) if fmt == "xlsx" else imports.template_csv(ledger)
        filename = f"{ledger.name}.{fmt}"
        return web.Response(
            body=body,
            headers={
                "Content-Type": XLSX if fmt == "xlsx" else "text/csv; charset=utf-8",
                "Content-Disposition": f"attachment; filename=\"{filename}\"; filename*=UTF-8''{filename}",
            },
        )

    async def page(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info.get("file", "") or "index.html"
        path = (STATIC / name).resolve()
        if not path.is_file() or STATIC not in path.parents:
            raise Problem(404, "$", "no such file")
        headers = dict(_SECURITY_HEADERS)
        headers["Content-Type"] = _CONTENT_TYPES.get(path.suffix, "application/octet-stream")
        headers["Cache-Control"] = "no-cache"  # the service worker keeps the copy for offline use
        if name == "sw.js":
            headers["Service-Worker-Allowed"] = "/app/"
        return web.FileResponse(path, headers=headers)


def _format(request: web.Request) -> imports.Format:
    fmt = request.query.get("format", "")
    if not fmt:
        fmt = "xlsx" if request.content_type == XLSX else "csv" if request.content_type.startswith("text/") else ""
    if fmt not in ("xlsx", "csv"):
        raise Problem(422, "format", "expected format=xlsx or format=csv (or the file's Content-Type)")
    return cast(imports.Format, fmt)


def _links(request: web.Request, import_id: str) -> dict[str, str]:
    base = "/app/api/imports" if request.path.startswith("/app/") else "/v1/imports"
    return {"errors_url": f"{base}/{import_id}/errors.csv", "results_url": f"{base}/{import_id}/results.csv"}


def add_routes(app: web.Application, workbench: Workbench) -> None:
    router = app.router
    router.add_get("/app", _to_app)
    router.add_get("/app/", workbench.page)
    router.add_post("/app/api/session", workbench.sign_in)
    router.add_get("/app/api/session", workbench.me)
    router.add_delete("/app/api/session", workbench.sign_out)
    router.add_get("/app/api/today", workbench.today)
    router.add_post("/app/api/events", workbench.post_events)
    router.add_post("/app/api/imports", workbench.app_import)
    router.add_get("/app/api/imports/{import_id}/{file}.csv", workbench.app_import_file)
    router.add_get("/app/{file:(vendor/)?[A-Za-z0-9_.-]+}", workbench.page)
    router.add_post("/v1/imports", workbench.api_import)
    router.add_get("/v1/imports/{import_id}", workbench.api_import_summary)
    router.add_get("/v1/imports/{import_id}/{file}.csv", workbench.api_import_file)
    router.add_get("/v1/templates", workbench.templates)
    router.add_get("/v1/templates/{file}", workbench.template)


async def _to_app(_: web.Request) -> web.StreamResponse:
    raise web.HTTPFound("/app/")
