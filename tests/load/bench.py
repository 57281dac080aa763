"""`make bench`: Tongfang's figures beside the ceiling of the same work, on this machine.

Every stage runs on a real Kafka broker and real chDB started here, in a temporary directory under
--workdir (by default the stack's data directory, so on the disk the stack writes to, not a /tmp
that may be memory):
  1. end to end: simulated city -> HTTP ingest (batches) -> Kafka -> faust worker -> chDB,
     events/s of a burst posted as fast as it goes (by default long enough to hold the rate for the
     60 s its target asks; the table says when a burst was shorter) and the CPU each process
     spent on it per event (the stack's services, Kafka, and the bench posting), then the same
     city paced at each rate of --paced in turn (by default a half, a quarter and an eighth of
     the burst's end-to-end rate) for --paced-seconds. Latency: for the burst, received -> stored
     (stored_at minus received_at, per event: the backlog's wait until its insert began); for a
     paced run, what a sender sees, received -> queryable (the first of reads every 0.1 s that saw
     the event's insert, see `Visibility`), also per 10 s of the run (flat when the stack keeps up
     with the rate, growing when it does not), beside received -> stored, the rate it stored at,
     the cores the worker used meanwhile (its CPU time over the run's wall time, all its threads),
     the batches it stored, and how long a dashboard panel's query took meanwhile (`PanelReads`);
  2. the ceiling: a plain aiokafka consumer reading the same topic into the same sink code and
     table in large batches, events/s, and the ratio end to end / ceiling;
  3. ingest alone (HTTP -> Kafka acked) and worker alone (a pre-filled topic -> chDB), events/s;
  4. dashboard panels: every panel query's p50/p95 over N generated events (10 M by default);
  5. peak memory (VmHWM) of each process.
Prints a table and writes JSON to bench/results/, with the machine: cores, memory, the working
directory's file system and what creating a file there costs (ClickHouse writes about a dozen files
for every part, and every insert writes a part into each table its views fill).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import itertools
import json
import os
import shutil
import statistics
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import yaml
from aiokafka import AIOKafkaConsumer

from dashboards.build import SPECS
from dashboards.macros import ALL, expand
from dashboards.spec import DashboardSpec, PanelSpec
from deploy.disk import filesystem, journal
from deploy.kafka_broker import KafkaBroker, free_port
from deploy.simulate import to_http, to_kafka
from deploy.simulator import SHANGHAI, City
from deploy.stack import LocalStack
from streams.compliance.catalogue import DEFAULT_CATALOGUE
from streams.records import Record
from streams.settings import Settings
from streams.sink import Sink
from streams.warehouse import MIGRATIONS_DIR, ChdbWarehouse, Reader, Warehouse, WorkerReader, migrate, statements
from streams.watchdog import group_positions
from tests.load.profile import Sampler, top_functions
from tests.support.measure import (
    Polling,
    Visibility,
    by_window,
    nearest_rank,
    sink_batches,
    weighted_rank,
)

RESULTS = Path(__file__).resolve().parents[2] / "bench" / "results"
SUSTAINED_S = 60  # the end-to-end rate's target is for a rate held at least this long
BURST_EVENTS = 450_000  # at the 4 700 to 6 300 events/s measured here, a burst of 71 to 96 s
PAST_DAYS = 60
# The simulated city starts PAST_DAYS before today, so that every event it posts is in the past: the
# 450 000-event burst takes 22 of its days, and the paced runs after it about 15 for each 3 000
# events/s of the fastest (its three minutes at 1, 1/2 and 1/4 of that). A fixed date ran out of past
# when the burst (and so the paced rates) got faster: ingest refused the events as in the future.
START = datetime.now(SHANGHAI).replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=PAST_DAYS)


def city_events(sites: int, events: int) -> tuple[City, list[dict[str, Any]], Iterator[dict[str, Any]]]:
    """The first `events` of a simulated city, and an iterator over the ones after them."""
    city = City(seed=42, sites=sites)
    stream = itertools.chain(city.registrations(START - timedelta(days=1)), city_days(city))
    return city, list(itertools.islice(stream, events)), stream


def city_days(city: City) -> Iterator[dict[str, Any]]:
    day = START
    while True:
        yield from city.events(day, 24)
        day += timedelta(days=1)


def machine(directory: Path) -> dict[str, Any]:
    """Where the figures were measured: cores, memory, and the working directory's file system."""
    return {
        "cpus": os.cpu_count(),
        "memory_gib": round(proc_kib(Path("/proc/meminfo"), "MemTotal") / 1024**2, 1),
        "workdir": str(directory.parent.resolve()),
        "filesystem": filesystem(directory),
        "journal": journal(directory),
        "file_create_ms": file_create_ms(directory),
    }


def file_create_ms(directory: Path, files: int = 200) -> float:
    """Median time to create, write and close one small file in a fresh directory under `directory`."""
    probe = Path(tempfile.mkdtemp(prefix="file-create-", dir=directory))
    times = []
    try:
        for n in range(files):
            began = time.perf_counter()
            (probe / f"f{n}").write_bytes(b"x" * 100)
            times.append(time.perf_counter() - began)
    finally:
        shutil.rmtree(probe)
    return round(statistics.median(times) * 1000, 3)


