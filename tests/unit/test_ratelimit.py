from __future__ import annotations

from services.ratelimit import RateLimiter


def test_burst_then_refill_at_the_rate_per_key():
    now = [0.0]
    limiter = RateLimiter(per_second=2, burst=3, clock=lambda: now[0])
    assert [limiter.take("a") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert limiter.take("a") == 0.5
    assert limiter.take("b") == 0.0
    now[0] = 0.5
    assert limiter.take("a") == 0.0
    assert limiter.take("a") > 0


def test_zero_rate_means_no_limit():
    limiter = RateLimiter(per_second=0, burst=0)
    assert all(limiter.take("a") == 0.0 for _ in range(1000))
