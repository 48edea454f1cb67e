"""The SQLite backend: one file in WAL mode, shared safely by several fedi processes.

``SqliteStore`` = the foundation (``sqlite_base``: thread, connection, migrations, errors) + the queues
(``sqlite_queue``) + what is here: talks, activities, followers, inbound records, the actor cache, blocks,
comments, reactions and the status summary.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from ..errors import StoreError
from ..urls import authority
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
from .sqlite_base import _check, _dt, _dt_opt, _enc, _marks, _ts
from .sqlite_queue import QueueOps, _counts
from .sqlite_rows import SqliteRowOps

__all__ = ["SqliteStore"]


# row → record ---------------------------------------------------------------------------------------------------
_TALK = "slug, uuid, version, object_hash, published, updated, deleted, object"
_FOLLOWER = "role, actor_id, inbox, shared_inbox, host, follow_id, since, state"
_COMMENT = ("id, slug, parent_id, author_id, author_name, author_handle, author_avatar, author_url, content_html, "
            "language, published, url, state, updated")


# a talk's version and live counts: index lookups only (comments_slug, the reactions' primary key), no JSON parsed
_STAMP = ("SELECT t.slug, t.version, t.deleted IS NOT NULL, "
          "(SELECT count(*) FROM comments c WHERE c.slug = t.slug AND c.state = 'approved'), "
          "(SELECT count(*) FROM reactions r WHERE r.slug = t.slug AND r.kind = 'like'), "
          "(SELECT count(*) FROM reactions r WHERE r.slug = t.slug AND r.kind = 'announce') FROM talks t ")


def _talk(r: tuple[Any, ...]) -> TalkRecord:
    return TalkRecord(r[0], r[1], r[2], r[3], _dt(r[4]), _dt(r[5]), _dt_opt(r[6]), json.loads(r[7]))


def _follower(r: tuple[Any, ...]) -> Follower:
    return Follower(r[0], r[1], r[2], r[3], r[4], r[5], _dt(r[6]), r[7])


def _comment(r: tuple[Any, ...]) -> Comment:
    return Comment(r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8], r[9], _dt(r[10]), r[11], r[12],
                   _dt_opt(r[13]))


class SqliteStore(SqliteRowOps, QueueOps):
    """``Store`` on one SQLite file. Safe to share between processes; use from one event loop at a time."""

    # published talks -------------------------------------------------------------------------------------------------
    async def talk(self, slug: str) -> TalkRecord | None:
        def op(c: sqlite3.Connection) -> TalkRecord | None:
            row = c.execute(f"SELECT {_TALK} FROM talks WHERE slug = ?", (slug,)).fetchone()
            return _talk(row) if row else None
        return await self._one(op)

    async def talk_json(self, slug: str) -> TalkJson | None:
        def op(c: sqlite3.Connection) -> TalkJson | None:
            row = c.execute("SELECT object, deleted IS NOT NULL FROM talks WHERE slug = ?", (slug,)).fetchone()
            return TalkJson(row[0], bool(row[1])) if row else None
        return await self._one(op)

    async def talks(self, include_deleted: bool = False) -> list[TalkRecord]:
        where = "" if include_deleted else "WHERE deleted IS NULL"
        return await self._one(lambda c: [
            _talk(r) for r in c.execute(f"SELECT {_TALK} FROM talks {where} ORDER BY published DESC, slug")])

    async def live_talks(self, offset: int, limit: int) -> list[TalkRecord]:
        return await self._one(lambda c: [_talk(r) for r in c.execute(
            f"SELECT {_TALK} FROM talks WHERE deleted IS NULL ORDER BY published DESC, slug LIMIT ? OFFSET ?",
            (limit, offset))])

    async def talk_stamp(self, slug: str) -> TalkStamp | None:
        def op(c: sqlite3.Connection) -> TalkStamp | None:
            row = c.execute(_STAMP + "WHERE t.slug = ?", (slug,)).fetchone()
            return TalkStamp(row[0], row[1], bool(row[2]), row[3], row[4], row[5]) if row else None
        return await self._one(op)

    async def live_talk_stamps(self, offset: int, limit: int) -> tuple[int, list[TalkStamp]]:
        # one statement (one snapshot) carries the total on every row; a page past the end has no row to carry it
        sql = (_STAMP.replace("SELECT ", "SELECT (SELECT count(*) FROM talks WHERE deleted IS NULL), ", 1)
               + "WHERE t.deleted IS NULL ORDER BY t.published DESC, t.slug LIMIT ? OFFSET ?")

        def op(c: sqlite3.Connection) -> tuple[int, list[TalkStamp]]:
            rows = c.execute(sql, (limit, offset)).fetchall()
            if not rows:
                return c.execute("SELECT count(*) FROM talks WHERE deleted IS NULL").fetchone()[0], []
            return rows[0][0], [TalkStamp(r[1], r[2], bool(r[3]), r[4], r[5], r[6]) for r in rows]
        return await self._one(op)

    async def count_live_talks(self) -> int:
        return await self._one(lambda c: c.execute("SELECT count(*) FROM talks WHERE deleted IS NULL").fetchone()[0])

    async def publish(self, changes: Sequence[TalkChange], activities: Sequence[OutActivity],
                      deliveries: Sequence[NewDelivery], pins: Sequence[Pin] = ()) -> PublishCounts:
        def op(c: sqlite3.Connection) -> PublishCounts:
            talks = sum(self._apply_change(c, change) for change in changes)
            for pin in pins:
                self._apply_pin(c, pin)
            stored, queued = self._queue(c, activities, deliveries)
            return PublishCounts(talks, stored, queued)
        return await self._tx(op)

    @staticmethod
    def _queue(c: sqlite3.Connection, activities: Sequence[OutActivity],
               deliveries: Sequence[NewDelivery]) -> tuple[int, int]:
        """Insert activities (once per id) and delivery rows (once per activity and inbox): rows written."""
        stored = sum(c.execute(
            "INSERT INTO activities (id, actor_role, type, slug, published, json) VALUES (?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (id) DO NOTHING",
            (a.id, a.actor_role, a.type, a.slug, _ts(a.published), _enc(a.document))).rowcount for a in activities)
        queued = c.executemany(
            "INSERT INTO deliveries (activity_id, inbox, host, actor_role, due, created) VALUES (?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (activity_id, inbox) DO NOTHING",
            [(d.activity_id, d.inbox, d.host.lower(), d.actor_role, _ts(d.due), _ts(d.due)) for d in deliveries],
        ).rowcount if deliveries else 0
        return stored, queued

    def _apply_pin(self, c: sqlite3.Connection, pin: Pin) -> int:
        """Write one pin row; 0 when it already is as ``pin`` wants (the same publish run again)."""
        row = c.execute("SELECT version, pinned FROM pins WHERE slug = ?", (pin.slug,)).fetchone()
        version, pinned = row if row else (0, None)
        if row is not None and (version, bool(pinned)) == (pin.version, pin.pinned):
            return 0
        if pin.version != version + 1:
            raise StoreError(f"store {self.path}: the pin of talk {pin.slug!r} is at version {version} but this "
                             f"change stores version {pin.version}; another publish ran meanwhile: run it again")
        c.execute("INSERT INTO pins (slug, version, pinned, at) VALUES (?, ?, ?, ?) ON CONFLICT (slug) DO UPDATE "
                  "SET version = excluded.version, pinned = excluded.pinned, at = excluded.at",
                  (pin.slug, pin.version, int(pin.pinned), _ts(pin.at)))
        return 1

    async def pins(self) -> list[Pin]:
        return await self._one(lambda c: [Pin(r[0], r[1], bool(r[2]), _dt(r[3])) for r in c.execute(
            "SELECT slug, version, pinned, at FROM pins ORDER BY slug")])

    async def featured(self) -> list[str]:
        return await self._one(lambda c: [r[0] for r in c.execute(
            "SELECT t.slug FROM pins p JOIN talks t ON t.slug = p.slug WHERE p.pinned = 1 AND t.deleted IS NULL "
            "ORDER BY t.published DESC, t.slug")])

    def _apply_change(self, c: sqlite3.Connection, change: TalkChange) -> int:
        """Write one talk row; 0 when it already is as ``change`` wants (the same publish run again)."""
        ch = change
        deleted = None if ch.deleted is None else _ts(ch.deleted)
        values = (ch.version, ch.object_hash, _ts(ch.published), _ts(ch.updated), deleted, _enc(ch.object), ch.slug)
        row = c.execute("SELECT version, object_hash, deleted FROM talks WHERE slug = ?", (ch.slug,)).fetchone()
        if row is None:
            c.execute(f"INSERT INTO talks ({_TALK}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)", (ch.slug, ch.uuid, *values[:-1]))
            return 1
        version, object_hash, was_deleted = row
        if ch.deleted is not None and version == ch.version:
            if was_deleted is not None:
                return 0
        elif version == ch.version and object_hash == ch.object_hash and was_deleted is None:
            return 0
        elif ch.version != version + 1:
            raise StoreError(f"store {self.path}: talk {ch.slug!r} is at version {version} but this change "
                             f"stores version {ch.version}; another publish ran meanwhile: run it again")
        c.execute("UPDATE talks SET version = ?, object_hash = ?, published = ?, updated = ?, deleted = ?, "
                  "object = ? WHERE slug = ?", values)
        return 1

    # outgoing activities -------------------------------------------------------------------------------------------
    async def activity(self, activity_id: str) -> Document | None:
        body = await self.activity_json(activity_id)
        return None if body is None else json.loads(body)

    async def activity_json(self, activity_id: str) -> bytes | None:
        def op(c: sqlite3.Connection) -> bytes | None:
            row = c.execute("SELECT json FROM activities WHERE id = ?", (activity_id,)).fetchone()
            return row[0] if row else None
        return await self._one(op)

    async def recent_activities(self, limit: int = 10) -> list[ActivitySummary]:
        return await self._one(lambda c: self._recent(c, limit))

    @staticmethod
    def _recent(c: sqlite3.Connection, limit: int) -> list[ActivitySummary]:
        rows = c.execute(
            "WITH a AS (SELECT id, type, actor_role, slug, published FROM activities "
            "           ORDER BY published DESC, id DESC LIMIT ?) "
            "SELECT a.id, a.type, a.actor_role, a.slug, a.published, coalesce(sum(d.state = 'done'), 0), "
            "       coalesce(sum(d.state = 'dead'), 0), count(d.id) "
            "FROM a LEFT JOIN deliveries d ON d.activity_id = a.id "
            "GROUP BY a.id ORDER BY a.published DESC, a.id DESC", (limit,))
        return [ActivitySummary(r[0], r[1], r[2], r[3], _dt(r[4]), r[5], r[6], r[7]) for r in rows]

    # followers -----------------------------------------------------------------------------------------------------
    async def add_follower(self, follower: Follower) -> bool:
        f = follower
        _check(f.state, FOLLOWER_STATES, "follower state")
        target = f.shared_inbox or f.inbox
        values = (f.role, f.actor_id, f.inbox, f.shared_inbox, f.host.lower(), f.follow_id, _ts(f.since), f.state,
                  target, authority(target))

        def op(c: sqlite3.Connection) -> bool:
            new = c.execute("SELECT 1 FROM followers WHERE role = ? AND actor_id = ?", (f.role, f.actor_id)
                            ).fetchone() is None
            c.execute(f"INSERT INTO followers ({_FOLLOWER}, target, target_host) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                      "ON CONFLICT (role, actor_id) DO UPDATE SET inbox = excluded.inbox, "
                      "shared_inbox = excluded.shared_inbox, host = excluded.host, follow_id = excluded.follow_id, "
                      "state = excluded.state, target = excluded.target, target_host = excluded.target_host", values)
            if f.follow_id is not None:
                c.execute("INSERT INTO follow_ids (role, actor_id, follow_id) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
                          (f.role, f.actor_id, f.follow_id))
            return new
        return await self._tx(op)

    async def remove_follower(self, role: str, actor_id: str) -> bool:
        return await self._write(lambda c: c.execute(
            "DELETE FROM followers WHERE role = ? AND actor_id = ?", (role, actor_id)).rowcount > 0)

    async def remove_followers_at_inbox(self, inbox: str) -> int:
        return await self._write(lambda c: c.execute(
            "DELETE FROM followers WHERE inbox = ? AND shared_inbox IS NULL", (inbox,)).rowcount)

    async def follower(self, role: str, actor_id: str) -> Follower | None:
        def op(c: sqlite3.Connection) -> Follower | None:
            row = c.execute(f"SELECT {_FOLLOWER} FROM followers WHERE role = ? AND actor_id = ?",
                            (role, actor_id)).fetchone()
            return _follower(row) if row else None
        return await self._one(op)

    async def follow_senders(self, follow_id: str) -> list[tuple[str, str]]:
        return await self._one(lambda c: [tuple(r) for r in c.execute(
            "SELECT role, actor_id FROM follow_ids WHERE follow_id = ? ORDER BY role, actor_id", (follow_id,))])

    async def followers(self, role: str, state: str | None = None, offset: int = 0,
                        limit: int | None = None) -> list[Follower]:
        where, params = ("role = ? AND state = ?", [role, state]) if state else ("role = ?", [role])
        sql = f"SELECT {_FOLLOWER} FROM followers WHERE {where} ORDER BY since, actor_id LIMIT ? OFFSET ?"
        return await self._one(lambda c: [_follower(r) for r in c.execute(
            sql, (*params, -1 if limit is None else limit, offset))])

    async def count_followers(self, role: str, state: str | None = "accepted") -> int:
        where, params = ("role = ? AND state = ?", (role, state)) if state else ("role = ?", (role,))
        return await self._one(lambda c: c.execute(
            f"SELECT count(*) FROM followers WHERE {where}", params).fetchone()[0])

    async def set_follower_state(self, role: str, actor_id: str, state: str) -> bool:
        _check(state, FOLLOWER_STATES, "follower state")
        return await self._write(lambda c: c.execute(
            "UPDATE followers SET state = ? WHERE role = ? AND actor_id = ?", (state, role, actor_id)).rowcount > 0)

    async def remove_actor(self, actor_id: str) -> dict[str, int]:
        statements = {
            "followers": "DELETE FROM followers WHERE actor_id = ?",
            "comments": "DELETE FROM comments WHERE author_id = ?",
            "reactions": "DELETE FROM reactions WHERE actor_id = ?",
            "keys": "DELETE FROM keys WHERE owner = ?",
            "actors": "DELETE FROM actors WHERE actor_id = ?",
            "received": "DELETE FROM received WHERE actor = ?",
            "quotes": "DELETE FROM quotes WHERE author = ?",
        }
        return await self._tx(lambda c: {k: c.execute(sql, (actor_id,)).rowcount for k, sql in statements.items()})

    async def move_follower(self, old_actor_id: str, new_actor_id: str, inbox: str, shared_inbox: str | None,
                            host: str) -> int:
        target = shared_inbox or inbox

        def op(c: sqlite3.Connection) -> int:
            roles = [r[0] for r in c.execute("SELECT role FROM followers WHERE actor_id = ?", (old_actor_id,))]
            for role in roles:
                if c.execute("SELECT 1 FROM followers WHERE role = ? AND actor_id = ?",
                             (role, new_actor_id)).fetchone():
                    c.execute("DELETE FROM followers WHERE role = ? AND actor_id = ?", (role, old_actor_id))
                else:  # the old account's Follow ids stay its own: the new account follows by its own Follows
                    c.execute("DELETE FROM follow_ids WHERE role = ? AND actor_id = ?", (role, old_actor_id))
                    c.execute("UPDATE followers SET actor_id = ?, inbox = ?, shared_inbox = ?, host = ?, target = ?, "
                              "target_host = ? WHERE role = ? AND actor_id = ?",
                              (new_actor_id, inbox, shared_inbox, host.lower(), target, authority(target), role,
                               old_actor_id))
            return len(roles)
        return await self._tx(op)

    async def remove_followers_matching(self, value: str) -> int:
        value = block_value(value)
        params: tuple[Any, ...]
        if "://" in value:
            sql, params = "DELETE FROM followers WHERE actor_id = ?", (value,)
        else:
            suffix = "." + value
            sql, params = "DELETE FROM followers WHERE host = ? OR substr(host, -?) = ?", (value, len(suffix), suffix)
        return await self._write(lambda c: c.execute(sql, params).rowcount)

    async def delivery_targets(self, roles: Iterable[str]) -> list[Target]:
        roles = sorted(set(roles))
        if not roles:
            return []
        # followers_target (state, target, role, actor_id, target_host) covers this: one ordered index scan.
        # Within one role an actor follows once, so count(*) counts distinct followers without a temp tree.
        count = "count(*)" if len(roles) == 1 else "count(DISTINCT actor_id)"
        sql = (f"SELECT target, target_host, {count} FROM followers "
               f"WHERE state = 'accepted' AND role IN ({_marks(len(roles))}) GROUP BY target ORDER BY target")
        return await self._one(lambda c: list(map(Target._make, c.execute(sql, roles))))

    # inbound activities --------------------------------------------------------------------------------------------
    async def seen(self, activity_id: str, now: datetime) -> bool:
        at = _ts(now)
        return await self._write(lambda c: c.execute(
            "INSERT INTO seen (id, at) VALUES (?, ?) ON CONFLICT (id) DO NOTHING", (activity_id, at)).rowcount == 0)

    async def is_seen(self, activity_id: str) -> bool:
        return await self._one(lambda c: c.execute("SELECT 1 FROM seen WHERE id = ?", (activity_id,)).fetchone()
                               is not None)

    async def forget_seen_before(self, when: datetime) -> int:
        at = _ts(when)
        return await self._write(lambda c: c.execute("DELETE FROM seen WHERE at < ?", (at,)).rowcount)

    async def record_received(self, activity_id: str, type: str, actor: str, document: Document,
                              now: datetime) -> bool:
        values = (activity_id, type, actor, _ts(now), _enc(document))
        return await self._write(lambda c: c.execute(
            "INSERT INTO received (id, type, actor, at, json) VALUES (?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING",
            values).rowcount == 1)

    async def received(self, activity_id: str) -> Document | None:
        def op(c: sqlite3.Connection) -> Document | None:
            row = c.execute("SELECT json FROM received WHERE id = ?", (activity_id,)).fetchone()
            return json.loads(row[0]) if row else None
        return await self._one(op)

    # remote actors and keys ----------------------------------------------------------------------------------------
    async def cache_actor(self, actor_id: str, document: Document, keys: Iterable[tuple[str, str, str]],
                          fetched_at: datetime) -> None:
        at = _ts(fetched_at)
        rows = [(key_id, actor_id, material, _check(kind, KEY_KINDS, "key kind"), at)
                for key_id, material, kind in keys]
        body = _enc(document)

        def op(c: sqlite3.Connection) -> None:
            c.execute("INSERT INTO actors (actor_id, document, fetched_at) VALUES (?, ?, ?) ON CONFLICT (actor_id) "
                      "DO UPDATE SET document = excluded.document, fetched_at = excluded.fetched_at",
                      (actor_id, body, at))
            c.execute("DELETE FROM keys WHERE owner = ?", (actor_id,))
            # A key id is owned by the last actor that listed it; the verifier checks that the key's id and its
            # owner share an origin before trusting the pair.
            c.executemany("INSERT INTO keys (key_id, owner, material, kind, fetched_at) VALUES (?, ?, ?, ?, ?) "
                          "ON CONFLICT (key_id) DO UPDATE SET owner = excluded.owner, material = excluded.material, "
                          "kind = excluded.kind, fetched_at = excluded.fetched_at", rows)
            c.execute("DELETE FROM gone WHERE actor_id = ?", (actor_id,))
        await self._tx(op)

    async def cached_actor(self, actor_id: str) -> CachedActor | None:
        def op(c: sqlite3.Connection) -> CachedActor | None:
            row = c.execute("SELECT document, fetched_at FROM actors WHERE actor_id = ?", (actor_id,)).fetchone()
            return CachedActor(json.loads(row[0]), _dt(row[1])) if row else None
        return await self._one(op)

    async def cached_key(self, key_id: str) -> CachedKey | None:
        def op(c: sqlite3.Connection) -> CachedKey | None:
            row = c.execute("SELECT key_id, owner, material, kind, fetched_at FROM keys WHERE key_id = ?",
                            (key_id,)).fetchone()
            return CachedKey(row[0], row[1], row[2], row[3], _dt(row[4])) if row else None
        return await self._one(op)

    async def forget_actor(self, actor_id: str) -> bool:
        return await self._write(lambda c: c.execute("DELETE FROM actors WHERE actor_id = ?", (actor_id,)).rowcount > 0)

    async def mark_gone(self, actor_id: str, when: datetime) -> None:
        at = _ts(when)

        def op(c: sqlite3.Connection) -> None:
            c.execute("INSERT INTO gone (actor_id, at) VALUES (?, ?) ON CONFLICT (actor_id) DO UPDATE SET at = "
                      "excluded.at", (actor_id, at))
            c.execute("DELETE FROM actors WHERE actor_id = ?", (actor_id,))
        await self._tx(op)

    async def is_gone(self, actor_id: str) -> bool:
        return await self._one(lambda c: c.execute(
            "SELECT 1 FROM gone WHERE actor_id = ?", (actor_id,)).fetchone() is not None)

    # blocks ---------------------------------------------------------------------------------------------------------
    async def block(self, value: str) -> bool:
        value = block_value(value)
        return await self._write(lambda c: c.execute(
            "INSERT INTO blocks (value) VALUES (?) ON CONFLICT (value) DO NOTHING", (value,)).rowcount == 1)

    async def unblock(self, value: str) -> bool:
        value = block_value(value)
        return await self._write(lambda c: c.execute("DELETE FROM blocks WHERE value = ?", (value,)).rowcount > 0)

    async def blocks(self) -> list[str]:
        return await self._one(lambda c: [r[0] for r in c.execute("SELECT value FROM blocks ORDER BY value")])

    async def is_blocked(self, actor_id: str) -> bool:
        candidates = block_candidates(actor_id)
        if not candidates:
            return False
        sql = f"SELECT 1 FROM blocks WHERE value IN ({_marks(len(candidates))}) LIMIT 1"
        return await self._one(lambda c: c.execute(sql, candidates).fetchone() is not None)

    # comments ---------------------------------------------------------------------------------------------------------
    async def add_comment(self, comment: Comment) -> bool:
        m = comment
        _check(m.state, COMMENT_STATES, "comment state")
        values = (m.id, m.slug, m.parent_id, m.author_id, m.author_name, m.author_handle, m.author_avatar,
                  m.author_url, m.content_html, m.language, _ts(m.published), m.url, m.state,
                  None if m.updated is None else _ts(m.updated))

        def op(c: sqlite3.Connection) -> bool:
            row = c.execute("SELECT author_id FROM comments WHERE id = ?", (m.id,)).fetchone()
            if row is None:
                c.execute(f"INSERT INTO comments ({_COMMENT}) VALUES ({_marks(14)})", values)
                return True
            if row[0] == m.author_id:  # a refresh never changes the moderation decision nor the talk
                c.execute("UPDATE comments SET parent_id = ?, author_name = ?, author_handle = ?, author_avatar = ?, "
                          "author_url = ?, content_html = ?, language = ?, url = ?, updated = ? WHERE id = ?",
                          (m.parent_id, m.author_name, m.author_handle, m.author_avatar, m.author_url,
                           m.content_html, m.language, m.url, values[13], m.id))
            return False
        return await self._tx(op)

    async def comment(self, comment_id: str) -> Comment | None:
        def op(c: sqlite3.Connection) -> Comment | None:
            row = c.execute(f"SELECT {_COMMENT} FROM comments WHERE id = ?", (comment_id,)).fetchone()
            return _comment(row) if row else None
        return await self._one(op)

    async def update_comment_content(self, comment_id: str, author_id: str, content_html: str,
                                     updated: datetime) -> bool:
        values = (content_html, _ts(updated), comment_id, author_id)
        return await self._write(lambda c: c.execute(
            "UPDATE comments SET content_html = ?, updated = ? WHERE id = ? AND author_id = ?", values).rowcount > 0)

    async def delete_comment(self, comment_id: str, author_id: str) -> bool:
        return await self._write(lambda c: c.execute(
            "DELETE FROM comments WHERE id = ? AND author_id = ?", (comment_id, author_id)).rowcount > 0)

    async def comments(self, slug: str, state: str | None = "approved") -> list[Comment]:
        where, params = ("slug = ? AND state = ?", (slug, state)) if state else ("slug = ?", (slug,))
        sql = f"SELECT {_COMMENT} FROM comments WHERE {where} ORDER BY published, id"
        return await self._one(lambda c: [_comment(r) for r in c.execute(sql, params)])

    async def pending_comments(self) -> list[Comment]:
        return await self._one(lambda c: [_comment(r) for r in c.execute(
            f"SELECT {_COMMENT} FROM comments WHERE state = 'pending' ORDER BY published, id")])

    async def set_comment_state(self, comment_id: str, state: str) -> bool:
        _check(state, COMMENT_STATES, "comment state")
        return await self._write(lambda c: c.execute(
            "UPDATE comments SET state = ? WHERE id = ?", (state, comment_id)).rowcount > 0)

    async def is_reply_target(self, object_id: str) -> str | None:
        def op(c: sqlite3.Connection) -> str | None:
            row = c.execute("SELECT slug FROM comments WHERE id = ?", (object_id,)).fetchone()
            return row[0] if row else None
        return await self._one(op)

    # reactions --------------------------------------------------------------------------------------------------------
    async def add_reaction(self, kind: str, activity_id: str, actor_id: str, slug: str, now: datetime) -> bool:
        values = (slug, _check(kind, REACTION_KINDS, "reaction kind"), actor_id, activity_id, _ts(now))
        return await self._write(lambda c: c.execute(
            "INSERT INTO reactions (slug, kind, actor_id, activity_id, at) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT (slug, kind, actor_id) DO NOTHING", values).rowcount == 1)

    async def remove_reaction(self, actor_id: str, kind: str, activity_id: str | None = None,
                              slug: str | None = None) -> bool:
        if activity_id is None and slug is None:
            raise ValueError("remove_reaction: give the reaction's activity id or the talk's slug")
        values = (actor_id, kind, activity_id, slug)
        return await self._write(lambda c: c.execute(
            "DELETE FROM reactions WHERE actor_id = ? AND kind = ? AND (activity_id = ? OR slug = ?)",
            values).rowcount > 0)

    async def reaction_counts(self, slug: str) -> ReactionCounts:
        def op(c: sqlite3.Connection) -> ReactionCounts:
            r = c.execute("SELECT coalesce(sum(kind = 'like'), 0), coalesce(sum(kind = 'announce'), 0) "
                          "FROM reactions WHERE slug = ?", (slug,)).fetchone()
            return ReactionCounts(r[0], r[1])
        return await self._one(op)

    # quote authorizations -----------------------------------------------------------------------------------------
    async def add_quote(self, quote: Quote, activity: OutActivity, delivery: NewDelivery) -> bool:
        q = quote
        values = (q.id, q.slug, q.quoting, q.author, q.request_id, _ts(q.created),
                  None if q.revoked is None else _ts(q.revoked))

        def op(c: sqlite3.Connection) -> bool:
            new = c.execute("INSERT INTO quotes (id, slug, quoting, author, request_id, created, revoked) "
                            "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING", values).rowcount == 1
            self._queue(c, [activity], [delivery])
            return new
        return await self._tx(op)

    async def quote(self, quote_id: str) -> Quote | None:
        def op(c: sqlite3.Connection) -> Quote | None:
            r = c.execute("SELECT id, slug, quoting, author, request_id, created, revoked FROM quotes WHERE id = ?",
                          (quote_id,)).fetchone()
            return Quote(r[0], r[1], r[2], r[3], r[4], _dt(r[5]), _dt_opt(r[6])) if r else None
        return await self._one(op)

    async def revoke_quotes(self, quoting: str, author: str, now: datetime) -> int:
        values = (_ts(now), quoting, author)
        return await self._write(lambda c: c.execute(
            "UPDATE quotes SET revoked = ? WHERE quoting = ? AND author = ? AND revoked IS NULL", values).rowcount)

    # fedi status ------------------------------------------------------------------------------------------------------
    async def status(self, now: datetime, dead_host_days: float = 7.0, recent: int = 5) -> Status:
        def op(c: sqlite3.Connection) -> Status:
            followers: dict[str, dict[str, int]] = {}
            for role, state, n in c.execute("SELECT role, state, count(*) FROM followers GROUP BY role, state"):
                followers.setdefault(role, dict.fromkeys(FOLLOWER_STATES, 0))[state] = n
            jobs = dict.fromkeys(("pending", "failed"), 0)
            jobs.update(c.execute("SELECT state, count(*) FROM jobs GROUP BY state"))
            return Status(
                followers=followers,
                follower_hosts=c.execute("SELECT count(DISTINCT host) FROM followers WHERE state = 'accepted'"
                                         ).fetchone()[0],
                live_talks=c.execute("SELECT count(*) FROM talks WHERE deleted IS NULL").fetchone()[0],
                queue=_counts(c.execute("SELECT state, count(*) FROM deliveries GROUP BY state")),
                recent=self._recent(c, recent),
                dead_hosts=self._dead_hosts(c, now, dead_host_days),
                jobs=jobs,
                pending_comments=c.execute("SELECT count(*) FROM comments WHERE state = 'pending'").fetchone()[0],
            )
        return await self._snap(op)
