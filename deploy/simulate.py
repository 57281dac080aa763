"""`python -m deploy.simulate`: feed a simulated city to the ingest API, to Kafka, or to JSON lines.

    python -m deploy.simulate --to jsonl --hours 24 > day.jsonl
    python -m deploy.simulate --to http --hours 12            # registers the city, then posts
    python -m deploy.simulate --to kafka --rate 2000 --hours 48

Enterprise tokens for --to http are created in the local registry (TONGFANG_INGEST_DB).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections import defaultdict
from collections.abc import Iterable, Iterator
from datetime import datetime, timedelta
from typing import Any

import aiohttp
import orjson

from deploy.simulator import SHANGHAI, City, Violations
from streams.settings import Settings


def batches(events: Iterable[dict[str, Any]], size: int) -> Iterator[list[dict[str, Any]]]:
    batch: list[dict[str, Any]] = []
    for event in events:
        batch.append(event)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


class Pacer:
    """Holds a target rate (events per second); 0 means as fast as possible."""

    def __init__(self, rate: float) -> None:
        self.rate, self.sent, self.start = rate, 0, time.monotonic()

    async def wait(self, count: int) -> None:
        self.sent += count
        if self.rate > 0:
            ahead = self.sent / self.rate - (time.monotonic() - self.start)
            if ahead > 0:
                await asyncio.sleep(ahead)


async def to_http(settings: Settings, city: City, events: Iterable[dict[str, Any]], rate: float, size: int) -> int:
    from services.registry import Registry

    registry = Registry(settings.ingest_db_path)
    tokens = {enterprise: registry.create_enterprise(enterprise, name) for enterprise, name in city.enterprises.items()}
    registry.close()
    url = f"http://{settings.ingest_host}:{settings.ingest_port}/v1/events"
    pacer, sent = Pacer(rate), 0
    async with aiohttp.ClientSession() as session:
        for batch in batches(events, size):
            by_enterprise: dict[str, list[dict[str, Any]]] = defaultdict(list)
            for event in batch:
                by_enterprise[event["enterprise_id"]].append(event)
            answers = await asyncio.gather(
                *(_post(session, url, tokens[enterprise], body) for enterprise, body in by_enterprise.items())
            )
            sent += sum(answers)
            await pacer.wait(len(batch))
    return sent


async def _post(session: aiohttp.ClientSession, url: str, token: str, body: list[dict[str, Any]]) -> int:
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    async with session.post(url, data=orjson.dumps(body), headers=headers) as response:
        answer = await response.json()
        if response.status not in (202, 207):
            raise RuntimeError(f"ingest answered {response.status}: {answer}")
        return int(answer["accepted"])


async def to_kafka(settings: Settings, events: Iterable[dict[str, Any]], rate: float, size: int) -> int:
    from kafka import KafkaProducer

    from streams.topics import by_partition

    producer = KafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap.split(","),
        acks="all",
        linger_ms=5,
        compression_type=settings.ingest_compression_type,  # as ingest
    )
    pacer, sent = Pacer(rate), 0
    partitions = len(producer.partitions_for(settings.topic_events))
    for batch in batches(events, size):  # grouped by partition as the ingest API does (services.ingest.intake.pack)
        for partition, body in by_partition(batch, lambda event: event["site_id"], partitions).items():
            key = body[0]["site_id"].encode()
            producer.send(settings.topic_events, key=key, value=orjson.dumps(body), partition=partition)
        sent += len(batch)
        await pacer.wait(len(batch))
    producer.flush()
    producer.close()
    return sent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--sites", type=int, default=60)
    parser.add_argument("--start", default=None, help="ISO time; default: --hours before now")
    parser.add_argument("--hours", type=float, default=12.0)
    parser.add_argument("--to", choices=["http", "kafka", "jsonl"], default="jsonl")
    parser.add_argument("--rate", type=float, default=0.0, help="events per second; 0 = as fast as possible")
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--clean", action="store_true", help="no violations at all")
    args = parser.parse_args()
    start = datetime.fromisoformat(args.start) if args.start else datetime.now(SHANGHAI) - timedelta(hours=args.hours)
    if start.tzinfo is None:
        start = start.replace(tzinfo=SHANGHAI)
    city = City(args.seed, args.sites, Violations.none() if args.clean else None)
    registrations = city.registrations(start - timedelta(days=1))
    events = [*registrations, *city.events(start, args.hours)]
    settings = Settings()
    if args.to == "jsonl":
        for event in events:
            sys.stdout.write(orjson.dumps(event).decode() + "\n")
        return
    began = time.monotonic()
    if args.to == "http":
        sent = asyncio.run(to_http(settings, city, events, args.rate, args.batch))
    else:
        sent = asyncio.run(to_kafka(settings, events, args.rate, args.batch))
    elapsed = time.monotonic() - began
    print(f"{sent} events in {elapsed:.1f} s ({sent / max(elapsed, 1e-9):.0f}/s) to {args.to}", file=sys.stderr)


if __name__ == "__main__":
    main()
