"""`python -m services.regulator`: serve the regulator API."""

from __future__ import annotations

import asyncio

from aiohttp import web

from services.registry import Registry
from services.regulator.app import create_app
from services.regulator.boards import Boards
from services.regulator.console import Console
from services.regulator.desk import KafkaPublisher
from services.regulator.divisions import Divisions
from streams.logs import configure
from streams.settings import Settings, use_event_loop
from streams.warehouse import open_reader


def main() -> None:
    settings = Settings()
    configure(settings.log_level)
    use_event_loop(settings)
    registry, reader = Registry(settings.ingest_db_path), open_reader(settings)
    console = Console(registry, reader, Boards.load(), Divisions.load(), settings.regulator_session_hours)
    publisher = KafkaPublisher(settings)
    app = create_app(registry, reader, console=console, publisher=publisher)

    async def close(_: web.Application) -> None:
        await asyncio.to_thread(publisher.close)

    app.on_cleanup.append(close)
    web.run_app(app, host=settings.regulator_host, port=settings.regulator_port, print=None, access_log=None)


if __name__ == "__main__":
    main()
