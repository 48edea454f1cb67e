"""``fedi serve`` with several worker processes (``fedi.workers``): one port, background work once, restarts,
drain on SIGTERM, workers that stop when their supervisor is killed, and the inbox's shared backlog mark.

The processes are real (``python -m fedi.cli serve --workers 2``) on the test's store; the remote servers run in
the test's event loop on 127.0.0.0/8.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import signal
import socket
from pathlib import Path
from urllib.parse import urlsplit

import aiohttp
import pytest

from fedi import config as config_mod
from fedi import jobs, workers
from fedi import keys as keys_mod
from fedi.board import Board
from fedi.config import urls_for
from fedi.errors import ConfigError
from fedi.jobs import Pressure
from fedi.store import Follower, open_store
from fedi.urls import ARCHIVE
from tests.conftest import ENTRY, write_config
from tests.fedi_app import AS, free_port
from tests.fedi_process import FediProcess, children, gone
from tests.reliability.common import until
from tests.remote import RemoteServer

pytestmark = pytest.mark.usefixtures("loopback_only")


# the pieces ----------------------------------------------------------------------------------------------------

def test_zero_workers_means_one_per_cpu():
    assert workers.count(3) == 3
    assert workers.count(0) == len(os.sched_getaffinity(0))


def test_the_sockets_share_one_port():
    """N sockets on one port (port 0: the first one's), each listening."""
    sockets = workers.listen("127.0.0.1", 0, 3)
    try:
        ports = {s.getsockname()[1] for s in sockets}
        assert len(ports) == 1 and ports != {0}
        with socket.create_connection(("127.0.0.1", ports.pop()), timeout=2):
            pass
    finally:
        for s in sockets:
            s.close()


def test_a_port_in_use_is_a_clear_error():
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    try:
        with pytest.raises(ConfigError, match=r"cannot listen \(the port is in use\)"):
            workers.listen("127.0.0.1", taken.getsockname()[1], 2)
    finally:
        taken.close()


def test_without_so_reuseport_several_workers_are_refused_clearly(monkeypatch):
    monkeypatch.delattr(socket, "SO_REUSEPORT")
    with pytest.raises(ConfigError, match="server.workers = 2: .*SO_REUSEPORT.*set workers = 1"):
        workers.listen("127.0.0.1", 0, 2)


def test_one_workers_deferral_makes_every_worker_defer_until_the_queue_is_empty():
    """Per-actor order across processes: once worker 1 deferred a POST, worker 0 (not flooded) defers too, until
    the job worker finds the queue empty; a deferral being stored in any worker keeps the mark."""
    cells = memoryview(bytearray(8 * 5)).cast("d")  # what the supervisor shares: 1 + 2 cells per worker
    clock = lambda: 100.0  # noqa: E731
    zero, one = Pressure(clock=clock, board=Board(cells, 0)), Pressure(clock=clock, board=Board(cells, 1))
    assert not zero.should_defer()
    with one.deferring():
        zero.settled()  # the job worker's empty claim came before worker 1's job was committed
        assert zero.should_defer() and one.should_defer()
    assert zero.should_defer()
    zero.settled()
    assert not zero.should_defer() and not one.should_defer()
    with one.deferring():
        pass
    Board(cells).reset(1)  # worker 1 was killed: the supervisor clears what it was storing, not its mark
    assert zero.should_defer()
    zero.settled()
    assert not one.should_defer()


def test_the_job_worker_waits_for_the_oldest_deferral_of_any_worker():
    t = [100.0]
    cells = memoryview(bytearray(8 * 5)).cast("d")
    zero, one = Pressure(limit=0, clock=lambda: t[0], board=Board(cells, 0)), \
        Pressure(limit=0, clock=lambda: t[0], board=Board(cells, 1))
    with one.deferring():
        pass
    t[0] += jobs.DEFER_SECONDS + 1
    with zero.receiving():  # worker 0 flooded too, but worker 1's deferral is older than DEFER_SECONDS
        assert zero.flooded() and not zero.worker_waits()


# real processes ------------------------------------------------------------------------------------------------

def setup(archive_dir: Path, **sections: dict) -> config_mod.Config:
    port = free_port()
    write_config(archive_dir, **{"server": {"port": port, "base_url": f"http://127.0.0.1:{port}", "workers": 2},
                                 "archive": {"watch_seconds": 0.2}, "interactions": {"moderation": "none"},
                                 **sections})
    return config_mod.load(archive_dir / "config.toml")


async def get_all(url: str, n: int, accept: str = "text/html") -> list[tuple[int, str]]:
    """``n`` GETs, each on a new connection (so that the kernel spreads them over the workers)."""
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True)) as session:
        async def one() -> tuple[int, str]:
            async with session.get(url, headers={"Accept": accept}) as resp:
                return resp.status, await resp.text()
        return await asyncio.gather(*(one() for _ in range(n)))


