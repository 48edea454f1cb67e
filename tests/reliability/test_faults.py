"""Broken remote servers (tests/reliability/faulty.py) beside healthy ones, for real, on 127.0.0.x.

One fan-out reaches healthy Mastodon-like servers (tests/remote.py, checking our signatures) and seven broken
ones: a timeout, a reset connection, 500 for a while, a response trickled at 1 byte/s, a redirect loop, a 50 MB
body, a connection accepted and never answered. The healthy servers must receive at the speed they receive
without the broken ones; every row for a broken server must follow the retry rules (``delivery.decide``) on an
injected clock; once they heal, everything arrives: nothing lost. Key fetches from broken servers cost a 401
within the timeout, never a hang.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import random
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

import pytest

from fedi import config as config_mod
from fedi import keys as keys_mod
from fedi import publish
from fedi.client import Client
from fedi.config import Config, urls_for
from fedi.delivery import DeliveryWorker
from fedi.retry import DELIVERY, JITTER
from fedi.store import Follower, Store, open_store
from fedi.talks import load_archive
from fedi.urls import ARCHIVE, OWNER, Urls
from tests.conftest import ENTRY, write_config
from tests.fedi_app import AS, FediApp
from tests.reliability.common import LOOPBACK_ONLY, Clock, record, size, sqlite_only
from tests.reliability.faulty import FaultyServer
from tests.remote import RemoteServer

pytestmark = pytest.mark.usefixtures("loopback_only")

T0 = dt.datetime(2026, 3, 1, 10, 0, tzinfo=dt.UTC)
TIMEOUT = 1.0
LATENCY = 0.03
"""Seconds a healthy server takes to answer (a server across the internet, not on the same machine)."""
FAULTS = ("timeout", "reset", "error500", "trickle", "redirect", "huge", "hang")
HEALTHY_HOSTS = 3
HEALTHY_FOLLOWERS = size(60, 400)
"""Followers per healthy server, each behind its own inbox (one POST each)."""
FAULTY_FOLLOWERS = size(4, 12)
"""Followers per broken server."""


@dataclass
class World:
    config: Config
    urls: Urls
    store: Store
    client: Client
    clock: Clock
    healthy: list[RemoteServer]
    faulty: dict[str, FaultyServer]

    def worker(self) -> DeliveryWorker:
        return DeliveryWorker(self.config, self.store, self.client, self.clock, random.Random(1))

    async def sync(self) -> publish.Result:
        loaded, problems = load_archive(self.config.archive.dir, self.config.archive.language)
        assert not problems
        return await publish.sync(self.config, self.urls, self.store, loaded, self.clock())

    async def rows(self, host: str | None = None):
        return [r for r in await self.store.deliveries(limit=100_000) if host is None or r.host == host]


def follower(actor: str, inbox: str) -> Follower:
    return Follower(role=ARCHIVE, actor_id=actor, inbox=inbox, shared_inbox=None,
                    host=urlsplit(actor).hostname or "", follow_id=None, since=T0)


@pytest.fixture
async def world(archive_dir, request):
    sqlite_only(request, "timing-sensitive; the queue's SQL already ran on both backends in test_delivery")
    write_config(archive_dir, delivery={"timeout": TIMEOUT})
    config = config_mod.load(archive_dir / "config.toml")
    urls, keys = urls_for(config), keys_mod.load_or_create(config.keys_dir)
    healthy = [await RemoteServer.start(name=f"h{i}", host=f"127.0.0.{i + 2}", delay=LATENCY)
               for i in range(HEALTHY_HOSTS)]
    faulty = {mode: await FaultyServer.start(f"127.0.0.{10 + i}", mode, failures=FAULTY_FOLLOWERS)
              for i, mode in enumerate(FAULTS)}
    for remote in healthy:
        for role in (ARCHIVE, OWNER):
            remote.trust(urls.key(role), keys[role].public_pem)
    store = open_store(config.store.url)
    await store.open()
    client = Client(config, urls, keys, policy=LOOPBACK_ONLY)
    await client.start()
    for remote in healthy:
        for n in range(HEALTHY_FOLLOWERS):
            name = f"u{n}"
            remote.add_actor(name)
            await store.add_follower(follower(remote.actor_id(name), remote.inbox(name)))
    yield World(config, urls, store, client, Clock(T0), healthy, faulty)
    await client.close()
    await store.close()
    for server in [*healthy, *faulty.values()]:
        await server.close()


def healthy_posts(world: World, activity_id: str) -> list:
    return [r for remote in world.healthy for r in remote.received if (r.json or {}).get("id") == activity_id]


def rate(posts: list, started: float) -> float:
    """Deliveries per second, from the start of the worker's run to the last POST received."""
    return len(posts) / max(max(p.at for p in posts) - started, 1e-3)


