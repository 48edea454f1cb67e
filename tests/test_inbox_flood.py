"""The inbox under a flood: verified POSTs are stored as ``activities`` jobs and handled later, in order.

``jobs.Pressure`` decides (unit tests with a hand-moved clock); ``jobs.Backlog`` stores them together; the real
app is driven into the flooded state by setting its pressure's limit to 0 (every POST is "more than the limit").
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging

import pytest

from fedi import inbox, jobs
from fedi.app import job_worker
from fedi.errors import StoreError
from fedi.inbox import DEFERRED
from fedi.jobs import Backlog, Pressure
from tests.fedi_app import AS, FediApp
from tests.remote import RemoteServer
from tests.test_interactions import SLUG, like, mastodon_reply, post, talk_id, undo

pytestmark = pytest.mark.usefixtures("loopback_only")

NOW = dt.datetime(2026, 11, 26, 12, 0, tzinfo=dt.UTC)


class Clock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


# Pressure --------------------------------------------------------------------------------------------------------

def test_a_few_requests_at_once_are_handled_at_once():
    """Up to ``limit`` requests in hand: not flooded, nothing deferred, the worker runs."""
    pressure = Pressure(limit=2, clock=Clock())
    with pressure.receiving(), pressure.receiving():
        assert not pressure.flooded() and not pressure.should_defer() and not pressure.worker_waits()


def test_more_than_the_limit_floods_for_a_while():
    """One request over the limit floods the inbox; it stays flooded HOLD_SECONDS after, then not."""
    clock = Clock()
    pressure = Pressure(limit=1, clock=clock)
    with pressure.receiving(), pressure.receiving():
        assert pressure.flooded() and pressure.should_defer() and pressure.worker_waits()
    clock.t += jobs.HOLD_SECONDS - 0.01
    assert pressure.flooded()
    clock.t += 0.02
    assert not pressure.flooded() and not pressure.should_defer()


def test_deferring_lasts_until_the_worker_finds_the_queue_empty():
    """Once something was deferred, later POSTs are deferred too (none may overtake it) until ``settled``."""
    clock = Clock()
    pressure = Pressure(limit=0, clock=clock)
    with pressure.receiving(), pressure.deferring():
        pass
    clock.t += 60
    assert not pressure.flooded() and pressure.should_defer()
    pressure.settled()
    assert not pressure.should_defer()


def test_settled_while_a_deferred_post_is_being_stored_keeps_deferring():
    """The worker's empty claim may come before a deferred POST is committed: deferring goes on."""
    pressure = Pressure(limit=0, clock=Clock())
    with pressure.deferring():
        pressure.settled()
        assert pressure.should_defer()
    pressure.settled()
    assert not pressure.should_defer()


def test_the_worker_waits_during_a_flood_but_not_longer_than_defer_seconds():
    """Deferred activities wait while the flood lasts, at most DEFER_SECONDS from the first one."""
    clock = Clock()
    pressure = Pressure(limit=0, clock=clock)
    with pressure.receiving(), pressure.deferring():
        assert pressure.worker_waits()
    for _ in range(int(jobs.DEFER_SECONDS / 0.25) + 1):
        clock.t += 0.25
        with pressure.receiving():  # the flood goes on
            pass
    assert pressure.flooded() and not pressure.worker_waits()


# Backlog ---------------------------------------------------------------------------------------------------------

async def test_backlog_stores_concurrent_posts_and_refuses_blocked_actors(store):
    """Many adds at once: each gets True once its job is stored, False for a blocked actor (no job)."""
    await store.block("blocked.example")
    backlog = Backlog(store, Pressure())
    actors = [f"https://a{i}.example/users/u" for i in range(20)] + ["https://x.blocked.example/users/u"]
    added = await asyncio.gather(*(backlog.add(a, {"n": i}, NOW) for i, a in enumerate(actors)))
    assert added == [True] * 20 + [False]
    claimed = await store.claim_jobs(NOW, 100, 60, "t")
    assert sorted(j.payload["n"] for j in claimed) == list(range(20))
    assert {j.kind for j in claimed} == {DEFERRED}