async def serving(fedi: FediProcess, url: str) -> list[int]:
    """Wait until both workers are up and answer; their pids."""
    async def up() -> bool:
        try:
            return len(children(fedi.proc.pid)) == 2 and all(s == 200 for s, _ in await get_all(url, 4))
        except aiohttp.ClientError:
            return False
    await until(up, 30, "two workers to answer", fedi, every=0.1)  # type: ignore[arg-type]
    return children(fedi.proc.pid)  # type: ignore[union-attr]


def libraries(pid: int) -> set[str]:
    """The site-packages distributions whose compiled modules the process has mapped."""
    maps = Path(f"/proc/{pid}/maps").read_text(encoding="utf-8")
    return {line.split("site-packages/")[1].split("/")[0] for line in maps.splitlines() if "site-packages/" in line}


async def test_two_workers_serve_follow_the_folder_restart_and_drain(archive_dir):
    """Both workers answer on one port and show an edited entry; a worker killed with kill -9 is logged and
    replaced while the other serves; SIGTERM drains both (a second SIGTERM does not cut a drain short) and the
    supervisor exits 0."""
    config = setup(archive_dir)
    urls = urls_for(config)
    page = urls.talk("debat")
    fedi = await FediProcess(archive_dir, "serve").start("serve")
    try:
        pids = await serving(fedi, page)
        assert "with 2 workers" in fedi.log()
        # the supervisor stays small: the server's libraries are loaded by the workers, after their fork
        assert "cryptography" in libraries(pids[0]) and "aiohttp" in libraries(pids[0])
        assert not {"cryptography", "aiohttp"} & libraries(fedi.proc.pid)  # type: ignore[union-attr]
        # an edited entry: the worker that publishes sees it, and so does the one that only serves
        (archive_dir / "outbox" / "debat.toml").write_text(ENTRY.replace("Un débat", "Un autre débat"),
                                                           encoding="utf-8")

        async def edited() -> bool:
            return all("Un autre débat" in text for _, text in await get_all(page, 12))
        await until(edited, 20, "every worker to show the edited entry", fedi, every=0.2)  # type: ignore[arg-type]

        os.kill(pids[1], signal.SIGKILL)
        assert all(s == 200 for s, _ in await get_all(page, 8))  # worker 0, and worker 1's socket queues for it
        await until(lambda: "worker 1 restarted" in fedi.log() and len(set(children(fedi.proc.pid)) - set(pids)) == 1,
                    20, "worker 1 to be replaced", fedi)  # type: ignore[arg-type, union-attr]
        assert f"worker 1 (pid {pids[1]}) was killed by signal 9" in fedi.log()
        assert all(s == 200 for s, _ in await get_all(page, 8))
        now = children(fedi.proc.pid)  # type: ignore[union-attr]
        for pid in [fedi.proc.pid, *now]:  # type: ignore[union-attr]
            os.kill(pid, signal.SIGTERM)  # as systemd does without KillMode=mixed: workers get two SIGTERMs
        assert await fedi.wait(30) == 0, fedi.log()[-3000:]
        assert all(gone(pid) for pid in now)
        assert "Traceback" not in fedi.log(), fedi.log()[-3000:]
        assert "every worker stopped" in fedi.log()
        if config.store.url.startswith("sqlite"):  # what sharing the file cost, said by each worker as it stops
            assert "worker 0: " in fedi.log() and "for the SQLite write lock" in fedi.log()
        assert fedi.log().count("published update of debat") == 1, "only worker 0 publishes"
    finally:
        await fedi.stop()


async def test_workers_stop_by_themselves_when_the_supervisor_is_killed(archive_dir):
    setup(archive_dir)
    config = config_mod.load(archive_dir / "config.toml")
    fedi = await FediProcess(archive_dir, "serve").start("serve")
    try:
        pids = await serving(fedi, urls_for(config).talk("debat"))
        fedi.proc.kill()  # type: ignore[union-attr]
        await fedi.wait()
        await until(lambda: all(gone(p) for p in pids), 20, "the orphaned workers to stop")
        assert fedi.log().count("the supervisor is gone: stopping") == 2
    finally:
        for pid in pids if "pids" in locals() else []:
            if not gone(pid):
                os.kill(pid, signal.SIGKILL)


