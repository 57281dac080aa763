"""`make soak`: the whole stack under a steady stream; memory of every process, minute by minute.

A simulated city posts over HTTP at a steady rate for `--minutes`, its event time running faster
than the clock (`--days` of the city over the run) so batches settle, rest periods end and every
retention (8 days for batches, 40 for untracked alerts) passes during the run: the state of
finished work must be released, and memory must level off. Every `--interval` seconds the RSS
of Kafka, the worker, ingest, the notifier and the regulator API is sampled, with the worker's
rule-state footprint (/stats). At the end: accepted ids against stored ids (lost, doubled).
Prints a table and writes JSON to bench/results/.

`make soak` runs an hour; the test suite runs the same code for a couple of minutes.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from deploy.kafka_broker import KafkaBroker, free_port
from deploy.simulate import to_http
from deploy.simulator import SHANGHAI, City
from deploy.stack import LocalStack
from streams.settings import Settings
from streams.warehouse import WorkerReader
from tests.load.bench import P50_P99, proc_kib
from tests.support.measure import worker_stats

RESULTS = Path(__file__).resolve().parents[2] / "bench" / "results"


@dataclass
class Soak:
    minutes: float = 60.0
    interval: float = 60.0
    days: float = 30.0
    sites: int = 100
    seed: int = 11
    samples: list[dict[str, Any]] = field(default_factory=list)

    def run(self, directory: Path) -> dict[str, Any]:
        broker = KafkaBroker(directory / "kafka", port=free_port(), controller_port=free_port()).start()
        settings = _settings(directory, broker)
        stack = LocalStack.from_settings(settings, own_kafka=False).start()
        try:
            return self._run(stack, broker)
        finally:
            stack.stop()
            broker.stop()

    def _run(self, stack: LocalStack, broker: KafkaBroker) -> dict[str, Any]:
        settings = stack.settings
        city = City(seed=self.seed, sites=self.sites)
        now = datetime.now(SHANGHAI).replace(microsecond=0)
        start = now - timedelta(days=self.days)
        events = [*city.registrations(start - timedelta(hours=1)), *city.events(start, self.days * 24)]
        rate = len(events) / (self.minutes * 60)
        accepted: list[int] = []
        sender = threading.Thread(
            target=lambda: accepted.append(asyncio.run(to_http(settings, city, events, rate=rate, size=200))),
            daemon=True,
        )
        pids = {name: service.process.pid for name, service in stack.services.items() if service.process}
        if broker.process:
            pids["kafka"] = broker.process.pid
        began = time.monotonic()
        sender.start()
        while sender.is_alive():
            sender.join(timeout=self.interval)
            self.samples.append(self._sample(settings, pids, time.monotonic() - began))
        if not accepted:
            raise RuntimeError("the sender failed; see its traceback above")
        reader = WorkerReader(settings)
        stored = _wait_for(reader, accepted[0], timeout=600)
        doubled = reader.query("SELECT count() - uniqExact(event_id) AS n FROM raw_events FINAL")[0]["n"]
        latency = reader.query(  # at a steady rate the pipeline is not saturated: this is what a user sees
            f"SELECT {P50_P99} FROM raw_events"
        )[0]
        return {
            "minutes": round((time.monotonic() - began) / 60, 1),
            "simulated_days": self.days,
            "sites": self.sites,
            "rate_events_per_s": round(rate, 1),
            "events_sent": len(events),
            "events_accepted": accepted[0],
            "events_stored": stored,
            "lost": accepted[0] - stored,
            "duplicated": doubled,
            "received_to_stored_ms_p50": round(latency["p50"]),
            "received_to_stored_ms_p99": round(latency["p99"]),
            "samples": self.samples,
            "rss_growth_pct": growth(self.samples, list(pids)),
        }

    def _sample(self, settings: Settings, pids: dict[str, int], elapsed: float) -> dict[str, Any]:
        stats = worker_stats(settings)
        sample = {
            "minute": round(elapsed / 60, 2),
            "rss_mb": {name: rss_mb(pid) for name, pid in pids.items()},
            "events_stored": stats.get("stored", 0),
            "rule_state_kb": round(stats["site_rules"].get("state_bytes", 0) / 1024),
            "open_alerts": stats["site_rules"].get("open_alerts", 0),
        }
        print(_row(sample), flush=True)
        return sample


def growth(samples: list[dict[str, Any]], names: list[str]) -> dict[str, float]:
    """RSS of the last quarter of the run against the second quarter (after warm-up), in percent."""
    if len(samples) < 4:
        return {}
    quarter = len(samples) // 4
    second, last = samples[quarter : 2 * quarter], samples[-quarter:]
    out = {}
    for name in names:
        before = statistics.median(s["rss_mb"][name] for s in second)
        after = statistics.median(s["rss_mb"][name] for s in last)
        out[name] = round(100 * (after - before) / before, 1) if before else 0.0
    return out


def rss_mb(pid: int) -> float:
    try:
        return round(proc_kib(Path(f"/proc/{pid}/status"), "VmRSS") / 1024, 1)
    except FileNotFoundError:
        return 0.0  # the process is gone: a crash shows up as a zero


def _wait_for(reader: WorkerReader, expected: int, timeout: float) -> int:
    deadline, count = time.monotonic() + timeout, 0
    while time.monotonic() < deadline:
        count = int(reader.query("SELECT count() AS n FROM raw_events FINAL")[0]["n"])
        if count >= expected:
            break
        time.sleep(1)
    return count


def _settings(directory: Path, broker: KafkaBroker) -> Settings:
    return Settings(
        data_dir=directory / "stack",
        kafka_bootstrap=broker.bootstrap,
        ingest_port=free_port(),
        worker_web_port=free_port(),
        notify_port=free_port(),
        regulator_port=free_port(),
        ingest_rate_per_second=0,
        clock_tick_seconds=0,  # event time drives the watermark: the city's days pass faster than the clock's
        log_level="WARNING",
    )


def _row(sample: dict[str, Any]) -> str:
    rss = "  ".join(f"{name} {mb:7.1f}" for name, mb in sample["rss_mb"].items())
    return (
        f"{sample['minute']:7.2f} min  {rss}  stored {sample['events_stored']:>9,}  "
        f"rule state {sample['rule_state_kb']:>6} kB  open alerts {sample['open_alerts']:>5}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=60.0)
    parser.add_argument("--interval", type=float, default=60.0, help="seconds between samples")
    parser.add_argument("--days", type=float, default=30.0, help="simulated days streamed over the run")
    parser.add_argument("--sites", type=int, default=100)
    args = parser.parse_args()
    soak = Soak(minutes=args.minutes, interval=args.interval, days=args.days, sites=args.sites)
    print(f"soak: {args.sites} sites, {args.days} simulated days over {args.minutes} min; RSS in MB")
    with tempfile.TemporaryDirectory(prefix="tongfang-soak-") as tmp:
        result = soak.run(Path(tmp))
    print(
        f"\nsent {result['events_sent']:,}  accepted {result['events_accepted']:,}  "
        f"stored {result['events_stored']:,}  lost {result['lost']}  duplicated {result['duplicated']}"
    )
    p50, p99 = result["received_to_stored_ms_p50"], result["received_to_stored_ms_p99"]
    print(f"received -> stored p50 / p99: {p50} / {p99} ms")
    print("RSS growth, last quarter against the second (%):", result["rss_growth_pct"])
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"soak-{time.strftime('%Y%m%dT%H%M%S')}.json"
    path.write_text(json.dumps(result, ensure_ascii=False, indent=2) + "\n")
    print(f"written to {path}")


if __name__ == "__main__":
    main()
