"""The store's contract, on real SQLite files: one transaction per operation, atomic claims between
connections and processes, migrations, and clear errors when the file cannot be written."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from fedi.errors import StoreError
from fedi.store import (
    ActivitySummary,
    CachedKey,
    Comment,
    DeadHost,
    Follower,
    NewDelivery,
    OutActivity,
    PublishCounts,
    QueueCounts,
    ReactionCounts,
    Store,
    TalkChange,
    TalkRecord,
    Target,
    open_store,
    sqlite_base,
)
from fedi.store.sqlite import SqliteStore
from fedi.store.sqlite_schema import MIGRATIONS
from fedi.urls import ARCHIVE, OWNER

ROOT = Path(__file__).resolve().parents[1]
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def url(path: Path) -> str:
    return f"sqlite:///{path}"


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "fedi.sqlite3"


@pytest.fixture
async def store(db: Path):
    async with open_store(url(db)) as s:
        yield s


async def sql(store: Store, query: str, *params: Any) -> list[tuple[Any, ...]]:
    """Run raw SQL on the store's own connection (and thread), for checks the interface does not offer."""
    assert isinstance(store, SqliteStore)
    return await store._one(lambda c: c.execute(query, params).fetchall())


def at(seconds: float) -> datetime:
    return NOW + timedelta(seconds=seconds)


def change(slug: str, version: int = 0, *, obj: dict | None = None, when: datetime = NOW,
           deleted: datetime | None = None, uuid: str | None = None) -> TalkChange:
    obj = obj if obj is not None else {"id": f"https://a.example/talks/{slug}", "name": slug, "v": version}
    return TalkChange(slug=slug, uuid=uuid or f"uuid-{slug}", version=version, object_hash=f"h-{slug}-{version}",
                      published=when, updated=when, deleted=deleted, object=obj)


def activity(aid: str, slug: str | None = "t1", role: str = ARCHIVE, when: datetime = NOW) -> OutActivity:
    return OutActivity(id=aid, actor_role=role, type="Create", slug=slug, document={"id": aid, "type": "Create"},
                       published=when)


def delivery(aid: str, n: int, due: datetime = NOW, host: str | None = None) -> NewDelivery:
    h = host or f"h{n}.example"
    return NewDelivery(activity_id=aid, inbox=f"https://{h}/inbox/{n}", host=h, actor_role=ARCHIVE, due=due)


def follower(n: int | str, role: str = ARCHIVE, shared: str | None = None, state: str = "accepted",
             since: datetime = NOW, host: str | None = None) -> Follower:
    h = host or f"h{n}.example"
    return Follower(role=role, actor_id=f"https://{h}/users/{n}", inbox=f"https://{h}/users/{n}/inbox",
                    shared_inbox=shared, host=h, follow_id=f"https://{h}/follows/{n}", since=since, state=state)


def comment(cid: str, slug: str = "t1", author: str = "https://c.example/users/bob", when: datetime = NOW,
            state: str = "approved") -> Comment:
    return Comment(id=cid, slug=slug, parent_id=None, author_id=author, author_name="Bob", author_handle="@bob@c",
                   author_avatar=None, author_url=None, content_html="<p>hi</p>", language="en", published=when,
                   url=None, state=state)


async def publish_talk(store: Store, slug: str = "t1") -> None:
    await store.publish([change(slug)], [], [])


# opening, migrations, errors ------------------------------------------------------------------------------------------

