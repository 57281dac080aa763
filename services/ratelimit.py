"""Per-token rate limits: a token bucket per credential, refilled continuously.

A request over the limit gets 429 with Retry-After; nothing it carried is accepted. Buckets live
in the process, so each instance of a service limits on its own (N instances allow N times the rate).
"""

from __future__ import annotations

import time
from collections.abc import Callable


class RateLimiter:
    def __init__(self, per_second: float, burst: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.per_second = per_second
        self.burst = burst
        self._clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}  # key -> (tokens, last refill)

    def take(self, key: str, cost: float = 1.0) -> float:
        """Spend `cost` from the key's bucket: 0.0 if allowed, else seconds to wait before retrying."""
        if self.per_second <= 0:
            return 0.0
        now = self._clock()
        tokens, last = self._buckets.get(key, (float(self.burst), now))
        tokens = min(float(self.burst), tokens + (now - last) * self.per_second)
        if tokens >= cost:
            self._buckets[key] = (tokens - cost, now)
            return 0.0
        self._buckets[key] = (tokens, now)
        return (cost - tokens) / self.per_second
