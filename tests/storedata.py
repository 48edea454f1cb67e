"""Builders of store records for the store's tests (both backends) and ``fedi migrate``'s, and raw SQL access."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from fedi.store import Comment, Follower, NewDelivery, OutActivity, Pin, Quote, Store, TalkChange
from fedi.urls import ARCHIVE, OWNER

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


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


def quote(qid: str, slug: str = "t1", author: str = "https://c.example/users/bob", when: datetime = NOW,
          quoting: str | None = None) -> Quote:
    return Quote(id=qid, slug=slug, quoting=quoting or f"{author}/statuses/{qid[-1]}", author=author,
                 request_id=f"{author}/quote_requests/{qid[-1]}", created=when)


async def add_quote(store: Store, q: Quote) -> bool:
    """Store an authorization with its Accept and the Accept's delivery, as the quote handler does."""
    aid = f"{q.id}/accept"
    return await store.add_quote(q, OutActivity(id=aid, actor_role=ARCHIVE, type="Accept", slug=q.slug,
                                                document={"id": aid, "type": "Accept", "result": q.id}, published=NOW),
                                 NewDelivery(activity_id=aid, inbox="https://c.example/inbox", host="c.example",
                                             actor_role=ARCHIVE, due=NOW))


async def publish_talk(store: Store, slug: str = "t1") -> None:
    await store.publish([change(slug)], [], [])


async def sql(store: Store, query: str, *params: Any) -> list[tuple[Any, ...]]:
    """Raw SQL on the store's own connection, for checks the interface does not offer (placeholders are the
    backend's: ``?`` for SQLite, ``$1`` for PostgreSQL)."""
    from fedi.store.sqlite import SqliteStore

    if isinstance(store, SqliteStore):
        return await store._one(lambda c: c.execute(query, params).fetchall())
    from fedi.store.postgres import PostgresStore

    assert isinstance(store, PostgresStore)
    return [tuple(r) for r in await store._fetch(query, *params)]


async def fill(store: Store, followers: int = 30) -> None:
    """Rows in every table, through the interface only: what an archive in use holds."""
    doc = {"id": "https://a.example/talks/t1", "name": "Débat « ouvert »", "z": 1, "a": [1, 2]}  # key order kept
    await store.publish([change("t1", obj=doc), change("t2", when=at(5))],
                        [activity("a1"), activity("a2", "t2", when=at(5))],
                        [delivery("a1", n) for n in range(12)] + [delivery("a2", 1)])
    rows = await store.claim_deliveries(NOW, 3, 60, "w1")
    await store.delivery_done(rows[0].id, 202, at(1))
    await store.delivery_dead(rows[1].id, 410, "Gone", at(2))
    await store.delivery_retry(rows[2].id, at(600), 503, "busy", at(3))
    for n in range(followers):
        shared = f"https://h{n % 7}.example/inbox" if n % 2 else None
        await store.add_follower(follower(n, role=OWNER if n % 5 == 0 else ARCHIVE, shared=shared,
                                          host=f"h{n % 7}.example", since=at(n),
                                          state="pending" if n % 9 == 0 else "accepted"))
    for n in range(5):
        await store.seen(f"https://r.example/activities/{n}", at(n))
    await store.record_received("https://r.example/accept/1", "Accept", "https://r.example/u/a",
                                {"type": "Accept", "é": "ü"}, NOW)
    actor = "https://r.example/u/a"
    await store.cache_actor(actor, {"id": actor, "name": "A"}, [(actor + "#main-key", "PEM", "pem"),
                                                                (actor + "#ed", "z6Mk", "multibase")], NOW)
    await store.mark_gone("https://gone.example/u/x", NOW)
    job = await store.add_job("accept", {"follow": "f1"}, NOW)
    await store.add_job("fetch", {"actor": actor}, at(30))
    await store.fail_job(job, "410")
    await store.host_failed("down.example", at(-86400))
    await store.block("spam.example")
    await store.block("https://ok.example/users/troll")
    await store.add_comment(comment("https://c.example/notes/1"))
    await store.add_comment(comment("https://c.example/notes/2", state="pending", when=at(1)))
    await store.add_reaction("like", "https://c.example/likes/1", "https://c.example/users/bob", "t1", NOW)
    await store.add_reaction("announce", "https://c.example/shares/1", "https://c.example/users/bob", "t1", NOW)
    await store.publish([], [], [], [Pin("t1", 1, True, at(6)), Pin("t2", 1, False, at(7))])
    await add_quote(store, quote("https://a.example/talks/t1/quotes/q1"))
    await add_quote(store, quote("https://a.example/talks/t1/quotes/q2", when=at(2)))
    await store.revoke_quotes("https://c.example/users/bob/statuses/2", "https://c.example/users/bob", at(3))
