"""The session cookie the console and the workbench set: HttpOnly, SameSite=Strict, Secure over
HTTPS, lasting as long as the session, scoped to the path of the app it opens."""

from __future__ import annotations

from aiohttp import web


def set_session_cookie(
    response: web.StreamResponse, request: web.Request, name: str, token: str, lifetime_s: float, path: str
) -> None:
    response.set_cookie(
        name, token, httponly=True, samesite="Strict", secure=request.secure, max_age=int(lifetime_s), path=path
    )
