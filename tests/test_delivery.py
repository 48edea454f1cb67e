"""The delivery worker against three real remote servers on 127.0.0.x, with an injected clock instead of sleeps.

A (Mastodon-like) has a shared inbox with three archive followers and one owner follower behind it; B
(PeerTube-like) has followers with personal inboxes only; C (Mastodon-like) is the one made to fail. Each remote
checks our signatures with its own verifier (tests/remote.py), never with fedi's.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import io
import ipaddress
import logging
import random
from dataclasses import dataclass, replace
from urllib.parse import urlsplit

import pytest

from fedi import config as config_mod
from fedi import delivery, publish
from fedi import keys as keys_mod
from fedi.app import make_app, sync_archive
from fedi.client import Client
from fedi.commands.publishing import Progress, sync_command
from fedi.config import Config, urls_for
from fedi.context import CTX
from fedi.delivery import DeliveryWorker
from fedi.netguard import Policy
from fedi.retry import DELIVERY, JITTER
from fedi.store import Follower, QueueCounts, Store, open_store
from fedi.talks import load_archive
from fedi.urls import ARCHIVE, OWNER, Urls
from tests.conftest import ENTRY, until, write_config
from tests.conftest import ManualClock as Clock
from tests.remote import RemoteServer, Reply

pytestmark = pytest.mark.usefixtures("loopback_only")

LOOPBACK_ONLY = Policy(allow_http=True, allow_private=False, exempt=(ipaddress.ip_network("127.0.0.0/8"),))
T0 = dt.datetime(2026, 3, 1, 10, 0, tzinfo=dt.UTC)


@dataclass
class World:
    config: Config
    urls: Urls
    store: Store
    client: Client
    clock: Clock
    a: RemoteServer
    b: RemoteServer
    c: RemoteServer

    def worker(self, **delivery: float) -> DeliveryWorker:
        config = replace(self.config, delivery=replace(self.config.delivery, **delivery)) if delivery else self.config
        return DeliveryWorker(config, self.store, self.client, self.clock, random.Random(0))

    async def sync(self) -> publish.Result:
        loaded, problems = load_archive(self.config.archive.dir, self.config.archive.language)
        assert not problems
        return await publish.sync(self.config, self.urls, self.store, loaded, self.clock())

    async def rows(self, host: RemoteServer | None = None):
        return [r for r in await self.store.deliveries(limit=1000) if host is None or r.host == host.domain]


def follower(role: str, remote: RemoteServer, name: str, shared: bool) -> Follower:
    actor = remote.actor_id(name)
    return Follower(role=role, actor_id=actor, inbox=remote.inbox(name),
                    shared_inbox=remote.shared_inbox if shared else None, host=urlsplit(actor).hostname or "",
                    follow_id=None, since=T0)


async def make_world(config: Config) -> tuple[World, list]:
    urls = urls_for(config)
    keys = keys_mod.load_or_create(config.keys_dir)
    remotes = [await RemoteServer.start(name="a", style="mastodon", host="127.0.0.1"),
               await RemoteServer.start(name="b", style="peertube", host="127.0.0.2"),
               await RemoteServer.start(name="c", style="mastodon", host="127.0.0.3")]
    for remote in remotes:
        for role in (ARCHIVE, OWNER):
            remote.trust(urls.key(role), keys[role].public_pem)
    store = open_store(config.store.url)
    await store.open()
    client = Client(config, urls, keys, policy=LOOPBACK_ONLY)
    await client.start()
    a, b, c = remotes
    for name in ("alice", "bob", "carol"):
        await store.add_follower(follower(ARCHIVE, a, name, shared=True))
    await store.add_follower(follower(OWNER, a, "dave", shared=True))
    await store.add_follower(follower(ARCHIVE, b, "paul", shared=False))
    await store.add_follower(follower(OWNER, b, "olga", shared=False))
    await store.add_follower(follower(ARCHIVE, c, "zed", shared=False))
    world = World(config, urls, store, client, Clock(T0), a, b, c)
    return world, [client.close, store.close, *(r.close for r in remotes)]


@pytest.fixture
async def world(config):
    w, closers = await make_world(config)
    yield w
    for close in closers:
        await close()


def posts(remote: RemoteServer, path: str, kind: str | None = None) -> list:
    return [r for r in remote.received if r.path == path and (kind is None or (r.json or {}).get("type") == kind)]


# fan-out -----------------------------------------------------------------------------------------------------------

async def test_exact_posts_per_inbox(world):
    """One POST per shared inbox whatever the followers behind it; the Announce only to the owner's inboxes."""
    await world.sync()
    assert await world.worker().run_once() == 5
    a, b, c = world.a, world.b, world.c
    assert [r.json["type"] for r in posts(a, "/inbox")] in (["Create", "Announce"], ["Announce", "Create"])
    assert all(a.count("POST", a.actor_path(n) + "/inbox") == 0 for n in ("alice", "bob", "carol", "dave"))
    assert [r.json["type"] for r in posts(b, "/accounts/paul/inbox")] == ["Create"]
    assert [r.json["type"] for r in posts(b, "/accounts/olga/inbox")] == ["Announce"]
    assert [r.json["type"] for r in posts(c, "/users/zed/inbox")] == ["Create"]
    assert len(a.received) + len(b.received) + len(c.received) == 5
    assert {r.state for r in await world.rows()} == {"done"}
    assert await world.worker().run_once() == 0