def peak_memory_mb(pid: int) -> float:
    return round(proc_kib(Path(f"/proc/{pid}/status"), "VmHWM") / 1024, 1)


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) a process and all its threads have used so far."""
    # /proc/<pid>/stat: fields after the command's closing parenthesis; utime and stime are the 12th and 13th.
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_times(pids: dict[str, int]) -> dict[str, float]:
    """`cpu_seconds` of each named process, and the bench's own process time as "bench"."""
    return {name: cpu_seconds(pid) for name, pid in pids.items()} | {"bench": time.process_time()}


def proc_kib(path: Path, key: str) -> int:
    """A "Key:   123 kB" line of a /proc file, in kB (0 when absent)."""
    for line in path.read_text().splitlines():
        if line.startswith(f"{key}:"):
            return int(line.split()[1])
    return 0


def wait_for_count(reader: WorkerReader, table: str, target: int, timeout: float = 900) -> float:
    started = time.perf_counter()
    while time.perf_counter() - started < timeout:
        if reader.query(f"SELECT count() AS n FROM {table}")[0]["n"] >= target:
            return time.perf_counter()
        time.sleep(0.05)
    raise TimeoutError(f"{table} did not reach {target} rows")


@functools.cache  # one file per bench directory, for every stack of the run
def live_catalogue(directory: Path) -> Path:
    """The rule catalogue with LEDGER-LATE's allowed delay beyond the simulated city's span.

    The bench posts days of a city within minutes, so judged against the wall clock every posted
    record would be a late entry: an alert per event (0.93 per event measured) where the city's
    own violations raise one per 25 or so. Events sent straight to Kafka carry no receipt time
    and are not judged at all, so the worker-alone run would do other work than the end-to-end
    run. With the delay out of reach, both do the work of a live city."""
    catalogue = yaml.safe_load(DEFAULT_CATALOGUE.read_text(encoding="utf-8"))
    for profile in ("normal", "response"):
        catalogue["rules"]["LEDGER-LATE"][profile]["max_delay"] = "3650d"
    path = directory / "catalogue-live.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(catalogue, allow_unicode=True), encoding="utf-8")
    return path


def settings_for(directory: Path, broker: KafkaBroker, name: str) -> Settings:
    return Settings(
        rule_catalogue=live_catalogue(directory),
        data_dir=directory / name,
        kafka_bootstrap=broker.bootstrap,
        topic_events=f"{name}.events",
        topic_deadletter=f"{name}.deadletter",
        topic_alerts=f"{name}.alerts",
        topic_vehicles=f"{name}.vehicles",
        topic_deliveries=f"{name}.deliveries",
        worker_group=f"{name}-worker",
        notify_group=f"{name}-notify",
        ingest_port=free_port(),
        worker_web_port=free_port(),
        notify_port=free_port(),
        regulator_port=free_port(),
        clock_tick_seconds=0,
        ingest_rate_per_second=0,
        sink_batch_records=2000,
        log_level="WARNING",
    )


def end_to_end(
    directory: Path,
    broker: KafkaBroker,
    city: City,
    events: list[dict[str, Any]],
    more: Iterator[dict[str, Any]],
    rates: list[str],
    seconds: float,
    profile: bool = False,
) -> dict[str, Any]:
    """A burst of `events` as fast as they can be posted (with each process's CPU time and the
    worker's batches until the last is stored), then one paced run per entry of `rates`,
    each of the next events from `more` for `seconds` (see `paced_rate`), once the one before is
    stored, the alerts it raised are stored and its merges are done. With `profile`, py-spy
    samples the worker and ingest during the burst."""
    settings = settings_for(directory, broker, "e2e")
    stack = LocalStack.from_settings(settings, own_kafka=False).start()
    try:
        reader = WorkerReader(settings, after_inserts=True)  # the figures count whole batches
        folded = {name: directory / f"{name}.folded" for name in ("worker", "ingest")} if profile else {}
        with contextlib.ExitStack() as sampling:
            for name, path in folded.items():
                if process := stack.services[name].process:
                    sampling.enter_context(Sampler(process.pid, path))
            pids = {name: service.process.pid for name, service in stack.services.items() if service.process}
            if broker.process:
                pids["kafka"] = broker.process.pid
            cpu_before = cpu_times(pids)
            batches_before = sink_batches(settings)
            began = time.perf_counter()
            asyncio.run(to_http(settings, city, events, rate=0, size=500))
            ingest_done = time.perf_counter()
            stored = wait_for_count(reader, "raw_events", len(events))
            cpu_after = cpu_times(pids)
            burst_batches = sink_batches(settings) - batches_before
        profiles = {name: top_functions(path.read_text()) for name, path in folded.items() if path.exists()}
        burst = received_to_stored(reader, "1")
        burst_rate = len(events) / (stored - began)
        paced, total = [], len(events)
        for entry in rates:
            # What the run before left (alerts to store, merges) is not this run's load.
            waited = {"waited_for_alerts_s": caught_up(settings), "waited_for_merges_s": settle(reader, limit_s=120)}
            rate = paced_rate(entry, burst_rate)
            steady = in_the_past(list(itertools.islice(more, int(rate * seconds))), datetime.now(UTC))
            total += len(steady)
            worker = stack.services["worker"].process
            if worker is None:
                raise RuntimeError("the worker is not running")
            paced.append(paced_run(settings, reader, city, steady, rate, total, worker.pid) | waited)
        memory = {
            name: peak_memory_mb(service.process.pid) for name, service in stack.services.items() if service.process
        }
        return {
            "events": len(events),
            "ingest_during_end_to_end_events_per_s": round(len(events) / (ingest_done - began)),
            "end_to_end_events_per_s": round(burst_rate),
            "end_to_end_seconds": round(stored - began, 1),
            "received_to_stored_ms_p50": burst["p50"],
            "received_to_stored_ms_p99": burst["p99"],
            "burst_stored_batches": burst_batches,
            "burst_cpu_us_per_event": {
                name: round((cpu_after[name] - cpu_before[name]) / len(events) * 1e6, 1) for name in cpu_before
            },
            "paced": paced,
            "peak_memory_mb": {**memory, "kafka": peak_memory_mb(broker.process.pid) if broker.process else 0.0},
        } | ({"profile_of_the_burst": profiles} if profiles else {})
    finally:
        stack.stop()


