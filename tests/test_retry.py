"""The one retry policy (``retry.Backoff``): schedules, jitter, Retry-After and caps, for deliveries and jobs."""

from __future__ import annotations

import random

from hypothesis import given
from hypothesis import strategies as st

from fedi.retry import DELIVERY, JITTER, JOBS, Backoff


def within(wait: float, base: float) -> bool:
    return base * (1 - JITTER) <= wait <= base * (1 + JITTER)


def test_delivery_schedule():
    """About 1 min, 5 min, 30 min, 2 h, 8 h, then four times longer each time."""
    rng = random.Random(7)
    expected = [60, 300, 1800, 7200, 28800, 28800 * 4, 28800 * 16]
    for attempts, base in enumerate(expected, start=1):
        assert DELIVERY.base(attempts) == base
        assert within(DELIVERY.delay(attempts, rng), base), attempts


def test_job_schedule():
    """30 s, 60 s, 120 s … up to 6 h."""
    assert [JOBS.base(n) for n in (1, 2, 3)] == [30, 60, 120]
    assert JOBS.base(40) == 6 * 3600


def test_jobs_and_deliveries_both_have_jitter():
    """What failed together does not come back together: jobs as well as deliveries."""
    for policy in (DELIVERY, JOBS):
        rng = random.Random(3)
        waits = {round(policy.delay(1, rng), 3) for _ in range(20)}
        assert len(waits) > 10 and all(within(w, policy.base(1)) for w in waits), policy


def test_a_longer_retry_after_wins_capped_too():
    rng = random.Random(1)
    assert JOBS.delay(1, rng, retry_after=300) == 300
    assert JOBS.delay(1, rng, retry_after=10**9) == 6 * 3600
    assert within(JOBS.delay(1, rng, retry_after=1), 30), "a shorter Retry-After does not shorten the wait"


def test_the_same_seed_gives_the_same_waits():
    """Randomness is injected: a seeded generator makes the schedule exact."""
    assert [DELIVERY.delay(n, random.Random(5)) for n in range(1, 6)] == \
        [DELIVERY.delay(n, random.Random(5)) for n in range(1, 6)]


@given(attempts=st.integers(1, 7), seed=st.integers(0, 2**32))
def test_delivery_waits_grow(attempts, seed):
    """Each wait is longer than the one before, jitter included, up to the longest wait."""
    rng = random.Random(seed)
    assert DELIVERY.delay(attempts + 1, rng) > DELIVERY.delay(attempts, rng)


@given(attempts=st.integers(-5, 10**6), seed=st.integers(0, 2**32),
       steps=st.lists(st.floats(1, 1e4), min_size=1, max_size=5), growth=st.floats(1, 10), cap=st.floats(1, 1e7))
def test_any_policy_is_capped(attempts, seed, steps, growth, cap):
    """However many attempts, a wait is positive and within the cap plus jitter (no float overflow)."""
    policy = Backoff(tuple(steps), growth, cap)
    wait = policy.delay(attempts, random.Random(seed))
    assert 0 < wait <= cap * (1 + JITTER)