async def test_signatures_verified_by_each_remote(world):
    """Every POST verifies with the remote's own verifier, signed by the archive or, for the Announce, the owner."""
    await world.sync()
    await world.worker().run_once()
    for remote in (world.a, world.b, world.c):
        for record in remote.received:
            assert record.verified, record.error
            assert record.status in (202, 204)
            role = OWNER if record.json["type"] == "Announce" else ARCHIVE
            assert record.key_id == world.urls.key(role)
            assert record.json["actor"] == world.urls.actor(role)


async def test_create_update_delete_received_as_video(world):
    """Create, Update and Delete arrive in order, with the Video object PeerTube parses, then its Tombstone."""
    await world.sync()
    await world.worker().run_once()
    entry = world.config.archive.dir / "debat.toml"
    entry.write_text(ENTRY.replace("Un débat", "Un débat revu"), encoding="utf-8")
    world.clock.advance(3600)
    await world.sync()
    await world.worker().run_once()
    entry.unlink()
    world.clock.advance(3600)
    await world.sync()
    await world.worker().run_once()
    paul = [r.json for r in posts(world.b, "/accounts/paul/inbox")]
    assert [d["type"] for d in paul] == ["Create", "Update", "Delete"]
    create, update, delete = paul
    assert create["object"]["type"] == "Video" and update["object"]["name"] == "Un débat revu"
    assert create["object"]["id"] == update["object"]["id"] == delete["object"]["id"] == world.urls.talk("debat")
    assert create["object"]["uuid"] == update["object"]["uuid"]
    assert update["object"]["updated"] == "2026-03-01T11:00:00Z"
    assert delete["object"]["type"] == "Tombstone"
    olga = [r.json["type"] for r in posts(world.b, "/accounts/olga/inbox")]
    assert olga == ["Announce", "Update", "Delete"]  # an owner-only follower's server holds the talk too
    assert [r.json["type"] for r in posts(world.a, "/inbox")].count("Update") == 1


async def test_received_as_note_when_configured(archive_dir):
    """With object_type = "Note", the remotes receive Create{Note} carrying the whole text."""
    write_config(archive_dir, archive={"object_type": "Note"})
    w, closers = await make_world(config_mod.load(archive_dir / "config.toml"))
    try:
        await w.sync()
        await w.worker().run_once()
        (create,) = [r.json for r in posts(w.c, "/users/zed/inbox")]
        assert create["type"] == "Create" and create["object"]["type"] == "Note"
        assert "Second paragraphe" in create["object"]["content"]
    finally:
        for close in closers:
            await close()


# outcomes ------------------------------------------------------------------------------------------------------------

async def test_500_then_200_is_delivered_after_backoff(world):
    """A 5xx is retried after about a minute (not before), then delivered."""
    world.c.set_responses([500])
    await world.sync()
    worker = world.worker()
    await worker.run_once()
    (row,) = await world.rows(world.c)
    assert row.state == "retrying" and row.last_status == 500 and "HTTP 500" in row.last_error
    wait = (row.due - T0).total_seconds()
    assert DELIVERY.steps[0] * (1 - JITTER) <= wait <= DELIVERY.steps[0] * (1 + JITTER)
    world.clock.advance(wait - 1)
    assert await worker.run_once() == 0
    world.clock.advance(1)
    assert await worker.run_once() == 1
    (row,) = await world.rows(world.c)
    assert row.state == "done" and row.attempts == 2 and row.last_status == 202
    assert len(world.c.received) == 2


