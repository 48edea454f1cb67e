"""The delivery queue's two halves: the retry policy (a pure function) and the worker that sends queued rows.

Policy (``decide``), for one attempt of one row:

- 2xx → done.
- 429 and 503 → again when ``Retry-After`` says (backoff when it says nothing).
- 5xx, 408, timeouts and connection errors → again after about 1 min, 5 min, 30 min, 2 h, 8 h, then 4× longer each
  time (``retry.DELIVERY``: ±20 % jitter, so a thousand rows failing together do not come back together), never
  past ``max_age`` after the row was queued: the last attempt is made at that limit, and a failure then is final.
- 404 and 410 → the inbox is gone: the row is dead, and a follower whose personal inbox it was is removed.
- 401 → the client has already tried the other signature style (double-knock); like any other 4xx: dead.
- any other 4xx (and a destination the SSRF guard refuses) → dead, never retried: it would not get better.

Worker (``DeliveryWorker``): claims due rows with a lease (``store.claim_deliveries``, atomic across processes:
two workers never hold the same row), at most ``concurrency`` in hand overall and ``per_host`` per host. The caps
are applied when CLAIMING (hosts already full are skipped, the others get only their free slots), so a claimed
row is sent at once and never waits behind a slow host while its lease runs out; one slow or dead host only ever
occupies its own ``per_host`` slots. Every send is cut at ``2 × timeout`` (two knocks), well inside the lease,
so a row is never sent by two workers at once; a crashed worker's rows come back when their lease expires.

Circuit breaker: a host failing without a success for ``dead_host_days`` is skipped, probed with one row once a
day; when it answers, its pending rows resume. Its rows older than ``max_age`` are given up meanwhile.

The activity bytes come from the store; the client signs each attempt at send time, so that a
retry carries a fresh date (docs/receivers.md, Common failures).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import functools
import logging
import os
import random
import socket
from collections.abc import Callable
from dataclasses import dataclass

from .client import Client
from .config import Config, DeliveryConfig
from .errors import DeliveryError, FediError
from .retry import DELIVERY
from .store import Delivery, Store

log = logging.getLogger(__name__)

Clock = Callable[[], dt.datetime]

DONE, RETRY, DEAD, REMOVE_FOLLOWER = "done", "retry", "dead", "remove_follower"
MIN_WAIT = 1.0
"""The shortest wait honoured for a ``Retry-After`` (0 would make a hot loop)."""
PROBE_EVERY = 86400.0
"""How often a dead host gets one row (seconds)."""
POLL = 1.0
"""The longest the worker sleeps without looking at the store: a publish by another process waits at most this."""
REFILL_DELAY = 0.02
"""Seconds a running worker lets finishing sends pile up before claiming again, when only a few slots are free:
one claim per batch of rows, not one store transaction per row."""
HEALTH_REFRESH = 5.0
"""How often (seconds) the worker re-reads which hosts are dead."""
RETRYABLE = frozenset({408, 429})
"""4xx worth another attempt (the server is busy, not refusing); 401 is not: the client already knocked twice."""


_RNG = random.Random()
"""Jitter for callers of ``decide`` that pass no ``rng`` of their own."""


@dataclass(frozen=True)
class Outcome:
    action: str
    """``done``, ``retry`` (at ``due``), ``dead``, or ``remove_follower`` (dead, and the inbox is gone)."""
    due: dt.datetime | None = None
    reason: str = ""


def decide(status: int | None, kind: str, attempts: int, created: dt.datetime, now: dt.datetime,
           retry_after: float | None = None, rng: random.Random | None = None, *,
           max_age: float = DeliveryConfig.max_age) -> Outcome:
    """What to do with a row after an attempt.

    ``status``: the HTTP status when the server answered, else None. ``kind``: ``http`` (it answered),
    ``timeout``, ``network`` (could not connect, connection dropped), ``refused`` (the SSRF guard refused the
    address) or ``error`` (a bug on our side, recorded on the row). ``attempts``: attempts made, this one
    included. ``created``: when the row was queued (the start of ``max_age``).
    """
    deadline = created + dt.timedelta(seconds=max_age)
    if status is not None:
        if 200 <= status < 300:
            return Outcome(DONE)
        if status in (404, 410):
            return Outcome(REMOVE_FOLLOWER, reason=f"HTTP {status}: the inbox is gone")
        if status in (429, 503) and retry_after is not None:
            due = now + dt.timedelta(seconds=max(retry_after, MIN_WAIT))
            if due > deadline:
                return Outcome(DEAD, reason=f"HTTP {status}: asked to wait past max_age ({max_age:g} s)")
            return Outcome(RETRY, due, f"HTTP {status}: Retry-After {retry_after:g} s")
        if not (status >= 500 or status in RETRYABLE):
            return Outcome(DEAD, reason=f"HTTP {status}: refused, not retried")
    elif kind == "refused":
        return Outcome(DEAD, reason="destination refused (private or invalid address)")
    if now >= deadline:
        return Outcome(DEAD, reason=f"gave up after {attempts} attempt(s) over {max_age:g} s (max_age)")
    due = min(now + dt.timedelta(seconds=DELIVERY.delay(attempts, rng or _RNG)), deadline)
    return Outcome(RETRY, due, f"attempt {attempts} failed ({'HTTP ' + str(status) if status else kind})")


def classify(exc: BaseException) -> tuple[int | None, str, float | None]:
    """(status, kind, retry_after) of a failed send."""
    if isinstance(exc, DeliveryError):
        if exc.status is not None:
            return exc.status, "http", getattr(exc, "retry_after", None)
        if exc.permanent:
            return None, "refused", None
        return None, "timeout" if "timed out" in str(exc) else "network", None
    if isinstance(exc, TimeoutError):
        return None, "timeout", None
    return None, "error", None


class DeliveryWorker:
    """Sends due rows of the delivery queue; several may run on one store (in one process or many)."""

    def __init__(self, config: Config, store: Store, client: Client, clock: Clock | None = None,
                 rng: random.Random | None = None, name: str | None = None) -> None:
        self.config, self.store, self.client = config, store, client
        self.clock: Clock = clock or (lambda: dt.datetime.now(dt.UTC))
        self.rng = rng or random.Random()
        settings = config.delivery
        self.concurrency, self.per_host = settings.concurrency, settings.per_host
        self.send_limit = 2 * settings.timeout
        """Longest one send may take: two knocks (the client retries once in the other signature style)."""
        self.lease = self.send_limit + max(2.0, settings.timeout / 2)
        """Longer than any send, with room to record the outcome: a row is never held by two workers."""
        self.name = name or f"{socket.gethostname()}:{os.getpid()}:{self.rng.getrandbits(32):08x}"
        self.sent = 0
        """Rows resolved (sent, retried or given up) by this worker since it started."""
        self._wake = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()
        self._in_hand: dict[str, int] = {}
        self._dead: dict[str, dt.datetime] = {}   # dead host → last failure (a probe is due a day later)
        self._probing: set[str] = set()
        self._failing: set[str] = set()
        """Hosts the store records as failing (read with the dead hosts, plus this worker's own failures): only
        for them does an answer cost a store write (``host_ok``); a healthy host's deliveries write nothing more."""
        self._health_read: dt.datetime | None = None
        self._successes: list[tuple[int, int]] = []
        self._recording: asyncio.Future[None] | None = None

    # control -------------------------------------------------------------------------------------------------
    def wake(self) -> None:
        """Look at the queue now (a publish in this process just queued rows)."""
        self._wake.set()

    async def run_once(self) -> int:
        """Send every row due now, and those freed meanwhile by finishing ones; the number of rows resolved."""
        self._health_read = None
        before = self.sent
        while True:
            self._wake.clear()
            if await self._fill():
                continue
            if self._wake.is_set():  # a send finished while claiming: the host it freed may have rows to take
                continue
            if not self._tasks:
                return self.sent - before
            await self._wake.wait()

    async def run(self, stop: asyncio.Event | None = None) -> None:
        """Deliver until ``stop`` is set (rows in hand are finished first) or the task is cancelled.

        Wakes on ``wake()``, when a send finishes, and at least every ``POLL`` second to look for rows queued by
        another process (``fedi sync``) or coming due.
        """
        watcher = asyncio.create_task(self._wake_on(stop)) if stop is not None else None
        try:
            while stop is None or not stop.is_set():
                free = self.concurrency - sum(self._in_hand.values())
                if self._tasks and free < max(1, self.concurrency // 4):
                    await asyncio.sleep(REFILL_DELAY)
                self._wake.clear()
                try:
                    if await self._fill():
                        continue
                    pause = await self._idle_for()
                except FediError as exc:  # the store failed for a moment (locked, disk full): try again soon
                    log.warning("delivery worker: %s", exc)
                    pause = POLL
                except Exception:  # the top of the worker loop: a bug must not stop delivery for good
                    log.exception("delivery worker: unexpected error; trying again in %g s", POLL)
                    pause = POLL
                # asyncio.timeout, not wait_for: on Python 3.11 wait_for can swallow a cancellation that lands
                # as the wait ends, and the worker would then never stop (a hang at shutdown)
                with contextlib.suppress(TimeoutError):  # the normal end of an idle pause
                    async with asyncio.timeout(pause):
                        await self._wake.wait()
            await asyncio.gather(*self._tasks, return_exceptions=True)
        except asyncio.CancelledError:
            for task in list(self._tasks):
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
            raise
        finally:
            if watcher is not None:
                watcher.cancel()

    async def _wake_on(self, stop: asyncio.Event) -> None:
        await stop.wait()
        self.wake()

    async def _idle_for(self) -> float:
        now = self.clock()
        due = await self.store.next_due(now)
        if due is None or due <= now:  # nothing, or rows we cannot take yet (full or dead hosts): poll
            return POLL
        return min(POLL, (due - now).total_seconds())

    # claiming ------------------------------------------------------------------------------------------------
    async def _fill(self) -> int:
        """Claim as many due rows as the free slots allow and start sending them; how many were claimed."""
        free = self.concurrency - sum(self._in_hand.values())
        if free <= 0:
            return 0
        now = self.clock()
        await self._read_health(now)
        full = {h for h, n in self._in_hand.items() if n >= self.per_host}
        busy = {h: n for h, n in self._in_hand.items() if n < self.per_host}
        rows = await self.store.claim_deliveries(now, free, self.lease, self.name, skip_hosts=full | set(self._dead),
                                                 per_host=self.per_host, busy=busy)
        for host, last_failure in self._dead.items():
            if len(rows) >= free:
                break
            if host in self._probing or host in full or (now - last_failure).total_seconds() < PROBE_EVERY:
                continue
            probe = await self.store.claim_deliveries(now, 1, self.lease, self.name, hosts=[host])
            if probe:
                log.info("delivery: probing %s, failing since it was declared dead", host)
                self._probing.add(host)
                rows.extend(probe)
        for row in rows:
            self._in_hand[row.host] = self._in_hand.get(row.host, 0) + 1
            task = asyncio.create_task(self._deliver(row), name=f"fedi-deliver-{row.id}")
            self._tasks.add(task)
            task.add_done_callback(functools.partial(self._finished, host=row.host))
        return len(rows)

    def _release(self, host: str) -> None:
        """A send is over: its slot (and its host's) may take another row."""
        left = self._in_hand.get(host, 1) - 1
        if left > 0:
            self._in_hand[host] = left
        else:
            self._in_hand.pop(host, None)
            self._probing.discard(host)
        self._wake.set()

    def _finished(self, task: asyncio.Task[None], *, host: str) -> None:
        self._tasks.discard(task)
        self._wake.set()
        if not task.cancelled() and task.exception() is not None:
            # recording the outcome failed (the store): the lease runs out and the row is tried again
            log.error("delivery: could not record an outcome for %s: %s", host, task.exception())

    async def _read_health(self, now: dt.datetime) -> None:
        """Refresh the dead hosts (every few seconds), and give up their rows older than ``max_age``."""
        if self._health_read is not None and 0 <= (now - self._health_read).total_seconds() < HEALTH_REFRESH:
            return
        self._health_read = now
        settings = self.config.delivery
        dead: dict[str, dt.datetime] = {}
        limit = now - dt.timedelta(days=settings.dead_host_days)
        # every failing host (days=0), a day of margin for another process's clock running ahead of ours
        for host in await self.store.dead_hosts(now + dt.timedelta(days=1), 0.0):
            self._failing.add(host.host)
            if host.failing_since > limit:
                continue
            state = await self.store.host_state(host.host)
            dead[host.host] = state.last_failure if state else host.failing_since
        self._dead = dead
        if dead:
            before = now - dt.timedelta(seconds=settings.max_age)
            await self.store.expire_deliveries(now, before, dead, f"host unreachable for {settings.dead_host_days:g} "
                                               "days or more (dead_host_days), and the delivery is older than max_age")

    # sending -------------------------------------------------------------------------------------------------
    async def _deliver(self, row: Delivery) -> None:
        released = False
        try:
            status, kind, error, elapsed, now, outcome = await self._attempt(row)
            if outcome.action == DONE and row.host not in self._dead:
                # the next row may go while this success is written (the row stays leased until it is); a failure
                # keeps its slot until the host's health is updated, so a failing host is not sent more meanwhile
                released = True
                self._release(row.host)
            await self._record(row, outcome, status, error, now)
            await self._health(row.host, status, kind, now)
        finally:
            if not released:
                self._release(row.host)
        self.sent += 1
        log.info("delivery host=%s status=%s duration=%dms outcome=%s attempt=%d inbox=%s activity=%s%s",
                 row.host, status if status is not None else kind, elapsed * 1000, outcome.action, row.attempts,
                 row.inbox, row.activity_id, f" error={error[:300]!r}" if error else "")

    async def _attempt(self, row: Delivery) -> tuple[int | None, str, str, float, dt.datetime, Outcome]:
        """One POST of the row: (status, kind, error, seconds it took, when it ended, what to do now)."""
        loop = asyncio.get_running_loop()
        started = loop.time()
        status: int | None = None
        kind, error, retry_after = "http", "", None
        try:
            async with asyncio.timeout(self.send_limit):
                status = await self.client.post_activity(row.inbox, row.body, role=row.actor_role)
        except Exception as exc:  # the top of the worker: every failure is recorded on the row
            status, kind, retry_after = classify(exc)
            error = str(exc) or f"no answer within {self.send_limit:g} s"
            if kind == "timeout" and not str(exc):
                error = f"POST {row.inbox}: no answer within {self.send_limit:g} s"
            if kind == "error":
                log.exception("delivery %s to %s: unexpected error", row.activity_id, row.inbox)
                error = f"{type(exc).__name__}: {exc}"
        elapsed = loop.time() - started
        now = self.clock()
        outcome = decide(status, kind, row.attempts, row.created, now, retry_after, self.rng,
                         max_age=self.config.delivery.max_age)
        return status, kind, error, elapsed, now, outcome

    async def _record(self, row: Delivery, outcome: Outcome, status: int | None, error: str,
                      now: dt.datetime) -> None:
        if outcome.action == DONE:
            await self._done(row.id, status or 200, now)
        elif outcome.action == RETRY:
            assert outcome.due is not None
            await self.store.delivery_retry(row.id, outcome.due, status, error, now)
        else:
            await self.store.delivery_dead(row.id, status, f"{error} ({outcome.reason})" if error else outcome.reason,
                                           now)
        if outcome.action == REMOVE_FOLLOWER:
            removed = await self.store.remove_followers_at_inbox(row.inbox)
            if removed:
                log.info("delivery: removed %d follower(s) whose inbox %s answered %s", removed, row.inbox, status)

    async def _done(self, delivery_id: int, status: int, now: dt.datetime) -> None:
        """Record a success together with the others of this pass of the loop: one store call for a batch.

        Sends finish in bursts (a fan-out answers dozens at once); one write each would cost more than the rest
        of the bookkeeping (batched by hand, as ``client.Signer`` says why). Returns once the batch holding this row
        is written; until then the row stays leased, so no other worker takes it."""
        self._successes.append((delivery_id, status))
        if self._recording is None:
            self._recording = asyncio.ensure_future(self._record_successes(now))
        await asyncio.shield(self._recording)

    async def _record_successes(self, now: dt.datetime) -> None:
        # started as a task, so it runs after the sends that finished in the same pass have joined the batch
        batch, self._successes, self._recording = self._successes, [], None
        await self.store.deliveries_done(batch, now)

    async def _health(self, host: str, status: int | None, kind: str, now: dt.datetime) -> None:
        """Count failures of the host itself (no answer, 5xx) toward the circuit breaker; an answer clears them."""
        if kind == "http" and status is not None and status < 500:
            if host in self._failing or host in self._dead:
                self._failing.discard(host)
                if await self.store.host_ok(host) and host in self._dead:
                    log.info("delivery: %s answers again; its pending deliveries resume", host)
                self._dead.pop(host, None)
        elif kind in ("timeout", "network") or (status is not None and status >= 500):
            self._failing.add(host)
            await self.store.host_failed(host, now)
            if host in self._dead:
                self._dead[host] = now  # the probe failed: the next one in a day