def caught_up(settings: Settings, limit_s: float = 300) -> float:
    """Wait until the worker has stored every alert and delivery record on its topics (their
    agents commit once stored); return the seconds waited."""
    from kafka import KafkaConsumer

    # Reads the worker group's commits; never joins the group nor commits.
    consumer = KafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap, group_id=settings.worker_group, enable_auto_commit=False
    )
    began = time.perf_counter()
    try:
        partitions = [
            (topic, partition)
            for topic in (settings.topic_alerts, settings.topic_deliveries)
            for partition in consumer.partitions_for_topic(topic) or ()
        ]
        if not partitions:
            raise RuntimeError(f"no partitions known for {settings.topic_alerts} and {settings.topic_deliveries}")
        while time.perf_counter() - began < limit_s:
            if all(committed >= end for committed, end in group_positions(consumer, partitions).values()):
                break
            time.sleep(0.5)
    finally:
        consumer.close(autocommit=False)
    return round(time.perf_counter() - began, 1)


def paced_rate(entry: str, burst_rate: float) -> float:
    """events/s of a paced run: "300" is 300 events/s, "0.25x" a quarter of the burst's end-to-end rate."""
    return round(float(entry[:-1]) * burst_rate) if entry.endswith("x") else float(entry)


def in_the_past(events: list[dict[str, Any]], now: datetime) -> list[dict[str, Any]]:
    """`events`, if the last of them happened before `now`; ingest refuses an event from the future."""
    if events and datetime.fromisoformat(events[-1]["occurred_at"]) > now:
        raise SystemExit(
            f"the simulated city runs out of past at {events[-1]['occurred_at']}: its events start "
            f"{PAST_DAYS} days ago (PAST_DAYS in tests/load/bench.py); pace slower or post fewer events"
        )
    return events


def paced_run(
    settings: Settings,
    reader: WorkerReader,
    city: City,
    steady: list[dict[str, Any]],
    rate: float,
    total: int,
    worker_pid: int,
) -> dict[str, Any]:
    """Post `steady` at `rate` events/s and wait until `total` events are stored: received ->
    queryable p50/p99 over the run and per 10 s of it (`Visibility`), received -> stored_at (the
    moment the insert began), the rate the stack stored at meanwhile, and the cores the worker used."""
    paced_from, began, cpu_before = time.time(), time.perf_counter(), cpu_seconds(worker_pid)
    batches_before = sink_batches(settings)
    since = f"received_at >= fromUnixTimestamp64Milli({int(paced_from * 1000)})"
    with Visibility(reader, since) as visible, PanelReads(WorkerReader(settings)) as panels:
        asyncio.run(to_http(settings, city, steady, rate=rate, size=min(500, max(1, int(rate / 10)))))
        posted = time.perf_counter() - began
        stored = wait_for_count(reader, "raw_events", total) - began
        worker_cpu = cpu_seconds(worker_pid) - cpu_before  # (the polls are the worker's too: ~10 reads a second)
        batches = sink_batches(settings) - batches_before
    queryable, panel_times = visible.latencies(), sorted(panels.times_ms)
    latency = received_to_stored(reader, since)
    return {
        "events": len(steady),
        "events_per_s": round(len(steady) / posted),
        "seconds": round(posted, 1),
        "received_to_queryable_ms_p50": weighted_rank(queryable, 0.5),
        "received_to_queryable_ms_p99": weighted_rank(queryable, 0.99),
        "received_to_stored_ms_p50": latency["p50"],
        "received_to_stored_ms_p99": latency["p99"],
        "stored_events_per_s": round(len(steady) / stored),
        "worker_cpu_cores": round(worker_cpu / stored, 2),
        "stored_batches": batches,
        "queryable_windows_10s_ms_p50_p99": by_window(queryable, int(paced_from * 1000), seconds=10),
        "panel_reads": len(panel_times),
        "panel_read_ms_p50": round(nearest_rank(panel_times, 0.5)),
        "panel_read_ms_p99": round(nearest_rank(panel_times, 0.99)),
    }


