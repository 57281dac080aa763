"""Signing in to the regulators' console as a browser does, for the API-level tests."""

from __future__ import annotations

import re
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient

Client = TestClient[web.Request, web.Application]


async def sign_in(client: Client, token: str, target: str = "/") -> Any:
    """Fetch the sign-in form (and its nonce cookie), then post the token; the response, not followed."""
    form = await (await client.get("/login", params={"next": target})).text()
    nonce = re.search(r'name="csrf" value="([^"]+)"', form)
    assert nonce is not None
    return await client.post("/login", data={"csrf": nonce[1], "token": token, "next": target}, allow_redirects=False)


async def csrf_of(client: Client) -> str:
    """The signed-in session's CSRF token, as the console's pages read it."""
    body = await (await client.get("/api/session")).json()
    return str(body["csrf"])
