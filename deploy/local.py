"""`make run`: the whole stack on one machine, a demo enterprise with a token and sites, and
where to post and where to look. Ctrl-C stops everything.

`make run ARGS=--simulate` also feeds a simulated city (deploy/simulator.py): the last 12 hours at
once, then live, every 30 seconds. Clock ticks are off then: the back-filled hours carry their own
event time, and a tick at wall-clock time in the middle of them would settle their deadlines early.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
import threading
import time
import urllib.request
import uuid
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import orjson

from deploy.simulate import to_http
from deploy.simulator import City
from deploy.stack import LocalStack, ServiceError
from services.registry import Registry
from streams.logs import configure
from streams.settings import Settings

DEMO_ENTERPRISE = "demo-express"
DEMO_REGULATOR = ("demo-post-3301", "杭州市邮政管理局（示范）", "3301")  # the city of the demo sites
MAX_RESTARTS, RESTART_WINDOW_S = 5, 600
DEMO_SITES = [
    ("demo-hz-xihu-01", "330106", "西湖区文三路网点", "outlet", 30.2799, 120.1306, False),
    ("demo-hz-xiaoshan-sc", "330109", "萧山分拨中心", "sorting_centre", 30.1830, 120.2645, True),
    ("demo-hz-intl-01", "330109", "萧山国际邮件处理点", "international_processing", 30.2295, 120.4320, True),
]


def main() -> None:
    parser = argparse.ArgumentParser(description="Run the Tongfang stack locally.")
    parser.add_argument("--simulate", action="store_true", help="feed a simulated city (12 h back-fill, then live)")
    parser.add_argument("--sites", type=int, default=60, help="sites of the simulated city")
    args = parser.parse_args()
    settings = Settings(clock_tick_seconds=0) if args.simulate else Settings()
    configure("WARNING")
    stack = LocalStack.from_settings(settings)
    print(
        f"Starting Kafka, the stream worker, the notifier, the ingest API and the regulators' console "
        f"(data in {settings.data_dir}/) ...",
        flush=True,
    )
    try:
        stack.start()
    except (ServiceError, RuntimeError) as exc:
        stack.stop()
        sys.exit(f"could not start the stack: {exc}")
    token = _demo_enterprise(settings)
    _print_welcome(settings, token, _demo_regulator(settings), _demo_operator(settings))
    stop = False

    def request_stop(*_: object) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    if args.simulate:
        threading.Thread(target=_simulate, args=(settings, args.sites), daemon=True).start()
    restarts: list[float] = []
    while not stop and _supervise(stack, restarts, time.monotonic()):
        time.sleep(0.5)
    print("Stopping ...", flush=True)
    stack.stop()
    print("Stopped.", flush=True)


def _supervise(stack: LocalStack, restarts: list[float], now: float) -> bool:
    """Start again whatever exited (a crash, or a worker its watchdog ended); False to stop the
    stack: a restart failed, or the restarts come too often to be worth another. `restarts` holds
    the (monotonic) times of the restarts so far."""
    dead = stack.dead()
    if not dead:
        return True
    for service in dead:
        print(f"{service.name} exited; last lines of its log:\n{service.tail()}", flush=True)
    restarts[:] = [at for at in restarts if now - at < RESTART_WINDOW_S]
    if len(restarts) >= MAX_RESTARTS:
        print(f"{MAX_RESTARTS} restarts within {RESTART_WINDOW_S // 60} minutes; stopping.", flush=True)
        return False
    try:
        revived = stack.revive()
    except (ServiceError, RuntimeError) as exc:  # a service, or Kafka (KafkaStartError)
        print(f"could not start it again: {exc}", flush=True)
        return False
    for name, code in revived:
        print(f"{name} (exit code {code}) started again.", flush=True)
        restarts.append(now)
    return True


def _simulate(settings: Settings, sites: int) -> None:
    city = City(seed=1, sites=sites)
    now = datetime.now(ZoneInfo("Asia/Shanghai"))
    history_from = now - timedelta(hours=12)
    backfill = [*city.registrations(now - timedelta(days=1)), *city.events(history_from, 12, history_from)]
    sent = asyncio.run(to_http(settings, city, backfill, rate=0, size=500))
    print(f"simulator: {sent} events of the last 12 hours posted; now live, every 30 s", flush=True)
    while True:
        time.sleep(30)
        later = datetime.now(ZoneInfo("Asia/Shanghai"))
        live = list(city.events(now, (later - now).total_seconds() / 3600, history_from))
        try:
            if live:
                asyncio.run(to_http(settings, city, live, rate=0, size=500))
        except Exception as exc:  # ingest answering 503 while Kafka restarts: these go again next round
            print(f"simulator: {exc!r}; trying again in 30 s", flush=True)
            continue
        now = later


def _demo_enterprise(settings: Settings) -> str:
    """A fresh token for the demo enterprise (the last run's is revoked), and its sites registered
    through the API."""
    registry = Registry(settings.ingest_db_path)
    try:
        registry.revoke_tokens(DEMO_ENTERPRISE)
        token = registry.create_enterprise(DEMO_ENTERPRISE, "示范快递有限公司")
    finally:
        registry.close()
    now = datetime.now(ZoneInfo("Asia/Shanghai")).isoformat()
    registrations = [
        {
            "event_id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"tongfang-demo/{site_id}")),
            "event_type": "site.registered",
            "occurred_at": now,
            "enterprise_id": DEMO_ENTERPRISE,
            "site_id": site_id,
            "payload": {
                "brand": "demo",
                "operation": "direct",
                "site_kind": kind,
                "division_code": division,
                "name": name,
                "latitude": lat,
                "longitude": lon,
                "handles_international": international,
            },
        }
        for site_id, division, name, kind, lat, lon, international in DEMO_SITES
    ]
    request = urllib.request.Request(
        f"http://{settings.ingest_host}:{settings.ingest_port}/v1/events",
        data=orjson.dumps(registrations),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 (our own loopback API)
        response.read()
    return token


def _demo_operator(settings: Settings) -> str:
    """A fresh operator of the demo sites for the workbench (the last run's are revoked)."""
    registry = Registry(settings.ingest_db_path)
    try:
        for operator in registry.operators(DEMO_ENTERPRISE):
            registry.revoke_operator(DEMO_ENTERPRISE, operator.operator_id)
        _, token = registry.create_operator(DEMO_ENTERPRISE, "示范网点操作员", [site[0] for site in DEMO_SITES])
        return token
    finally:
        registry.close()


def _demo_regulator(settings: Settings) -> str:
    """A fresh token for the demo regulator (re-keying it ends the last run's sessions)."""
    registry = Registry(settings.ingest_db_path)
    try:
        return registry.create_regulator(*DEMO_REGULATOR)
    finally:
        registry.close()


def _print_welcome(settings: Settings, token: str, regulator_token: str, operator_token: str) -> None:
    ingest = settings.ingest_url
    console = f"http://{settings.regulator_host}:{settings.regulator_port}"
    worker = f"http://{settings.worker_web_host}:{settings.worker_web_port}"
    site = DEMO_SITES[1][0]
    routes = settings.notify_routes or "none yet: set TONGFANG_NOTIFY_ROUTES"
    reader_key = (
        "TONGFANG_READER_PASSWORD" if settings.reader_password.get_secret_value() else settings.data_dir / "reader.key"
    )
    print(
        f"""
Tongfang is running.
  Kafka            {settings.kafka_bootstrap}   topics {settings.topic_events}, {settings.topic_deadletter}
  ingest API       {ingest}/v1/events      (API docs: {ingest}/docs)
  stream worker    {worker}/stats          (read-only SQL, user reader, password in {reader_key}:
                   {worker}/query?sql=...  and ClickHouse's HTTP interface at {worker}/clickhouse)
  notifier         http://{settings.notify_host}:{settings.notify_port}/stats   (routes: {routes})
  regulators       {console}/                (the console: dashboards; API at {console}/v1/...)
  warehouse        chDB in {settings.chdb_dir}/
  logs             {settings.data_dir}/logs/

Demo enterprise {DEMO_ENTERPRISE}, sites {", ".join(s[0] for s in DEMO_SITES)}
  token: {token}

Post an event:
  curl -s -X POST {ingest}/v1/events -H 'Authorization: Bearer {token}' \\
    -H 'Content-Type: application/json' -d '{{"event_id": "'$(python3 -c 'import uuid; print(uuid.uuid4())')'",
      "event_type": "parcels.received", "occurred_at": "'$(date -Iseconds)'",
      "enterprise_id": "{DEMO_ENTERPRISE}", "site_id": "{site}",
      "payload": {{"batch_id": "B-0001", "item_count": 120, "origin": "imported", "origin_country": "KR"}}}}'

Look at it (an imported batch with no disinfection record raises DIS-IMPORT an hour later):
  .venv/bin/tongfang sql "SELECT event_type, site_id, occurred_at FROM raw_events ORDER BY occurred_at DESC LIMIT 10"
  .venv/bin/tongfang sql "SELECT alert_type, rule_id, site_id, subject_id, at FROM alerts ORDER BY at DESC LIMIT 10"

Branches' workbench (a phone's screen: today's list, forms, offline queue, ledger imports):
  {ingest}/app/#token={operator_token}
  (an operator of the demo sites; enterprises create their own: tongfang enterprise operator create)

Regulators' console (demo regulator {DEMO_REGULATOR[0]}, {DEMO_REGULATOR[1]}): open in a browser
  {console}/login#token={regulator_token}
  (signs in at once; or open {console}/login and paste the token {regulator_token})

Ctrl-C stops everything.""",
        flush=True,
    )


if __name__ == "__main__":
    main()