class PanelReads(Polling):
    """A regulator watching the dashboards while events come in: the panels' queries in turn
    (every dashboard's but the one site's, the last 24 hours of the city), each `every` seconds
    after the one before ended (about a dashboard of ten panels refreshed every ten seconds),
    through the worker's `/query` as the regulator API reads, and how long each took."""

    failure = "a panel's query failed"

    def __init__(self, reader: Reader, every: float = 1.0) -> None:
        super().__init__(every, "panel-reads")
        until = datetime.now(SHANGHAI)
        self._queries = itertools.cycle(
            [
                panel_sql(spec, panel, until - timedelta(days=1), until, interval_s=300)
                for spec in SPECS
                if not spec.single_site
                for panel in spec.panels
            ]
        )
        self._reader = reader
        self.times_ms: list[float] = []

    def once(self) -> None:
        began = time.perf_counter()
        self._reader.query(next(self._queries))
        self.times_ms.append((time.perf_counter() - began) * 1000)


DELAY_MS = "toUnixTimestamp64Milli(stored_at) - toUnixTimestamp64Milli(received_at)"  # received -> stored
P50_P99 = f"quantileExact(0.5)({DELAY_MS}) AS p50, quantileExact(0.99)({DELAY_MS}) AS p99"


def received_to_stored(reader: WorkerReader, condition: str) -> dict[str, int]:
    """p50 and p99 of stored_at minus received_at over the stored events that meet `condition`."""
    row = reader.query(f"SELECT {P50_P99} FROM raw_events WHERE {condition}")[0]
    return {"p50": round(row["p50"]), "p99": round(row["p99"])}


def alert_latency(directory: Path, broker: KafkaBroker, batches: int = 20) -> dict[str, Any]:
    """Imported batches whose deadline passes the watermark over the next ~20 s, never disinfected:
    latency = alert row visible - the moment a tick could first move the watermark past the deadline."""
    from services.registry import Registry
    from streams.compliance.catalogue import load
    from streams.compliance.rules.disinfection import Deadline

    defaults = Settings()  # measured with the default tick and flush windows
    settings = settings_for(directory, broker, "alerts").model_copy(
        update={"clock_tick_seconds": defaults.clock_tick_seconds, "sink_flush_seconds": defaults.sink_flush_seconds}
    )
    stack = LocalStack.from_settings(settings, own_kafka=False).start()
    try:
        registry = Registry(settings.ingest_db_path)
        token = registry.create_enterprise("bench", "基准")
        registry.close()
        catalogue = load()
        wait = catalogue.rule("DIS-IMPORT").limits("normal", Deadline).deadline + catalogue.allowed_lateness
        now = datetime.now(SHANGHAI)
        site = city_events(1, 1)[1][0] | {"enterprise_id": "bench"}
        site["payload"]["division_code"] = "330106"
        receipts = []
        due: dict[str, float] = {}
        for n in range(batches):
            passes = now + timedelta(seconds=5 + n)  # when the watermark may first pass the deadline
            body = {
                "event_id": str(uuid.uuid4()),
                "event_type": "parcels.received",
                "occurred_at": (passes - wait).isoformat(),
                "enterprise_id": "bench",
                "site_id": site["site_id"],
                "payload": {"batch_id": f"L{n}", "item_count": 10, "origin": "imported", "origin_country": "KR"},
            }
            receipts.append(body)
            due[f"L{n}"] = passes.timestamp()
        post = urllib.request.Request(
            f"http://127.0.0.1:{settings.ingest_port}/v1/events",
            data=orjson.dumps([site, *receipts]),
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        )
        urllib.request.urlopen(post, timeout=30).read()
        reader, seen = WorkerReader(settings, after_inserts=True), dict[str, float]()
        deadline = time.time() + 60 + batches
        while len(seen) < batches and time.time() < deadline:
            for row in reader.query("SELECT subject_id FROM alerts WHERE rule_id = 'DIS-IMPORT'"):
                seen.setdefault(row["subject_id"], time.time())
            time.sleep(0.02)
        latencies = sorted((seen[batch] - due[batch]) * 1000 for batch in seen)
        return {
            "alert_latency_ms_p50": round(statistics.median(latencies)),
            "alert_latency_ms_p99": round(nearest_rank(latencies, 0.99)),
            "alerts_seen": f"{len(seen)}/{batches}",
        }
    finally:
        stack.stop()


def only(settings: Settings, service: str) -> LocalStack:
    """A stack on the bench's broker running one of our services."""
    stack = LocalStack.from_settings(settings, own_kafka=False)
    stack.services = {service: stack.services[service]}
    return stack


def ingest_alone(directory: Path, broker: KafkaBroker, city: City, events: list[dict[str, Any]]) -> dict[str, Any]:
    """The ingest API with nothing else of the stack running: HTTP batches in, Kafka acks out."""
    settings = settings_for(directory, broker, "ingest")
    stack = only(settings, "ingest").start()
    try:
        began = time.perf_counter()
        asyncio.run(to_http(settings, city, events, rate=0, size=500))
        return {"ingest_events_per_s": round(len(events) / (time.perf_counter() - began))}
    finally:
        stack.stop()


