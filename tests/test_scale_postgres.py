"""Growing past one machine: 2 ``fedi serve`` and 3 ``fedi deliver`` processes on ONE PostgreSQL database.

A talk fans out to 5,000 followers on 500 simulated hosts (bench/world.py's servers, run in this test's event
loop with a delay per POST so that deliveries are in flight), and one ``fedi deliver`` is killed with ``kill -9``
in the middle. Every inbox gets the activity; only the killed worker's in-flight rows may arrive twice. Needs a
PostgreSQL server (tests/pg.py): skipped, saying why, without one, and in a ``--store=sqlite`` run.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import pytest
from aiohttp import web
from cryptography.hazmat.primitives import serialization

from bench import world as world_mod
from fedi import config as config_mod
from fedi import publish, talks
from fedi.config import urls_for
from fedi.store import open_store
from fedi.urls import ARCHIVE
from tests.conftest import ENTRY, until, write_config
from tests.fedi_app import free_port
from tests.fedi_process import FediProcess

CONCURRENCY = 8
FOLLOWERS, HOSTS, NO_SHARED = 5_000, 500, 100
DELAY = 0.25
"""Seconds each simulated server takes to answer a POST: the fan-out lasts a few seconds, rows are in flight."""


class SlowWorld(world_mod.World):
    """bench/world.py's simulated servers, counting (and checking the signature of) a POST before a delay."""

    async def handle(self, request: web.Request) -> web.Response:
        response = await super().handle(request)
        if request.method == "POST":
            await asyncio.sleep(DELAY)
        return response


Proc = FediProcess


async def get(url: str, accept: str = "application/activity+json") -> tuple[int, Any]:
    async with aiohttp.ClientSession() as session, session.get(url, headers={"Accept": accept}) as resp:
        return resp.status, (await resp.json(content_type=None) if resp.status == 200 else None)


async def seed(url: str, hosts: list[world_mod.RemoteHost], port: int) -> None:
    """The followers, in one transaction (``store.import_rows``, with the columns ``add_follower`` fills)."""
    since = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    rows = []
    for actor_id, inbox, shared in world_mod.follower_rows(hosts, port):
        target = shared or inbox
        rows.append({"role": ARCHIVE, "actor_id": actor_id, "inbox": inbox, "shared_inbox": shared,
                     "host": urlsplit(actor_id).netloc.lower(), "follow_id": None, "since": since,
                     "state": "accepted", "target": target, "target_host": urlsplit(target).netloc.lower()})
    async with open_store(url) as store:
        await store.import_rows("followers", rows)


@pytest.fixture
async def world(archive_dir: Path):  # type: ignore[no-untyped-def]
    """The simulated servers on 500 loopback addresses (one port), knowing the archive's key."""
    hosts = world_mod.audience(FOLLOWERS, HOSTS, NO_SHARED)
    key_pem = (archive_dir / "keys" / "archive.public.pem").read_text()
    port, sockets = world_mod.listen_all([h.address for h in hosts])
    state = SlowWorld({}, {})
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", state.handle)
    runner = web.AppRunner(app, access_log=None, handler_cancellation=False)
    await runner.setup()
    for s in sockets:
        await web.SockSite(runner, s).start()
    yield state, hosts, port, key_pem
    await runner.cleanup()


async def test_five_processes_one_database_fan_out_survives_kill_9(archive_dir, world, new_store_url):
    """2 serve + 3 deliver on one PostgreSQL: each inbox receives once, bar the killed worker's in-flight rows."""
    state, hosts, world_port, key_pem = world
    url = new_store_url("postgres")  # skips without PostgreSQL, and in a --store=sqlite run
    ports = [free_port(), free_port()]
    base = f"http://127.0.0.1:{ports[0]}"
    write_config(archive_dir, server={"port": ports[0], "base_url": base}, store={"url": url},
                 archive={"watch_seconds": 0}, security={"allow_private_addresses": True},
                 delivery={"concurrency": CONCURRENCY, "per_host": 2, "timeout": 2})
    config = config_mod.load(archive_dir / "config.toml")
    urls = urls_for(config)
    state.keys = {urls.key(ARCHIVE): serialization.load_pem_public_key(key_pem.encode())}
    # what is in the folder now is published before anyone follows: the fan-out is the new talk's alone
    loaded, problems = talks.load_archive(config.archive.dir, config.archive.language)
    assert not problems
    async with open_store(url) as store:
        await publish.sync(config, urls, store, loaded, dt.datetime.now(dt.UTC))
    await seed(url, hosts, world_port)
    expected = world_mod.expected_inboxes(hosts, world_port)
    assert FOLLOWERS > len(expected) > HOSTS  # shared inboxes for most hosts, personal ones for some

    serves = [await Proc(archive_dir, f"serve-{i}").start("serve", "--port", str(p)) for i, p in enumerate(ports)]
    workers = [await Proc(archive_dir, f"deliver-{i}").start("deliver") for i in range(3)]
    everyone = serves + workers
    try:
        await until(lambda: all("delivering as" in w.log() for w in workers), 60, "the deliver workers", *everyone)
        for p in ports:  # both serve processes answer
            for _ in range(600):
                try:
                    status, actor = await get(f"http://127.0.0.1:{p}{urlsplit(urls.actor(ARCHIVE)).path}")
                    break
                except aiohttp.ClientConnectionError:
                    await asyncio.sleep(0.05)
            assert status == 200 and actor["id"] == urls.actor(ARCHIVE), f"serve on {p}"

        # a third process publishes the new talk; five workers (2 serve, 3 deliver) share its fan-out
        (archive_dir / "outbox" / "grand.toml").write_text(ENTRY.replace("Un débat", "Grand"), encoding="utf-8")
        pub = await Proc(archive_dir, "publish").start("publish", str(archive_dir / "outbox" / "grand.toml"))
        assert pub.proc is not None and await asyncio.wait_for(pub.proc.wait(), 60) == 0, pub.log()

        victim = workers[0]
        await until(lambda: victim.sent() >= 2, 60, "deliver-0 to be sending", *everyone)
        assert victim.proc is not None
        victim.proc.kill()  # kill -9, rows in flight
        await victim.proc.wait()
        at_kill = len(state.inboxes)
        assert at_kill < len(expected), "the fan-out finished before the kill; make the simulated servers slower"
        survivors = [p for p in everyone if p is not victim]
        # the killed worker's rows come back when their lease (2 × timeout + 2 s) runs out
        await until(lambda: expected <= set(state.inboxes), 60, "every inbox to receive", *survivors)

        async def all_done() -> bool:
            async with open_store(url) as store:
                return (await store.delivery_counts()).done == len(expected)
        await until(all_done, 30, "every delivery to be done by the survivors", *survivors)
        assert set(state.inboxes) == expected
        duplicates = sum(n - 1 for n in state.inboxes.values())
        assert duplicates <= CONCURRENCY, f"{duplicates} repeated POSTs: more than the killed worker had in flight"
        assert state.bad == 0, state.errors
        senders = [w for w in everyone if w.sent()]
        assert len(senders) >= 3, "the fan-out should be shared among the processes"

        # both serve processes show the same outbox: the talk another process published is in each
        outboxes = []
        for p in ports:
            status, doc = await get(f"http://127.0.0.1:{p}{urlsplit(urls.outbox(ARCHIVE)).path}")
            assert status == 200
            outboxes.append(doc["totalItems"])
        assert outboxes[0] == outboxes[1] == 2
    finally:
        for p in everyone:
            await p.stop()
