"""`python -m streams`: start one stream worker (topics, migrations, then faust)."""

from __future__ import annotations

import gc
import logging
import os
import sys
from typing import NoReturn

import faust

from deploy.disk import journal_advice
from streams.app import create_app, log
from streams.compliance.catalogue import DEFAULT_CATALOGUE
from streams.compliance.catalogue import load as load_catalogue
from streams.logs import configure
from streams.settings import Settings, use_event_loop
from streams.topics import ensure_topics
from streams.warehouse import WarehouseError, migrate, open_reads, open_warehouse

# Young collections every 20 000 tracked allocations rather than 700, and the older generations
# after 50 of the one below rather than 10. The worker keeps its rule state in memory, a great many
# small dicts and lists; with Python's defaults about 18 full collections of it ran while storing
# 300 000 events, 0.2 s each with the GIL held, and collecting took about a tenth of the worker's
# CPU. Almost all its garbage is freed by reference counting when it is dropped; the collector is
# only for cycles.
GC_THRESHOLDS = (20_000, 50, 50)


def main() -> None:
    gc.set_threshold(*GC_THRESHOLDS)
    settings = Settings()
    configure(settings.log_level)
    use_event_loop(settings)
    ensure_topics(settings)
    if settings.warehouse == "chdb" and (advice := journal_advice(settings.chdb_dir)):
        log.warning("warehouse_disk_without_journal", advice=advice)
    warehouse = open_warehouse(settings)
    try:
        migrate(warehouse, apply=settings.migrate_on_start)
    except WarehouseError as exc:
        raise SystemExit(str(exc)) from None
    catalogue = load_catalogue(settings.rule_catalogue or DEFAULT_CATALOGUE)
    app = create_app(settings, warehouse, catalogue, open_reads(settings))
    worker = faust.Worker(app, loglevel=settings.log_level.lower().replace("warning", "warn"), redirect_stdouts=False)
    try:
        worker.execute_from_commandline()  # always ends in SystemExit, once faust has stopped
    except SystemExit as exc:
        leave(exc.code)


def leave(code: int | str | None) -> NoReturn:
    """Exit with faust's code, without the interpreter's teardown and chDB's native destructors.

    faust has stopped by then: batches stored, offsets committed, rule state saved, and every part
    chDB wrote is in its files. Left to the interpreter's exit, about one stop in eight hung in
    chDB's destructors (gdb: the main thread waiting on a mutex inside chDB, one of its background
    schedule threads inside a signal handler) until the stack killed the worker 30 s later.
    """
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code if isinstance(code, int) else 0 if code is None else 1)


if __name__ == "__main__":
    main()
