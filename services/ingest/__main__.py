"""`python -m services.ingest`: serve the ingest API."""

from __future__ import annotations

from aiohttp import web

from services.ingest.app import create_app
from services.ingest.producer import EventProducer
from services.registry import Registry
from streams.logs import configure
from streams.settings import Settings, use_event_loop
from streams.topics import ensure_topics
from streams.warehouse import open_reader


def main() -> None:
    settings = Settings()
    configure(settings.log_level)
    use_event_loop(settings)
    ensure_topics(settings)
    registry = Registry(settings.ingest_db_path)
    producer = EventProducer(settings)
    app = create_app(settings, registry, producer, open_reader(settings))

    async def close(_: web.Application) -> None:
        producer.close()
        registry.close()

    app.on_cleanup.append(close)
    web.run_app(app, host=settings.ingest_host, port=settings.ingest_port, print=None, access_log=None)


if __name__ == "__main__":
    main()