@pytest.mark.parametrize("status", [429, 503])
async def test_retry_after_is_honoured(world, status):
    """429/503 with Retry-After: the next attempt is exactly then."""
    world.c.set_responses([Reply(status, {"Retry-After": "120"})])
    await world.sync()
    worker = world.worker()
    await worker.run_once()
    (row,) = await world.rows(world.c)
    assert row.state == "retrying" and row.due == T0 + dt.timedelta(seconds=120)
    world.clock.advance(119)
    assert await worker.run_once() == 0
    world.clock.advance(1)
    assert await worker.run_once() == 1
    assert [r.state for r in await world.rows(world.c)] == ["done"]


async def test_410_from_a_personal_inbox_removes_the_follower(world):
    """A personal inbox answering 410: the row is dead and that follower is gone from the store."""
    world.c.set_responses([410])
    await world.sync()
    await world.worker().run_once()
    (row,) = await world.rows(world.c)
    assert row.state == "dead" and row.last_status == 410
    assert await world.store.follower(ARCHIVE, world.c.actor_id("zed")) is None
    assert await world.store.follower(ARCHIVE, world.b.actor_id("paul")) is not None


async def test_404_from_a_shared_inbox_removes_nobody(world):
    """A shared inbox answering 404 does not say which follower is gone: the rows die, the followers stay."""
    world.a.set_responses([404, 404])
    await world.sync()
    await world.worker().run_once()
    assert {r.state for r in await world.rows(world.a)} == {"dead"}
    assert await world.store.count_followers(ARCHIVE) == 5 and await world.store.count_followers(OWNER) == 2


async def test_other_4xx_is_dead_and_not_retried(world):
    """A 403 ends the row at once; a day later nothing is sent again."""
    world.c.set_responses([403])
    await world.sync()
    worker = world.worker()
    await worker.run_once()
    world.clock.advance(86400)
    assert await worker.run_once() == 0
    (row,) = await world.rows(world.c)
    assert row.state == "dead" and row.attempts == 1 and len(world.c.received) == 1


async def test_401_twice_is_dead_after_the_other_signature_style(world):
    """401 makes the client knock again in the other style; a second refusal is final."""
    world.c.set_responses([401, 401])
    await world.sync()
    await world.worker().run_once()
    first, second = world.c.received
    assert {first.style, second.style} == {"cavage", "rfc9421"}
    (row,) = await world.rows(world.c)
    assert row.state == "dead" and row.last_status == 401


async def test_gives_up_after_max_age(world):
    """A host answering 500 forever: attempts back off, the last one at max_age, then the row is dead."""
    world.c.set_responses([500] * 20)
    await world.sync()
    worker = world.worker()
    for _ in range(20):
        await worker.run_once()
        (row,) = await world.rows(world.c)
        if row.state != "retrying":
            break
        world.clock.now = row.due
    assert row.state == "dead" and "max_age" in row.last_error
    assert row.last_attempt == T0 + dt.timedelta(seconds=world.config.delivery.max_age)
    assert 5 <= row.attempts <= 8


async def test_connection_refused_is_retried(world):
    """A server that is down (connection refused) is retried and counts against the host's health."""
    await world.c.close()
    await world.sync()
    await world.worker().run_once()
    (row,) = await world.rows(world.c)
    assert row.state == "retrying" and row.last_status is None and row.last_error
    state = await world.store.host_state(world.c.domain)
    assert state is not None and state.failures == 1


# the circuit breaker --------------------------------------------------------------------------------------------

async def _two_talks(world) -> None:
    (world.config.archive.dir / "autre.toml").write_text(ENTRY.replace("Un débat", "Autre débat"), encoding="utf-8")
    await world.sync()


async def test_dead_host_is_skipped_until_its_daily_probe(world):
    """A host failing for dead_host_days gets nothing, except one probe a day; a failed probe waits another day."""
    host = world.c.domain
    await world.store.host_failed(host, T0 - dt.timedelta(days=8))
    await world.store.host_failed(host, T0 - dt.timedelta(hours=1))  # probed an hour ago
    await _two_talks(world)
    worker = world.worker()
    await worker.run_once()
    assert world.c.received == [] and len(world.b.received) == 4
    world.clock.advance(86400)
    world.c.set_responses([500])
    await worker.run_once()
    assert len(world.c.received) == 1  # one probe only, and it failed
    world.clock.advance(3600)
    await worker.run_once()
    assert len(world.c.received) == 1


