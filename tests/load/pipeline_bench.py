"""`make bench`: events through the whole pipeline (HTTP ingest -> Kafka -> faust -> chDB).

Starts its own stack (Kafka included) on free ports in a temporary directory, posts batches of
events from several concurrent clients, and reports events/s accepted by ingest and events/s
stored (until the last one is queryable). Results are printed and written under bench/results/.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import aiohttp
import orjson

from deploy.kafka_broker import free_port
from deploy.settings import Settings
from deploy.stack import LocalStack
from services.registry import Registry
from tests import factories

RESULTS = Path(__file__).resolve().parents[2] / "bench" / "results"


def query(settings: Settings, sql: str) -> list[dict[str, Any]]:
    url = f"http://127.0.0.1:{settings.worker_web_port}/query?" + urllib.parse.urlencode({"sql": sql})
    with urllib.request.urlopen(url, timeout=60) as response:
        rows: list[dict[str, Any]] = orjson.loads(response.read())["rows"]
        return rows


async def post_all(settings: Settings, token: str, bodies: list[bytes], clients: int) -> float:
    url = f"http://127.0.0.1:{settings.ingest_port}/v1/events"
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    queue: asyncio.Queue[bytes] = asyncio.Queue()
    for body in bodies:
        queue.put_nowait(body)

    async def client(session: aiohttp.ClientSession) -> None:
        while not queue.empty():
            body = queue.get_nowait()
            async with session.post(url, data=body, headers=headers) as response:
                if response.status != 202:
                    raise RuntimeError(f"ingest answered {response.status}: {await response.text()}")

    start = time.perf_counter()
    async with aiohttp.ClientSession() as session:
        await asyncio.gather(*(client(session) for _ in range(clients)))
    return time.perf_counter() - start


def run(events: int, batch: int, sites: int, clients: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="tongfang-bench-") as tmp:
        port = free_port()
        settings = Settings(
            data_dir=Path(tmp),
            kafka_bootstrap=f"127.0.0.1:{port}",
            ingest_port=free_port(),
            worker_web_port=free_port(),
            log_level="WARNING",
        )
        stack = LocalStack.from_settings(settings)
        stack.start()
        try:
            registry = Registry(settings.ingest_db_path)
            token = registry.create_enterprise("bench", "基准测试快递")
            registry.close()
            site_ids = [f"bench-site-{n:04d}" for n in range(sites)]
            registrations = [factories.site_registered(enterprise="bench", site=s) for s in site_ids]
            asyncio.run(post_all(settings, token, [orjson.dumps(registrations)], 1))
            bodies = []
            for start in range(0, events, batch):
                chunk = [
                    factories.parcels_received(
                        enterprise="bench", site=site_ids[n % sites], batch=f"B{n}", count=1 + n % 90
                    )
                    for n in range(start, min(start + batch, events))
                ]
                bodies.append(orjson.dumps(chunk))
            t0 = time.perf_counter()
            ingest_seconds = asyncio.run(post_all(settings, token, bodies, clients))
            while query(settings, "SELECT count() AS n FROM parcel_events")[0]["n"] < events:
                time.sleep(0.1)
            total_seconds = time.perf_counter() - t0
        finally:
            stack.stop()
    return {
        "events": events,
        "batch": batch,
        "sites": sites,
        "clients": clients,
        "ingest_events_per_s": round(events / ingest_seconds),
        "end_to_end_events_per_s": round(events / total_seconds),
        "end_to_end_seconds": round(total_seconds, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--sites", type=int, default=200)
    parser.add_argument("--clients", type=int, default=4)
    args = parser.parse_args()
    result = run(args.events, args.batch, args.sites, args.clients)
    print(json.dumps(result, indent=2))
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"pipeline-{time.strftime('%Y%m%dT%H%M%S')}.json").write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