async def test_backlog_hands_a_store_failure_to_every_waiting_post(store):
    """The store failing: every POST of the batch hears it (and answers 503), none hangs."""
    backlog = Backlog(store, Pressure())
    await store.close()
    results = await asyncio.gather(*(backlog.add(f"https://a{i}.example/u", {}, NOW) for i in range(3)),
                                   return_exceptions=True)
    assert all(isinstance(r, StoreError) for r in results)


# the app, flooded ------------------------------------------------------------------------------------------------

async def flooded(fedi, **sections) -> FediApp:
    app = await fedi(**sections)
    app.ctx.pressure.limit = 0
    return app


async def deferred_jobs(app: FediApp) -> int:
    return (await app.ctx.store.status(dt.datetime.now(dt.UTC))).jobs["pending"]


async def test_flooded_inbox_answers_202_and_handles_later(fedi, remote_server: RemoteServer):
    """Under a flood a Like is answered 202 and stored as a job; it counts once the worker has run."""
    app = await flooded(fedi)
    await post(remote_server, app, like(remote_server, talk_id(app)))
    assert tuple(await app.ctx.store.reaction_counts(SLUG)) == (0, 0)
    assert await deferred_jobs(app) == 1
    await app.drain()
    assert tuple(await app.ctx.store.reaction_counts(SLUG)) == (1, 0)
    assert await deferred_jobs(app) == 0


async def test_deferred_activities_of_one_actor_keep_their_order(fedi, remote_server: RemoteServer):
    """Reply, Delete of it, Like, Undo of the Like, replay of the reply: handled in that order, in one claim."""
    app = await flooded(fedi, interactions={"moderation": "none"})
    reply = mastodon_reply(remote_server, talk_id(app))
    liked = like(remote_server, talk_id(app))
    delete = {"@context": AS, "id": reply["object"]["id"] + "#delete", "type": "Delete",
              "actor": remote_server.actor_id(), "object": reply["object"]["id"]}
    for doc in (reply, delete, liked, undo(remote_server, liked), reply):
        await post(remote_server, app, doc)
    assert await deferred_jobs(app) == 5
    await app.drain()
    assert await app.ctx.store.comments(SLUG, state=None) == []
    assert tuple(await app.ctx.store.reaction_counts(SLUG)) == (0, 0)


async def test_blocked_actor_is_refused_under_a_flood_too(fedi, remote_server: RemoteServer):
    """The store's block list is checked in the transaction that stores the job: 403, nothing stored."""
    app = await flooded(fedi)
    await post(remote_server, app, like(remote_server, talk_id(app), n=1))  # its key is now kept in memory
    await app.ctx.store.block(remote_server.actor_id())
    answer = await remote_server.signed_post(app.shared_inbox, like(remote_server, talk_id(app), n=2))
    assert answer.status == 403 and "blocked" in answer.json["error"]
    assert await deferred_jobs(app) == 1


async def test_a_refusal_found_later_is_logged_and_changes_nothing(fedi, remote_server: RemoteServer, caplog):
    """An Undo of someone else's Like is a 403 when handled at once; deferred, it is a 202, logged and dropped."""
    app = await fedi()
    liked = like(remote_server, talk_id(app), actor="alice")
    await post(remote_server, app, liked)
    app.ctx.pressure.limit = 0
    forged = {"@context": AS, "id": remote_server.actor_id("bob") + "#undo", "type": "Undo",
              "actor": remote_server.actor_id("bob"),
              "object": {k: v for k, v in liked.items() if k != "@context"}}
    await post(remote_server, app, forged, actor="bob")
    with caplog.at_level(logging.INFO, logger="fedi.jobs"):
        await app.drain()
    assert tuple(await app.ctx.store.reaction_counts(SLUG)) == (1, 0)
    assert any("refused Undo" in r.getMessage() and "(403)" in r.getMessage() for r in caplog.records)
    assert await deferred_jobs(app) == 0


