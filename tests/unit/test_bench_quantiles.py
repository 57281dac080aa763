"""The bench's quantiles of a few samples are nearest-rank: a p95 of 20 timings is not their maximum."""

from __future__ import annotations

import pytest

from tests.support.measure import nearest_rank


@pytest.mark.parametrize(
    ("count", "q", "rank"),
    [(20, 0.95, 19), (20, 0.99, 20), (20, 0.5, 10), (5, 0.95, 5), (100, 0.99, 99), (1, 0.99, 1)],
)
def test_the_quantile_is_the_sample_of_rank_ceil_q_n(count, q, rank):
    assert nearest_rank([float(n) for n in range(1, count + 1)], q) == rank