async def test_a_worker_killed_while_it_starts_is_restarted(archive_dir):
    """kill -9 before a worker is ready is not a failure to start: it is replaced and fedi serves."""
    config = setup(archive_dir)
    fedi = await FediProcess(archive_dir, "serve").start("serve")
    try:
        await until(lambda: len(children(fedi.proc.pid)) == 2, 30, "the workers to be forked",  # type: ignore[union-attr]
                    fedi, every=0.005)  # type: ignore[arg-type]
        os.kill(children(fedi.proc.pid)[1], signal.SIGKILL)  # type: ignore[union-attr]
        await serving(fedi, urls_for(config).talk("debat"))
        await until(lambda: "worker 1 restarted" in fedi.log(), 20, "worker 1 to be replaced",
                    fedi)  # type: ignore[arg-type]
        assert "could not start" not in fedi.log()
    finally:
        await fedi.stop()


async def test_a_worker_that_cannot_start_stops_everything_with_its_error(archive_dir, request):
    if request.config.getoption("--store") == "postgres":
        pytest.skip("the unwritable store is a SQLite file")
    (archive_dir / "not-a-folder").write_text("", encoding="utf-8")
    setup(archive_dir, keys={"dir": "not-a-folder/keys"})
    fedi = await FediProcess(archive_dir, "serve").start("serve")
    try:
        assert await fedi.wait(30) == 1
        log = fedi.log()
        assert "not-a-folder" in log and "could not start" in log, log[-3000:]
    finally:
        await fedi.stop()


async def test_an_unopenable_store_stops_fedi_before_any_worker_starts(archive_dir, request):
    """The store is opened (and migrated) once by the supervisor before it forks: a store that cannot be opened
    stops fedi with its error, and no worker races another for the migration or SQLite's switch to WAL."""
    if request.config.getoption("--store") == "postgres":
        pytest.skip("the unwritable store is a SQLite file")
    setup(archive_dir, store={"path": "missing-folder/fedi.sqlite3"})
    fedi = await FediProcess(archive_dir, "serve").start("serve")
    try:
        assert await fedi.wait(30) == 1
        log = fedi.log()
        assert "missing-folder/fedi.sqlite3" in log and "workers on port" not in log, log[-3000:]
    finally:
        await fedi.stop()


async def test_background_work_runs_once_and_every_workers_inbox_is_answered(archive_dir):
    """Two workers: a fan-out sends each inbox ONE Create (only worker 0 publishes and delivers; kill -9 of
    worker 0 mid-fan-out leaves nothing undelivered), and Follows received by either worker are each accepted
    exactly once."""
    config = setup(archive_dir, delivery={"concurrency": 4, "per_host": 2, "timeout": 1})
    urls, keys = urls_for(config), keys_mod.load_or_create(config.keys_dir)
    remote = await RemoteServer.start(name="r", host="127.0.0.2", delay=0.05, actors=())
    for role, pair in keys.items():
        remote.trust(urls.key(role), pair.public_pem)
    names = [f"f{n}" for n in range(30)]
    async with open_store(config.store.url) as store:
        for name in names:
            actor = remote.actor_id(name)
            await store.add_follower(Follower(role=ARCHIVE, actor_id=actor, inbox=remote.inbox(name),
                                              shared_inbox=None, host=urlsplit(actor).hostname or "",
                                              follow_id=None, since=dt.datetime.now(dt.UTC)))
    fedi = await FediProcess(archive_dir, "serve").start("serve")
    try:
        pids = await serving(fedi, urls.talk("debat"))
        creates = lambda: [r.path for r in remote.received if (r.json or {}).get("type") == "Create"]  # noqa: E731
        await until(lambda: len(creates()) >= 5, 30, "the fan-out to start", fedi)  # type: ignore[arg-type]
        os.kill(pids[0], signal.SIGKILL)  # the worker that delivers, mid-fan-out
        await until(lambda: set(creates()) == {urlsplit(remote.inbox(n)).path for n in names}, 60,
                    "every follower to get the Create", fedi)  # type: ignore[arg-type]
        assert len(creates()) - len(names) <= 4, "only the rows in flight at the kill may repeat"
        assert "worker 0 restarted" in fedi.log()

        followers = [f"new{n}" for n in range(12)]
        for name in followers:
            remote.add_actor(name)
        answers = await asyncio.gather(*(remote.signed_post(urls.shared_inbox(), {
            "@context": AS, "id": f"{remote.actor_id(name)}#follow", "type": "Follow",
            "actor": remote.actor_id(name), "object": urls.actor(ARCHIVE)}, actor=name) for name in followers))
        assert {a.status for a in answers} == {202}
        accepts = lambda: [r.path for r in remote.received if (r.json or {}).get("type") == "Accept"]  # noqa: E731
        await until(lambda: len(set(accepts())) == len(followers), 30, "every Follow to be accepted",
                    fedi)  # type: ignore[arg-type]
        await asyncio.sleep(1.5)  # a second Accept would come within the job worker's next look
        assert sorted(accepts()) == sorted(urlsplit(remote.inbox(n)).path for n in followers)
        assert fedi.log().count("published create of debat") == 1
    finally:
        await fedi.stop()
        await remote.close()
