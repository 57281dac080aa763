"""`python -m streams`: start one stream worker (topics, migrations, then faust)."""

from __future__ import annotations

import faust

from deploy.settings import Settings, use_event_loop
from streams.app import create_app
from streams.compliance.catalogue import DEFAULT_CATALOGUE
from streams.compliance.catalogue import load as load_catalogue
from streams.logs import configure
from streams.topics import ensure_topics
from streams.warehouse import WarehouseError, migrate, open_warehouse


def main() -> None:
    settings = Settings()
    configure(settings.log_level)
    use_event_loop(settings)
    ensure_topics(settings)
    warehouse = open_warehouse(settings)
    try:
        migrate(warehouse, apply=settings.migrate_on_start)
    except WarehouseError as exc:
        raise SystemExit(str(exc)) from None
    app = create_app(settings, warehouse, load_catalogue(settings.rule_catalogue or DEFAULT_CATALOGUE))
    worker = faust.Worker(app, loglevel=settings.log_level.lower().replace("warning", "warn"), redirect_stdouts=False)
    worker.execute_from_commandline()


if __name__ == "__main__":
    main()