async def test_healthy_hosts_keep_full_speed_and_broken_ones_follow_the_retry_rules(world: World, archive_dir):
    """Seven kinds of broken inbox beside healthy ones: healthy rate kept, retries by the rules, nothing lost."""
    healthy_count = HEALTHY_HOSTS * HEALTHY_FOLLOWERS
    # 1. the healthy servers alone: the reference rate
    first = await world.sync()
    create_1 = world.urls.create("debat")
    worker = world.worker()
    started = time.monotonic()
    await worker.run_once()
    alone = healthy_posts(world, create_1)
    assert len(alone) == healthy_count and all(p.verified for p in alone)
    rate_alone = rate(alone, started)
    assert first.deliveries == healthy_count

    # 2. the broken servers' followers join; the next talk goes to everyone
    for mode, server in world.faulty.items():
        for n in range(FAULTY_FOLLOWERS):
            await world.store.add_follower(follower(server.actor_id(f"{mode}{n}"), server.inbox(f"{mode}{n}")))
    (archive_dir / "outbox" / "second.toml").write_text(ENTRY.replace("Un débat", "Second"), encoding="utf-8")
    world.clock.advance(10)
    second = await world.sync()
    create_2 = world.urls.create("second")
    assert second.deliveries == healthy_count + len(FAULTS) * FAULTY_FOLLOWERS
    worker = world.worker()
    started = time.monotonic()
    await worker.run_once()
    took = time.monotonic() - started
    together = healthy_posts(world, create_2)
    assert len(together) == healthy_count and all(p.verified for p in together), "a healthy delivery was lost"
    rate_together = rate(together, started)
    print(f"healthy rate alone {rate_alone:.0f}/s, beside broken servers {rate_together:.0f}/s; run {took:.2f}s")
    assert took < 2 * TIMEOUT + 3, "broken servers held the worker far beyond the timeout"
    # the healthy servers' speed is that of their own limits (per_host), not that of the broken ones: the machine
    # is shared and noisy, so the bound is loose, but a worker waiting on broken hosts would be far below it
    assert rate_together >= 0.5 * rate_alone, (rate_alone, rate_together)

    # 3. each broken server's rows: retried after the first backoff step (jitter included), never dead yet
    now = world.clock()
    low, high = DELIVERY.steps[0] * (1 - JITTER), DELIVERY.steps[0] * (1 + JITTER)
    expected_error = {"timeout": "timed out", "reset": "", "error500": "HTTP 500", "trickle": "timed out",
                      "redirect": "redirects", "hang": "timed out"}
    for mode, server in world.faulty.items():
        rows = await world.rows(server.domain)
        assert len(rows) == FAULTY_FOLLOWERS, mode
        if mode == "huge":  # a 2xx with a 50 MB body: accepted; fedi read 1 MiB of it and hung up
            assert {r.state for r in rows} == {"done"}, [r.last_error for r in rows]
            assert server.bytes_sent < 16 * 1024 * 1024 * FAULTY_FOLLOWERS, server.bytes_sent
            continue
        for row in rows:
            assert row.state == "retrying" and row.attempts == 1, (mode, row)
            assert low <= (row.due - now).total_seconds() <= high, (mode, row.due)
            assert expected_error[mode] in (row.last_error or ""), (mode, row.last_error)
        if mode == "hang":
            assert not server.requests, "a hanging server never reads a request"

    # 4. a minute later: the server that answered 500 for a while takes them; the others wait the 2nd step
    world.clock.advance(high + 1)
    await worker.run_once()
    now = world.clock()
    assert {r.state for r in await world.rows(world.faulty["error500"].domain)} == {"done"}
    for mode in ("timeout", "reset", "trickle", "redirect", "hang"):
        for row in await world.rows(world.faulty[mode].domain):
            assert row.state == "retrying" and row.attempts == 2, (mode, row)
            wait = (row.due - now).total_seconds()
            assert DELIVERY.steps[1] * (1 - JITTER) <= wait <= DELIVERY.steps[1] * (1 + JITTER), (mode, wait)

    # 5. they heal: everything arrives, once per inbox; nothing was lost anywhere
    for server in world.faulty.values():
        server.mode = "ok"
    world.clock.advance(DELIVERY.steps[1] * (1 + JITTER) + 1)
    await worker.run_once()
    counts = await world.store.delivery_counts()
    assert counts.dead == 0 and counts.pending == 0 and counts.retrying == 0
    for mode, server in world.faulty.items():
        got = sorted(r.path for r in server.accepted if (r.json or {}).get("id") == create_2)
        want = [] if mode == "huge" else sorted(f"/users/{mode}{n}/inbox" for n in range(FAULTY_FOLLOWERS))
        assert got == want, mode  # huge took them all at the first attempt (while misbehaving)
    assert len(healthy_posts(world, create_2)) == healthy_count, "a healthy inbox got the activity twice"

    # 6. a server that never heals: every attempt follows the backoff schedule up to max_age, then the row is dead
    broken = world.faulty["reset"]
    broken.mode = "reset"
    (archive_dir / "outbox" / "third.toml").write_text(ENTRY.replace("Un débat", "Third"), encoding="utf-8")
    world.clock.advance(60)
    created = world.clock()
    await world.sync()
    history: dict[int, dict[int, float]] = {}  # row → attempt number → the wait it was given
    for _ in range(20 * FAULTY_FOLLOWERS):
        await worker.run_once()
        rows = [r for r in await world.rows(broken.domain) if r.activity_id == world.urls.create("third")]
        for r in rows:
            if r.state == "retrying":
                history.setdefault(r.id, {})[r.attempts] = (r.due - r.last_attempt).total_seconds()
        waiting = [r.due for r in rows if r.state != "dead"]
        if not waiting:
            break
        world.clock.now = min(waiting)  # each row is attempted exactly when it is due
    deadline = created + dt.timedelta(seconds=world.config.delivery.max_age)
    assert all(r.state == "dead" and "max_age" in (r.last_error or "") for r in rows), rows
    assert all(r.last_attempt == deadline for r in rows), "the last attempt is made at the max_age limit"
    schedule = [*DELIVERY.steps, DELIVERY.steps[-1] * 4]
    for r in rows:
        waits = [history[r.id][n] for n in sorted(history[r.id])]
        assert r.attempts == len(waits) + 1
        for step, wait in enumerate(waits[:-1]):  # the last wait is cut at the deadline
            assert schedule[step] * (1 - JITTER) <= wait <= schedule[step] * (1 + JITTER), (step, waits)
    assert len(healthy_posts(world, world.urls.create("third"))) == healthy_count
    assert not [r for r in broken.accepted if (r.json or {}).get("id") == world.urls.create("third")]

    attempts = {mode: sum(r.attempts for r in await world.rows(s.domain)) for mode, s in world.faulty.items()}
    record("faults", healthy_rate_alone=round(rate_alone), healthy_rate_beside_faults=round(rate_together),
           healthy_deliveries=2 * healthy_count, broken_servers=len(FAULTS),
           broken_deliveries=len(FAULTS) * FAULTY_FOLLOWERS, broken_attempts=sum(attempts.values()),
           deliveries_lost=counts.total - counts.done, huge_body_bytes_read_at_most=1024 * 1024,
           never_healing_attempts=rows[0].attempts, given_up_after_max_age=len(rows))
    assert world.faulty["huge"].bytes_sent < 16 * 1024 * 1024 * max(world.faulty["huge"].connections, 1)


