"""Errors the HTTP services answer with: the status, the field at fault and the reason, as JSON."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import structlog
from aiohttp import web

log = structlog.get_logger("tongfang.http")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class Problem(Exception):
    def __init__(self, status: int, field: str, reason: str) -> None:
        super().__init__(reason)
        self.status, self.field, self.reason = status, field, reason


def problem_response(status: int, field: str, reason: str) -> web.Response:
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else {"Retry-After": "1"} if status == 429 else None
    body = {"error": reason, "field": field, "reason": reason}
    return web.json_response(body, status=status, headers=headers)


@web.middleware
async def problems(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except Problem as problem:
        return problem_response(problem.status, problem.field, problem.reason)
    except web.HTTPException as exc:
        if 300 <= exc.status < 400:  # redirects are answers, not problems
            raise
        if exc.status == 413:
            return problem_response(413, "$", "the body is too large")
        return problem_response(exc.status, "$", exc.text or exc.reason)
    except Exception:
        log.exception("request_failed", path=request.path)
        return problem_response(500, "$", "internal error")