def worker_alone(directory: Path, broker: KafkaBroker, events: list[dict[str, Any]]) -> dict[str, Any]:
    settings = settings_for(directory, broker, "worker")
    from streams.topics import ensure_topics

    ensure_topics(settings)
    asyncio.run(to_kafka(settings, events, rate=0, size=500))
    stack = only(settings, "worker")
    began = time.perf_counter()
    stack.start()
    try:
        stored = wait_for_count(WorkerReader(settings, after_inserts=True), "raw_events", len(events))
        return {"worker_events_per_s": round(len(events) / (stored - began)), "topic": settings.topic_events}
    finally:
        stack.stop()


def ceiling(directory: Path, broker: KafkaBroker, topic: str, expected: int) -> dict[str, Any]:
    """A plain aiokafka consumer into the same sink and table, in batches of up to 10k records."""
    warehouse = ChdbWarehouse(directory / "ceiling-chdb")
    migrate(warehouse)
    sink = Sink(warehouse)

    async def consume() -> float:
        consumer = AIOKafkaConsumer(
            topic, bootstrap_servers=broker.bootstrap, auto_offset_reset="earliest", group_id=None
        )
        await consumer.start()
        began, stored = time.perf_counter(), 0
        try:
            while stored < expected:
                batches = await consumer.getmany(timeout_ms=1000, max_records=10_000)
                records = [
                    Record(r.topic, r.partition, r.offset, r.key, r.value or b"", r.timestamp)
                    for rows in batches.values()
                    for r in rows
                ]
                if records:
                    result = sink.write(records)
                    stored += result.stored + result.duplicates
        finally:
            await consumer.stop()
        return time.perf_counter() - began

    seconds = asyncio.run(consume())
    warehouse.close()
    return {"ceiling_events_per_s": round(expected / seconds)}


def panel_sql(spec: DashboardSpec, panel: PanelSpec, since: datetime, until: datetime, interval_s: int) -> str:
    """A panel's query as Grafana sends it for the bench's city: jurisdiction 3301, all brands, and
    all sites or, on the one-site dashboard, one of them."""
    variables = {"jurisdiction": "3301", "brand": ALL, "site": "sf-33014" if spec.single_site else ALL}
    return expand(panel.sql, since, until, variables, interval_s=interval_s)


def panel_queries(directory: Path, rows: int, repeats: int) -> dict[str, Any]:
    """Every panel's query over `rows` generated events (30 days) and alerts,
    for the dashboards' default range (the last 24 hours) and for the whole 30 days."""
    warehouse = ChdbWarehouse(directory)
    migrate(warehouse)
    generate(warehouse, rows)
    settled = settle(warehouse)
    end = START + timedelta(days=30)
    ranges = {"24h": (end - timedelta(days=1), end), "30d": (START, end)}
    out: dict[str, Any] = {"rows": rows, "merges_settled_after_s": settled}
    for name, (since, until) in ranges.items():
        timings: dict[str, dict[str, float]] = {}
        for spec in SPECS:
            for panel in spec.panels:
                sql = panel_sql(spec, panel, since, until, interval_s=300 if name == "24h" else 3600)
                samples = []
                for _ in range(repeats):
                    began = time.perf_counter()
                    warehouse.query(sql)
                    samples.append((time.perf_counter() - began) * 1000)
                samples.sort()
                timings[f"{spec.uid}/{panel.title}"] = {
                    "p50_ms": round(statistics.median(samples), 1),
                    "p95_ms": round(nearest_rank(samples, 0.95), 1),
                }
        out[name] = timings
        out[f"worst_panel_p95_ms_{name}"] = max(t["p95_ms"] for t in timings.values())
        out[f"panels_over_150_ms_{name}"] = sum(t["p95_ms"] > 150 for t in timings.values())
    warehouse.close()
    shutil.rmtree(directory, ignore_errors=True)  # 100 M events take gigabytes
    return out