async def test_after_the_flood_posts_are_handled_at_once_again(fedi, remote_server: RemoteServer):
    """Once the worker has emptied the queue, a POST takes effect before its 202 again."""
    app = await flooded(fedi)
    clock = app.ctx.pressure.clock = Clock()
    await post(remote_server, app, like(remote_server, talk_id(app), n=1))
    app.ctx.pressure.limit = jobs.INLINE_LIMIT
    clock.t += jobs.HOLD_SECONDS  # the flood is over
    await post(remote_server, app, like(remote_server, talk_id(app), actor="bob", n=1), actor="bob")
    assert await deferred_jobs(app) == 2, "deferred behind the first, not handled before it"
    worker = app.worker()
    worker.pressure = app.ctx.pressure
    while await worker.run_once():
        pass
    await post(remote_server, app, like(remote_server, talk_id(app), actor="carol", n=1), actor="carol")
    assert tuple(await app.ctx.store.reaction_counts(SLUG)) == (3, 0)


def follow(remote: RemoteServer, app: FediApp, n: int = 1) -> dict:
    return {"@context": AS, "id": f"{remote.actor_id()}#follows/{n}", "type": "Follow",
            "actor": remote.actor_id(), "object": app.actor()}


async def test_a_deferred_follow_is_answered_in_its_own_job(fedi, remote_server: RemoteServer):
    """The follower's actor is fetched and the Accept queued by the deferred job itself: one claim does it all."""
    app = await flooded(fedi)
    await post(remote_server, app, follow(remote_server, app))
    assert await app.worker().run_once() == 1
    assert await app.ctx.store.count_followers("archive") == 1
    assert await deferred_jobs(app) == 0
    assert (await app.ctx.store.delivery_counts()).pending == 1  # the Accept


async def test_a_deferred_follow_and_its_undo_leave_no_follower(fedi, remote_server: RemoteServer):
    """Follow then Undo, both deferred: the Undo runs after the follower is recorded, so it is removed."""
    app = await flooded(fedi)
    doc = follow(remote_server, app)
    await post(remote_server, app, doc)
    await post(remote_server, app, undo(remote_server, doc))
    await app.drain()
    assert await app.ctx.store.count_followers("archive") == 0


async def test_the_worker_wakes_the_delivery_worker_after_jobs(fedi, remote_server: RemoteServer):
    """Jobs may queue answers: the worker calls ``wake`` after running some, not after an empty claim."""
    app = await flooded(fedi)
    woken = []
    worker = app.worker()
    worker.wake = lambda: woken.append(1)
    assert await worker.run_once() == 0 and woken == []
    await post(remote_server, app, follow(remote_server, app))
    assert await worker.run_once() == 1 and woken == [1]


async def test_the_app_wired_job_worker_handles_deferred_likes_and_replies(fedi, remote_server: RemoteServer):
    """Deferred Likes and replies are handled by a job worker built as the app builds it (``app.job_worker``);
    nothing depends on which modules a process happened to import."""
    app = await flooded(fedi)
    await post(remote_server, app, like(remote_server, talk_id(app)))
    await post(remote_server, app, mastodon_reply(remote_server, talk_id(app)))
    assert await deferred_jobs(app) == 2
    worker = job_worker(app.ctx)
    while await worker.run_once():
        pass
    assert tuple(await app.ctx.store.reaction_counts(SLUG)) == (1, 0)
    assert len(await app.ctx.store.comments(SLUG, None)) == 1
    assert await deferred_jobs(app) == 0


def test_importing_a_module_plugs_in_nothing():
    """The core dispatcher is the same before and after importing the module with more handlers: handlers
    reach a process only through the dispatcher it was wired with."""
    before = inbox.core()
    import fedi.interactions

    assert inbox.core() == before and "Like" not in before.handlers
    assert "Like" in fedi.interactions.dispatcher().handlers
