"""Real processes: ``kill -9`` of ``fedi serve`` in the middle of a fan-out, and two ``fedi deliver`` workers.

The remote servers run in this test's event loop; fedi runs as subprocesses (``python -m fedi.cli``) on the same
SQLite store. Remotes answer slowly, so that deliveries are in flight when the server is killed.
"""

from __future__ import annotations

import datetime as dt
import signal
from urllib.parse import urlsplit

import pytest

from fedi import config as config_mod
from fedi import keys as keys_mod
from fedi import publish
from fedi.config import urls_for
from fedi.store import Follower, open_store
from fedi.talks import load_archive
from fedi.urls import ARCHIVE, OWNER
from tests.conftest import ENTRY, until, write_config
from tests.fedi_app import free_port
from tests.fedi_process import FediProcess
from tests.remote import RemoteServer

pytestmark = pytest.mark.usefixtures("loopback_only")

CONCURRENCY = 4
PER_HOST = 2


Fedi = FediProcess


@pytest.fixture
async def remotes(archive_dir):
    """Three slow remote servers knowing our keys, each with followers behind personal inboxes."""
    port = free_port()
    write_config(archive_dir, server={"port": port, "base_url": f"http://127.0.0.1:{port}"},
                 archive={"watch_seconds": 0},
                 delivery={"concurrency": CONCURRENCY, "per_host": PER_HOST, "timeout": 1})
    config = config_mod.load(archive_dir / "config.toml")
    urls, keys = urls_for(config), keys_mod.load_or_create(config.keys_dir)
    servers = [await RemoteServer.start(name=f"r{i}", host=f"127.0.0.{i + 1}", delay=0.2) for i in range(3)]
    async with open_store(config.store.url) as store:
        for server in servers:
            for role in (ARCHIVE, OWNER):
                server.trust(urls.key(role), keys[role].public_pem)
            for n in range(8):
                await store.add_follower(_follower(ARCHIVE, server, f"f{n}"))
            await store.add_follower(_follower(OWNER, server, "owner_fan"))
    yield config, servers
    for server in servers:
        await server.close()


def _follower(role: str, server: RemoteServer, name: str) -> Follower:
    actor = server.actor_id(name)
    return Follower(role=role, actor_id=actor, inbox=server.inbox(name), shared_inbox=None,
                    host=urlsplit(actor).hostname or "", follow_id=None, since=publish_time())


def publish_time() -> dt.datetime:
    return dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def received(servers) -> list[tuple[str, str]]:
    """(inbox URL, activity id) of every POST the remotes got, duplicates included."""
    return [(s.base + r.path, (r.json or {}).get("id")) for s in servers for r in s.received]


async def test_kill_9_mid_fan_out_then_restart_delivers_to_every_target(remotes, archive_dir):
    """After kill -9 during a fan-out and a restart, every target gets the activity; only in-flight rows repeat."""
    config, servers = remotes
    urls = urls_for(config)
    expected = {(s.inbox(f"f{n}"), urls.create("debat")) for s in servers for n in range(8)}
    expected |= {(s.inbox("owner_fan"), urls.announce("debat")) for s in servers}
    first = await Fedi(archive_dir, "serve-1").start("serve")
    try:
        await until(lambda: len(received(servers)) >= 8, 20, "the fan-out to start", first)
        first.proc.kill()  # kill -9, in the middle of the fan-out
        await first.wait()
    finally:
        await first.stop()
    before = len(received(servers))
    assert before < len(expected), "the fan-out finished before the kill; make the remotes slower"

    second = await Fedi(archive_dir, "serve-2").start("serve")
    try:
        await until(lambda: expected <= set(received(servers)), 30, "every target to receive", second)

        async def all_done() -> bool:
            async with open_store(config.store.url) as store:
                counts = await store.delivery_counts()
            return counts.done == len(expected)

        await until(all_done, 30, "every delivery to be done after the restart", second)
        got = received(servers)
        assert set(got) == expected
        assert len(got) - len(expected) <= CONCURRENCY  # only rows in flight at the kill were sent twice

        # a publish by another process reaches a follower without a wake-up (the worker polls the store every second)
        (archive_dir / "outbox" / "autre.toml").write_text(ENTRY.replace("Un débat", "Autre"), encoding="utf-8")
        sync = await Fedi(archive_dir, "sync").start("sync")
        assert await sync.wait() == 0, sync.log()
        target = (servers[0].inbox("f0"), urls.create("autre"))
        await until(lambda: target in set(received(servers)), 10, "the publication of another process to be sent",
                    second)
    finally:
        await second.stop()
    assert second.proc.returncode == 0 or second.proc.returncode == -signal.SIGTERM


async def test_two_deliver_processes_never_double_send(remotes, archive_dir):
    """Two `fedi deliver --once` processes on one store share the queue: each row is POSTed exactly once."""
    config, servers = remotes
    urls = urls_for(config)
    loaded, _ = load_archive(config.archive.dir, config.archive.language)
    async with open_store(config.store.url) as store:
        result = await publish.sync(config, urls, store, loaded, publish_time())
    assert result.deliveries == 27
    workers = [await Fedi(archive_dir, f"deliver-{i}").start("deliver", "--once") for i in range(2)]
    for worker in workers:
        assert await worker.wait(30) == 0, worker.log()
    got = received(servers)
    assert len(got) == len(set(got)) == 27
    lines = [[line for line in w.log().splitlines() if "delivery host=" in line] for w in workers]
    assert sum(map(len, lines)) == 27
    assert all(lines), "both workers should have sent some rows"
    assert all("outcome=done" in line for group in lines for line in group)
    async with open_store(config.store.url) as store:
        assert (await store.delivery_counts()).done == 27
