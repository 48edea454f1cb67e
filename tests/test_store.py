"""The store's contract, on both backends: every test here runs on a real SQLite file and on a real PostgreSQL
database (tests/conftest.py ``store`` / ``store_url``). One transaction per operation, atomic claims between
connections and processes, migrations, idempotent writes, exact bytes. What only one backend has is tested in
test_store_sqlite.py and test_store_postgres.py."""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from pathlib import Path

import pytest

from fedi.errors import StoreError
from fedi.store import (
    TABLES,
    ActivitySummary,
    CachedKey,
    DeadHost,
    Pin,
    PublishCounts,
    QueueCounts,
    ReactionCounts,
    Store,
    TalkChange,
    TalkRecord,
    Target,
    open_store,
    postgres_base,
    sqlite_base,
)
from fedi.store.sqlite import SqliteStore
from fedi.urls import ARCHIVE, OWNER
from tests.storedata import (
    NOW,
    activity,
    add_quote,
    at,
    change,
    comment,
    delivery,
    fill,
    follower,
    publish_talk,
    quote,
    sql,
)

ROOT = Path(__file__).resolve().parents[1]


def migrations_module(url: str):  # type: ignore[no-untyped-def]
    """The backend module whose MIGRATIONS the store of ``url`` applies."""
    return sqlite_base if url.startswith("sqlite:") else postgres_base


async def schema_version(store: Store) -> int:
    if isinstance(store, SqliteStore):
        return (await sql(store, "PRAGMA user_version"))[0][0]
    return (await sql(store, "SELECT version FROM fedi_schema"))[0][0]


async def raw(url: str, *statements: str) -> list[tuple]:  # type: ignore[type-arg]
    """Statements run outside any store (the store may refuse to open); the last one's rows."""
    rows: list[tuple] = []  # type: ignore[type-arg]
    if url.startswith("sqlite:///"):
        conn = sqlite3.connect(url[len("sqlite:///"):])
        for statement in statements:
            rows = conn.execute(statement).fetchall()
        conn.commit()
        conn.close()
        return rows
    import asyncpg

    from fedi.store.postgres import PostgresStore

    conn = await asyncpg.connect(PostgresStore.from_url(url).dsn)
    try:
        for statement in statements:
            rows = [tuple(r) for r in await conn.fetch(statement)]
    finally:
        await conn.close()
    return rows


async def table_names(url: str) -> set[str]:
    if url.startswith("sqlite:///"):
        return {r[0] for r in await raw(url, "SELECT name FROM sqlite_master WHERE type = 'table'")}
    return {r[0] for r in await raw(url, "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()")}


# opening, migrations, errors ------------------------------------------------------------------------------------------

async def test_open_creates_every_table(store: Store, store_url: str) -> None:
    """A new store gets every migration and every table, and passes its own consistency check."""
    assert await schema_version(store) == len(migrations_module(store_url).MIGRATIONS)
    assert {t.name for t in TABLES} <= await table_names(store_url)
    assert await store.integrity_check() == "ok"


async def test_reopen_keeps_data(store_url: str) -> None:
    """Closing and opening the same store again neither migrates twice nor loses rows."""
    async with open_store(store_url) as s:
        await s.add_follower(follower(1))
    async with open_store(store_url) as s:
        assert await s.count_followers(ARCHIVE) == 1
        assert await schema_version(s) == len(migrations_module(store_url).MIGRATIONS)