async def test_open_creates_schema_with_pragmas(store: Store, db: Path) -> None:
    """A new file gets every migration, WAL, NORMAL sync, foreign keys and a busy timeout of at least 5 s."""
    assert (await sql(store, "PRAGMA user_version"))[0][0] == len(MIGRATIONS)
    assert (await sql(store, "PRAGMA journal_mode"))[0][0] == "wal"
    assert (await sql(store, "PRAGMA synchronous"))[0][0] == 1  # NORMAL
    assert (await sql(store, "PRAGMA foreign_keys"))[0][0] == 1
    assert (await sql(store, "PRAGMA busy_timeout"))[0][0] >= 5000
    assert await store.integrity_check() == "ok"
    tables = {r[0] for r in await sql(store, "SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {"talks", "activities", "deliveries", "followers", "seen", "jobs", "comments", "reactions"} <= tables


async def test_reopen_keeps_data(db: Path) -> None:
    """Closing and opening the same file again neither migrates twice nor loses rows."""
    async with open_store(url(db)) as s:
        await s.add_follower(follower(1))
    async with open_store(url(db)) as s:
        assert await s.count_followers(ARCHIVE) == 1
        assert (await sql(s, "PRAGMA user_version"))[0][0] == len(MIGRATIONS)


async def test_migration_from_older_version_applies_new_steps(db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A file at version 1 gets step 2 when a newer fedi opens it, with its data intact."""
    async with open_store(url(db)) as s:
        await s.block("spam.example")
    monkeypatch.setattr(sqlite_base, "MIGRATIONS", (*MIGRATIONS, ("CREATE TABLE extra (x INTEGER)",)))
    async with open_store(url(db)) as s:
        assert (await sql(s, "PRAGMA user_version"))[0][0] == len(MIGRATIONS) + 1
        assert await sql(s, "SELECT count(*) FROM extra") == [(0,)]
        assert await s.blocks() == ["spam.example"]


async def test_failed_migration_writes_nothing(db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A step failing half-way leaves the file as it was: no tables, version 0."""
    monkeypatch.setattr(sqlite_base, "MIGRATIONS", ((*MIGRATIONS[0], "CREATE TABLE broken ("),))
    with pytest.raises(StoreError, match=str(db)):
        await open_store(url(db)).open()
    conn = sqlite3.connect(db)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == 0
    assert conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0] == 0
    conn.close()


async def test_newer_schema_refused(db: Path) -> None:
    """A file written by a newer fedi is refused with a message saying so."""
    conn = sqlite3.connect(db)
    conn.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 5}")
    conn.close()
    with pytest.raises(StoreError, match="newer fedi"):
        await open_store(url(db)).open()


def test_open_store_urls(tmp_path: Path) -> None:
    """PostgreSQL is announced for later, unknown kinds and options are refused, sqlite paths parsed."""
    with pytest.raises(StoreError, match="PostgreSQL support comes with"):
        open_store("postgresql://fedi:secret@db/fedi")
    with pytest.raises(StoreError, match="unknown kind"):
        open_store("mysql://x")
    with pytest.raises(StoreError, match="unknown option"):
        open_store(url(tmp_path / "f.db") + "?cache=shared")
    store = open_store(url(tmp_path / "f.db") + "?mode=ro")
    assert isinstance(store, SqliteStore) and store.readonly and store.path == tmp_path / "f.db"


async def test_missing_folder_is_a_clear_error(tmp_path: Path) -> None:
    """A store in a folder that does not exist fails with StoreError naming the file."""
    path = tmp_path / "nowhere" / "fedi.sqlite3"
    with pytest.raises(StoreError, match=f"{path}: cannot open it"):
        await open_store(url(path)).open()


async def test_not_open_and_double_close(db: Path) -> None:
    """Calls before open say so; closing twice is harmless."""
    s = open_store(url(db))
    with pytest.raises(StoreError, match="not open"):
        await s.talk("x")
    await s.open()
    await s.close()
    await s.close()


async def test_naive_datetime_refused(store: Store) -> None:
    """Times must be aware: a naive datetime is a programming error, reported before anything is written."""
    with pytest.raises(ValueError, match="naive datetime"):
        await store.seen("https://x/1", datetime(2026, 1, 1))
    assert await store.seen("https://x/1", NOW) is False


async def test_readonly_url_reads_but_refuses_writes(db: Path) -> None:
    """Opened with ?mode=ro, reads work and a write is a StoreError naming the file."""
    async with open_store(url(db)) as s:
        await s.block("spam.example")
    async with open_store(url(db) + "?mode=ro") as ro:
        assert await ro.is_blocked("https://a.spam.example/u/1")
        with pytest.raises(StoreError, match=f"store {db}: cannot write"):
            await ro.block("other.example")
        with pytest.raises(StoreError, match="cannot write"):
            await ro.publish([change("t1")], [], [])
        assert await ro.blocks() == ["spam.example"]


_OPEN_SCRIPT = """
import asyncio, sys
from fedi.errors import StoreError
from fedi.store import open_store
async def main():
    try:
        async with open_store(sys.argv[1]) as s:
            await s.block("x.example")
    except StoreError as exc:
        print(exc); sys.exit(3)
    print("wrote")
asyncio.run(main())
"""


def _as_nobody(env: dict[str, str]) -> tuple[list[str], dict[str, Any]] | str:
    """How to run this Python as the unprivileged ``nobody`` user (a command prefix and Popen options), or why
    that is impossible here. ``setpriv`` is tried first: Popen(user=) cannot exec a Python installed under
    /root."""
    ways: list[tuple[list[str], dict[str, Any]]] = [([], {"user": 65534, "group": 65534, "extra_groups": []})]
    if shutil.which("setpriv"):
        ways.insert(0, (["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"], {}))
    problems = []
    for prefix, options in ways:
        try:
            probe = subprocess.run([*prefix, sys.executable, "-c", "import os; print(os.geteuid())"], env=env,
                                   capture_output=True, text=True, timeout=60, **options)
        except OSError as exc:
            problems.append(str(exc))
            continue
        if probe.stdout.strip() == "65534":
            return prefix, options
        problems.append(probe.stderr.strip()[-200:])
    return "; ".join(problems)


@pytest.mark.parametrize("folder_mode", [0o444, 0o555])
async def test_readonly_file_and_folder(tmp_path: Path, folder_mode: int) -> None:
    """With the file 444 and its folder read-only, opening and writing fail with StoreError naming the file.

    Root ignores file modes, so as root the check runs in a child process switched to the ``nobody`` user,
    which owns the files (the modes, not the ownership, are what deny it).
    """
    root = os.geteuid() == 0
    base = Path(tempfile.mkdtemp(prefix="fedi-ro-", dir="/tmp")) if root else tmp_path
    folder = base / "data"
    folder.mkdir()
    path = folder / "fedi.sqlite3"
    async with open_store(url(path)) as s:
        await s.add_follower(follower(1))
    try:
        if root:
            base.chmod(0o755)
            for p in (folder, path):
                os.chown(p, 65534, 65534)
        path.chmod(0o444)
        folder.chmod(folder_mode)
        if root:
            env = {"PYTHONPATH": str(ROOT), "HOME": str(base), "PYTHONDONTWRITEBYTECODE": "1"}
            way = _as_nobody(env)
            if isinstance(way, str):
                pytest.skip(f"running as root, and no way to run Python as 'nobody' here ({way})")
            prefix, options = way
            run = subprocess.run([*prefix, sys.executable, "-c", _OPEN_SCRIPT, url(path)], env=env,
                                 capture_output=True, text=True, timeout=60, **options)
            assert run.returncode == 3, run.stdout + run.stderr
            message = run.stdout
        else:
            with pytest.raises(StoreError) as info:
                async with open_store(url(path)) as s:
                    await s.block("x.example")
            message = str(info.value)
        assert f"store {path}:" in message
        assert "cannot write" in message or "cannot open" in message
    finally:
        folder.chmod(0o755)
        path.chmod(0o644)
    async with open_store(url(path)) as s:  # usable again once the modes are back
        assert await s.block("x.example")
        assert await s.count_followers(ARCHIVE) == 1
    if root:
        shutil.rmtree(base)


async def test_disk_full_is_clear_and_recoverable(store: Store, db: Path) -> None:
    """SQLITE_FULL (here: the page limit reached) is a StoreError naming the file; nothing half-written; usable
    again once space is back."""
    await store.publish([change("t1")], [activity("a1")], [delivery("a1", 1)])
    pages = (await sql(store, "PRAGMA page_count"))[0][0]
    await sql(store, f"PRAGMA max_page_count = {pages + 4}")  # room for the talk and activity, not the queue
    batch = ([change("t2")], [activity("a2", "t2")],
             [replace(delivery("a2", n), inbox=f"https://h{n}.example/{'x' * 200}") for n in range(2000)])
    with pytest.raises(StoreError, match=f"store {db}: the disk is full"):
        await store.publish(*batch)
    assert await store.talk("t2") is None
    assert await store.activity("a2") is None
    assert (await store.delivery_counts()).total == 1
    await sql(store, "PRAGMA max_page_count = 1073741823")
    assert await store.publish(*batch) == PublishCounts(1, 1, 2000)


# published talks --------------------------------------------------------------------------------------------------

async def test_publish_create_update_delete(store: Store) -> None:
    """Create stores version and object; Update bumps the version; Delete marks it; re-runs write nothing."""
    first = ([change("t1")], [activity("c1")], [delivery("c1", 1), delivery("c1", 2)])
    assert await store.publish(*first) == PublishCounts(1, 1, 2)
    assert await store.publish(*first) == PublishCounts(0, 0, 0)
    rec = await store.talk("t1")
    assert rec == TalkRecord("t1", "uuid-t1", 0, "h-t1-0", NOW, NOW, None,
                             {"id": "https://a.example/talks/t1", "name": "t1", "v": 0})
    json_body = await store.talk_json("t1")
    assert json_body is not None and json.loads(json_body.body) == rec.object and not json_body.deleted

    update = replace(change("t1", 1, when=at(60)), published=NOW)
    assert await store.publish([update], [activity("u1")], [delivery("u1", 1)]) == PublishCounts(1, 1, 1)
    rec = await store.talk("t1")
    assert (rec.version, rec.published, rec.updated, rec.object["v"]) == (1, NOW, at(60), 1)

    stale = replace(change("t1", 1, when=at(90)), object_hash="other")
    with pytest.raises(StoreError, match="another publish ran meanwhile"):
        await store.publish([stale], [activity("u2")], [delivery("u2", 1)])
    assert await store.activity("u2") is None

    gone = replace(rec, updated=at(120), deleted=at(120), object={"type": "Tombstone"})
    delete = TalkChange(gone.slug, gone.uuid, gone.version, gone.object_hash, gone.published, gone.updated,
                        gone.deleted, gone.object)
    assert await store.publish([delete], [], []) == PublishCounts(1, 0, 0)
    assert await store.publish([delete], [], []) == PublishCounts(0, 0, 0)
    rec = await store.talk("t1")
    assert rec.deleted == at(120) and rec.version == 1 and rec.object == {"type": "Tombstone"}
    assert (await store.talk_json("t1")).deleted
    assert await store.talks() == [] and await store.count_live_talks() == 0
    recreate = change("t1", 2, when=at(200))
    assert await store.publish([recreate], [], []) == PublishCounts(1, 0, 0)
    assert (await store.talk("t1")).deleted is None


async def test_talk_ordering_and_pages(store: Store) -> None:
    """Newest published first, then slug; live_talks pages the same order without deleted talks."""
    changes = [change("b", when=at(10)), change("a", when=at(10)), change("c", when=at(5)), change("d", when=at(20)),
               change("e", when=at(1), deleted=at(30))]
    await store.publish(changes, [], [])
    assert [t.slug for t in await store.talks()] == ["d", "a", "b", "c"]
    assert [t.slug for t in await store.talks(include_deleted=True)] == ["d", "a", "b", "c", "e"]
    assert [t.slug for t in await store.live_talks(1, 2)] == ["a", "b"]
    assert [t.slug for t in await store.live_talks(3, 10)] == ["c"]
    assert await store.count_live_talks() == 4


async def test_failed_publish_writes_nothing(store: Store) -> None:
    """A constraint failing half-way through publish (a duplicate uuid, a delivery for an unknown activity)
    leaves every table as it was."""
    await store.publish([change("a")], [activity("ca", "a")], [delivery("ca", 1)])
    before = await sql(store, "SELECT (SELECT count(*) FROM talks), (SELECT count(*) FROM activities), "
                              "(SELECT count(*) FROM deliveries)")
    duplicate_uuid = [change("b"), change("c", uuid="uuid-a"), change("d")]
    with pytest.raises(StoreError, match="refused by a constraint"):
        await store.publish(duplicate_uuid, [activity("cb", "b")], [delivery("cb", 1)])
    with pytest.raises(StoreError, match="refused by a constraint"):
        await store.publish([change("b")], [activity("cb", "b")], [delivery("cb", 1), delivery("unknown", 2)])
    after = await sql(store, "SELECT (SELECT count(*) FROM talks), (SELECT count(*) FROM activities), "
                             "(SELECT count(*) FROM deliveries)")
    assert before == after == [(1, 1, 1)]
    assert await store.talk("b") is None and await store.activity("cb") is None
    assert await store.integrity_check() == "ok"


# outgoing activities ------------------------------------------------------------------------------------------------

async def test_activities_and_recent_counts(store: Store) -> None:
    """Activities are served as stored; recent_activities counts delivered, dead and total per activity."""
    await store.publish([change("t1")], [activity("a1", when=at(1)), activity("a2", when=at(2))],
                        [delivery("a1", n) for n in range(3)] + [delivery("a2", 9)])
    assert await store.activity("a1") == {"id": "a1", "type": "Create"}
    assert await store.activity_json("a1") == b'{"id":"a1","type":"Create"}'
    assert await store.activity("nope") is None
    rows = await store.claim_deliveries(NOW, 10, 60, "w")
    by_inbox = {d.inbox: d.id for d in rows}
    await store.delivery_done(by_inbox["https://h0.example/inbox/0"], 202, NOW)
    await store.delivery_dead(by_inbox["https://h1.example/inbox/1"], 410, "gone", NOW)
    assert await store.recent_activities(5) == [
        ActivitySummary("a2", "Create", ARCHIVE, "t1", at(2), 0, 0, 1),
        ActivitySummary("a1", "Create", ARCHIVE, "t1", at(1), 1, 1, 3),
    ]
    assert [a.id for a in await store.recent_activities(1)] == ["a2"]


# followers --------------------------------------------------------------------------------------------------

async def test_followers_upsert_order_and_states(store: Store) -> None:
    """add_follower upserts keeping the first since; listing is by since; counts and states follow."""
    assert await store.add_follower(follower(2, since=at(20)))
    assert await store.add_follower(follower(1, since=at(10), state="pending"))
    assert await store.add_follower(follower(3, since=at(30)))
    moved_inbox = replace(follower(2, since=at(99)), inbox="https://h2.example/new-inbox")
    assert not await store.add_follower(moved_inbox)
    got = await store.follower(ARCHIVE, moved_inbox.actor_id)
    assert got == replace(moved_inbox, since=at(20))
    assert [f.actor_id for f in await store.followers(ARCHIVE)] == [follower(n).actor_id for n in (1, 2, 3)]
    assert [f.actor_id for f in await store.followers(ARCHIVE, "accepted")] == [follower(n).actor_id for n in (2, 3)]
    assert [f.actor_id for f in await store.followers(ARCHIVE, offset=1, limit=1)] == [follower(2).actor_id]
    assert await store.count_followers(ARCHIVE) == 2
    assert await store.count_followers(ARCHIVE, None) == 3
    assert await store.count_followers(OWNER) == 0
    assert await store.set_follower_state(ARCHIVE, follower(1).actor_id, "accepted")
    assert not await store.set_follower_state(OWNER, follower(1).actor_id, "accepted")
    assert await store.count_followers(ARCHIVE) == 3
    with pytest.raises(ValueError, match="follower state"):
        await store.set_follower_state(ARCHIVE, follower(1).actor_id, "maybe")
    assert await store.remove_follower(ARCHIVE, follower(1).actor_id)
    assert not await store.remove_follower(ARCHIVE, follower(1).actor_id)
    assert await store.follower(ARCHIVE, follower(1).actor_id) is None


async def test_remove_actor_everywhere(store: Store) -> None:
    """remove_actor drops the actor from both roles and every row stored from it, and counts them."""
    await publish_talk(store)
    bob = follower("bob", host="c.example")
    await store.add_follower(bob)
    await store.add_follower(replace(bob, role=OWNER))
    await store.add_follower(follower(7))
    await store.cache_actor(bob.actor_id, {"id": bob.actor_id}, [(bob.actor_id + "#main-key", "PEM", "pem")], NOW)
    await store.add_comment(comment("https://c.example/notes/1", author=bob.actor_id))
    await store.add_reaction("like", "https://c.example/likes/1", bob.actor_id, "t1", NOW)
    await store.record_received("https://c.example/accept/1", "Accept", bob.actor_id, {"type": "Accept"}, NOW)
    assert await store.remove_actor(bob.actor_id) == {
        "followers": 2, "comments": 1, "reactions": 1, "keys": 1, "actors": 1, "received": 1}
    assert await store.count_followers(ARCHIVE) == 1 and await store.count_followers(OWNER) == 0
    assert await store.cached_key(bob.actor_id + "#main-key") is None
    assert await store.reaction_counts("t1") == ReactionCounts(0, 0)


async def test_move_follower(store: Store) -> None:
    """Move: the old account's rows become the new account's, merged where it already follows; counts hold."""
    old, new = follower("old", since=at(1), host="old.example"), follower("new", since=at(5), host="new.example")
    await store.add_follower(old)
    await store.add_follower(replace(old, role=OWNER))
    await store.add_follower(replace(new, role=OWNER))
    await store.add_follower(follower(3))
    assert await store.move_follower(old.actor_id, new.actor_id, new.inbox, "https://new.example/inbox",
                                     "new.example") == 2
    moved = await store.follower(ARCHIVE, new.actor_id)
    assert moved is not None and moved.since == at(1) and moved.shared_inbox == "https://new.example/inbox"
    assert await store.follower(ARCHIVE, old.actor_id) is None and await store.follower(OWNER, old.actor_id) is None
    assert await store.count_followers(ARCHIVE) == 2 and await store.count_followers(OWNER) == 1
    assert await store.move_follower(old.actor_id, new.actor_id, new.inbox, None, "new.example") == 0


async def test_remove_followers_matching(store: Store) -> None:
    """A domain removes its followers and its subdomains' (not look-alikes); an actor id removes one."""
    for n, host in enumerate(["bad.example", "a.bad.example", "notbad.example", "good.example"]):
        await store.add_follower(follower(n, host=host))
    assert await store.remove_followers_matching("BAD.example.") == 2
    assert {f.host for f in await store.followers(ARCHIVE)} == {"notbad.example", "good.example"}
    assert await store.remove_followers_matching(follower(3, host="good.example").actor_id) == 1
    assert [f.host for f in await store.followers(ARCHIVE)] == ["notbad.example"]


async def test_delivery_targets_dedupe(store: Store) -> None:
    """Shared inboxes stand for all their followers, across roles; personal inboxes otherwise; pending skipped."""
    shared = "https://m.example/inbox"
    await store.add_follower(follower(1, shared=shared, host="m.example"))
    await store.add_follower(follower(2, shared=shared, host="m.example"))
    await store.add_follower(follower(2, role=OWNER, shared=shared, host="m.example"))
    await store.add_follower(follower(3, role=OWNER, shared=shared, host="m.example"))
    await store.add_follower(follower(4, host="Solo.Example:8443"))
    await store.add_follower(follower(5, role=OWNER, host="p.example"))
    await store.add_follower(follower(6, state="pending", host="q.example"))
    await store.add_follower(replace(follower(7, host="r.example"), inbox="https://R.example:8443/in"))
    assert await store.delivery_targets([ARCHIVE, OWNER]) == [
        Target("https://R.example:8443/in", "r.example:8443", 1),
        Target("https://Solo.Example:8443/users/4/inbox", "solo.example:8443", 1),
        Target("https://m.example/inbox", "m.example", 3),
        Target("https://p.example/users/5/inbox", "p.example", 1),
    ]
    assert await store.targets_for(ARCHIVE) == [
        Target("https://R.example:8443/in", "r.example:8443", 1),
        Target("https://Solo.Example:8443/users/4/inbox", "solo.example:8443", 1),
        Target("https://m.example/inbox", "m.example", 2),
    ]
    assert await store.delivery_targets([]) == []


async def test_delivery_targets_at_100k(store: Store) -> None:
    """100,000 followers behind 2,000 shared inboxes and 20,000 personal ones fan out to the right inboxes."""
    rows = []
    for i in range(100_000):
        host = f"h{i % 2000}.example"
        shared = f"https://{host}/inbox" if (i // 2000) % 5 else None  # every host has both kinds
        inbox = f"https://{host}/u/{i}/inbox"
        rows.append((ARCHIVE if i % 4 else OWNER, f"https://{host}/u/{i}", inbox, shared, host, None, i, "accepted",
                     shared or inbox, host))
    assert isinstance(store, SqliteStore)
    await store._tx(lambda c: c.executemany("INSERT INTO followers VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows))
    started = time.perf_counter()
    targets = await store.delivery_targets([ARCHIVE, OWNER])
    both = time.perf_counter() - started
    started = time.perf_counter()
    archive = await store.delivery_targets([ARCHIVE])
    one = time.perf_counter() - started
    print(f"\ndelivery_targets over 100,000 followers: both roles {len(targets)} inboxes in {both * 1000:.1f} ms, "
          f"archive {len(archive)} inboxes in {one * 1000:.1f} ms")
    assert len(targets) == 2000 + 20_000
    assert sum(t.follower_count for t in targets) == 100_000
    assert len({t.inbox for t in targets}) == len(targets)


# inbound dedupe, received --------------------------------------------------------------------------------------------

async def test_seen_is_atomic_across_connections(db: Path) -> None:
    """Of many concurrent seen() calls for one id through two connections, exactly one gets False."""
    async with open_store(url(db)) as s1, open_store(url(db)) as s2:
        results = await asyncio.gather(*(s.seen(f"https://x/{i % 10}", NOW) for i in range(200)
                                         for s in (s1, s2)))
        assert results.count(False) == 10
        assert await s1.seen("https://x/0", NOW) is True
        await s1.seen("https://x/old", at(-7200))
        assert await s2.forget_seen_before(at(-3600)) == 1
        assert await s2.seen("https://x/old", NOW) is False


async def test_record_received(store: Store) -> None:
    """A received activity is kept once and can be read back."""
    doc = {"id": "https://m.example/accept/1", "type": "Accept"}
    assert await store.record_received(doc["id"], "Accept", "https://m.example/u/a", doc, NOW)
    assert not await store.record_received(doc["id"], "Accept", "https://m.example/u/a", doc, NOW)
    assert await store.received(doc["id"]) == doc


# remote actor and key cache ------------------------------------------------------------------------------------------

async def test_actor_and_key_cache(store: Store) -> None:
    """cache_actor replaces document and keys; forget_actor drops both; mark_gone stops refetching."""
    actor = "https://m.example/users/a"
    await store.cache_actor(actor, {"id": actor, "v": 1}, [(actor + "#k1", "PEM1", "pem"),
                                                           (actor + "#k2", "z6Mk", "multibase")], NOW)
    assert await store.cached_actor(actor) == ({"id": actor, "v": 1}, NOW)
    assert await store.cached_key(actor + "#k2") == CachedKey(actor + "#k2", actor, "z6Mk", "multibase", NOW)
    await store.cache_actor(actor, {"id": actor, "v": 2}, [(actor + "#k3", "PEM3", "pem")], at(10))
    assert (await store.cached_actor(actor)).document["v"] == 2
    assert await store.cached_key(actor + "#k1") is None
    assert (await store.cached_key(actor + "#k3")).fetched_at == at(10)
    with pytest.raises(ValueError, match="key kind"):
        await store.cache_actor(actor, {}, [(actor + "#k4", "x", "jwk")], NOW)
    assert await store.forget_actor(actor)
    assert await store.cached_actor(actor) is None and await store.cached_key(actor + "#k3") is None
    assert not await store.forget_actor(actor)

    await store.cache_actor(actor, {"id": actor}, [(actor + "#k1", "PEM1", "pem")], NOW)
    await store.mark_gone(actor, at(5))
    assert await store.is_gone(actor) and await store.cached_key(actor + "#k1") is None
    await store.cache_actor(actor, {"id": actor}, [], at(6))
    assert not await store.is_gone(actor)


# durable jobs ------------------------------------------------------------------------------------------------

async def test_jobs_lifecycle(db: Path) -> None:
    """Jobs are claimed once per lease, come back after it, can be retried, failed or finished, and survive
    a restart."""
    async with open_store(url(db)) as s:
        j1 = await s.add_job("accept", {"follow": "f1"}, NOW)
        j2 = await s.add_job("fetch", {"actor": "a"}, at(100))
        j3 = await s.add_job("accept", {"follow": "f3"}, at(-5))
    async with open_store(url(db)) as s:
        claimed = await s.claim_jobs(NOW, 10, 60, "w1")
        assert [(j.id, j.payload, j.attempts) for j in claimed] == [(j1, {"follow": "f1"}, 1),
                                                                   (j3, {"follow": "f3"}, 1)]
        assert claimed[0].lease_until == at(60) and claimed[0].created == NOW
        assert await s.claim_jobs(at(30), 10, 60, "w2") == []
        assert await s.next_job_due(at(30)) == at(60)
        back = await s.claim_jobs(at(61), 10, 60, "w2")
        assert [(j.id, j.attempts) for j in back] == [(j1, 2), (j3, 2)]
        await s.finish_job(j1)
        await s.retry_job(j3, at(200), "timeout")
        again = await s.claim_jobs(at(150), 10, 60, "w3")
        assert [j.id for j in again] == [j2]
        await s.fail_job(j2, "410 gone")
        retried = await s.claim_jobs(at(200), 10, 60, "w3")
        assert [(j.id, j.last_error, j.attempts) for j in retried] == [(j3, "timeout", 3)]
        await s.finish_job(j3)
        assert await s.claim_jobs(at(10_000), 10, 60, "w4") == []
        assert await s.next_job_due(NOW) is None
        assert (await s.status(NOW)).jobs == {"pending": 0, "failed": 1}


# delivery queue -----------------------------------------------------------------------------------------------

async def test_delivery_lifecycle(store: Store) -> None:
    """Claims respect due, limit and skip_hosts; results are recorded; dead rows can be retried."""
    await store.publish([change("t1")], [activity("a1"), activity("a2")],
                        [delivery("a1", 1), delivery("a1", 2, due=at(5)), delivery("a1", 3, host="slow.example"),
                         delivery("a2", 4, due=at(500))])
    assert await store.next_due(at(-10)) == NOW
    first = await store.claim_deliveries(NOW, 10, 60, "w1", skip_hosts=["SLOW.example"])
    assert [(d.inbox, d.attempts, d.created) for d in first] == [("https://h1.example/inbox/1", 1, NOW)]
    assert first[0].body == b'{"id":"a1","type":"Create"}'
    both = await store.claim_deliveries(at(10), 1, 60, "w1")
    assert [d.inbox for d in both] == ["https://slow.example/inbox/3"]
    more = await store.claim_deliveries(at(10), 10, 60, "w1")
    assert [d.inbox for d in more] == ["https://h2.example/inbox/2"]
    assert more[0].body is not None
    await store.delivery_done(first[0].id, 202, at(11))
    await store.delivery_retry(both[0].id, at(300), 503, "Service Unavailable", at(12))
    await store.delivery_dead(more[0].id, 404, "Not Found", at(13))
    assert await store.delivery_counts() == QueueCounts(pending=1, retrying=1, done=1, dead=1)
    assert await store.delivery_counts("a1") == QueueCounts(pending=0, retrying=1, done=1, dead=1)
    assert await store.next_due(at(20)) == at(300)
    failed = await store.deliveries(failed_only=True)
    assert [(d.inbox, d.state, d.last_status, d.last_error, d.last_attempt, d.attempts) for d in failed] == [
        ("https://h2.example/inbox/2", "dead", 404, "Not Found", at(13), 1),
        ("https://slow.example/inbox/3", "retrying", 503, "Service Unavailable", at(12), 1),
    ]
    assert len(await store.deliveries(activity_id="a2")) == 1
    assert await store.retry_dead(at(400), inbox="https://nowhere/") == 0
    assert await store.retry_dead(at(400), activity_id="a1") == 1
    revived = await store.claim_deliveries(at(400), 10, 60, "w2")
    assert [(d.inbox, d.attempts, d.created) for d in revived] == [
        ("https://h2.example/inbox/2", 1, at(400)), ("https://slow.example/inbox/3", 2, NOW)]
    assert await store.prune_deliveries(at(12)) == 1  # the done row, last attempted at 11
    assert (await store.delivery_counts()).done == 0


async def test_lease_expiry_returns_rows(store: Store) -> None:
    """A crashed worker's rows stay invisible for the lease, then come back to another worker."""
    await store.publish([change("t1")], [activity("a1")], [delivery("a1", n) for n in range(5)])
    taken = await store.claim_deliveries(NOW, 3, 60, "crashed")
    assert len(taken) == 3
    during = await store.claim_deliveries(at(59), 10, 60, "other")
    assert len(during) == 2
    assert await store.claim_deliveries(at(59), 10, 60, "other") == []
    assert await store.next_due(at(59)) == at(60)
    after = await store.claim_deliveries(at(60), 10, 60, "other")
    assert sorted(d.id for d in after) == sorted(d.id for d in taken)
    assert {d.attempts for d in after} == {2}
    info = {d.id: d for d in await store.deliveries()}
    assert {info[d.id].worker for d in after} == {"other"}


async def test_concurrent_claims_are_disjoint(db: Path) -> None:
    """Three connections (as three processes would) claiming at once never get the same row."""
    async with open_store(url(db)) as s:
        await s.publish([change("t1")], [activity("a1")], [delivery("a1", n) for n in range(1500)])
    stores = [open_store(url(db)) for _ in range(3)]
    for s in stores:
        await s.open()
    try:
        async def drain(s: Store, name: str) -> list[int]:
            got: list[int] = []
            while batch := await s.claim_deliveries(NOW, 7, 600, name):
                got.extend(d.id for d in batch)
            return got

        results = await asyncio.gather(*(drain(s, f"w{i}-{k}") for i, s in enumerate(stores) for k in range(4)))
    finally:
        for s in stores:
            await s.close()
    ids = [i for r in results for i in r]
    assert len(ids) == len(set(ids)) == 1500
    assert sum(1 for r in results if r) > 1  # the workers really competed


_CLAIM_SCRIPT = """
import asyncio, json, sys
from datetime import datetime, timezone
from fedi.store import open_store
async def main():
    now = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)
    got = []
    async with open_store(sys.argv[1]) as s:
        while batch := await s.claim_deliveries(now, 5, 600, sys.argv[2]):
            got.extend(d.id for d in batch)
    print(json.dumps(got))
asyncio.run(main())
"""


async def test_claims_disjoint_between_processes(db: Path) -> None:
    """Two real processes draining one queue at the same time never claim the same row."""
    async with open_store(url(db)) as s:
        await s.publish([change("t1")], [activity("a1")], [delivery("a1", n) for n in range(1200)])
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    procs = [await asyncio.create_subprocess_exec(sys.executable, "-c", _CLAIM_SCRIPT, url(db), f"p{i}",
                                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
             for i in range(2)]
    outputs = [await p.communicate() for p in procs]
    assert all(p.returncode == 0 for p in procs), [o[1].decode()[-500:] for o in outputs]
    lists = [json.loads(out) for out, _ in outputs]
    assert not set(lists[0]) & set(lists[1])
    assert len(lists[0]) + len(lists[1]) == 1200


# hosts, blocks ----------------------------------------------------------------------------------------------

async def test_host_health(store: Store) -> None:
    """Failures keep the first failing time; a success clears it; dead_hosts lists hosts failing for days."""
    first = await store.host_failed("Down.example", at(0))
    second = await store.host_failed("down.example", at(3600))
    assert (first.failures, second.failures, second.failing_since, second.last_failure) == (1, 2, NOW, at(3600))
    await store.host_failed("flaky.example", at(6 * 86400))
    assert await store.dead_hosts(at(7 * 86400), 7) == [DeadHost("down.example", NOW)]
    assert await store.dead_hosts(at(7 * 86400 - 1), 7) == []
    assert await store.host_ok("down.example")
    assert not await store.host_ok("down.example")
    assert await store.host_state("down.example") is None
    assert (await store.host_state("flaky.example")).failures == 1


async def test_blocks_cover_parent_domains(store: Store) -> None:
    """A blocked domain covers its subdomains, not look-alikes; an actor id blocks only that actor."""
    assert await store.block("Spam.Example.")
    assert not await store.block("spam.example")
    assert await store.block("https://ok.example/users/troll")
    assert await store.is_blocked("https://spam.example/users/a")
    assert await store.is_blocked("https://deep.sub.SPAM.example:8443/users/a")
    assert await store.is_blocked("sub.spam.example")
    assert not await store.is_blocked("https://notspam.example/users/a")
    assert not await store.is_blocked("https://spam.example.org/users/a")
    assert await store.is_blocked("https://ok.example/users/troll")
    assert not await store.is_blocked("https://ok.example/users/friend")
    assert await store.blocks() == ["https://ok.example/users/troll", "spam.example"]
    assert await store.unblock("SPAM.example")
    assert not await store.unblock("spam.example")
    assert not await store.is_blocked("https://spam.example/users/a")
    with pytest.raises(ValueError, match="give a domain"):
        await store.block("  . ")


# comments, reactions -------------------------------------------------------------------------------------------

async def test_comments(store: Store) -> None:
    """Comments upsert by id for their author only, keep moderation, and only their author edits or deletes."""
    await publish_talk(store)
    await publish_talk(store, "t2")
    bob, eve = "https://c.example/users/bob", "https://e.example/users/eve"
    assert await store.add_comment(comment("n2", when=at(2)))
    assert await store.add_comment(comment("n1", when=at(1), state="pending"))
    assert await store.add_comment(comment("n3", slug="t2", when=at(3), state="pending"))
    assert not await store.add_comment(replace(comment("n1", when=at(9), state="approved"), content_html="<p>v2</p>"))
    n1 = await store.comment("n1")
    assert (n1.state, n1.published, n1.content_html) == ("pending", at(1), "<p>v2</p>")
    assert not await store.add_comment(replace(comment("n1", author=eve), content_html="<p>forged</p>"))
    assert (await store.comment("n1")).content_html == "<p>v2</p>"
    assert not await store.update_comment_content("n1", eve, "<p>x</p>", at(5))
    assert await store.update_comment_content("n1", bob, "<p>v3</p>", at(5))
    assert (await store.comment("n1")).updated == at(5)
    assert [c.id for c in await store.comments("t1")] == ["n2"]
    assert [c.id for c in await store.comments("t1", None)] == ["n1", "n2"]
    assert [c.id for c in await store.pending_comments()] == ["n1", "n3"]
    assert await store.set_comment_state("n1", "approved")
    assert [c.id for c in await store.comments("t1")] == ["n1", "n2"]
    assert await store.is_reply_target("n3") == "t2"
    assert await store.is_reply_target("https://a.example/talks/t1") is None
    assert not await store.delete_comment("n2", eve)
    assert await store.delete_comment("n2", bob)
    assert await store.comment("n2") is None
    with pytest.raises(StoreError, match="constraint"):
        await store.add_comment(comment("n9", slug="no-such-talk"))


async def test_reactions(store: Store) -> None:
    """One reaction per actor, talk and kind; Undo by activity id or slug, only the actor's own."""
    await publish_talk(store)
    bob, eve = "https://c.example/users/bob", "https://e.example/users/eve"
    assert await store.add_reaction("like", "L1", bob, "t1", NOW)
    assert not await store.add_reaction("like", "L1-again", bob, "t1", NOW)
    assert await store.add_reaction("like", "L2", eve, "t1", NOW)
    assert await store.add_reaction("announce", "S1", bob, "t1", NOW)
    assert await store.reaction_counts("t1") == ReactionCounts(likes=2, shares=1)
    assert not await store.remove_reaction(eve, "like", activity_id="L1")
    assert await store.remove_reaction(bob, "like", activity_id="L1")
    assert await store.remove_reaction(bob, "announce", slug="t1")
    assert await store.reaction_counts("t1") == ReactionCounts(1, 0)
    with pytest.raises(ValueError, match="reaction kind"):
        await store.add_reaction("love", "X", bob, "t1", NOW)
    with pytest.raises(ValueError):
        await store.remove_reaction(bob, "like")


# status, performance --------------------------------------------------------------------------------------------------

async def test_status(store: Store) -> None:
    """status() gathers followers per role, hosts, queue, recent activities, dead hosts, jobs and moderation."""
    await store.publish([change("t1")], [activity("a1")], [delivery("a1", 1), delivery("a1", 2)])
    await store.add_follower(follower(1))
    await store.add_follower(follower(2, host="h1.example", state="pending"))
    await store.add_follower(follower(3, role=OWNER, host="h1.example"))
    await store.host_failed("dead.example", at(-8 * 86400))
    await store.add_job("accept", {}, NOW)
    await store.add_comment(comment("n1", state="pending"))
    status = await store.status(NOW)
    assert status.followers == {ARCHIVE: {"accepted": 1, "pending": 1}, OWNER: {"accepted": 1, "pending": 0}}
    assert status.follower_hosts == 1
    assert status.live_talks == 1
    assert status.queue == QueueCounts(pending=2)
    assert status.recent == [ActivitySummary("a1", "Create", ARCHIVE, "t1", NOW, 0, 0, 2)]
    assert status.dead_hosts == [DeadHost("dead.example", at(-8 * 86400))]
    assert status.jobs == {"pending": 1, "failed": 0}
    assert status.pending_comments == 1


async def test_per_call_cost(store: Store, db: Path) -> None:
    """A primary-key read through the worker thread returns the right rows; the cost is printed, not asserted."""
    await store.publish([change("t1")], [activity(f"https://a.example/act/{i}") for i in range(2000)], [])
    n = 2000
    started = time.perf_counter()
    for i in range(n):
        await store.activity_json(f"https://a.example/act/{i}")
    sequential = (time.perf_counter() - started) / n
    started = time.perf_counter()
    bodies = await asyncio.gather(*(store.activity_json(f"https://a.example/act/{i}") for i in range(n)))
    concurrent = (time.perf_counter() - started) / n
    conn = sqlite3.connect(db)
    started = time.perf_counter()
    for i in range(n):
        conn.execute("SELECT json FROM activities WHERE id = ?", (f"https://a.example/act/{i}",)).fetchone()
    direct = (time.perf_counter() - started) / n
    conn.close()
    print(f"\nPK read: direct {direct * 1e6:.1f} µs, via store sequential {sequential * 1e6:.1f} µs, "
          f"{n} concurrent {concurrent * 1e6:.1f} µs each")
    assert all(json.loads(b)["id"] == f"https://a.example/act/{i}" for i, b in enumerate(bodies))

