"""`tongfang import`: a file of events posted to the ingest API in batches, each line accounted for.

The file holds one event per line (JSON lines), as the API takes them; it is read as a stream, so
its size does not matter. Each batch goes to `POST /v1/events` (with `?backfill=true` for history,
see docs/late-records.md), so the events meet the same validation, authorisation and durability
as any other post, and a line posted twice answers `duplicate`. A batch the service cannot take now
(429, 503) is sent again after the wait it asks for; every other answer is final. Rejected lines
go to an error file with their line number, field and reason.
"""

from __future__ import annotations

import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import IO

import orjson

RETRIED = (429, 503)
MAX_WAIT_S = 60.0


@dataclass
class ImportReport:
    counts: Counter[str] = field(default_factory=Counter)  # status -> lines
    lines: int = 0

    @property
    def complete(self) -> bool:
        """Every line stored (accepted now or before)."""
        return self.counts["accepted"] + self.counts["duplicate"] == self.lines


class ImportError_(Exception):
    """The service refused the whole import (a wrong token, an unreachable service)."""


def batches(lines: Iterable[bytes], max_events: int, max_bytes: int) -> Iterator[list[tuple[int, bytes]]]:
    """(line number, line) in batches of at most `max_events` lines and `max_bytes` bytes; blank lines skipped."""
    batch: list[tuple[int, bytes]] = []
    size = 2
    for number, raw in enumerate(lines, start=1):
        line = raw.strip()
        if not line:
            continue
        if batch and (len(batch) >= max_events or size + len(line) + 1 > max_bytes):
            yield batch
            batch, size = [], 2
        batch.append((number, line))
        size += len(line) + 1
    if batch:
        yield batch


def import_events(
    lines: Iterable[bytes],
    url: str,
    token: str,
    *,
    backfill: bool = False,
    errors: IO[bytes] | None = None,
    max_events: int = 500,
    max_bytes: int = 4 * 1024 * 1024,
) -> ImportReport:
    """Post every line; write each line that was not stored to `errors` as JSON: line, status, field, reason."""
    if not url.startswith(("http://", "https://")):
        raise ImportError_(f"--url: expected http:// or https://, got {url!r}")
    report = ImportReport()
    endpoint = url.rstrip("/") + "/v1/events" + ("?backfill=true" if backfill else "")
    for batch in batches(lines, max_events, max_bytes):
        report.lines += len(batch)
        body = b"[" + b",".join(line for _, line in batch) + b"]"
        for outcome in _post(endpoint, token, body, len(batch)):
            number, status = batch[int(str(outcome["index"]))][0], str(outcome["status"])
            report.counts[status] += 1
            if status not in ("accepted", "duplicate") and errors is not None:
                problem = {key: outcome.get(key) for key in ("status", "event_id", "field", "reason")}
                errors.write(orjson.dumps({"line": number, **problem}) + b"\n")
    return report


def _post(endpoint: str, token: str, body: bytes, count: int, patience_s: float = 600.0) -> list[dict[str, object]]:
    """The per-event outcomes of one batch. A batch the service could not take whole (429, or 503:
    Kafka unavailable) is sent again — what was stored answers `duplicate` — for up to `patience_s`."""
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    give_up = time.monotonic() + patience_s
    while True:
        request = urllib.request.Request(endpoint, data=body, headers=headers, method="POST")  # noqa: S310
        try:
            with urllib.request.urlopen(request, timeout=120) as response:  # noqa: S310 (http(s), checked above)
                return _outcomes(response.read(), count)
        except urllib.error.HTTPError as error:
            answer = error.read()
            if error.code in RETRIED and time.monotonic() < give_up:
                time.sleep(min(float(error.headers.get("Retry-After") or 1), MAX_WAIT_S))
                continue
            if error.code in (403, 409, 422):  # every event refused, each with its reason (or the token refused)
                return _outcomes(answer, count)
            raise ImportError_(f"{endpoint} answered {error.code}: {answer.decode(errors='replace')[:300]}") from None
        except urllib.error.URLError as error:
            raise ImportError_(f"cannot reach {endpoint}: {error.reason}") from None


def _outcomes(answer: bytes, count: int) -> list[dict[str, object]]:
    parsed = orjson.loads(answer)
    outcomes: list[dict[str, object]] = parsed.get("results", []) if isinstance(parsed, dict) else []
    if len(outcomes) != count:
        raise ImportError_(answer.decode(errors="replace")[:300])
    return outcomes
