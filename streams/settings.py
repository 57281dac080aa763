"""The one configuration object, read from TONGFANG_* environment variables (or a .env file).

Every default is the embedded, single-machine setup `make run` starts: Kafka on 127.0.0.1:9092,
chDB under ./data/chdb, the ingest API on 127.0.0.1:8080.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TONGFANG_", env_file=".env", extra="ignore", frozen=True)

    data_dir: Path = Field(Path("data"), description="Where the local stack keeps its state.")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        "INFO", description="Logs are JSON lines on stderr."
    )
    event_loop: Literal["uvloop", "asyncio"] = Field(
        "uvloop", description="The services' event loop: uvloop (faster), or Python's own asyncio loop."
    )

    kafka_bootstrap: str = Field("127.0.0.1:9092", description="Kafka bootstrap servers, comma-separated.")
    topic_events: str = Field("tongfang.events", description="Events, each on its site's partition.")
    topic_deadletter: str = Field("tongfang.deadletter", description="Records parked with their reason.")
    topic_alerts: str = Field("tongfang.alerts", description="Alerts raised and resolved.")
    topic_vehicles: str = Field("tongfang.vehicle-events", description="Vehicle events re-keyed by vehicle.")
    topic_deliveries: str = Field("tongfang.alert-deliveries", description="Webhook delivery records.")
    topic_partitions: int = Field(4, ge=1, description="Partitions of the events topic (the unit of scale-out).")
    topic_replication: int = Field(1, ge=1, description="Replication factor of the topics created.")

    warehouse: Literal["chdb", "clickhouse"] = Field("chdb", description="chdb (embedded) or clickhouse (server).")
    chdb_path: Path | None = Field(None, description="chDB data directory; default <data_dir>/chdb.")
    clickhouse_host: str = Field("127.0.0.1", description="ClickHouse server (warehouse=clickhouse).")
    clickhouse_port: int = Field(9000, description="Its native protocol port.")
    clickhouse_user: str = Field("default", description="The user that inserts and migrates.")
    clickhouse_password: SecretStr = Field(SecretStr(""), description="Its password.")
    clickhouse_database: str = Field("tongfang", description="The database of every table.")
    clickhouse_secure: bool = Field(False, description="TLS to the server.")
    clickhouse_reader_user: str = Field(
        "",
        description="A readonly=1 user of the server for every read (the worker's /query, the regulator API; "
        "deploy/clickhouse/users.d/tongfang.xml makes `reader`); empty: reads use clickhouse_user.",
    )
    clickhouse_reader_password: SecretStr = Field(SecretStr(""), description="Password of clickhouse_reader_user.")
    migrate_on_start: bool = Field(
        True,
        description="The worker applies pending migrations as it starts; with several workers set false "
        "and run `tongfang migrate` with them stopped (a worker then refuses to start while any is pending).",
    )

    ingest_host: str = Field("127.0.0.1", description="Address the ingest API listens on.")
    ingest_port: int = Field(8080, description="Its port.")
    ingest_max_body_bytes: int = Field(4 * 1024 * 1024, description="Larger bodies get 413.")
    ingest_max_events: int = Field(5000, description="More events in one body get 413.")
    ingest_db: Path | None = Field(
        None, description="Credentials, sites and seen event ids; default <data_dir>/ingest.sqlite."
    )
    ingest_import_max_bytes: int = Field(
        256 * 1024 * 1024, gt=0, description="Largest ledger file (.xlsx, .csv) POST /v1/imports takes."
    )
    operator_session_hours: float = Field(
        12.0, gt=0, description="How long a workbench (/app) sign-in lasts (a revoked operator is out at once)."
    )
    ingest_rate_per_second: float = Field(50.0, description="Requests per second per token (0: no limit).")
    ingest_rate_burst: int = Field(100, description="Requests a token may send at once before 429.")
    max_event_age_days: int = Field(400, ge=1, description="Older events are refused (a future one always is).")
    dedupe_window_days: int = Field(30, description="How long ingest remembers event ids to answer duplicate.")
    record_max_events: int = Field(500, description="Most events ingest puts in one Kafka record.")
    ingest_compression: Literal["lz4", "zstd", "gzip", "none"] = Field(
        "lz4", description="How ingest compresses the record batches it produces (the consumers decompress)."
    )

    worker_group: str = Field(
        "tongfang-worker", description="faust app id: the workers' consumer group and changelog topic prefix."
    )
    regulator_host: str = Field("127.0.0.1", description="Address the regulators' console and API listen on.")
    regulator_port: int = Field(8090, description="The regulator API and the regulators' console.")
    regulator_session_hours: float = Field(
        8.0, gt=0, description="How long a console sign-in lasts (a revoked regulator is out at once)."
    )
    worker_session_timeout: float = Field(
        10.0, description="Seconds before a silent worker's partitions move to the others (failover time)."
    )
    worker_stall_seconds: float = Field(
        600.0,
        ge=0,
        description="A worker whose partitions lag with no commit for this long ends itself, to be restarted "
        "(streams/watchdog.py); 0 turns the watchdog off. Keep it above the longest batch: a full one "
        "(sink_batch_records records of record_max_events events; bench/HISTORY.md: Larger fetches).",
    )
    worker_web_host: str = Field("127.0.0.1", description="Address of the worker's health, stats and read endpoints.")
    worker_web_port: int = Field(6066, description="Their port.")
    worker_fetch_wait_ms: int = Field(
        500,
        ge=1,
        description="Longest wait of the worker's Kafka fetch for records to come: it bounds how long new records "
        "on a busy partition can wait for a fetch of the quiet ones (faust's own is 1 500; bench/HISTORY.md).",
    )
    worker_fetch_bytes: int = Field(
        8 * 1024 * 1024,
        ge=1024 * 1024,
        description="Most bytes the worker's Kafka fetch takes from one partition (faust's own is 1 MiB): a "
        "backlog is worked off in batches as large as one fetch of each partition (bench/HISTORY.md).",
    )
    worker_read_connections: int = Field(
        2,
        ge=0,
        description="The worker answers GET /query on this many read-only connections of their own, side by side "
        "and beside its inserts (bench/HISTORY.md: Reads beside the inserts). 0: in its warehouse thread, "
        "after the inserts begun, seeing their batches whole.",
    )
    sink_batch_records: int = Field(
        2000, description="Most Kafka records in one batch: folded into the rules, and inserted with any held before."
    )
    sink_flush_seconds: float = Field(
        0.25, description="Longest wait before a partial batch is folded into the rules and inserted, or held."
    )
    sink_insert_min_events: int = Field(
        500,
        ge=1,
        description="A batch of fewer events is held for the next ones before its insert, which costs about the same "
        "CPU whatever its size (bench/HISTORY.md: What an insert costs); its rules run at once.",
    )
    sink_insert_max_wait_seconds: float = Field(
        0.5, ge=0, description="Longest a batch is held for more events before its insert."
    )
    alert_flush_seconds: float = Field(0.05, description="Longest wait before alerts and deliveries are stored.")
    rule_save_seconds: float = Field(
        5.0,
        ge=0,
        description="Longest wait before folded rule state is saved; offsets are committed only past it, so a "
        "crash reads up to this much of the log again (docs/architecture.md, State).",
    )

    rule_catalogue: Path | None = Field(None, description="Rule catalogue YAML; default the one in streams/.")
    clock_tick_seconds: float = Field(1.0, ge=0, description="Clock ticks per partition; 0 turns them off.")
    notify_group: str = Field("tongfang-notify", description="The notifiers' consumer group.")
    notify_host: str = Field("127.0.0.1", description="Address of the notifier's health endpoint.")
    notify_port: int = Field(6067, description="The notifier's health and stats endpoint.")
    notify_routes: Path | None = Field(None, description="Webhook routes YAML for the notifier.")
    notify_db: Path | None = Field(None, description="Delivery ledger; default <data_dir>/notify.sqlite.")
    notify_max_attempts: int = Field(8, ge=1, description="Webhook attempts before a delivery is recorded failed.")

    query_max_seconds: float = Field(
        30, gt=0, description="Longest a read on the worker (/query, /clickhouse) or the server may run."
    )
    query_max_memory_bytes: int = Field(
        2 * 1024**3, ge=64 * 1024**2, description="Most memory one read may take (ClickHouse's max_memory_usage)."
    )
    reader_password: SecretStr = Field(
        SecretStr(""),
        description="Password of user `reader` on the worker's read endpoints (/query, /clickhouse); empty: one "
        "generated into <data_dir>/reader.key (mode 0600) the first time a process needs it.",
    )
    pseudonym_key: SecretStr = Field(SecretStr(""), description="HMAC key for staff pseudonyms (>= 16 bytes).")

    @property
    def ingest_url(self) -> str:
        """Where a client on this machine reaches ingest (loopback when it listens on every address)."""
        wildcard = self.ingest_host in ("0.0.0.0", "::", "")  # noqa: S104 (a listening address, not one we bind)
        return f"http://{'127.0.0.1' if wildcard else self.ingest_host}:{self.ingest_port}"

    @property
    def ingest_compression_type(self) -> str | None:
        """`ingest_compression` as Kafka clients take it (None: not compressed)."""
        return None if self.ingest_compression == "none" else self.ingest_compression

    @cached_property
    def chdb_dir(self) -> Path:
        return self.chdb_path or self.data_dir / "chdb"

    @cached_property
    def max_event_age(self) -> timedelta:
        return timedelta(days=self.max_event_age_days)

    @cached_property
    def notify_db_path(self) -> Path:
        return self.notify_db or self.data_dir / "notify.sqlite"

    @cached_property
    def ingest_db_path(self) -> Path:
        return self.ingest_db or self.data_dir / "ingest.sqlite"


def use_event_loop(settings: Settings) -> None:
    """Make the event loops this process creates from now on uvloops, if so configured (call it first)."""
    if settings.event_loop == "uvloop":
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())


def _default(field: Any) -> str:
    value = field.get_default(call_default_factory=True)
    if isinstance(value, SecretStr):
        return "empty" if not value.get_secret_value() else "set"
    if value is None:
        return "—"
    if value == "":
        return "empty"
    if isinstance(value, bool):
        return str(value).lower()
    return f"`{value}`"


def configuration_table() -> str:
    """docs/configuration.md, generated from the model (`python -m streams.settings > docs/configuration.md`)."""
    lines = [
        "# Configuration",
        "",
        "<!-- generated by `python -m streams.settings` from streams/settings.py: do not edit -->",
        "",
        "One frozen settings object (`streams/settings.py`), read from `TONGFANG_*` environment variables or",
        "a `.env` file. Every default is the embedded, single-machine setup `make run` starts.",
        "",
        "| variable | default | meaning |",
        "|---|---|---|",
    ]
    for name, field in Settings.model_fields.items():
        meaning = (field.description or "").replace("|", "\\|")
        lines.append(f"| `TONGFANG_{name.upper()}` | {_default(field)} | {meaning} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(configuration_table(), end="")
