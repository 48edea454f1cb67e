"""The worker for durable jobs: the slow half of inbox handling (fetching actors before acting on them).

Jobs are rows in the store (``store.add_job``), so they survive restarts and several processes can share them:
``fedi serve`` runs the worker, while ``fedi followers approve`` (another process) only adds rows. A claim
leases a job; if this process dies, the lease runs out and another claim takes it again, so every job runs
at least once — each kind is written to be harmless when repeated.

Kinds (payloads are JSON):
- ``follow`` {role, follow, actor}: get the follower's actor document (cached if fresh, else a signed GET), record
  the follower (pending when the archive approves followers by hand) and queue the Accept; a Follow of
  something else, or from a blocked actor, gets a Reject and nothing is stored.
- ``move`` {old, new}: fetch the new actor; if its ``alsoKnownAs`` lists the old one, the follower moves.
- ``activities`` {activities, signer, received}: what one POST brought while the inbox was flooded, verified
  and checked already, handled now by ``inbox.process`` as it would have been at once (see ``Pressure``); the
  slow work a handler asks for (a Follow's actor fetch) is done right there, in order, not queued again.

Answers (Accept, Reject) are not sent here: ``inbox.queue_answer`` stores them with a delivery row, and the
delivery worker sends them, signed at send time, with its retry rules.

Retries: a remote failure is retried with exponential backoff and jitter (``retry.JOBS``; ``Retry-After``
obeyed), up to ``MAX_ATTEMPTS`` or ``delivery.max_age``; a permanent failure (404/410, other 4xx, refused
address) fails the job at once. A job of a kind this process was not wired for is logged and retried likewise.
Failed jobs stay in the store for ``fedi status``.

Order: the jobs of one claim run concurrently, except the ``activities`` of one actor, which run one after the
other in the order they came (a Delete must not overtake the Create it deletes).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import os
import random
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from typing import Any

from . import inbox
from .actors import RemoteActor, read_actor
from .board import Board
from .client import MAX_REDIRECTS, Client
from .config import Config
from .errors import ActivityError, RemoteError
from .retry import JOBS
from .store import Follower, Job, Store
from .urls import ARCHIVE, ROLES, Urls, host
from .verify import Signer

log = logging.getLogger(__name__)

Clock = Callable[[], dt.datetime]

BATCH = 64
"""Jobs claimed (and run concurrently) at once: 64 handle deferred activities 25 - 40 % faster than 16 (their
store operations share group commits), measured by claiming 4,000 stored Likes or 1,333 Follows in a loop."""
LEASE_SECONDS = 120.0
"""The longest a claimed job stays invisible to other workers (see ``lease_for``)."""
MAX_ATTEMPTS = 12
IDLE_SECONDS = 1.0
"""The loop looks for new jobs at least this often (the CLI adds them from another process)."""

INLINE_LIMIT = 8
"""Inbox requests in hand at once above which the inbox is flooded (see ``Pressure``)."""
HOLD_SECONDS = 0.25
"""How long the inbox stays flooded after the last moment it was."""
DEFER_SECONDS = 5.0
"""The longest the worker leaves deferred activities waiting while the inbox stays flooded."""
PAUSE_SECONDS = 0.05
"""How often the waiting worker looks whether the flood is over."""

class Permanent(Exception):
    """This job can never succeed: fail it now, without retrying."""


def lease_for(config: Config) -> float:
    """How long a claimed job is leased: longer than any job takes — one actor fetch, whose requests (redirects
    followed, a second knock in the other signature style) are each cut at ``delivery.timeout`` — and no longer,
    so that the jobs of a fedi killed with kill -9 are taken up again soon (a Follow stays unanswered for as long
    as its job's lease; tests/reliability/test_crashes.py)."""
    return min(LEASE_SECONDS, 2 * (MAX_REDIRECTS + 1) * config.delivery.timeout + 10.0)


class Pressure:
    """How hard this process's inbox is pushed, shared by the inbox (which defers) and the worker (which waits).

    Handling an activity costs a few times more than verifying it (store reads and writes, an Accept to sign).
    Under a flood — more than ``limit`` inbox requests in hand at once — the inbox only verifies and checks
    each POST, stores it as an ``activities`` job in a group commit and answers 202, as Mastodon does always;
    the worker leaves those jobs alone while the flood lasts, up to ``DEFER_SECONDS``, so the one core serves
    the senders first. Once the inbox defers, it keeps deferring until the worker has found the queue empty:
    an activity handled at once must not overtake one that came before it and waits in the queue. With several
    worker processes, that mark is shared (``Board``): one process's deferral makes all of them defer.
    Out of a flood (one sender at a time) activities are handled at once, and a handler's refusal (a 403 for
    an Undo of someone else's Like) is the HTTP answer; deferred, it is logged.
    """

    def __init__(self, limit: int = INLINE_LIMIT, clock: Callable[[], float] = time.monotonic,
                 board: Board | None = None) -> None:
        self.limit, self.clock = limit, clock
        self.in_hand = 0
        self._flooded_at = -HOLD_SECONDS
        self.board = board or Board()

    @contextmanager
    def receiving(self) -> Iterator[None]:
        """Around each inbox request."""
        self.in_hand += 1
        if self.in_hand > self.limit:
            self._flooded_at = self.clock()
        try:
            yield
        finally:
            self.in_hand -= 1

    @contextmanager
    def deferring(self) -> Iterator[None]:
        """Around storing a deferred POST."""
        self.board.mark(self.clock())
        self.board.storing(1)
        try:
            yield
        finally:
            self.board.storing(-1)

    def flooded(self) -> bool:
        return self.clock() - self._flooded_at < HOLD_SECONDS

    def should_defer(self) -> bool:
        return self.flooded() or self.board.since() is not None

    def worker_waits(self) -> bool:
        """While flooded, deferred activities wait, but never longer than ``DEFER_SECONDS``."""
        if not self.flooded():
            return False
        since = self.board.since()
        return since is None or self.clock() - since < DEFER_SECONDS

    def settled(self) -> None:
        """The worker found nothing due: whatever was deferred has been handled."""
        self.board.settle(self.clock())


class Backlog:
    """Deferred POSTs, stored together: those of one turn of the event loop make one ``Store.add_jobs_of``,
    one transaction and one trip to the store's thread instead of one each (the trip costs more than the row).
    ``add`` returns once its job is committed, so a 202 still means "kept"; False means the actor is blocked.
    (Written out rather than shared with the signer's batching: see ``client.Signer``.)"""

    def __init__(self, store: Store, pressure: Pressure) -> None:
        self.store, self.pressure = store, pressure
        self._waiting: list[tuple[str, dict[str, Any], asyncio.Future[bool]]] = []
        self._writes: set[asyncio.Task[None]] = set()

    async def add(self, actor_id: str, payload: dict[str, Any], now: dt.datetime) -> bool:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[bool] = loop.create_future()
        self._waiting.append((actor_id, payload, future))
        if len(self._waiting) == 1:
            loop.call_soon(self._flush, now)
        with self.pressure.deferring():
            return await future

    def _flush(self, now: dt.datetime) -> None:
        batch, self._waiting = self._waiting, []
        task = asyncio.ensure_future(self._write(batch, now))
        self._writes.add(task)  # held until done: the loop keeps only weak references to tasks
        task.add_done_callback(self._writes.discard)

    async def _write(self, batch: list[tuple[str, dict[str, Any], asyncio.Future[bool]]], now: dt.datetime) -> None:
        try:
            added = await self.store.add_jobs_of(inbox.DEFERRED, [(a, p) for a, p, _ in batch], now)
        except Exception as exc:  # each waiting request answers with it (the store's error: 503)
            for _, _, future in batch:
                if not future.done():
                    future.set_exception(exc)
            return
        for (_, _, future), ok in zip(batch, added, strict=True):
            if not future.done():  # its request may have gone (the sender hung up): the job stays
                future.set_result(ok)


class UnknownKind(Exception):
    """A job of a kind this process was not wired for: kept and retried (a process wired with every handler, or
    a newer fedi, can run it), never dropped."""


class JobWorker:
    """Runs the jobs of ``dispatcher``'s kinds (and this module's), handing deferred activities to it."""

    def __init__(self, config: Config, urls: Urls, store: Store, client: Client, dispatcher: inbox.Dispatcher,
                 clock: Clock = lambda: dt.datetime.now(dt.UTC), pressure: Pressure | None = None,
                 wake: Callable[[], None] | None = None, rng: random.Random | None = None) -> None:
        self.config, self.urls, self.store, self.client, self.clock = config, urls, store, client, clock
        self.rng = rng or random.Random()
        """The jitter of retries (``retry.JOBS``)."""
        self.dispatcher = dispatcher
        self.pressure = pressure or Pressure()
        self.wake = wake
        """Called after jobs ran: they may have queued answers (this process's delivery worker sends them)."""
        self.name = f"jobs-{os.getpid()}-{id(self):x}"
        self.kinds: dict[str, Callable[[dict[str, Any]], Any]] = {
            inbox.FOLLOW: self._follow, inbox.MOVE: self._move, inbox.DEFERRED: self._activities}
        self.kinds.update({kind: partial(run, self) for kind, run in dispatcher.job_kinds.items()})
        self._started = False

    # the loop ------------------------------------------------------------------------------------------------
    async def run_once(self) -> int:
        """Claim the due jobs and run them; returns how many were claimed."""
        if not self._started:
            self._started = True
            await self.enforce_config_blocks()
        jobs = await self.store.claim_jobs(self.clock(), BATCH, lease_for(self.config), self.name)
        lanes: dict[str, list[Job]] = {}
        for job in jobs:  # one actor's activities in order; everything else side by side
            lane = job.payload["signer"]["actor_id"] if job.kind == inbox.DEFERRED else f"#{job.id}"
            lanes.setdefault(lane, []).append(job)
        if lanes:
            await asyncio.gather(*(self._run_lane(lane) for lane in lanes.values()))
            if self.wake is not None:
                self.wake()
        else:
            self.pressure.settled()
        return len(jobs)

    async def _run_lane(self, jobs: list[Job]) -> None:
        for job in jobs:
            await self._run(job)

    async def run(self, stop: asyncio.Event | None = None) -> None:
        """Run jobs until ``stop`` is set (or the task is cancelled); sleeps until the next one is due, but
        looks again at least every second."""
        stop = stop or asyncio.Event()
        while not stop.is_set():
            if self.pressure.worker_waits():
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(PAUSE_SECONDS):
                        await stop.wait()
                continue
            try:
                if await self.run_once():
                    continue
                now = self.clock()
                due = await self.store.next_job_due(now)
                wait = IDLE_SECONDS if due is None else min(IDLE_SECONDS, (due - now).total_seconds())
            except Exception:  # the store failed for a moment (disk full, locked): try again shortly
                log.exception("the job worker failed; trying again")
                wait = IDLE_SECONDS
            if wait > 0:
                with contextlib.suppress(TimeoutError):  # asyncio.timeout: see DeliveryWorker.run
                    async with asyncio.timeout(wait):
                        await stop.wait()

    async def enforce_config_blocks(self) -> int:
        """Followers on a domain of ``security.blocked_domains`` (added to the config after they followed)
        are removed and sent a Reject, as ``fedi block`` does. The config is not copied into the store."""
        count = 0
        for domain in self.config.security.blocked_domains:
            gone = await inbox.block_followers(self.config, self.urls, self.store, domain, self.clock())
            for follower in gone:
                log.info("removed follower %s of %s: %s is blocked in the config", follower.actor_id,
                         follower.role, domain)
            count += len(gone)
        return count

    async def _run(self, job: Job) -> None:
        handler = self.kinds.get(job.kind)
        try:
            if handler is None:
                raise UnknownKind(f"no handler for job kind {job.kind!r} in this process (written by a newer "
                                  f"fedi, or a process wired without it?)")
            await handler(job.payload)
        except Permanent as exc:
            log.warning("job %d (%s) failed for good: %s", job.id, job.kind, exc)
            await self.store.fail_job(job.id, str(exc))
        except Exception as exc:  # the top of the worker: the error is kept on the row, the job retried
            await self._retry(job, exc)
        else:
            await self.store.finish_job(job.id)

    async def _retry(self, job: Job, exc: Exception) -> None:
        message = str(exc) or type(exc).__name__
        if isinstance(exc, UnknownKind):
            log.error("job %d: %s", job.id, exc)
        elif not isinstance(exc, RemoteError):
            log.exception("job %d (%s) failed", job.id, job.kind, exc_info=exc)
        now = self.clock()
        too_old = (now - job.created).total_seconds() > self.config.delivery.max_age
        if job.attempts >= MAX_ATTEMPTS or too_old:
            log.warning("job %d (%s) failed %d times, giving up: %s", job.id, job.kind, job.attempts, message)
            await self.store.fail_job(job.id, message)
            return
        delay = JOBS.delay(job.attempts, self.rng, getattr(exc, "retry_after", None))
        log.info("job %d (%s) failed (%s); retrying in %.0f s", job.id, job.kind, message, delay)
        await self.store.retry_job(job.id, now + dt.timedelta(seconds=delay), message)

    # remote actors -------------------------------------------------------------------------------------------
    async def remote_actor(self, actor_id: str, fresh: bool = False) -> RemoteActor:
        """The actor's document: the cached one when recent (the verifier has just fetched it, usually), else a
        signed GET whose result is cached. Gone (404/410) or malformed: Permanent."""
        now = self.clock()
        cached = None if fresh else await self.store.cached_actor(actor_id)
        if cached is not None and (now - cached.fetched_at).total_seconds() < self.config.security.key_cache_seconds:
            try:
                return read_actor(cached.document)
            except ActivityError:
                pass  # fetch it again
        try:
            document = await self.client.get_json(actor_id)
        except RemoteError as exc:
            if exc.status in (404, 410):
                await self.store.mark_gone(actor_id, now)
                raise Permanent(f"actor {actor_id} is gone: {exc}") from None
            if exc.status is not None and 400 <= exc.status < 500 and exc.status not in (401, 408, 429):
                raise Permanent(str(exc)) from None
            raise
        try:
            actor = read_actor(document)
        except ActivityError as exc:
            raise Permanent(f"{actor_id}: {exc.reason}") from None
        if actor.id != actor_id:
            raise Permanent(f"{actor_id}: the document's id is {actor.id}")
        await self.store.cache_actor(actor.id, document, inbox.key_rows(actor), now)
        return actor

    # kinds ---------------------------------------------------------------------------------------------------
    async def _follow(self, payload: dict[str, Any]) -> None:
        role: str | None = payload.get("role")
        follow: dict[str, Any] = payload["follow"]
        actor = await self.remote_actor(payload["actor"])
        now = self.clock()
        blocked = await inbox.is_blocked(self.config, self.store, actor.id)
        if role not in ROLES or blocked:
            why = "blocked" if blocked else f"follows {inbox.ref_id(follow.get('object'))}, not one of our actors"
            log.info("rejected the Follow of %s: %s", actor.id, why)
            await inbox.queue_answer(self.urls, self.store, "Reject", role if role in ROLES else ARCHIVE, follow,
                                     actor.inbox, now)
            return
        existing = await self.store.follower(role, actor.id)
        by_hand = role == ARCHIVE and self.config.actor.manually_approves_followers
        state = "accepted" if not by_hand or (existing is not None and existing.state == "accepted") else "pending"
        follow_id = inbox.ref_id(follow)
        await self.store.add_follower(Follower(role=role, actor_id=actor.id, inbox=actor.inbox,
                                               shared_inbox=actor.shared_inbox, host=host(actor.id),
                                               follow_id=follow_id, since=now, state=state))
        if state == "pending":
            log.info("%s asks to follow %s: waiting for 'fedi followers approve'", actor.id, role)
            return
        log.info("%s follows %s%s", actor.id, role, " (again)" if existing else "")
        await inbox.queue_answer(self.urls, self.store, "Accept", role, follow, actor.inbox, now)

    async def _activities(self, payload: dict[str, Any]) -> None:
        """Deferred activities, handled as the inbox would have; a handler's refusal is logged, not retried."""
        signer = Signer(**payload["signer"])
        received = dt.datetime.fromisoformat(payload["received"])
        inb = inbox.Inbound(self.config, self.urls, self.store, received, signer, self.dispatcher,
                            run_now=self._run_now)
        for activity in payload["activities"]:
            try:
                await inbox.process(inb, activity)
            except ActivityError as exc:
                log.info("refused %s %s from %s (%d): %s", activity.get("type"), inbox.ref_id(activity),
                         signer.actor_id, exc.status, exc.reason)
            except Permanent as exc:  # its slow part can never succeed (the actor is gone): the others go on
                log.warning("dropped %s %s from %s: %s", activity.get("type"), inbox.ref_id(activity),
                            signer.actor_id, exc)

    async def _run_now(self, kind: str, payload: dict[str, Any]) -> None:
        """A job's work done at once, inside a deferred POST's job (``Inbound.later``); a kind this process does
        not run is stored as a job of its own instead, to be retried."""
        handler = self.kinds.get(kind)
        if handler is None:
            await self.store.add_job(kind, payload, self.clock())
            return
        await handler(payload)

    async def _move(self, payload: dict[str, Any]) -> None:
        old, new = payload["old"], payload["new"]
        if await inbox.is_blocked(self.config, self.store, new):
            log.info("ignored the Move of %s to %s: the new actor is blocked", old, new)
            return
        target = await self.remote_actor(new, fresh=True)  # alsoKnownAs may have been set moments ago
        if old not in target.also_known_as:
            log.info("ignored the Move of %s to %s: %s does not list it in alsoKnownAs", old, new, new)
            return
        moved = await self.store.move_follower(old, target.id, target.inbox, target.shared_inbox,
                                               host(target.id))
        log.info("%s moved to %s (%d follow(s) moved)", old, target.id, moved)
