"""`python -m services.notify`: deliver alerts to the configured webhooks."""

from __future__ import annotations

import asyncio
import signal
from dataclasses import asdict

from aiohttp import web

from services.notify.app import Notifier
from services.notify.ledger import Ledger
from services.notify.notices import Lookup
from services.notify.routes import load_routes
from streams.logs import configure
from streams.settings import Settings, use_event_loop
from streams.topics import ensure_topics
from streams.warehouse import open_reader


async def serve(settings: Settings) -> None:
    lookup = Lookup(open_reader(settings))
    notifier = Notifier(settings, load_routes(settings.notify_routes), Ledger(settings.notify_db_path), lookup)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)

    async def health(_: web.Request) -> web.Response:
        return web.json_response({"status": "ok", "routes": [r.name for r in notifier.routes.routes]})

    async def stats(_: web.Request) -> web.Response:
        return web.json_response(asdict(notifier.stats))

    app = web.Application()
    app.router.add_get("/health", health)
    app.router.add_get("/stats", stats)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, settings.notify_host, settings.notify_port).start()
    try:
        await notifier.run(stop)
    finally:
        await runner.cleanup()
        notifier.ledger.close()


def main() -> None:
    settings = Settings()
    configure(settings.log_level)
    use_event_loop(settings)
    ensure_topics(settings)
    asyncio.run(serve(settings))


if __name__ == "__main__":
    main()