def generate(warehouse: Warehouse, rows: int) -> None:
    """`rows` events made inside ClickHouse (fast) and stored as the sink stores them: into raw_events
    with their payloads, so the views fill the typed tables and the hourly rollups. In every 20
    events of one site: 3 batches received, disinfected and dispatched; 8 health checks and shift
    starts and a test; a departure and an arrival. Plus sites and alerts."""
    sites = 2000
    block = "intDiv(number, 20)"  # 20 consecutive events at one site
    index = f"{block} % {sites}"
    site = f"concat(['sf', 'yto', 'zto', 'jd'][{index} % 4 + 1], '-3301', toString({index}))"
    brand = f"['sf', 'yto', 'zto', 'jd'][{index} % 4 + 1]"
    division = f"concat('3301', ['02', '05', '06', '08', '09', '10'][{index} % 6 + 1])"
    start = f"toDateTime64('{START:%Y-%m-%d %H:%M:%S}', 3, 'Asia/Shanghai')"
    moment = f"{start} + toIntervalSecond(number * 2592000 / {rows})"
    kinds = (
        ["parcels.received", "parcels.disinfected", "parcels.dispatched"] * 3
        + ["staff.health_checked", "staff.shift_started"] * 4
        + ["staff.tested", "vehicle.departed", "vehicle.arrived"]
    )
    batch = {"batch_id": (f"toString({block} * 3 + intDiv(number % 20, 3))", "String")}
    items = {"item_count": ("100 + number % 400", "UInt32")}
    person = {"staff_id": ("concat('ps_', lower(hex(number % 50000)))", "String")}
    payload = {
        "parcels.received": batch
        | items
        | {
            "origin": (f"if({block} % 10 = 0, 'imported', 'domestic')", "String"),
            "from_outside_city": (f"{block} % 2 = 0", "Bool"),
        },
        "parcels.disinfected": batch
        | items
        | {"method": ("'spray'", "String"), "agent": ("'含氯消毒液'", "String"), "operator_id": ("'ps_1'", "String")},
        "parcels.dispatched": batch | items,
        "staff.health_checked": person
        | {
            "temperature": ("36.5", "Float32"),
            "health_code": ("'green'", "String"),
            "symptoms": ("[]", "Array(String)"),
        },
        "staff.tested": person | {"test_kind": ("'nucleic_acid'", "String"), "result": ("'negative'", "String")},
        "vehicle.departed": {
            "vehicle_id": ("concat('V', toString(number % 300))", "String"),
            "route_id": ("concat('R', toString(number % 100))", "String"),
        },
    }
    payload["staff.shift_started"] = person
    payload["vehicle.arrived"] = payload["vehicle.departed"]
    by_kind = ", ".join(f"kind = '{kind}', {json_object(fields)}" for kind, fields in payload.items())
    warehouse.execute(
        "INSERT INTO sites (site_id, enterprise_id, brand, division_code, site_kind, name, registered_at, event_id) "
        f"SELECT {site}, concat({brand}, '-hz'), {brand}, {division}, 'outlet', 'site', now64(3), generateUUIDv4() "
        f"FROM numbers(0, {sites * 20}, 20)"
    )
    warehouse.execute(
        "INSERT INTO raw_events (event_id, event_type, schema_version, occurred_at, received_at, enterprise_id, "
        "site_id, division_code, brand, payload) "
        f"SELECT generateUUIDv4(), {kinds}[number % 20 + 1] AS kind, 1, {moment}, {moment}, concat({brand}, '-hz'), "
        f"{site}, {division}, {brand}, multiIf({by_kind}, '{{}}') FROM numbers({rows})"
    )
    count_batches(warehouse)
    warehouse.execute(
        "INSERT INTO alerts (alert_id, alert_type, rule_id, catalogue_version, severity, enterprise_id, site_id, "
        "division_code, subject_kind, subject_id, at, deadline, profile, title_zh, late, late_reason, evidence, "
        "details) "
        f"SELECT generateUUIDv4(), if(number % 3 = 0, 'alert.resolved', 'alert.raised'), "
        "['DIS-IMPORT', 'DIS-DOMESTIC', 'STAFF-CHECK', 'VEH-SEAL'][number % 4 + 1], 'bench', "
        f"['critical', 'major'][number % 2 + 1], concat({brand}, '-hz'), {site}, {division}, 'batch', "
        "toString(number), "
        f"{moment}, {moment}, 'normal', '进口邮件快件未按时消毒', number % 2 = 0, 'record_after_deadline', [], "
        f'\'{{"role": "courier"}}\' FROM numbers({max(1000, rows // 1000)})'
    )


def count_batches(warehouse: Warehouse) -> None:
    """Count the generated batches in the batch ledger (the sink does it for events it stores) with
    the statement migration 011 counts the batches stored before it with."""
    text = (MIGRATIONS_DIR / "011_batch_firsts.sql").read_text()
    [backfill] = [sql for sql in statements(text) if sql.startswith("INSERT INTO batch_firsts")]
    warehouse.execute(backfill)


def settle(warehouse: Reader, limit_s: float = 900) -> float:
    """Wait until ClickHouse has no merge running (as after days of steady inserts, not right after
    a 100 M-row bulk insert or a burst); return the seconds waited."""
    began = time.perf_counter()
    quiet = 0
    while quiet < 3 and time.perf_counter() - began < limit_s:
        busy = warehouse.query("SELECT count() AS n FROM system.merges")[0]["n"]
        quiet = 0 if busy else quiet + 1
        time.sleep(1)
    return round(time.perf_counter() - began, 1)


