"""The retry policy of the delivery queue, as a pure function: statuses, backoff, Retry-After, max_age."""

from __future__ import annotations

import datetime as dt
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fedi.delivery import DEAD, DONE, REMOVE_FOLLOWER, RETRY, classify, decide
from fedi.errors import DeliveryError
from fedi.retry import DELIVERY, JITTER

BACKOFF = DELIVERY.steps

NOW = dt.datetime(2026, 1, 1, 12, 0, tzinfo=dt.UTC)
DAY = 86400.0
MAX_AGE = 2 * DAY


def at(seconds: float) -> dt.datetime:
    return NOW + dt.timedelta(seconds=seconds)


def outcome(status: int | None, kind: str = "http", attempts: int = 1, created: dt.datetime = NOW,
            now: dt.datetime = NOW, retry_after: float | None = None):
    return decide(status, kind, attempts, created, now, retry_after, random.Random(1), max_age=MAX_AGE)


@pytest.mark.parametrize("status", [200, 201, 202, 204, 299])
def test_2xx_is_done(status):
    """Any 2xx answer ends the row."""
    assert outcome(status).action == DONE


@pytest.mark.parametrize("status", [500, 502, 503, 504, 599, 408, 429])
def test_server_errors_and_busy_answers_are_retried(status):
    """5xx, 408 and 429 (without Retry-After) come back after the first backoff step."""
    result = outcome(status)
    assert result.action == RETRY
    assert at(BACKOFF[0] * (1 - JITTER)) <= result.due <= at(BACKOFF[0] * (1 + JITTER))


@pytest.mark.parametrize("kind", ["timeout", "network", "error"])
def test_no_answer_is_retried(kind):
    """Timeouts, connection errors and our own bugs are retried with backoff."""
    assert outcome(None, kind).action == RETRY


@pytest.mark.parametrize("status", [400, 401, 403, 405, 406, 409, 413, 415, 422, 451, 301, 302, 100])
def test_other_answers_are_dead_at_once(status):
    """Other 4xx (401 included: the client already knocked in the other style) and odd statuses are not retried."""
    result = outcome(status)
    assert result.action == DEAD
    assert str(status) in result.reason


@pytest.mark.parametrize("status", [404, 410])
def test_gone_inbox_removes_the_follower(status):
    """404 and 410 mean the inbox is gone: the follower behind a personal inbox is removed."""
    assert outcome(status).action == REMOVE_FOLLOWER


def test_refused_destination_is_dead():
    """A destination the SSRF guard refuses will never be allowed: dead."""
    assert outcome(None, "refused").action == DEAD


@pytest.mark.parametrize("status", [429, 503])
def test_retry_after_is_honoured_exactly(status):
    """429 and 503 with Retry-After come back exactly when the server asked, not on the backoff schedule."""
    result = outcome(status, retry_after=1234)
    assert result.action == RETRY and result.due == at(1234)


def test_retry_after_zero_still_waits_a_moment():
    """Retry-After: 0 does not make a hot loop."""
    assert outcome(429, retry_after=0).due == at(1)


def test_retry_after_past_max_age_is_dead():
    """A server that asks to wait beyond the row's max_age gets no more attempts."""
    assert outcome(503, retry_after=MAX_AGE + 1).action == DEAD


def test_retry_after_on_other_statuses_is_ignored():
    """Retry-After on a 500 does not override the backoff (only 429 and 503 carry it meaningfully)."""
    result = outcome(500, retry_after=5)
    assert result.due > at(BACKOFF[0] * (1 - JITTER) - 1)


def test_last_attempt_is_made_at_max_age():
    """A wait that would pass max_age is shortened to it: one last attempt at the limit, then dead."""
    created = at(-MAX_AGE + 100)
    result = outcome(500, attempts=6, created=created)
    assert result.action == RETRY and result.due == at(100)
    assert outcome(500, attempts=7, created=created, now=at(100)).action == DEAD


def test_success_after_max_age_is_still_done():
    """A late success is a success."""
    assert outcome(202, attempts=9, created=at(-10 * DAY)).action == DONE


def test_classify_delivery_errors():
    """The client's errors map to (status, kind, retry_after)."""
    answered = DeliveryError("POST x: HTTP 429", 429, retry_after=30.0)
    assert classify(answered) == (429, "http", 30.0)
    assert classify(DeliveryError("POST x: refusing to connect", None, permanent=True)) == (None, "refused", None)
    assert classify(DeliveryError("POST x: timed out")) == (None, "timeout", None)
    assert classify(DeliveryError("POST x: cannot connect (refused)")) == (None, "network", None)
    assert classify(TimeoutError()) == (None, "timeout", None)
    assert classify(ValueError("bug")) == (None, "error", None)


statuses = st.one_of(st.none(), st.integers(min_value=100, max_value=599))
kinds = st.sampled_from(["http", "timeout", "network", "refused", "error"])


@given(status=statuses, kind=kinds, attempts=st.integers(1, 40), age=st.floats(0, 5 * DAY),
       retry_after=st.one_of(st.none(), st.floats(0, 5 * DAY)), seed=st.integers(0, 2**32))
def test_policy_invariants(status, kind, attempts, age, retry_after, seed):
    """Whatever happened: done only on 2xx, a retry is in the future and never past max_age, dead otherwise."""
    created = at(-age)
    kind = "http" if status is not None else kind
    result = decide(status, kind, attempts, created, NOW, retry_after, random.Random(seed), max_age=MAX_AGE)
    assert (result.action == DONE) == (status is not None and 200 <= status < 300)
    if result.action == RETRY:
        assert NOW < result.due <= created + dt.timedelta(seconds=MAX_AGE)
    if result.action == REMOVE_FOLLOWER:
        assert status in (404, 410)
    if age >= MAX_AGE and not (status is not None and 200 <= status < 300):
        assert result.action != RETRY


@given(attempts=st.integers(1, 10**6), seed=st.integers(0, 2**32))
def test_a_retry_is_never_due_past_max_age(attempts, seed):
    """However many attempts, the next one is due by the row's max_age (and the wait never overflows a datetime)."""
    result = decide(500, "http", attempts, NOW, NOW, rng=random.Random(seed), max_age=MAX_AGE)
    assert result.action == RETRY and result.due is not None and result.due <= at(MAX_AGE)