# key fetches from broken servers ----------------------------------------------------------------------------------

async def test_a_key_on_a_broken_server_costs_a_401_within_the_timeout(archive_dir, request):
    """A signed POST whose keyId is on a broken server: 401 within the timeout, the server stays responsive,
    and the next request naming that key is refused at once, without a second fetch."""
    sqlite_only(request, "timing-sensitive")
    write_config(archive_dir, delivery={"timeout": TIMEOUT})
    config = config_mod.load(archive_dir / "config.toml")
    app = await FediApp.start(config)
    sender = await RemoteServer.start(name="sender")
    servers = {mode: await FaultyServer.start(f"127.0.0.{10 + i}", mode) for i, mode in enumerate(FAULTS)}
    try:
        timings = {}
        for mode, server in servers.items():
            actor = server.actor_id("mallory")
            activity = {"@context": AS, "id": f"{actor}#likes/1", "type": "Like", "actor": actor,
                        "object": app.ctx.urls.talk("debat")}
            key_id = f"{actor}#main-key"
            started = time.monotonic()
            post = asyncio.create_task(sender.signed_post(app.shared_inbox, activity, key_id=key_id))
            await asyncio.sleep(0.05)
            # meanwhile, the actor is served at once
            read_started = time.monotonic()
            answer = await sender.send("GET", app.actor(), None, {"Accept": "application/activity+json"})
            assert answer.status == 200 and time.monotonic() - read_started < 0.5, mode
            answer = await post
            timings[mode] = time.monotonic() - started
            assert answer.status == 401, (mode, answer.status, answer.body)
            assert "could not fetch key" in answer.json["error"], (mode, answer.json)
            assert timings[mode] < TIMEOUT + 1.5, (mode, timings[mode])
            seen = len(server.requests), server.connections
            again = await sender.signed_post(app.shared_inbox, activity | {"id": f"{actor}#likes/2"}, key_id=key_id)
            assert again.status == 401 and "moments ago" in again.json["error"], (mode, again.json)
            assert (len(server.requests), server.connections) == seen, f"{mode}: the key was fetched again"
        assert (await app.ctx.store.reaction_counts("debat")).likes == 0
        record("key_fetch_faults", faults=len(servers), slowest_refusal_seconds=round(max(timings.values()), 2))
    finally:
        await app.stop()
        await sender.close()
        for server in servers.values():
            await server.close()