def json_object(fields: dict[str, tuple[str, str]]) -> str:
    """SQL making a JSON object of the named (expression, type) fields."""
    values = ", ".join(expression for expression, _ in fields.values())
    types = ", ".join(f"{name} {kind}" for name, (_, kind) in fields.items())
    return f"toJSONString(CAST(tuple({values}), 'Tuple({types})'))"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--events",
        type=int,
        default=BURST_EVENTS,
        help=f"events in the burst, which is to last at least {SUSTAINED_S} s: the default does "
        f"at up to {BURST_EVENTS // SUSTAINED_S:,} events/s",
    )
    parser.add_argument("--sites", type=int, default=600)
    parser.add_argument(
        "--paced",
        default="0.5x,0.25x,0.125x",
        help="paced runs after the burst, one after another, comma-separated: events/s (300) or a fraction "
        "of the burst's end-to-end rate (0.25x)",
    )
    parser.add_argument("--paced-seconds", type=float, default=60, help="length of each paced run")
    parser.add_argument(
        "--panel-rows", default="10000000,100000000", help="stored events for the panel queries, one run per size"
    )
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument(
        "--workdir",
        type=Path,
        default=Settings().data_dir,
        help="where the run's brokers and warehouses live, in a temporary directory removed after "
        "(default: the stack's data directory)",
    )
    parser.add_argument(
        "--profile", action="store_true", help="py-spy on the worker and ingest during the burst: top functions"
    )
    parser.add_argument(
        "--stages",
        default="alerts,pipeline,panels,console",
        help="comma-separated: alerts (4), pipeline (1-3, 6), panels (5), console (tests/load/console_bench.py)",
    )
    parser.add_argument("--console-rows", type=int, default=1_000_000, help="stored events for the console stage")
    args = parser.parse_args()
    stages = set(args.stages.split(","))
    args.workdir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="tongfang-bench-", dir=args.workdir) as tmp:
        directory = Path(tmp)
        result: dict[str, Any] = {"machine": machine(directory)}
        if "alerts" in stages:
            result |= alerts(directory)
        if "pipeline" in stages:
            rates = args.paced.split(",")
            result |= pipeline(directory, args.sites, args.events, rates, args.paced_seconds, args.profile)
        if "panels" in stages:
            sizes = [int(size) for size in args.panel_rows.split(",")]
            result["panel_queries"] = [panel_queries(directory / f"panels-{n}", n, args.repeats) for n in sizes]
        if "console" in stages:
            from tests.load.console_bench import console_figures

            result["console"] = console_figures(directory / "console", args.console_rows)
    print_table(result)
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"bench-{time.strftime('%Y%m%dT%H%M%S')}.json"
    path.write_text(json.dumps(result, ensure_ascii=False, indent=2) + "\n")
    print(f"\nwritten to {path}")


def pipeline(
    directory: Path, sites: int, count: int, rates: list[str], seconds: float, profile: bool
) -> dict[str, Any]:
    city, events, more = city_events(sites, count)
    broker = KafkaBroker(directory / "kafka", port=free_port(), controller_port=free_port()).start()
    try:
        e2e = end_to_end(directory, broker, city, events, more, rates, seconds, profile)
        alone = worker_alone(directory, broker, events) | ingest_alone(directory, broker, city, events)
        top = ceiling(directory, broker, alone.pop("topic"), len(events))
    finally:
        broker.stop()
    ratio = round(e2e["end_to_end_events_per_s"] / top["ceiling_events_per_s"], 2)
    return {**e2e, **alone, **top, "end_to_end_over_ceiling": ratio}


def alerts(directory: Path) -> dict[str, Any]:
    broker = KafkaBroker(directory / "kafka-alerts", port=free_port(), controller_port=free_port()).start()
    try:
        return alert_latency(directory, broker)
    finally:
        broker.stop()


def figures(rows: list[tuple[str, Callable[[], str], str]]) -> list[tuple[str, str, str]]:
    """The rows whose figure the result has (a stage that did not run has none)."""
    shown = []
    for name, figure, target in rows:
        with contextlib.suppress(KeyError):
            shown.append((name, figure(), target))
    return shown


def cpu_per_event(us: dict[str, float], cores: int) -> str:
    """The burst's CPU per event by process, their sum, and the rate the machine's cores would allow at that sum."""
    total = sum(us.values())
    parts = ", ".join(f"{name} {value:,.0f}" for name, value in sorted(us.items(), key=lambda item: -item[1]))
    return f"{parts}; sum {total:,.0f} (at most {cores * 1e6 / total:,.0f} events/s on {cores} cores)"


def sustained(seconds: float) -> str:
    """How long the end-to-end rate was held, and whether that is long enough to count."""
    short = "" if seconds >= SUSTAINED_S else f", short of {SUSTAINED_S} s: raise --events"
    return f"over {seconds} s{short}"


def batches_figure(events: int, batches: int) -> str:
    """Batches stored, and the events each held on average."""
    return f"{batches:,} ({events / max(1, batches):,.0f})"


JOURNAL_NOTE = {True: ", with a journal", False: ", no journal"}


