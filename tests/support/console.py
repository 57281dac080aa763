"""Signing in to the regulators' console as a browser does, for the API-level tests."""

from __future__ import annotations

import re
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient

from services.registry import Registry

Client = TestClient[web.Request, web.Application]
# A city regulator over both seeded districts, and a district one over 西湖区 only.
REGULATORS = {"city": ("post-3301", "杭州市邮政管理局", "3301"), "xihu": ("post-330106", "西湖区邮政管理局", "330106")}


def create_regulators(registry: Registry) -> dict[str, str]:
    """The regulators above in `registry`: their clear tokens by short name."""
    return {who: registry.create_regulator(*regulator) for who, regulator in REGULATORS.items()}


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


class Recorded:
    """A publisher that keeps what it was given: the console's side of the contract, before Kafka."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes]] = []

    async def publish(self, site_id: str, value: bytes) -> None:
        self.sent.append((site_id, value))