async def test_dead_host_resumes_when_the_probe_succeeds(world):
    """The daily probe is answered: the host is healthy again and its pending rows go at once."""
    host = world.c.domain
    await world.store.host_failed(host, T0 - dt.timedelta(days=8))
    await _two_talks(world)
    await world.worker().run_once()
    assert len(world.c.received) == 2
    assert await world.store.host_state(host) is None
    assert {r.state for r in await world.rows(world.c)} == {"done"}


async def test_dead_host_rows_older_than_max_age_are_given_up(world):
    """Rows waiting for a dead host do not wait forever: past max_age they are dead."""
    host = world.c.domain
    await world.sync()
    await world.store.host_failed(host, T0 - dt.timedelta(days=8))
    await world.store.host_failed(host, T0 + dt.timedelta(days=3))
    world.clock.advance(3 * 86400)
    await world.worker().run_once()
    (row,) = await world.rows(world.c)
    assert row.state == "dead" and "dead_host_days" in row.last_error and world.c.received == []


# concurrency -----------------------------------------------------------------------------------------------------

async def test_slow_host_does_not_delay_the_others(world):
    """A host that does not answer holds only its own per_host slots: the others are all delivered meanwhile."""
    slow = await RemoteServer.start(name="slow", host="127.0.0.4")
    slow.hold = asyncio.Event()
    try:
        for role in (ARCHIVE, OWNER):
            slow.trust(world.urls.key(role), keys_mod.load_or_create(world.config.keys_dir)[role].public_pem)
        for i in range(8):
            await world.store.add_follower(follower(ARCHIVE, slow, f"s{i}", shared=False))
        await world.sync()
        worker = world.worker(per_host=3)
        task = asyncio.create_task(worker.run())

        async def others_done() -> bool:
            return [r.state for r in await world.rows() if r.host != slow.domain] == ["done"] * 5

        try:
            await until(lambda: len(slow.received) == 3, 10, "the slow host to get its 3 per_host rows")
            await until(others_done, 10, "the 5 rows of the other hosts to be delivered "
                        "while the slow host holds its slots", detail=lambda: f"slow host got {len(slow.received)}")
            assert len(slow.received) == 3  # its per_host slots, still waiting for answers
            assert {r.state for r in await world.rows(slow)} == {"pending"}
        finally:
            slow.hold.set()
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
    finally:
        await slow.close()


async def test_two_workers_never_send_the_same_row(world):
    """Two workers (two store connections) draining one queue: every (activity, inbox) is POSTed exactly once."""
    slowish = [world.a, world.b, world.c]
    for remote in slowish:
        remote.delay = 0.05
    for i in range(12):
        await world.store.add_follower(follower(ARCHIVE, world.b, f"p{i}", shared=False))
    await world.sync()
    async with open_store(world.config.store.url) as other:
        first = world.worker(per_host=2)
        second = DeliveryWorker(replace(world.config, delivery=replace(world.config.delivery, per_host=2)), other,
                                world.client, world.clock, random.Random(1))
        counts = await asyncio.gather(first.run_once(), second.run_once())
    assert sum(counts) == 17 and min(counts) > 0
    sent = [(r.path, r.json["id"]) for remote in slowish for r in remote.received]
    assert len(sent) == len(set(sent)) == 17


async def test_wake_sends_a_new_publication_at_once(world, monkeypatch):
    """A running worker woken after a publish in the same process sends without waiting for its next poll (a
    poll an hour long here: only the wake can explain a send)."""
    monkeypatch.setattr(delivery, "POLL", 3600.0)
    worker = world.worker()
    task = asyncio.create_task(worker.run())
    await asyncio.sleep(0.1)  # the worker is idle, waiting
    await world.sync()
    worker.wake()
    try:
        await until(lambda: world.c.received, 10, "the woken worker to send the new publication")
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


async def test_stop_finishes_the_rows_in_hand(world):
    """run(stop): once stop is set, no new row is claimed, and the rows in hand are finished, not abandoned."""
    world.c.delay = 0.3
    await world.sync()
    stop = asyncio.Event()
    task = asyncio.create_task(world.worker().run(stop))
    await until(lambda: world.c.received, 10, "the worker to start sending")
    stop.set()
    await asyncio.wait_for(task, 5)
    assert {r.state for r in await world.rows()} == {"done"}


