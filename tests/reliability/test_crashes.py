"""Our side failing: ``kill -9`` of ``fedi serve`` again and again, a full disk, a read-only store.

fedi runs as real processes (``python -m fedi.cli``) on one SQLite file; the remote servers (tests/remote.py) run
in the test's event loop and answer slowly, so that deliveries and inbox requests are in flight when fedi is
killed. The moments are drawn from a seeded random generator (the seed is in the report). After the kills, one
normal run must finish everything: every delivery done, every follower still there once, every accepted
activity in effect, and SQLite's ``integrity_check`` ok.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import errno
import json
import os
import random
import signal
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import aiohttp
import pytest

from fedi import config as config_mod
from fedi import keys as keys_mod
from fedi.config import Config, urls_for
from fedi.inbox import DEFERRED
from fedi.store import Follower, open_store
from fedi.urls import ARCHIVE, OWNER
from tests.conftest import ENTRY, write_config
from tests.fedi_app import AS, free_port
from tests.fedi_process import children, gone
from tests.reliability.common import Fedi, record, run_fedi, size, sqlite_only, until
from tests.remote import AS2, RemoteServer

pytestmark = pytest.mark.usefixtures("loopback_only")

ROUNDS = size(3, 5)
SEED = int(os.environ.get("FEDI_SOAK_SEED", "2010"))
CONCURRENCY, PER_HOST, TIMEOUT = 8, 3, 1
PUBLIC = "https://www.w3.org/ns/activitystreams#Public"
T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def setup_config(root: Path, store: Path | None = None, workers: int = 1, **sections: dict) -> Config:
    port = free_port()
    extra = {"store": {"path": str(store)}} if store is not None else {}
    write_config(root, server={"port": port, "base_url": f"http://127.0.0.1:{port}", "workers": workers},
                 archive={"watch_seconds": 0}, interactions={"moderation": "none"},
                 delivery={"concurrency": CONCURRENCY, "per_host": PER_HOST, "timeout": TIMEOUT}, **extra, **sections)
    return config_mod.load(root / "config.toml")


async def serving(fedi: Fedi, url: str, timeout: float = 30) -> None:
    async with aiohttp.ClientSession() as session:
        async def up() -> bool:
            try:
                async with session.get(url, headers={"Accept": AS2}) as resp:
                    return resp.status == 200
            except aiohttp.ClientError:
                return False
        await until(up, timeout, "fedi serve to answer", fedi, every=0.05)


async def remotes_for(config: Config, n: int, delay: float, actors: int = 0) -> list[RemoteServer]:
    urls, keys = urls_for(config), keys_mod.load_or_create(config.keys_dir)
    servers = []
    for i in range(n):
        server = await RemoteServer.start(name=f"r{i}", host=f"127.0.0.{i + 2}", delay=delay, actors=())
        for role, pair in keys.items():
            server.trust(urls.key(role), pair.public_pem)
        for k in range(actors):
            server.add_actor(f"a{k}")
        servers.append(server)
    return servers


def personal(role: str, server: RemoteServer, name: str, shared: bool = False) -> Follower:
    actor = server.actor_id(name)
    return Follower(role=role, actor_id=actor, inbox=server.inbox(name),
                    shared_inbox=server.shared_inbox if shared else None, host=urlsplit(actor).hostname or "",
                    follow_id=None, since=T0)


async def integrity(config: Config) -> str:
    async with open_store(config.store.url) as store:
        return await store.integrity_check()


# kill -9 during fan-outs ---------------------------------------------------------------------------------------

async def test_kill_9_during_fan_outs_then_a_normal_run_delivers_everything(archive_dir, request):
    """Each round publishes a new talk and is killed mid-fan-out at a random moment; a normal run then finishes
    every delivery, with no follower lost or duplicated and the store intact."""
    sqlite_only(request, "kill -9 of the SQLite writer and its integrity_check")
    rng = random.Random(SEED)
    config = setup_config(archive_dir)
    urls = urls_for(config)
    servers = await remotes_for(config, 3, delay=0.03)
    per_server = size(20, 40)
    async with open_store(config.store.url) as store:
        for server in servers:
            for n in range(per_server):
                await store.add_follower(personal(ARCHIVE, server, f"f{n}"))
            for n in range(3):  # three followers behind one shared inbox
                await store.add_follower(personal(ARCHIVE, server, f"s{n}", shared=True))
            await store.add_follower(personal(OWNER, server, "fan"))
        followers_before = {role: sorted((f.actor_id, f.inbox, f.shared_inbox, f.state)
                                         for f in await store.followers(role)) for role in (ARCHIVE, OWNER)}
    expected: set[tuple[str, str]] = set()

    def targets(slug: str) -> set[tuple[str, str]]:
        out = {(s.inbox(f"f{n}"), urls.create(slug)) for s in servers for n in range(per_server)}
        out |= {(s.shared_inbox, urls.create(slug)) for s in servers}
        return out | {(s.inbox("fan"), urls.announce(slug)) for s in servers}

    def received() -> list[tuple[str, str]]:
        return [(s.base + r.path, (r.json or {}).get("id")) for s in servers for r in s.received]

    kills = []
    started: list[Fedi] = []
    try:
        slugs = ["debat"]
        for round_no in range(ROUNDS):
            if round_no:  # each round brings a new talk: a fan-out starts as soon as fedi is up
                slug = f"talk-{round_no}"
                (archive_dir / "outbox" / f"{slug}.toml").write_text(ENTRY.replace("Un débat", f"Talk {round_no}"),
                                                                     encoding="utf-8")
                slugs.append(slug)
            for slug in slugs:
                expected |= targets(slug)
            before = len(received())
            fedi = await Fedi(archive_dir, f"serve-{round_no}").start("serve")
            started.append(fedi)
            await until(lambda b=before: len(received()) > b, 30, "the fan-out to start", fedi)
            await asyncio.sleep(rng.uniform(0.0, 0.4))
            await fedi.kill()
            async with open_store(config.store.url) as store:
                counts = await store.delivery_counts()
            kills.append({"round": round_no, "pending_at_kill": counts.pending + counts.retrying,
                          "done_at_kill": counts.done})
        assert any(k["pending_at_kill"] for k in kills), "every kill came after the fan-out was over"

        final = await Fedi(archive_dir, "serve-final").start("serve")
        started.append(final)
        try:
            async def finished() -> bool:
                async with open_store(config.store.url) as store:
                    counts = await store.delivery_counts()
                return counts.pending + counts.retrying == 0 and counts.done == len(expected)
            await until(finished, 60, "every delivery to be done", final, every=0.2)
        finally:
            await final.stop()
        assert final.proc is not None and final.proc.returncode in (0, -15), final.log()[-2000:]
        got = received()
        assert set(got) == expected, (len(expected - set(got)), len(set(got) - expected))
        duplicates = len(got) - len(set(got))
        assert duplicates <= ROUNDS * CONCURRENCY, "more repeats than rows in flight at the kills"
        async with open_store(config.store.url) as store:
            counts = await store.delivery_counts()
            assert counts.dead == 0 and counts.done == len(expected)
            after = {role: sorted((f.actor_id, f.inbox, f.shared_inbox, f.state) for f in await store.followers(role))
                     for role in (ARCHIVE, OWNER)}
            assert after == followers_before, "a follower was lost, changed or duplicated"
            assert await store.count_rows("followers") == sum(len(v) for v in followers_before.values())
            assert await store.integrity_check() == "ok"
        record("crash_fan_out", kills=len(kills), seed=SEED, deliveries=len(expected), delivered=len(set(got)),
               repeated_after_kill=duplicates, lost=len(expected - set(got)), followers=after == followers_before,
               pending_at_each_kill=[k["pending_at_kill"] for k in kills], integrity="ok")
    finally:
        for fedi in started:
            await fedi.kill()
        for server in servers:
            await server.close()


# kill -9 during inbox bursts -----------------------------------------------------------------------------------

@dataclass
class Request:
    kind: str
    actor: str
    body: bytes
    headers: dict[str, str]
    server: RemoteServer
    object_id: str = ""
    acked: bool = False
    acked_round: int = -1
    attempts: int = 0


@dataclass
class Burst:
    requests: list[Request] = field(default_factory=list)

    def pending(self) -> list[Request]:
        return [r for r in self.requests if not r.acked]


def burst_for(servers: list[RemoteServer], actors: int, inbox: str, archive: str, talk: str) -> Burst:
    """Each actor follows, replies and likes: three signed requests, kept byte for byte for the resends (a
    remote server resends a request that got no answer)."""
    burst = Burst()
    for server in servers:
        for k in range(actors):
            name = f"a{k}"
            actor = server.actor_id(name)
            note_id = f"{actor}/statuses/1"
            docs = {
                "follow": ({"@context": AS, "id": actor + "#follows/1", "type": "Follow", "actor": actor,
                            "object": archive}, actor),
                "reply": ({"@context": AS, "id": note_id + "/activity", "type": "Create", "actor": actor,
                           "to": [PUBLIC], "object": {"id": note_id, "type": "Note", "attributedTo": actor,
                                                      "inReplyTo": talk, "content": "<p>hello</p>",
                                                      "to": [PUBLIC]}}, note_id),
                "like": ({"@context": AS, "id": actor + "#likes/1", "type": "Like", "actor": actor,
                          "object": talk}, actor),
            }
            for kind, (doc, object_id) in docs.items():
                body = json.dumps(doc).encode()
                burst.requests.append(Request(kind, actor, body, server.sign("POST", inbox, body, actor=name), server,
                                              object_id))
    return burst


async def send_all(burst: Burst, inbox: str, round_no: int, concurrency: int = 16) -> None:
    """Send every unacknowledged request (in a shuffled order); connection errors leave them unacknowledged."""
    sem = asyncio.Semaphore(concurrency)
    todo = burst.pending()
    random.Random(round_no).shuffle(todo)

    async def one(req: Request) -> None:
        async with sem:
            req.attempts += 1
            try:
                answer = await req.server.send("POST", inbox, req.body, req.headers)
            except (TimeoutError, aiohttp.ClientError, OSError):
                return
            assert answer.status == 202, (req.kind, answer.status, answer.body)
            req.acked, req.acked_round = True, round_no
    await asyncio.gather(*(one(r) for r in todo))


@pytest.mark.parametrize("workers", [1, 2])
async def test_kill_9_during_inbox_bursts_loses_no_accepted_activity(archive_dir, request, workers):
    """Bursts of Follows, replies and likes, fedi killed at random moments; every activity answered 202 is in
    the store at once, the unanswered ones are resent, and in the end each took effect exactly once.
    With 2 workers, each kill takes one process drawn among the supervisor and its workers: a worker is
    replaced while the others go on; a supervisor's workers stop by themselves and fedi is started again."""
    sqlite_only(request, "kill -9 of the SQLite writer and its integrity_check")
    rng = random.Random(SEED + 1)
    config = setup_config(archive_dir, workers=workers)
    urls = urls_for(config)
    actors = size(25, 100)
    servers = await remotes_for(config, 2, delay=0.0, actors=actors)
    inbox, archive, talk = urls.shared_inbox(), urls.actor(ARCHIVE), urls.talk("debat")
    burst = burst_for(servers, actors, inbox, archive, talk)
    cut, victims = [], []
    started: list[Fedi] = []
    fedi: Fedi | None = None
    try:
        for round_no in range(ROUNDS + 1):
            if fedi is None:
                fedi = await Fedi(archive_dir, f"serve-{round_no}").start("serve")
                started.append(fedi)
            # the talk's own document: it answers once the talk is published in the store. A Like that comes
            # before (a first start, still publishing the folder) names no talk fedi has, and is ignored
            await serving(fedi, talk)
            if round_no == ROUNDS:  # the normal run: everything left is sent, and nothing is killed
                await send_all(burst, inbox, round_no)
                assert not burst.pending()
                break
            # a random moment of the burst: after a random share of its requests were answered
            left = len(burst.pending())
            target = len(burst.requests) - left + rng.randint(max(1, left // 10), max(1, left * 9 // 10))
            sender = asyncio.create_task(send_all(burst, inbox, round_no))
            await until(lambda t=target, s=sender: sum(r.acked for r in burst.requests) >= t or s.done(), 30,
                        "the burst to be under way", fedi, every=0.002)
            fedi = await kill_one(fedi, workers, rng, victims, round_no)
            await sender
            # every activity answered 202 so far is in the store now, with fedi dead: a reply and a like as
            # themselves, a Follow as its follower row or the job that makes one — or, received under a flood,
            # any of them as the deferred job that will handle it (jobs.Pressure)
            # With workers, the ones left alive go on handling jobs while this reads: the jobs first, since a job
            # is deleted only once its effects are committed, so an activity in transit is seen in one or the other
            async with open_store(config.store.url) as store:
                jobs = [row async for batch in store.export_rows("jobs") for row in batch]
                comments = {c.id for c in await store.comments("debat", state=None)}
                followers = {f.actor_id for f in await store.followers(ARCHIVE)}
                likes = (await store.reaction_counts("debat")).likes
                assert await store.integrity_check() == "ok"
            follow_jobs = {json.loads(j["payload"])["actor"] for j in jobs if j["kind"] == "follow"}
            deferred = [a for j in jobs if j["kind"] == DEFERRED for a in json.loads(j["payload"])["activities"]]
            deferred_ids = {a["id"] for a in deferred}
            acked = [r for r in burst.requests if r.acked]
            lost = [r for r in acked if json.loads(r.body)["id"] not in deferred_ids and (
                    (r.kind == "reply" and r.object_id not in comments)
                    or (r.kind == "follow" and r.actor not in followers | follow_jobs))]
            assert not lost, [(r.kind, r.actor) for r in lost[:10]]
            # handled but killed before the 202 went out: in effect too (the resend is then a replay)
            waiting_likes = sum(a["type"] == "Like" for a in deferred)
            assert sum(r.kind == "like" for r in acked) <= likes + waiting_likes
            assert likes <= sum(r.kind == "like" and r.attempts for r in burst.requests)
            cut.append(len(burst.pending()))
        assert any(cut), "every kill came after the burst was over"

        everyone = {r.actor for r in burst.requests}

        last: dict[str, object] = {}

        async def settled() -> bool:
            # The job queue must be empty too: an activity answered 202 under a flood waits there as a deferred
            # job, and one a killed fedi had claimed waits for its lease to run out (jobs.lease_for). Followers
            # and Accepts being done says nothing of the replies and likes queued behind them.
            async with open_store(config.store.url) as store:
                followers = {f.actor_id for f in await store.followers(ARCHIVE)}
                counts = await store.delivery_counts()
                jobs = [row async for batch in store.export_rows("jobs") for row in batch]
            last.update(missing=sorted(everyone - followers), queue=counts,
                        jobs=[(j["id"], j["kind"], j["state"], j["worker"], j["last_error"]) for j in jobs[:5]])
            return followers == everyone and not jobs and counts.pending + counts.retrying == 0 \
                and counts.done == len(everyone)
        await until(settled, 90, "every follower recorded and answered, and every job done", fedi, every=0.2,
                    detail=lambda: str(last))
        assert fedi is not None
        await fedi.stop()
        async with open_store(config.store.url) as store:
            assert await store.count_rows("followers") == len(everyone)
            assert {c.id for c in await store.comments("debat", state=None)} == {
                r.object_id for r in burst.requests if r.kind == "reply"}
            assert (await store.reaction_counts("debat")).likes == len(everyone)
            assert await store.integrity_check() == "ok"
        accepts = {(s.base + r.path, r.json["object"]["id"]) for s in servers for r in s.received
                   if (r.json or {}).get("type") == "Accept"}
        assert accepts == {(r.server.inbox(r.actor.rsplit("/", 1)[1]), r.server.actor_id(r.actor.rsplit("/", 1)[1])
                            + "#follows/1") for r in burst.requests if r.kind == "follow"}
        record("crash_inbox" if workers == 1 else f"crash_inbox_workers_{workers}", killed=victims, kills=ROUNDS,
               seed=SEED, activities=len(burst.requests),
               unanswered_at_each_kill=cut, resent=sum(r.attempts - 1 for r in burst.requests),
               accepted=sum(r.acked for r in burst.requests), lost=0, integrity="ok")
    finally:
        for each in started:
            for pid in children(each.proc.pid) if each.proc is not None else []:
                os.kill(pid, signal.SIGKILL)
            await each.kill()
        for server in servers:
            await server.close()


async def kill_one(fedi: Fedi, workers: int, rng: random.Random, victims: list[str], round_no: int) -> Fedi | None:
    """``kill -9`` of fedi (one process); with workers, of the supervisor every third round (the 2nd, 5th…) and
    of a worker drawn at random otherwise. None when fedi is gone (it must be started again), else fedi with a
    worker being replaced."""
    assert fedi.proc is not None
    pids = [fedi.proc.pid, *children(fedi.proc.pid)] if workers > 1 else [fedi.proc.pid]
    victim = 0 if workers == 1 or round_no % 3 == 1 else 1 + rng.randrange(len(pids) - 1)
    victims.append("fedi" if workers == 1 else "supervisor" if victim == 0 else f"worker {victim - 1}")
    if victim:
        os.kill(pids[victim], signal.SIGKILL)
        return fedi
    await fedi.kill()
    await until(lambda: all(gone(pid) for pid in pids[1:]), 30, "the workers to stop without their supervisor")
    return None


# a full disk, a read-only store ------------------------------------------------------------------------------------

@pytest.fixture
def small_disk(tmp_path: Path):
    """A 4 MiB tmpfs for the store (root can mount one; CI runs as root); skipped, saying why, elsewhere."""
    where = tmp_path / "disk"
    where.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root (the full-disk and read-only tests)")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m,mode=0700", "tmpfs", str(where)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    yield where
    subprocess.run(["umount", "-l", str(where)], capture_output=True)


def fill(folder: Path) -> Path:
    """Write a file until the disk is full; returns it (delete it to free the space)."""
    filler = folder / "filler"
    chunk = b"\0" * 65536
    with open(filler, "wb", buffering=0) as out:
        try:
            while True:
                out.write(chunk)
        except OSError as exc:
            assert exc.errno == errno.ENOSPC, exc
    for size_ in (4096, 512, 1):  # the last scraps
        try:
            with open(filler, "ab", buffering=0) as out:
                while True:
                    out.write(b"\0" * size_)
        except OSError:
            pass
    return filler


def remount(folder: Path, mode: str) -> None:
    subprocess.run(["mount", "-o", f"remount,{mode}", str(folder)], check=True, capture_output=True)


def reply(server: RemoteServer, talk: str, n: int, size_: int = 12_000) -> dict:
    actor = server.actor_id()
    note_id = f"{actor}/statuses/{n}"
    return {"@context": AS, "id": note_id + "/activity", "type": "Create", "actor": actor, "to": [PUBLIC],
            "object": {"id": note_id, "type": "Note", "attributedTo": actor, "inReplyTo": talk, "to": [PUBLIC],
                       "content": f"<p>{n} " + "lorem ipsum " * (size_ // 12) + "</p>"}}


async def test_a_full_disk_then_a_read_only_store_give_clear_errors_and_fedi_recovers(archive_dir, small_disk,
                                                                                        request):
    """The store's disk fills up under a running fedi: inbox POSTs get 503 + Retry-After (every one answered 202
    is kept), ``fedi sync`` says the disk is full; space comes back and both work again. The same with the store
    read-only. SQLite's integrity_check is ok throughout."""
    sqlite_only(request, "a SQLite file on a full or read-only disk")
    config = setup_config(archive_dir, store=small_disk / "fedi.sqlite3")
    urls = urls_for(config)
    [remote] = await remotes_for(config, 1, delay=0.0)
    ro_url = config.store.url + "?mode=ro"
    fedi = await Fedi(archive_dir, "serve").start("serve")
    started = [fedi]
    try:
        await serving(fedi, urls.actor(ARCHIVE))
        follow = {"@context": AS, "id": remote.actor_id() + "#follows/1", "type": "Follow",
                  "actor": remote.actor_id(), "object": urls.actor(ARCHIVE)}
        assert (await remote.signed_post(urls.shared_inbox(), follow)).status == 202
        await until(lambda: any((r.json or {}).get("type") == "Accept" for r in remote.received), 20, "the Accept",
                    fedi)

        # 1. the disk fills up, while replies keep coming
        filler = fill(small_disk)
        os.truncate(filler, filler.stat().st_size - 256 * 1024)  # room left for a few replies
        accepted, refused = [], None
        for n in range(300):
            doc = reply(remote, urls.talk("debat"), n)
            answer = await remote.signed_post(urls.shared_inbox(), doc)
            if answer.status != 202:
                refused, refused_doc = answer, doc
                break
            accepted.append(doc["object"]["id"])
        assert refused is not None, "300 replies went into a full disk"
        assert refused.status == 503 and refused.headers.get("Retry-After") == "60", (refused.status, refused.body)
        assert "try again later" in refused.json["error"]
        assert "the disk is full" in fedi.log()
        answer = await remote.send("GET", urls.actor(ARCHIVE), None, {"Accept": AS2})
        assert answer.status == 200, "reads go on"
        (archive_dir / "outbox" / "full.toml").write_text(ENTRY.replace("Un débat", "On a full disk"),
                                                          encoding="utf-8")
        code, out = await run_fedi(archive_dir, "sync-full", "sync")
        assert code == 1 and "the disk is full; free some space" in out, out
        assert "Traceback" not in out
        async with open_store(ro_url) as store:
            assert await store.integrity_check() == "ok"
            kept = {c.id for c in await store.comments("debat", state=None)}
            assert set(accepted) <= kept, "a reply answered 202 was lost"
            assert await store.talk("full") is None, "nothing of the failed publish was written"

        # 2. space comes back: the same work succeeds, nothing to restart
        filler.unlink()
        code, out = await run_fedi(archive_dir, "sync-after", "sync")
        assert code == 0, out
        await until(lambda: any((r.json or {}).get("id") == urls.create("full") for r in remote.received), 20,
                    "the new talk to reach the follower", fedi)
        doc = reply(remote, urls.talk("debat"), 1000)
        answer = await remote.signed_post(urls.shared_inbox(), doc)
        assert answer.status == 202, answer.body
        answer = await remote.signed_post(urls.shared_inbox(), refused_doc)  # the sender's retry of the 503
        assert answer.status == 202, answer.body
        async with open_store(ro_url) as store:
            assert await store.comment(refused_doc["object"]["id"]) is not None, "the retried reply was dropped"

        # 3. the store's disk turns read-only (Linux refuses that while fedi has the file open for writing: fedi
        # is stopped first, as an administrator would): every command says so in one line, and writes nothing
        await fedi.stop()
        assert fedi.proc is not None and fedi.proc.returncode in (0, -15), fedi.log()[-2000:]
        remount(small_disk, "ro")
        try:
            (archive_dir / "outbox" / "ro.toml").write_text(ENTRY.replace("Un débat", "Read-only"), encoding="utf-8")
            code, out = await run_fedi(archive_dir, "sync-ro", "sync")
            assert code == 1 and "read-only" in out and "Traceback" not in out, out
            code, out = await run_fedi(archive_dir, "serve-ro", "serve", timeout=30)
            assert code == 1 and "fedi: store" in out and "Traceback" not in out, out
        finally:
            remount(small_disk, "rw")
        fedi = await Fedi(archive_dir, "serve-again").start("serve")
        started.append(fedi)
        await serving(fedi, urls.actor(ARCHIVE))

        # 4. writable again: everything works, nothing was damaged
        code, out = await run_fedi(archive_dir, "sync-rw", "sync")
        assert code == 0, out
        answer = await remote.signed_post(urls.shared_inbox(), reply(remote, urls.talk("debat"), 3000, 100))
        assert answer.status == 202, answer.body
        async with open_store(config.store.url) as store:
            assert await store.integrity_check() == "ok"
            assert await store.talk("ro") is not None
            assert await store.comment(remote.actor_id() + "/statuses/3000") is not None
        record("disk", replies_accepted_before_full=len(accepted), full_disk_status=refused.status,
               read_only="exit 1 with a one-line error", recovered=True, integrity="ok")
    finally:
        for one in started:
            await one.stop()
        await remote.close()