def print_table(result: dict[str, Any]) -> None:
    r = result
    rows: list[tuple[str, Callable[[], str], str]] = [
        (
            "end to end (HTTP -> Kafka -> faust -> chDB)",
            lambda: f"{r['end_to_end_events_per_s']:,} events/s {sustained(r['end_to_end_seconds'])}",
            f">= 50,000 for >= {SUSTAINED_S} s",
        ),
        ("ceiling (aiokafka -> same sink -> chDB)", lambda: f"{r['ceiling_events_per_s']:,} events/s", ""),
        ("end to end / ceiling", lambda: f"{r['end_to_end_over_ceiling']}", ">= 0.8"),
        ("ingest alone (HTTP -> Kafka acked)", lambda: f"{r['ingest_events_per_s']:,} events/s", ""),
        (
            "ingest during the end-to-end run",
            lambda: f"{r['ingest_during_end_to_end_events_per_s']:,} events/s",
            "",
        ),
        ("worker alone (Kafka -> chDB)", lambda: f"{r['worker_events_per_s']:,} events/s", ""),
        (
            "CPU per event in the burst (us; bench: the poster)",
            lambda: cpu_per_event(r["burst_cpu_us_per_event"], r["machine"]["cpus"]),
            "",
        ),
        (
            "batches of events the burst was stored in (events each)",
            lambda: batches_figure(r["events"], r["burst_stored_batches"]),
            "",
        ),
        (
            "received -> stored p50 / p99, backlog of the burst",
            lambda: f"{r['received_to_stored_ms_p50']:,} / {r['received_to_stored_ms_p99']:,} ms",
            "",
        ),
    ]
    later: list[tuple[str, Callable[[], str], str]] = [
        (
            "alert after the watermark passes the deadline p50 / p99",
            lambda: f"{r['alert_latency_ms_p50']} / {r['alert_latency_ms_p99']} ms ({r['alerts_seen']})",
            "<= 1000 ms",
        ),
        ("peak memory (MB)", lambda: ", ".join(f"{k} {v}" for k, v in r["peak_memory_mb"].items()), ""),
    ]
    paced: list[tuple[str, str, str]] = []
    for run in r.get("paced", []):
        paced += [
            (
                f"paced at {run['events_per_s']:,} events/s for {run['seconds']} s: received -> queryable p50 / p99",
                f"{run['received_to_queryable_ms_p50']:,} / {run['received_to_queryable_ms_p99']:,} ms",
                "p99 <= 2000 ms",
            ),
            (
                "  received -> stored_at (the insert began) p50 / p99",
                f"{run['received_to_stored_ms_p50']:,} / {run['received_to_stored_ms_p99']:,} ms",
                "",
            ),
            ("  stored events/s (posted until all stored)", f"{run['stored_events_per_s']:,} events/s", ""),
            ("  worker's CPU meanwhile (cores of the machine's)", f"{run['worker_cpu_cores']}", ""),
            (
                "  batches of events stored meanwhile (events each)",
                batches_figure(run["events"], run["stored_batches"]),
                "",
            ),
            (
                "  a dashboard panel's query meanwhile p50 / p99 (queries)",
                f"{run['panel_read_ms_p50']:,} / {run['panel_read_ms_p99']:,} ms ({run['panel_reads']})",
                "",
            ),
            (
                "  waited before it: alerts stored, then merges done",
                f"{run['waited_for_alerts_s']} s, {run['waited_for_merges_s']} s",
                "",
            ),
            (
                "  queryable p50 / p99 per 10 s of receipt (s)",
                " ".join(f"{p50 / 1000:.1f}/{p99 / 1000:.1f}" for p50, p99 in run["queryable_windows_10s_ms_p50_p99"]),
                "",
            ),
        ]
    shown = figures(rows) + paced + figures(later)
    for p in r.get("panel_queries", []):
        shown += [
            (
                f"worst panel p95 over {p['rows']:,} events, last 24 h (dashboards' default)",
                f"{p['worst_panel_p95_ms_24h']} ms ({p['panels_over_150_ms_24h']} over 150 ms)",
                "<= 150 ms at 100 M",
            ),
            (
                f"worst panel p95 over {p['rows']:,} events, all 30 days",
                f"{p['worst_panel_p95_ms_30d']} ms ({p['panels_over_150_ms_30d']} over 150 ms)",
                "",
            ),
        ]
    if c := r.get("console"):
        shown += [
            (
                f"console: a panel in the browser p50 / p95 over {c['rows']:,} events, 24 h ({c['panels']} panels)",
                f"{c['panel_ms_p50']} / {c['panel_ms_p95']} ms",
                "",
            ),
            (
                "  the same SQL run directly p50 / p95 (the ceiling)",
                f"{c['direct_ms_p50']} / {c['direct_ms_p95']} ms",
                "",
            ),
            (
                "  a dashboard fully drawn: cold, warm p50 / max",
                f"{c['page_cold_ms']}, {c['page_warm_ms_p50']} / {c['page_warm_ms_max']} ms",
                "",
            ),
        ]
    width = max(len(row[0]) for row in shown)
    if "machine" in r:
        m = r["machine"]
        print(
            f"\n{m['cpus']} cores, {m['memory_gib']} GiB; working in {m['workdir']} ({m['filesystem']}"
            f"{JOURNAL_NOTE.get(m.get('journal'), '')}), "
            f"where creating a file takes {m['file_create_ms']} ms"
        )
    print(f"\n{'measure':<{width}}  {'figure':<40}  target")
    for name, text, target in shown:
        print(f"{name:<{width}}  {text:<40}  {target}")
    for process, profile in r.get("profile_of_the_burst", {}).items():
        print(f"\n{process} during the burst, {profile['samples']} samples of busy threads (py-spy): % self, function")
        for function, share in profile["self"]:
            print(f"  {share:5.1f}  {function}")
        print("  the project's functions, % inclusive:")
        for function, share in profile["inclusive"]:
            print(f"  {share:5.1f}  {function}")


if __name__ == "__main__":
    main()
