"""The PostgreSQL backend: several fedi processes on several machines sharing one database.

``PostgresStore`` = the foundation (``postgres_base``: URL, pool, migrations, errors) + the queues
(``postgres_queue``) + the bulk copy of ``fedi migrate`` (``postgres_rows``) + what is here: talks, activities,
followers, inbound records, the actor cache, blocks, comments, reactions and the status summary. Semantics are
those of the SQLite backend, call for call (the same tests run on both).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from ..errors import StoreError
from ..urls import authority
from .postgres_base import LOCKS, PUBLISH_LOCK, Conn, Record, _count, _enc, _ts, _ts_opt
from .postgres_queue import PgQueueOps, _counts
from .postgres_rows import PgRowOps
from .records import (
    COMMENT_STATES,
    FOLLOWER_STATES,
    KEY_KINDS,
    REACTION_KINDS,
    ActivitySummary,
    CachedActor,
    CachedKey,
    Comment,
    Document,
    Follower,
    NewDelivery,
    OutActivity,
    Pin,
    PublishCounts,
    Quote,
    ReactionCounts,
    Status,
    TalkChange,
    TalkJson,
    TalkRecord,
    TalkStamp,
    Target,
    block_candidates,
    block_value,
)
from .sqlite_base import _check

__all__ = ["PostgresStore"]

_TALK = "slug, uuid, version, object_hash, published, updated, deleted, object"
_FOLLOWER = "role, actor_id, inbox, shared_inbox, host, follow_id, since, state"
_COMMENT = ("id, slug, parent_id, author_id, author_name, author_handle, author_avatar, author_url, content_html, "
            "language, published, url, state, updated")


# a talk's version and live counts: index lookups only (comments_slug, the reactions' primary key), no JSON parsed
_STAMP = ("SELECT t.slug, t.version, t.deleted IS NOT NULL, "
          "(SELECT count(*) FROM comments c WHERE c.slug = t.slug AND c.state = 'approved'), "
          "(SELECT count(*) FROM reactions r WHERE r.slug = t.slug AND r.kind = 'like'), "
          "(SELECT count(*) FROM reactions r WHERE r.slug = t.slug AND r.kind = 'announce') FROM talks t ")


def _talk(r: Record) -> TalkRecord:
    return TalkRecord(r[0], r[1], r[2], r[3], r[4], r[5], r[6], json.loads(r[7]))


def _follower(r: Record) -> Follower:
    return Follower(*r)


def _comment(r: Record) -> Comment:
    return Comment(*r)


class PostgresStore(PgRowOps, PgQueueOps):
    """``Store`` on a PostgreSQL database. Safe to share between processes and machines; use each instance from
    one event loop."""

    # published talks -------------------------------------------------------------------------------------------------
    async def talk(self, slug: str) -> TalkRecord | None:
        row = await self._fetchrow(f"SELECT {_TALK} FROM talks WHERE slug = $1", slug)
        return _talk(row) if row else None

    async def talk_json(self, slug: str) -> TalkJson | None:
        row = await self._fetchrow("SELECT object, deleted IS NOT NULL FROM talks WHERE slug = $1", slug)
        return TalkJson(row[0], row[1]) if row else None

    async def talks(self, include_deleted: bool = False) -> list[TalkRecord]:
        where = "" if include_deleted else "WHERE deleted IS NULL"
        return [_talk(r) for r in await self._fetch(f"SELECT {_TALK} FROM talks {where} ORDER BY published DESC, slug")]

    async def live_talks(self, offset: int, limit: int) -> list[TalkRecord]:
        return [_talk(r) for r in await self._fetch(
            f"SELECT {_TALK} FROM talks WHERE deleted IS NULL ORDER BY published DESC, slug LIMIT $1 OFFSET $2",
            limit, offset)]

    async def talk_stamp(self, slug: str) -> TalkStamp | None:
        row = await self._fetchrow(_STAMP + "WHERE t.slug = $1", slug)
        return TalkStamp(*row) if row else None

    async def live_talk_stamps(self, offset: int, limit: int) -> tuple[int, list[TalkStamp]]:
        # one statement (one snapshot) carries the total on every row; a page past the end has no row to carry it
        sql = (_STAMP.replace("SELECT ", "SELECT (SELECT count(*) FROM talks WHERE deleted IS NULL), ", 1)
               + "WHERE t.deleted IS NULL ORDER BY t.published DESC, t.slug LIMIT $1 OFFSET $2")
        rows = await self._fetch(sql, limit, offset)
        if not rows:
            return await self.count_live_talks(), []
        return rows[0][0], [TalkStamp(*r[1:]) for r in rows]

    async def count_live_talks(self) -> int:
        return int(await self._fetchval("SELECT count(*) FROM talks WHERE deleted IS NULL"))

    async def publish(self, changes: Sequence[TalkChange], activities: Sequence[OutActivity],
                      deliveries: Sequence[NewDelivery], pins: Sequence[Pin] = ()) -> PublishCounts:
        talk_rows = [(ch.slug, ch.uuid, ch.version, ch.object_hash, _ts(ch.published), _ts(ch.updated),
                      _ts_opt(ch.deleted), _enc(ch.object)) for ch in changes]

        async def op(c: Conn) -> PublishCounts:
            # One publish at a time across every process (as SQLite's write lock does): the version checks below
            # then see every earlier publish.
            await c.execute("SELECT pg_advisory_xact_lock($1, $2)", LOCKS, PUBLISH_LOCK)
            talks = await self._apply_changes(c, changes, talk_rows)
            await self._apply_pins(c, pins)
            stored, queued = await self._queue(c, activities, deliveries)
            return PublishCounts(talks, stored, queued)
        return await self._tx(op)

    @staticmethod
    async def _queue(c: Conn, activities: Sequence[OutActivity], deliveries: Sequence[NewDelivery]) -> tuple[int, int]:
        """Insert activities (once per id) and delivery rows (once per activity and inbox): rows written."""
        acts = [list(col) for col in zip(*[(a.id, a.actor_role, a.type, a.slug, _ts(a.published), _enc(a.document))
                                           for a in activities], strict=True)] or [[]] * 6
        queue = [list(col) for col in zip(*[(d.activity_id, d.inbox, d.host.lower(), d.actor_role, _ts(d.due))
                                            for d in deliveries], strict=True)] or [[]] * 5
        stored = _count(await c.execute(
            "INSERT INTO activities (id, actor_role, type, slug, published, json) "
            "SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::timestamptz[], "
            "$6::bytea[]) ON CONFLICT (id) DO NOTHING", *acts)) if activities else 0
        queued = _count(await c.execute(
            "INSERT INTO deliveries (activity_id, inbox, host, actor_role, due, created) "
            "SELECT a, i, h, r, d, d FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], "
            "$5::timestamptz[]) AS u(a, i, h, r, d) ON CONFLICT (activity_id, inbox) DO NOTHING",
            *queue)) if deliveries else 0
        return stored, queued

    async def _apply_pins(self, c: Conn, pins: Sequence[Pin]) -> int:
        """Write the pin rows, each as the SQLite backend's ``_apply_pin`` does."""
        if not pins:
            return 0
        stored = {r[0]: (r[1], bool(r[2])) for r in await c.fetch(
            "SELECT slug, version, pinned FROM pins WHERE slug = ANY($1::text[]) FOR UPDATE", [p.slug for p in pins])}
        written = 0
        for pin in pins:
            version, pinned = stored.get(pin.slug, (0, None))
            if (version, pinned) == (pin.version, pin.pinned):
                continue
            if pin.version != version + 1:
                raise StoreError(f"store {self.name}: the pin of talk {pin.slug!r} is at version {version} but this "
                                 f"change stores version {pin.version}; another publish ran meanwhile: run it again")
            await c.execute("INSERT INTO pins (slug, version, pinned, at) VALUES ($1, $2, $3, $4) ON CONFLICT (slug) "
                            "DO UPDATE SET version = excluded.version, pinned = excluded.pinned, at = excluded.at",
                            pin.slug, pin.version, int(pin.pinned), _ts(pin.at))
            stored[pin.slug] = (pin.version, pin.pinned)
            written += 1
        return written

    async def pins(self) -> list[Pin]:
        return [Pin(r[0], r[1], bool(r[2]), r[3]) for r in await self._fetch(
            "SELECT slug, version, pinned, at FROM pins ORDER BY slug")]

    async def featured(self) -> list[str]:
        return [r[0] for r in await self._fetch(
            "SELECT t.slug FROM pins p JOIN talks t ON t.slug = p.slug WHERE p.pinned = 1 AND t.deleted IS NULL "
            "ORDER BY t.published DESC, t.slug")]

    async def _apply_changes(self, c: Conn, changes: Sequence[TalkChange], rows: list[tuple[Any, ...]]) -> int:
        """Write the talk rows, each as the SQLite backend's ``_apply_change`` does; 0 for a row already as its
        change wants (the same publish run again)."""
        if not changes:
            return 0
        stored = {r[0]: (r[1], r[2], r[3]) for r in await c.fetch(
            "SELECT slug, version, object_hash, deleted FROM talks WHERE slug = ANY($1::text[]) FOR UPDATE",
            [ch.slug for ch in changes])}
        inserts, updates = [], []
        for ch, row in zip(changes, rows, strict=True):
            now = stored.get(ch.slug)
            if now is None:
                inserts.append(row)
            else:
                version, object_hash, was_deleted = now
                if ch.deleted is not None and version == ch.version:
                    if was_deleted is not None:
                        continue
                elif version == ch.version and object_hash == ch.object_hash and was_deleted is None:
                    continue
                elif ch.version != version + 1:
                    raise StoreError(f"store {self.name}: talk {ch.slug!r} is at version {version} but this change "
                                     f"stores version {ch.version}; another publish ran meanwhile: run it again")
                updates.append((*row[2:], ch.slug))
            stored[ch.slug] = (ch.version, ch.object_hash, ch.deleted)
        if inserts:
            await c.executemany(f"INSERT INTO talks ({_TALK}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)", inserts)
        if updates:
            await c.executemany("UPDATE talks SET version = $1, object_hash = $2, published = $3, updated = $4, "
                                "deleted = $5, object = $6 WHERE slug = $7", updates)
        return len(inserts) + len(updates)

    # outgoing activities -------------------------------------------------------------------------------------------
    async def activity(self, activity_id: str) -> Document | None:
        body = await self.activity_json(activity_id)
        return None if body is None else json.loads(body)

    async def activity_json(self, activity_id: str) -> bytes | None:
        body: bytes | None = await self._fetchval("SELECT json FROM activities WHERE id = $1", activity_id)
        return body

    async def recent_activities(self, limit: int = 10) -> list[ActivitySummary]:
        return await self._one(lambda c: self._recent(c, limit))

    @staticmethod
    async def _recent(c: Conn, limit: int) -> list[ActivitySummary]:
        rows = await c.fetch(
            "WITH a AS (SELECT id, type, actor_role, slug, published FROM activities "
            "           ORDER BY published DESC, id DESC LIMIT $1) "
            "SELECT a.id, a.type, a.actor_role, a.slug, a.published, count(d.id) FILTER (WHERE d.state = 'done'), "
            "       count(d.id) FILTER (WHERE d.state = 'dead'), count(d.id) "
            "FROM a LEFT JOIN deliveries d ON d.activity_id = a.id "
            "GROUP BY a.id, a.type, a.actor_role, a.slug, a.published ORDER BY a.published DESC, a.id DESC", limit)
        return [ActivitySummary(*r) for r in rows]

    # followers -----------------------------------------------------------------------------------------------------
    async def add_follower(self, follower: Follower) -> bool:
        f = follower
        _check(f.state, FOLLOWER_STATES, "follower state")
        target = f.shared_inbox or f.inbox

        async def op(c: Conn) -> bool:
            # xmax is 0 only on a row this statement inserted: exactly one of several concurrent calls sees True.
            new = bool(await c.fetchval(
                f"INSERT INTO followers ({_FOLLOWER}, target, target_host) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, "
                "$9, $10) ON CONFLICT (role, actor_id) DO UPDATE SET inbox = excluded.inbox, "
                "shared_inbox = excluded.shared_inbox, host = excluded.host, follow_id = excluded.follow_id, "
                "state = excluded.state, target = excluded.target, target_host = excluded.target_host "
                "RETURNING xmax = 0", f.role, f.actor_id, f.inbox, f.shared_inbox, f.host.lower(), f.follow_id,
                _ts(f.since), f.state, target, authority(target)))
            if f.follow_id is not None:
                await c.execute("INSERT INTO follow_ids (role, actor_id, follow_id) VALUES ($1, $2, $3) "
                                "ON CONFLICT DO NOTHING", f.role, f.actor_id, f.follow_id)
            return new
        return await self._tx(op)

    async def remove_follower(self, role: str, actor_id: str) -> bool:
        return await self._execute("DELETE FROM followers WHERE role = $1 AND actor_id = $2", role, actor_id) > 0

    async def remove_followers_at_inbox(self, inbox: str) -> int:
        return await self._execute("DELETE FROM followers WHERE inbox = $1 AND shared_inbox IS NULL", inbox)

    async def follower(self, role: str, actor_id: str) -> Follower | None:
        row = await self._fetchrow(f"SELECT {_FOLLOWER} FROM followers WHERE role = $1 AND actor_id = $2",
                                   role, actor_id)
        return _follower(row) if row else None

    async def follow_senders(self, follow_id: str) -> list[tuple[str, str]]:
        return [(r[0], r[1]) for r in await self._fetch(
            "SELECT role, actor_id FROM follow_ids WHERE follow_id = $1 ORDER BY role, actor_id", follow_id)]

    async def followers(self, role: str, state: str | None = None, offset: int = 0,
                        limit: int | None = None) -> list[Follower]:
        where, params = ("role = $1 AND state = $2", [role, state]) if state else ("role = $1", [role])
        n = len(params)
        return [_follower(r) for r in await self._fetch(
            f"SELECT {_FOLLOWER} FROM followers WHERE {where} ORDER BY since, actor_id LIMIT ${n + 1} OFFSET ${n + 2}",
            *params, limit, offset)]

    async def count_followers(self, role: str, state: str | None = "accepted") -> int:
        if state:
            return int(await self._fetchval(
                "SELECT count(*) FROM followers WHERE role = $1 AND state = $2", role, state))
        return int(await self._fetchval("SELECT count(*) FROM followers WHERE role = $1", role))

    async def set_follower_state(self, role: str, actor_id: str, state: str) -> bool:
        _check(state, FOLLOWER_STATES, "follower state")
        return await self._execute("UPDATE followers SET state = $1 WHERE role = $2 AND actor_id = $3",
                                   state, role, actor_id) > 0

    async def remove_actor(self, actor_id: str) -> dict[str, int]:
        statements = {
            "followers": "DELETE FROM followers WHERE actor_id = $1",
            "comments": "DELETE FROM comments WHERE author_id = $1",
            "reactions": "DELETE FROM reactions WHERE actor_id = $1",
            "keys": "DELETE FROM keys WHERE owner = $1",
            "actors": "DELETE FROM actors WHERE actor_id = $1",
            "received": "DELETE FROM received WHERE actor = $1",
            "quotes": "DELETE FROM quotes WHERE author = $1",
        }

        async def op(c: Conn) -> dict[str, int]:
            return {k: _count(await c.execute(sql, actor_id)) for k, sql in statements.items()}
        return await self._tx(op)

    async def move_follower(self, old_actor_id: str, new_actor_id: str, inbox: str, shared_inbox: str | None,
                            host: str) -> int:
        target = shared_inbox or inbox

        async def op(c: Conn) -> int:
            roles = [r[0] for r in await c.fetch(
                "SELECT role FROM followers WHERE actor_id = $1 ORDER BY role FOR UPDATE", old_actor_id)]
            for role in roles:
                if await c.fetchval("SELECT 1 FROM followers WHERE role = $1 AND actor_id = $2", role, new_actor_id):
                    await c.execute("DELETE FROM followers WHERE role = $1 AND actor_id = $2", role, old_actor_id)
                else:  # the old account's Follow ids stay its own: the new account follows by its own Follows
                    await c.execute("DELETE FROM follow_ids WHERE role = $1 AND actor_id = $2", role, old_actor_id)
                    await c.execute(
                        "UPDATE followers SET actor_id = $1, inbox = $2, shared_inbox = $3, host = $4, target = $5, "
                        "target_host = $6 WHERE role = $7 AND actor_id = $8", new_actor_id, inbox, shared_inbox,
                        host.lower(), target, authority(target), role, old_actor_id)
            return len(roles)
        return await self._tx(op)

    async def remove_followers_matching(self, value: str) -> int:
        value = block_value(value)
        if "://" in value:
            return await self._execute("DELETE FROM followers WHERE actor_id = $1", value)
        return await self._execute("DELETE FROM followers WHERE host = $1 OR right(host, length($2)) = $2",
                                   value, "." + value)

    async def delivery_targets(self, roles: Iterable[str]) -> list[Target]:
        roles = sorted(set(roles))
        if not roles:
            return []
        # Within one role an actor follows once, so count(*) counts distinct followers.
        count = "count(*)" if len(roles) == 1 else "count(DISTINCT actor_id)"
        rows = await self._fetch(
            f"SELECT target, target_host, {count} FROM followers WHERE state = 'accepted' AND role = ANY($1::text[]) "
            "GROUP BY target, target_host ORDER BY target", roles)
        return [Target(r[0], r[1], r[2]) for r in rows]

    # inbound activities --------------------------------------------------------------------------------------------
    async def seen(self, activity_id: str, now: datetime) -> bool:
        # One statement: of concurrent calls, only the one whose row went in gets a row back.
        new = await self._fetchval("INSERT INTO seen (id, at) VALUES ($1, $2) ON CONFLICT (id) DO NOTHING "
                                   "RETURNING true", activity_id, _ts(now))
        return new is None

    async def is_seen(self, activity_id: str) -> bool:
        return await self._fetchval("SELECT true FROM seen WHERE id = $1", activity_id) is not None

    async def forget_seen_before(self, when: datetime) -> int:
        return await self._execute("DELETE FROM seen WHERE at < $1", _ts(when))

    async def record_received(self, activity_id: str, type: str, actor: str, document: Document,
                              now: datetime) -> bool:
        return await self._execute(
            "INSERT INTO received (id, type, actor, at, json) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (id) DO NOTHING",
            activity_id, type, actor, _ts(now), _enc(document)) == 1

    async def received(self, activity_id: str) -> Document | None:
        body = await self._fetchval("SELECT json FROM received WHERE id = $1", activity_id)
        return None if body is None else json.loads(body)

    # remote actors and keys ----------------------------------------------------------------------------------------
    async def cache_actor(self, actor_id: str, document: Document, keys: Iterable[tuple[str, str, str]],
                          fetched_at: datetime) -> None:
        at = _ts(fetched_at)
        # The last listing of a key id wins, as the SQLite backend's one-by-one upsert does.
        latest = {key_id: (material, _check(kind, KEY_KINDS, "key kind")) for key_id, material, kind in keys}
        body = _enc(document)

        async def op(c: Conn) -> None:
            await c.execute("INSERT INTO actors (actor_id, document, fetched_at) VALUES ($1, $2, $3) "
                            "ON CONFLICT (actor_id) DO UPDATE SET document = excluded.document, "
                            "fetched_at = excluded.fetched_at", actor_id, body, at)
            await c.execute("DELETE FROM keys WHERE owner = $1", actor_id)
            # A key id is owned by the last actor that listed it; the verifier checks that the key's id and its
            # owner share an origin before trusting the pair.
            if latest:
                await c.execute(
                    "INSERT INTO keys (key_id, owner, material, kind, fetched_at) "
                    "SELECT k, $2, m, t, $3 FROM unnest($1::text[], $4::text[], $5::text[]) AS u(k, m, t) "
                    "ON CONFLICT (key_id) DO UPDATE SET owner = excluded.owner, material = excluded.material, "
                    "kind = excluded.kind, fetched_at = excluded.fetched_at",
                    list(latest), actor_id, at, [v[0] for v in latest.values()], [v[1] for v in latest.values()])
            await c.execute("DELETE FROM gone WHERE actor_id = $1", actor_id)
        await self._tx(op)

    async def cached_actor(self, actor_id: str) -> CachedActor | None:
        row = await self._fetchrow("SELECT document, fetched_at FROM actors WHERE actor_id = $1", actor_id)
        return CachedActor(json.loads(row[0]), row[1]) if row else None

    async def cached_key(self, key_id: str) -> CachedKey | None:
        row = await self._fetchrow("SELECT key_id, owner, material, kind, fetched_at FROM keys WHERE key_id = $1",
                                   key_id)
        return CachedKey(*row) if row else None

    async def forget_actor(self, actor_id: str) -> bool:
        return await self._execute("DELETE FROM actors WHERE actor_id = $1", actor_id) > 0

    async def mark_gone(self, actor_id: str, when: datetime) -> None:
        at = _ts(when)

        async def op(c: Conn) -> None:
            await c.execute("INSERT INTO gone (actor_id, at) VALUES ($1, $2) ON CONFLICT (actor_id) DO UPDATE "
                            "SET at = excluded.at", actor_id, at)
            await c.execute("DELETE FROM actors WHERE actor_id = $1", actor_id)
        await self._tx(op)

    async def is_gone(self, actor_id: str) -> bool:
        return await self._fetchval("SELECT true FROM gone WHERE actor_id = $1", actor_id) is not None

    # blocks ---------------------------------------------------------------------------------------------------------
    async def block(self, value: str) -> bool:
        return await self._execute("INSERT INTO blocks (value) VALUES ($1) ON CONFLICT (value) DO NOTHING",
                                   block_value(value)) == 1

    async def unblock(self, value: str) -> bool:
        return await self._execute("DELETE FROM blocks WHERE value = $1", block_value(value)) > 0

    async def blocks(self) -> list[str]:
        return [r[0] for r in await self._fetch("SELECT value FROM blocks ORDER BY value")]

    async def is_blocked(self, actor_id: str) -> bool:
        candidates = block_candidates(actor_id)
        if not candidates:
            return False
        return await self._fetchval("SELECT true FROM blocks WHERE value = ANY($1::text[]) LIMIT 1",
                                    candidates) is not None

    # comments ---------------------------------------------------------------------------------------------------------
    async def add_comment(self, comment: Comment) -> bool:
        m = comment
        _check(m.state, COMMENT_STATES, "comment state")
        values = (m.id, m.slug, m.parent_id, m.author_id, m.author_name, m.author_handle, m.author_avatar,
                  m.author_url, m.content_html, m.language, _ts(m.published), m.url, m.state, _ts_opt(m.updated))

        async def op(c: Conn) -> bool:
            if await c.fetchval(f"INSERT INTO comments ({_COMMENT}) VALUES ({_marks(14)}) ON CONFLICT (id) DO NOTHING "
                                "RETURNING true", *values):
                return True
            # a refresh, by its author only, never changes the moderation decision nor the talk
            await c.execute("UPDATE comments SET parent_id = $1, author_name = $2, author_handle = $3, "
                            "author_avatar = $4, author_url = $5, content_html = $6, language = $7, url = $8, "
                            "updated = $9 WHERE id = $10 AND author_id = $11",
                            m.parent_id, m.author_name, m.author_handle, m.author_avatar, m.author_url,
                            m.content_html, m.language, m.url, values[13], m.id, m.author_id)
            return False
        return await self._tx(op)

    async def comment(self, comment_id: str) -> Comment | None:
        row = await self._fetchrow(f"SELECT {_COMMENT} FROM comments WHERE id = $1", comment_id)
        return _comment(row) if row else None

    async def update_comment_content(self, comment_id: str, author_id: str, content_html: str,
                                     updated: datetime) -> bool:
        return await self._execute("UPDATE comments SET content_html = $1, updated = $2 WHERE id = $3 "
                                   "AND author_id = $4", content_html, _ts(updated), comment_id, author_id) > 0

    async def delete_comment(self, comment_id: str, author_id: str) -> bool:
        return await self._execute("DELETE FROM comments WHERE id = $1 AND author_id = $2", comment_id, author_id) > 0

    async def comments(self, slug: str, state: str | None = "approved") -> list[Comment]:
        if state:
            rows = await self._fetch(f"SELECT {_COMMENT} FROM comments WHERE slug = $1 AND state = $2 "
                                     "ORDER BY published, id", slug, state)
        else:
            rows = await self._fetch(f"SELECT {_COMMENT} FROM comments WHERE slug = $1 ORDER BY published, id", slug)
        return [_comment(r) for r in rows]

    async def pending_comments(self) -> list[Comment]:
        return [_comment(r) for r in await self._fetch(
            f"SELECT {_COMMENT} FROM comments WHERE state = 'pending' ORDER BY published, id")]

    async def set_comment_state(self, comment_id: str, state: str) -> bool:
        _check(state, COMMENT_STATES, "comment state")
        return await self._execute("UPDATE comments SET state = $1 WHERE id = $2", state, comment_id) > 0

    async def is_reply_target(self, object_id: str) -> str | None:
        slug: str | None = await self._fetchval("SELECT slug FROM comments WHERE id = $1", object_id)
        return slug

    # reactions --------------------------------------------------------------------------------------------------------
    async def add_reaction(self, kind: str, activity_id: str, actor_id: str, slug: str, now: datetime) -> bool:
        return await self._execute(
            "INSERT INTO reactions (slug, kind, actor_id, activity_id, at) VALUES ($1, $2, $3, $4, $5) "
            "ON CONFLICT (slug, kind, actor_id) DO NOTHING",
            slug, _check(kind, REACTION_KINDS, "reaction kind"), actor_id, activity_id, _ts(now)) == 1

    async def remove_reaction(self, actor_id: str, kind: str, activity_id: str | None = None,
                              slug: str | None = None) -> bool:
        if activity_id is None and slug is None:
            raise ValueError("remove_reaction: give the reaction's activity id or the talk's slug")
        return await self._execute(
            "DELETE FROM reactions WHERE actor_id = $1 AND kind = $2 AND (activity_id = $3 OR slug = $4)",
            actor_id, kind, activity_id, slug) > 0

    async def reaction_counts(self, slug: str) -> ReactionCounts:
        r = await self._fetchrow("SELECT count(*) FILTER (WHERE kind = 'like'), count(*) FILTER (WHERE kind = "
                                 "'announce') FROM reactions WHERE slug = $1", slug)
        assert r is not None
        return ReactionCounts(r[0], r[1])

    # quote authorizations -----------------------------------------------------------------------------------------
    async def add_quote(self, quote: Quote, activity: OutActivity, delivery: NewDelivery) -> bool:
        q = quote

        async def op(c: Conn) -> bool:
            new = _count(await c.execute(
                "INSERT INTO quotes (id, slug, quoting, author, request_id, created, revoked) "
                "VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (id) DO NOTHING",
                q.id, q.slug, q.quoting, q.author, q.request_id, _ts(q.created), _ts_opt(q.revoked))) == 1
            await self._queue(c, [activity], [delivery])
            return new
        return await self._tx(op)

    async def quote(self, quote_id: str) -> Quote | None:
        row = await self._fetchrow("SELECT id, slug, quoting, author, request_id, created, revoked FROM quotes "
                                   "WHERE id = $1", quote_id)
        return Quote(*row) if row else None

    async def revoke_quotes(self, quoting: str, author: str, now: datetime) -> int:
        return await self._execute("UPDATE quotes SET revoked = $1 WHERE quoting = $2 AND author = $3 "
                                   "AND revoked IS NULL", _ts(now), quoting, author)

    # fedi status ------------------------------------------------------------------------------------------------------
    async def status(self, now: datetime, dead_host_days: float = 7.0, recent: int = 5) -> Status:
        _ts(now)

        async def op(c: Conn) -> Status:
            followers: dict[str, dict[str, int]] = {}
            for role, state, n in await c.fetch("SELECT role, state, count(*) FROM followers GROUP BY role, state"):
                followers.setdefault(role, dict.fromkeys(FOLLOWER_STATES, 0))[state] = n
            jobs = dict.fromkeys(("pending", "failed"), 0)
            jobs.update({r[0]: r[1] for r in await c.fetch("SELECT state, count(*) FROM jobs GROUP BY state")})
            return Status(
                followers=followers,
                follower_hosts=await c.fetchval("SELECT count(DISTINCT host) FROM followers "
                                                "WHERE state = 'accepted'"),
                live_talks=await c.fetchval("SELECT count(*) FROM talks WHERE deleted IS NULL"),
                queue=_counts(await c.fetch("SELECT state, count(*) FROM deliveries GROUP BY state")),
                recent=await self._recent(c, recent),
                dead_hosts=await self._dead_hosts(c, now, dead_host_days),
                jobs=jobs,
                pending_comments=await c.fetchval("SELECT count(*) FROM comments WHERE state = 'pending'"),
            )
        return await self._snap(op)


def _marks(n: int) -> str:
    return ", ".join(f"${i}" for i in range(1, n + 1))