# logs --------------------------------------------------------------------------------------------------------------

async def test_one_log_line_per_outcome_without_keys(world, caplog):
    """Each outcome is one info line with host, status and duration; no key material ever appears."""
    world.c.set_responses([500])
    await world.sync()
    with caplog.at_level(logging.INFO, logger="fedi.delivery"):
        await world.worker().run_once()
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("delivery host=")]
    assert len(lines) == 5
    failed = [line for line in lines if world.c.domain in line]
    assert len(failed) == 1 and "status=500" in failed[0] and "outcome=retry" in failed[0]
    assert all("duration=" in line and "ms" in line for line in lines)
    assert not any("PRIVATE KEY" in r.getMessage() or "BEGIN" in r.getMessage() for r in caplog.records)


# fedi sync --wait ------------------------------------------------------------------------------------------------

async def test_sync_wait_delivers_and_reports_progress(world):
    """sync --wait delivers in its own worker and prints progress until the publication's rows are resolved."""
    out = io.StringIO()
    code = await sync_command(world.config, None, _entries(world), dry_run=False, wait=True, out=out)
    assert code == 0
    text = out.getvalue()
    assert "published create debat: Create → 3 inboxes, Announce → 2 inboxes" in text
    assert "5/5 delivered, 0 failed" in text.splitlines()[-1]
    assert len(world.a.received) == 2


async def test_sync_wait_exits_non_zero_when_a_delivery_dies(world):
    """A row that went dead makes sync --wait exit 1 and point at fedi deliveries --failed."""
    world.c.set_responses([403])
    out = io.StringIO()
    code = await sync_command(world.config, None, _entries(world), dry_run=False, wait=True, out=out)
    assert code == 1
    assert "4/5 delivered, 1 failed" in out.getvalue() and "fedi deliveries --failed" in out.getvalue()


def _entries(world):
    loaded, _ = load_archive(world.config.archive.dir, world.config.archive.language)
    return loaded


def test_progress_bar_on_a_terminal_redraws_one_line():
    """On a TTY the bar is redrawn in place with \\r; elsewhere plain lines, at most one per period."""
    ticks = iter([0.0, 1.0, 1.0, 2.0, 2.0, 9.0, 9.0, 9.0])
    tty = io.StringIO()
    bar = Progress(tty, tty=True, clock=lambda: next(ticks))
    bar.show(QueueCounts(pending=4, done=0))
    bar.show(QueueCounts(pending=2, done=2), final=True)
    assert tty.getvalue().count("\r") == 2 and tty.getvalue().endswith("\n")
    assert "[############------------] 2/4 delivered, 0 failed, 0 retrying, 2.0/s" in tty.getvalue()
    plain = io.StringIO()
    clock = iter([0.0, 0.0, 0.0, 1.0, 1.0, 6.0, 6.0, 6.0, 7.0, 7.0, 7.0])
    bar = Progress(plain, tty=False, every=5.0, clock=lambda: next(clock))
    for done in (0, 1, 2):
        bar.show(QueueCounts(pending=3 - done, done=done))
    bar.show(QueueCounts(done=3), final=True)
    lines = plain.getvalue().splitlines()
    assert "\r" not in plain.getvalue() and len(lines) == 3 and lines[-1].startswith("[####")


async def test_serve_wakes_its_worker_after_a_sync(world, aiohttp_client, monkeypatch):
    """In fedi serve, a sync (watcher or startup) wakes the worker: the new talk goes out without waiting for the
    worker's next poll (an hour long here: only the wake can explain a send)."""
    monkeypatch.setattr(delivery, "POLL", 3600.0)
    config = replace(world.config, archive=replace(world.config.archive, watch_seconds=0))
    client = await aiohttp_client(make_app(config))
    ctx = client.server.app[CTX]
    await until(lambda: len(world.c.received) == 1, 10, "the talk published at start-up to be sent")
    await asyncio.sleep(0.1)
    (config.archive.dir / "autre.toml").write_text(ENTRY.replace("Un débat", "Autre"), encoding="utf-8")
    await sync_archive(ctx)
    await until(lambda: len(world.c.received) == 2, 10, "the talk of the sync to be sent")