async def test_migration_from_older_version_applies_new_steps(store_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A store at version 1 gets step 2 when a newer fedi opens it, with its data intact."""
    module = migrations_module(store_url)
    migrations = module.MIGRATIONS
    async with open_store(store_url) as s:
        await s.block("spam.example")
    monkeypatch.setattr(module, "MIGRATIONS", (*migrations, ("CREATE TABLE extra (x INTEGER)",)))
    async with open_store(store_url) as s:
        assert await schema_version(s) == len(migrations) + 1
        assert await sql(s, "SELECT count(*) FROM extra") == [(0,)]
        assert await s.blocks() == ["spam.example"]


FOLLOW_IDS_STEP = {"sqlite": 3, "postgres": 2}
"""The migration step that adds ``follow_ids``, per backend."""


async def test_follow_ids_migration_keeps_the_followers_follow_ids(store_url: str,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """A store from before ``follow_ids`` gets each follower's stored Follow id, so a bare-id Undo still works."""
    module = migrations_module(store_url)
    migrations, step = module.MIGRATIONS, FOLLOW_IDS_STEP["sqlite" if store_url.startswith("sqlite:") else "postgres"]
    monkeypatch.setattr(module, "MIGRATIONS", migrations[:step - 1])
    async with open_store(store_url):
        pass
    since = "0" if store_url.startswith("sqlite:") else "now()"
    for n, follow_id in ((1, "'https://h1.example/follows/1'"), (2, "NULL")):
        await raw(store_url, "INSERT INTO followers (role, actor_id, inbox, host, follow_id, since, state, target, "
                  f"target_host) VALUES ('archive', 'https://h{n}.example/u', 'https://h{n}.example/i', "
                  f"'h{n}.example', {follow_id}, {since}, 'accepted', 'https://h{n}.example/i', 'h{n}.example')")
    monkeypatch.setattr(module, "MIGRATIONS", migrations)
    async with open_store(store_url) as s:
        assert await schema_version(s) == len(migrations)
        assert await s.follow_senders("https://h1.example/follows/1") == [(ARCHIVE, "https://h1.example/u")]
        assert await s.count_rows("follow_ids") == 1


async def test_failed_migration_writes_nothing(store_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A step failing half-way leaves the store as it was: no tables, no version."""
    module = migrations_module(store_url)
    monkeypatch.setattr(module, "MIGRATIONS", ((*module.MIGRATIONS[0], "CREATE TABLE broken ("),))
    with pytest.raises(StoreError, match="store "):
        await open_store(store_url).open()
    assert await table_names(store_url) == set()
    if store_url.startswith("sqlite:///"):
        assert await raw(store_url, "PRAGMA user_version") == [(0,)]


async def test_newer_schema_refused(store_url: str) -> None:
    """A store written by a newer fedi is refused with a message saying so."""
    newer = len(migrations_module(store_url).MIGRATIONS) + 5
    if store_url.startswith("sqlite:///"):
        await raw(store_url, f"PRAGMA user_version = {newer}")
    else:
        await raw(store_url, "CREATE TABLE fedi_schema (version integer NOT NULL)",
                  f"INSERT INTO fedi_schema VALUES ({newer})")
    with pytest.raises(StoreError, match="newer fedi"):
        await open_store(store_url).open()


async def test_not_open_and_double_close(store_url: str) -> None:
    """Calls before open say so; closing twice is harmless."""
    s = open_store(store_url)
    with pytest.raises(StoreError, match="not open"):
        await s.talk("x")
    await s.open()
    await s.close()
    await s.close()


async def test_naive_datetime_refused(store: Store) -> None:
    """Times must be aware: a naive datetime is a programming error, reported before anything is written."""
    with pytest.raises(ValueError, match="naive datetime"):
        await store.seen("https://x/1", datetime(2026, 1, 1))
    with pytest.raises(ValueError, match="naive datetime"):
        await store.publish([change("t1", when=datetime(2026, 1, 1))], [], [])
    assert await store.talk("t1") is None
    assert await store.seen("https://x/1", NOW) is False


async def test_readonly_url_reads_but_refuses_writes(store_url: str) -> None:
    """Opened with mode=ro, reads work and a write is a StoreError saying the store cannot be written."""
    async with open_store(store_url) as s:
        await s.block("spam.example")
    async with open_store(store_url + ("&" if "?" in store_url else "?") + "mode=ro") as ro:
        assert await ro.is_blocked("https://a.spam.example/u/1")
        with pytest.raises(StoreError, match="store .*: cannot write"):
            await ro.block("other.example")
        with pytest.raises(StoreError, match="cannot write"):
            await ro.publish([change("t1")], [], [])
        assert await ro.blocks() == ["spam.example"]


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


async def test_successes_are_recorded_in_one_call(store: Store) -> None:
    """deliveries_done marks every row of the batch done with its own status, and no other row."""
    await store.publish([change("t1")], [activity("a1")], [delivery("a1", n) for n in range(5)])
    rows = await store.claim_deliveries(NOW, 10, 60, "w")
    await store.deliveries_done([(rows[0].id, 202), (rows[1].id, 200), (rows[2].id, 201)], at(1))
    states = await sql(store, "SELECT id, state, last_status FROM deliveries ORDER BY id")
    assert [(s, code) for _, s, code in states] == [("done", 202), ("done", 200), ("done", 201),
                                                     ("pending", None), ("pending", None)]
    assert (await store.delivery_counts("a1")).done == 3


async def test_claims_cap_each_host_among_the_oldest_rows(store: Store) -> None:
    """At most per_host rows of a host, less those the worker holds (busy); other hosts fill the claim."""
    rows = [delivery("a1", n, host="big.example") for n in range(10)] + [delivery("a1", 100 + n) for n in range(3)]
    await store.publish([change("t1")], [activity("a1")], rows)
    got = await store.claim_deliveries(NOW, 8, 60, "w", per_host=4, busy={"big.example": 1})
    hosts = [d.host for d in got]
    assert hosts.count("big.example") == 3 and len(got) == 6
    again = await store.claim_deliveries(NOW, 8, 60, "w2", per_host=4)
    assert [d.host for d in again] == ["big.example"] * 4  # the leased rows are nobody else's


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
    await add_quote(store, quote("https://a.example/talks/t1/quotes/q1", author=bob.actor_id))
    assert await store.remove_actor(bob.actor_id) == {
        "followers": 2, "comments": 1, "reactions": 1, "keys": 1, "actors": 1, "received": 1, "quotes": 1}
    assert await store.quote("https://a.example/talks/t1/quotes/q1") is None
    assert await store.count_followers(ARCHIVE) == 1 and await store.count_followers(OWNER) == 0
    assert await store.cached_key(bob.actor_id + "#main-key") is None
    assert await store.reaction_counts("t1") == ReactionCounts(0, 0)


async def test_pins_are_stored_once_and_featured_lists_live_pinned_talks(store: Store) -> None:
    """Pins take versions like talks (a repeat is skipped, a gap refused with nothing written); ``featured`` is
    the pinned live talks, newest first."""
    await store.publish([change("t1"), change("t2", when=at(5)), change("t3", when=at(10))], [], [])
    await store.publish([], [], [], [Pin("t1", 1, True, NOW), Pin("t2", 1, True, NOW), Pin("t3", 1, False, NOW)])
    assert await store.featured() == ["t2", "t1"]
    await store.publish([], [], [], [Pin("t1", 1, True, NOW)])  # the same publish again
    with pytest.raises(StoreError, match="another publish ran meanwhile"):
        await store.publish([], [activity("a9")], [delivery("a9", 1)], [Pin("t1", 3, False, at(1))])
    assert await store.activity("a9") is None and await store.featured() == ["t2", "t1"]
    await store.publish([], [], [], [Pin("t1", 2, False, at(1))])
    assert await store.featured() == ["t2"]
    await store.publish([change("t2", 0, when=at(5), deleted=at(20))], [], [])
    assert await store.featured() == []
    assert await store.pins() == [Pin("t1", 2, False, at(1)), Pin("t2", 1, True, NOW), Pin("t3", 1, False, NOW)]


async def test_quote_authorizations_are_kept_once_and_revoked_by_their_author(store: Store) -> None:
    """add_quote keeps the authorization, its Accept and one delivery, once; only its author revokes it, and a
    revoked one stays revoked when the same request comes again."""
    await publish_talk(store)
    q = quote("https://a.example/talks/t1/quotes/q1")
    assert await add_quote(store, q)
    assert not await add_quote(store, q)
    assert await store.quote(q.id) == q
    assert (await store.activity(f"{q.id}/accept"))["result"] == q.id
    assert (await store.delivery_counts(f"{q.id}/accept")).pending == 1
    assert await store.revoke_quotes(q.quoting, "https://c.example/users/eve", at(1)) == 0
    assert await store.revoke_quotes(q.quoting, q.author, at(1)) == 1
    assert await store.revoke_quotes(q.quoting, q.author, at(2)) == 0
    assert not await add_quote(store, q)
    assert await store.quote(q.id) == replace(q, revoked=at(1))
    assert await store.quote("https://a.example/talks/t1/quotes/none") is None


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


async def test_every_follow_id_is_known_until_the_follower_goes(store: Store) -> None:
    """Each Follow a follower sent is remembered (not only the latest), per role, until its row goes by any way."""
    alice = follower("alice", host="a.example")
    first, second = alice.follow_id, "https://a.example/follows/again"
    assert first is not None
    await store.add_follower(alice)
    await store.add_follower(replace(alice, follow_id=second, since=at(9)))
    await store.add_follower(replace(alice, follow_id=second))  # the same Follow again: still one row
    await store.add_follower(replace(alice, role=OWNER, follow_id=None))
    assert await store.follow_senders(first) == [(ARCHIVE, alice.actor_id)]
    assert await store.follow_senders(second) == [(ARCHIVE, alice.actor_id)]
    assert await store.follow_senders("https://a.example/follows/never") == []
    assert (await store.follower(ARCHIVE, alice.actor_id)).follow_id == second  # type: ignore[union-attr]
    assert await store.remove_follower(ARCHIVE, alice.actor_id)
    assert await store.follow_senders(first) == [] and await store.follow_senders(second) == []
    for gone in (lambda: store.remove_actor(alice.actor_id), lambda: store.remove_followers_matching("a.example"),
                 lambda: store.remove_followers_at_inbox(alice.inbox)):
        await store.add_follower(alice)
        await gone()
        assert await store.follow_senders(first) == []


async def test_a_moved_follower_keeps_no_follow_id_of_the_old_account(store: Store) -> None:
    """After a Move the row is the new account's: the old account's Follow ids no longer name it."""
    old, new = follower("old", host="old.example"), follower("new", host="new.example")
    await store.add_follower(old)
    assert await store.move_follower(old.actor_id, new.actor_id, new.inbox, None, "new.example") == 1
    assert await store.follow_senders(old.follow_id or "") == []
    await store.add_follower(replace(new, follow_id="https://new.example/follows/1"))
    assert await store.follow_senders("https://new.example/follows/1") == [(ARCHIVE, new.actor_id)]


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
        rows.append({"role": ARCHIVE if i % 4 else OWNER, "actor_id": f"https://{host}/u/{i}", "inbox": inbox,
                     "shared_inbox": shared, "host": host, "follow_id": None, "since": at(i), "state": "accepted",
                     "target": shared or inbox, "target_host": host})
    assert await store.import_rows("followers", rows) == 100_000
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

async def test_seen_is_atomic_across_connections(store_url: str) -> None:
    """Of many concurrent seen() calls for one id through two stores (two pools), exactly one gets False."""
    async with open_store(store_url) as s1, open_store(store_url) as s2:
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

async def test_jobs_lifecycle(store_url: str) -> None:
    """Jobs are claimed once per lease, come back after it, can be retried, failed or finished, and survive
    a restart."""
    async with open_store(store_url) as s:
        j1 = await s.add_job("accept", {"follow": "f1"}, NOW)
        j2 = await s.add_job("fetch", {"actor": "a"}, at(100))
        j3 = await s.add_job("accept", {"follow": "f3"}, at(-5))
    async with open_store(store_url) as s:
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


async def test_concurrent_claims_are_disjoint(store_url: str) -> None:
    """Three stores (as three processes would) claiming at once never get the same row."""
    async with open_store(store_url) as s:
        await s.publish([change("t1")], [activity("a1")], [delivery("a1", n) for n in range(1500)])
    stores = [open_store(store_url) for _ in range(3)]
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


async def test_claims_disjoint_between_processes(store_url: str) -> None:
    """Two real processes draining one queue at the same time never claim the same row."""
    async with open_store(store_url) as s:
        await s.publish([change("t1")], [activity("a1")], [delivery("a1", n) for n in range(1200)])
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    procs = [await asyncio.create_subprocess_exec(sys.executable, "-c", _CLAIM_SCRIPT, store_url, f"p{i}",
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


async def test_stored_bytes_are_exact(store: Store) -> None:
    """Documents are kept as compact UTF-8 JSON in the caller's key order, and served byte for byte."""
    doc = {"z": "é", "id": "https://a.example/talks/t1", "a": {"y": 1, "b": [True, None]}}
    await store.publish([change("t1", obj=doc)], [replace(activity("a1"), document=doc)], [delivery("a1", 1)])
    body = '{"z":"é","id":"https://a.example/talks/t1","a":{"y":1,"b":[true,null]}}'.encode()
    assert (await store.talk_json("t1")).body == body
    assert await store.activity_json("a1") == body
    assert (await store.claim_deliveries(NOW, 1, 60, "w"))[0].body == body
    assert list((await store.talk("t1")).object) == ["z", "id", "a"]


async def test_claims_capped_per_host(store: Store) -> None:
    """per_host caps the rows of each host, less those the worker holds (busy); hosts restricts to some."""
    await store.publish([change("t1")], [activity("a1")],
                        [delivery("a1", n, due=at(n), host=f"h{n % 3}.example") for n in range(12)])
    first = await store.claim_deliveries(at(100), 10, 60, "w", per_host=2, busy={"H0.example": 1})
    assert sorted(d.host for d in first) == ["h0.example", "h1.example", "h1.example", "h2.example", "h2.example"]
    assert [d.id for d in first] == sorted(d.id for d in first)
    only = await store.claim_deliveries(at(100), 10, 60, "w", hosts=["h1.EXAMPLE"])
    assert {d.host for d in only} == {"h1.example"} and len(only) == 2
    rest = await store.claim_deliveries(at(100), 10, 60, "w", per_host=1, skip_hosts=["h2.example"])
    assert [d.host for d in rest] == ["h0.example"]
    assert (await store.delivery_counts()).pending == 12  # claims do not change the state, only the lease


async def test_capped_claims_at_once_share_a_small_queue(store: Store, store_url: str) -> None:
    """Two processes' capped claims arriving together on a queue smaller than the claim window: the second
    takes the next rows, not nothing (nor the same ones)."""
    await store.publish([change("t1")], [activity("a1")],
                        [delivery("a1", n, host=f"h{n % 3}.example") for n in range(12)])
    async with open_store(store_url) as other:
        for _ in range(5):  # the first claims of a pair often really overlap; five pairs make it near certain
            a, b = await asyncio.gather(store.claim_deliveries(NOW, 10, 60, "a", per_host=2),
                                        other.claim_deliveries(NOW, 10, 60, "b", per_host=2))
            assert (len(a), len(b)) == (6, 6) and not {d.id for d in a} & {d.id for d in b}
            for d in a + b:
                await store.delivery_retry(d.id, NOW, 503, "again", NOW)  # due again for the next pair


async def test_expire_deliveries(store: Store) -> None:
    """Waiting rows of the given hosts queued before the limit die with the error; leased rows stay."""
    await store.publish([change("t1")], [activity("a1")],
                        [delivery("a1", 1, host="dead.example"), delivery("a1", 2, host="dead.example"),
                         delivery("a1", 3, host="ok.example")])
    await store.publish([], [activity("a2")], [delivery("a2", 4, due=at(50), host="dead.example"),
                                               delivery("a2", 5, due=at(80), host="dead.example")])
    leased = await store.claim_deliveries(NOW, 1, 600, "w")
    assert leased[0].inbox == "https://dead.example/inbox/1"
    assert await store.expire_deliveries(at(100), at(60), ["DEAD.example"], "host dead for 7 days") == 2
    dead = await store.deliveries(failed_only=True)
    assert {(d.inbox, d.state, d.last_error) for d in dead} == {
        ("https://dead.example/inbox/2", "dead", "host dead for 7 days"),
        ("https://dead.example/inbox/4", "dead", "host dead for 7 days")}
    assert await store.expire_deliveries(at(100), at(1), [], "x") == 0


async def test_remove_followers_at_inbox(store: Store) -> None:
    """A personal inbox that is gone removes the followers reached through it alone, in every role."""
    gone = follower(1)
    await store.add_follower(gone)
    await store.add_follower(replace(gone, role=OWNER))
    await store.add_follower(replace(follower(2), inbox=gone.inbox, shared_inbox="https://h1.example/inbox"))
    assert await store.remove_followers_at_inbox(gone.inbox) == 2
    assert await store.remove_followers_at_inbox(gone.inbox) == 0
    assert [f.actor_id for f in await store.followers(ARCHIVE)] == [follower(2).actor_id]


async def test_export_import_delete_count(store: Store, store_url: str,
                                          new_store_url: Callable[[str], str]) -> None:
    """Every table exports in key order and imports into a fresh store of the same kind as it was; queue ids
    are kept and new ones follow them; delete_rows removes by key."""
    await fill(store)
    copy_url = new_store_url("sqlite" if store_url.startswith("sqlite:") else "postgres")
    exported = {}
    async with open_store(copy_url) as copy:
        for t in TABLES:
            batches = [b async for b in store.export_rows(t.name, batch=4)]
            rows = [r for b in batches for r in b]
            assert all(len(b) <= 4 for b in batches)
            assert [tuple(r[k] for k in t.key) for r in rows] == sorted(tuple(r[k] for k in t.key) for r in rows)
            assert len(rows) == await store.count_rows(t.name) > 0, t.name
            assert await copy.import_rows(t.name, rows) == len(rows)
            assert await copy.import_rows(t.name, rows) == len(rows)  # again: replaced, not doubled
            exported[t.name] = rows
        for t in TABLES:
            assert [r async for b in copy.export_rows(t.name) for r in b] == exported[t.name], t.name
        assert await copy.status(NOW) == await store.status(NOW)
        assert (await copy.talk_json("t1")).body == (await store.talk_json("t1")).body
        max_job = max(r["id"] for r in exported["jobs"])
        assert await copy.add_job("later", {}, NOW) > max_job
        keys = [(r["role"], r["actor_id"]) for r in exported["followers"][:3]]
        assert await copy.delete_rows("followers", keys) == 3
        assert await copy.count_rows("followers") == len(exported["followers"]) - 3
        with pytest.raises(ValueError, match="not a fedi table"):
            await copy.count_rows("sqlite_master")
        with pytest.raises(ValueError, match="missing columns"):
            await copy.import_rows("blocks", [{"valeur": "x"}])


async def test_per_call_cost(store: Store, store_url: str) -> None:
    """A primary-key read through the store returns the right rows; the cost is printed, not asserted."""
    await store.publish([change("t1")], [activity(f"https://a.example/act/{i}") for i in range(2000)], [])
    n = 2000
    started = time.perf_counter()
    for i in range(n):
        await store.activity_json(f"https://a.example/act/{i}")
    sequential = (time.perf_counter() - started) / n
    started = time.perf_counter()
    bodies = await asyncio.gather(*(store.activity_json(f"https://a.example/act/{i}") for i in range(n)))
    concurrent = (time.perf_counter() - started) / n
    direct = ""
    if store_url.startswith("sqlite:///"):
        conn = sqlite3.connect(store_url[len("sqlite:///"):])
        started = time.perf_counter()
        for i in range(n):
            conn.execute("SELECT json FROM activities WHERE id = ?", (f"https://a.example/act/{i}",)).fetchone()
        direct = f"direct {(time.perf_counter() - started) / n * 1e6:.1f} µs, "
        conn.close()
    print(f"\nPK read ({type(store).__name__}): {direct}via store sequential {sequential * 1e6:.1f} µs, "
          f"{n} concurrent {concurrent * 1e6:.1f} µs each")
    assert all(json.loads(b)["id"] == f"https://a.example/act/{i}" for i, b in enumerate(bodies))
