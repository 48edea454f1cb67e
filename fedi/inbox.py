"""Handlers for VERIFIED incoming activities, dispatched by type; no HTTP in here (that is ``inbox_routes``).

Each handler takes an ``Inbound`` (config, urls, store, now, the verified signer) and the activity, already
checked against ``schemas/incoming.json`` and known to be the signer's own (``verify.check_actor``). Handlers
only read and write the store: slow work (fetching an actor) becomes a durable job that ``jobs.JobWorker``
runs, and what is sent (Accept, Reject) is a stored activity plus a delivery row that ``delivery`` sends, so
the inbox answers 202 at once and nothing is lost on restart. A handler refuses
with ``ActivityError(reason, status)``; the caller turns it into that HTTP status.

Which handler runs is a value, a ``Dispatcher``, built once where the app (or any process running the job
worker) is wired and handed to the ``Inbound`` of every activity: nothing is plugged in by importing a module,
so a process cannot run with half its handlers. ``core()`` holds this module's handlers; another module adds
its own with ``extended`` (``interactions.dispatcher()`` is the whole of fedi's)::

    inbox.core().extended(
        handlers={"Create": on_create, "Like": on_like},       # new activity types
        update={"Note": [on_update_note]},                      # Update{Note}
        delete={"Tombstone": [on_delete_note], "": [on_delete_by_id]},  # "" : Delete{"https://…"}
        undo={"Like": [on_undo_like], "": [on_undo_by_id]},     # Undo{"https://…"}: every "" handler runs
        job_kinds={"comment-author": refresh_author})           # the jobs these handlers queue

``undo``, ``update`` and ``delete`` are keyed by the type of the activity's ``object`` ("" when the object is a
bare id); every handler in the list runs. Before they run, ``on_undo`` has checked that the undone thing
belongs to the signer (same server, same actor; else 403). An activity type with no handler at all is one fedi
does not support (logged at debug level, then recorded as seen, as Mastodon does).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from . import objects
from .actors import ACTOR_TYPES, RemoteActor, read_actor
from .config import Config
from .errors import ActivityError
from .store import Follower, NewDelivery, OutActivity, Store
from .urls import ROLES, Urls, authority, domain_matches, host_name, same_origin
from .urls import host as host_of
from .verify import Signer

log = logging.getLogger(__name__)

FOLLOW = "follow"
"""Job kind: fetch a follower's actor, record it, answer (payload: role or None, follow, actor)."""
MOVE = "move"
"""Job kind: check a Move's target and move the follower (payload: old, new)."""
DEFERRED = "activities"
"""Job kind: verified activities received while the inbox was flooded, handled later by ``process`` (payload:
activities, signer, received)."""


@dataclass(frozen=True)
class Inbound:
    """What a handler may use: no client, no request — the store is the only way out."""

    config: Config
    urls: Urls
    store: Store
    now: datetime
    signer: Signer
    dispatcher: Dispatcher
    """The handlers of this process (the ones ``on_undo``, ``on_update`` and ``on_delete`` hand over to)."""
    run_now: Callable[[str, dict[str, Any]], Awaitable[None]] | None = None
    """Set when the handler already runs in the job worker (a POST deferred under a flood): slow work is done
    there and then, in order with the activities after it, instead of becoming a job of its own."""

    async def later(self, kind: str, payload: dict[str, Any]) -> None:
        """Slow work (a fetch): a durable job, or at once when already in the worker."""
        if self.run_now is not None:
            await self.run_now(kind, payload)
        else:
            await self.store.add_job(kind, payload, self.now)


Activity = dict[str, Any]
Handler = Callable[[Inbound, Activity], Awaitable[None]]
JobKind = Callable[[Any, dict[str, Any]], Awaitable[None]]
"""A job kind's work: (the ``jobs.JobWorker`` running it, the payload)."""


@dataclass(frozen=True)
class Dispatcher:
    """Every activity handler of a process, and the job kinds their slow work is queued as (they travel
    together: a worker that runs a handler's jobs must know their kinds). Built once, never changed."""

    handlers: Mapping[str, Handler]
    undo: Mapping[str, Sequence[Handler]] = field(default_factory=dict)
    update: Mapping[str, Sequence[Handler]] = field(default_factory=dict)
    delete: Mapping[str, Sequence[Handler]] = field(default_factory=dict)
    job_kinds: Mapping[str, JobKind] = field(default_factory=dict)

    def extended(self, *, handlers: Mapping[str, Handler] | None = None,
                 undo: Mapping[str, Sequence[Handler]] | None = None,
                 update: Mapping[str, Sequence[Handler]] | None = None,
                 delete: Mapping[str, Sequence[Handler]] | None = None,
                 job_kinds: Mapping[str, JobKind] | None = None) -> Dispatcher:
        """A new dispatcher with more handlers: new types added, lists of handlers appended to."""
        return Dispatcher(handlers={**self.handlers, **(handlers or {})},
                          undo=_joined(self.undo, undo), update=_joined(self.update, update),
                          delete=_joined(self.delete, delete), job_kinds={**self.job_kinds, **(job_kinds or {})})


def _joined(table: Mapping[str, Sequence[Handler]],
            more: Mapping[str, Sequence[Handler]] | None) -> dict[str, tuple[Handler, ...]]:
    joined = {key: tuple(handlers) for key, handlers in table.items()}
    for key, handlers in (more or {}).items():
        joined[key] = (*joined.get(key, ()), *(h for h in handlers if h not in joined.get(key, ())))
    return joined


# small readers ------------------------------------------------------------------------------------------------

def ref_id(value: Any) -> str | None:
    """The id of a reference given as a URL or as an object with an ``id``."""
    if isinstance(value, dict):
        value = value.get("id")
    return value if isinstance(value, str) and value else None


def object_type(value: Any) -> str:
    """The type of an embedded object (the first one when a list), "" for a bare id."""
    if not isinstance(value, dict):
        return ""
    kind = value.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if isinstance(k, str)), "")
    return kind if isinstance(kind, str) else ""


async def is_blocked(config: Config, store: Store, actor_id: str) -> bool:
    """Blocked by ``security.blocked_domains`` (read from the config, never copied into the store) or in the
    store (``fedi block``)."""
    host = host_of(actor_id)
    if any(domain_matches(host, d) for d in config.security.blocked_domains):
        return True
    return await store.is_blocked(actor_id)


def key_rows(actor: RemoteActor) -> list[tuple[str, str, str]]:
    """The actor's keys as ``store.cache_actor`` takes them; keys on another server are left out (a document
    may not vouch for keys it does not host, as ``verify`` also requires)."""
    return [(k.id, k.pem or k.multibase or "", "pem" if k.pem else "multibase") for k in actor.keys
            if (k.pem or k.multibase) and same_origin(k.id, actor.id)]


def follow_of(urls: Urls, follower: Follower) -> Activity:
    """The Follow a stored follower made, rebuilt for an Accept or Reject (Mastodon matches the id, or the embedded
    type and actor: docs/receivers.md, Mastodon: activities). A Follow id from another server (a follower that moved)
    is left out."""
    follow: Activity = {"type": "Follow", "actor": follower.actor_id, "object": urls.actor(follower.role)}
    if follower.follow_id and same_origin(follower.follow_id, follower.actor_id):
        follow = {"id": follower.follow_id, **follow}
    return follow


def answer_id(urls: Urls, kind: str, role: str, follow: Activity) -> str:
    """A stable id for the Accept/Reject of one Follow: answering the same Follow twice stores it once."""
    seed = "\n".join((kind, role, str(follow.get("actor")), str(follow.get("id"))))
    return urls.activity(f"{kind.lower()}-{hashlib.sha256(seed.encode()).hexdigest()[:32]}")


async def queue_answer(urls: Urls, store: Store, kind: str, role: str, follow: Activity, inbox: str,
                       now: datetime) -> str:
    """Store an Accept or Reject of ``follow`` (served at its id) with its delivery row, in one transaction;
    the delivery worker signs and sends it, with the same retry rules as everything else.

    ``inbox`` is the follower's PERSONAL inbox: PeerTube refuses an Accept on its shared inbox
    (docs/receivers.md, PeerTube: follows).
    Answering the same Follow again writes nothing new (``store.publish`` keeps one activity per id and one
    delivery per activity and inbox), so a job that runs twice after a crash sends its answer once.
    """
    if kind not in ("Accept", "Reject"):
        raise ValueError(f"answer kind {kind!r}: Accept or Reject")
    activity_id = answer_id(urls, kind, role, follow)
    build = objects.accept if kind == "Accept" else objects.reject
    document = build(activity_id, urls.actor(role), follow)
    await store.publish([], [OutActivity(id=activity_id, actor_role=role, type=kind, slug=None, document=document,
                                         published=now)],
                        [NewDelivery(activity_id=activity_id, inbox=inbox, host=authority(inbox), actor_role=role,
                                     due=now)])
    return activity_id


async def block_followers(config: Config, urls: Urls, store: Store, value: str, now: datetime) -> list[Follower]:
    """Remove the followers a block covers (an actor id, or a domain and its subdomains) and queue a Reject to
    each, so their server shows them as no longer following; forget the blocked accounts' replies and reactions
    (a domain block reaches the reactions of accounts that also replied). Returns the followers who went."""
    value = value.strip()
    by_id = "://" in value
    domain = host_name(value)
    gone: list[Follower] = []
    for role in ROLES:
        for follower in await store.followers(role):
            hit = follower.actor_id == value if by_id else domain_matches(follower.host, domain)
            if hit and await store.remove_follower(role, follower.actor_id):
                await queue_answer(urls, store, "Reject", role, follow_of(urls, follower), follower.inbox, now)
                gone.append(follower)
    # what the blocked accounts left behind (replies, likes, boosts) leaves the talk pages too
    authors = {value} if by_id else {
        c.author_id for rec in await store.talks(include_deleted=True) for c in await store.comments(rec.slug, None)
        if domain_matches(host_of(c.author_id), domain)}
    for author in authors:
        await store.remove_actor(author)
    return gone


# handlers ---------------------------------------------------------------------------------------------------

async def on_follow(inb: Inbound, activity: Activity) -> None:
    """Queue the Follow: the job fetches the follower's actor (its inbox), records it and answers.

    A Follow of anything but our two actors gets a Reject, and nothing is stored (role None).
    """
    role = inb.urls.role_of(ref_id(activity.get("object")) or "")
    follow = {k: activity[k] for k in ("id", "type", "actor", "object") if k in activity}
    follow["actor"] = inb.signer.actor_id
    await inb.later(FOLLOW, {"role": role, "follow": follow, "actor": inb.signer.actor_id})


async def on_undo(inb: Inbound, activity: Activity) -> None:
    """Undo of something the signer did: checked here (403 otherwise), then handed to
    ``dispatcher.undo[object type]``."""
    inner = activity.get("object")
    inner_id = ref_id(inner)
    if isinstance(inner, dict) and "actor" in inner and ref_id(inner.get("actor")) != inb.signer.actor_id:
        raise ActivityError("Undo: object.actor is not the actor of the Undo", 403)
    if inner_id is not None and not same_origin(inner_id, inb.signer.actor_id):
        raise ActivityError("Undo: object is on another server than the actor of the Undo", 403)
    await _plugged(inb.dispatcher.undo, "Undo", object_type(inner), inb, activity)


async def undo_follow(inb: Inbound, activity: Activity) -> None:
    """Unfollow (idempotent). Matched by the followed actor, else by the Follow's id (a bare-id Undo), which may
    be any Follow the actor sent while following (Mastodon re-sends Follows with new ids), not only the latest."""
    inner = activity.get("object")
    actor = inb.signer.actor_id
    role = inb.urls.role_of(ref_id(inner.get("object")) or "") if isinstance(inner, dict) else None
    if role is not None:
        roles = [role] if await inb.store.remove_follower(role, actor) else []
    else:
        inner_id = ref_id(inner)
        senders = await inb.store.follow_senders(inner_id) if inner_id is not None else []
        if any(sender != actor for _, sender in senders):
            raise ActivityError("Undo: the Follow was sent by another actor than the actor of the Undo", 403)
        roles = [r for r, _ in senders if await inb.store.remove_follower(r, actor)]
    for gone in roles:
        log.info("%s stopped following %s", actor, gone)


async def on_delete(inb: Inbound, activity: Activity) -> None:
    """Delete{the actor itself}: forget it everywhere. Other Deletes go to ``dispatcher.delete[object type]``."""
    obj = activity.get("object")
    if ref_id(obj) == inb.signer.actor_id:
        removed = await inb.store.remove_actor(inb.signer.actor_id)
        log.info("%s was deleted; removed %s", inb.signer.actor_id, removed)
        return
    await _plugged(inb.dispatcher.delete, "Delete", object_type(obj), inb, activity)


async def on_update(inb: Inbound, activity: Activity) -> None:
    """Update{actor}: refresh the cached document; other Updates go to ``dispatcher.update[object type]``."""
    obj = activity["object"]
    kind = object_type(obj)
    if kind in ACTOR_TYPES:
        await update_actor(inb, obj)
        return
    await _plugged(inb.dispatcher.update, "Update", kind, inb, activity)


async def _plugged(table: Mapping[str, Sequence[Handler]], verb: str, kind: str, inb: Inbound,
                   activity: Activity) -> None:
    """Run the handlers plugged in for ``verb`` of an object of type ``kind`` (none: ignored, at debug level)."""
    handlers = table.get(kind, [])
    if not handlers:
        log.debug("ignored %s{%s} from %s", verb, kind or "id", inb.signer.actor_id)
    for handler in handlers:
        await handler(inb, activity)


async def update_actor(inb: Inbound, document: Activity) -> None:
    """An actor re-sends its profile (Mastodon: only ``object.id == actor`` counts; docs/receivers.md, Mastodon:
    activities): new inbox, shared inbox or keys take effect at once, in the key cache and in the follower rows. An
    Update of another actor (a Lemmy moderator editing a community) changes nothing here, and is not an error
    either."""
    if ref_id(document) != inb.signer.actor_id:
        log.debug("ignored Update of %s by %s", ref_id(document), inb.signer.actor_id)
        return
    actor = read_actor(document)
    await inb.store.cache_actor(actor.id, document, key_rows(actor), inb.now)
    for role in ROLES:
        follower = await inb.store.follower(role, actor.id)
        if follower is not None and (follower.inbox, follower.shared_inbox) != (actor.inbox, actor.shared_inbox):
            await inb.store.add_follower(replace(follower, inbox=actor.inbox, shared_inbox=actor.shared_inbox))


async def on_move(inb: Inbound, activity: Activity) -> None:
    """Move{old → new}, signed by the old actor: queued, because the new actor's ``alsoKnownAs`` must be
    fetched and must list the old one before anything changes (Mastodon's rule)."""
    old, new = ref_id(activity.get("object")), ref_id(activity.get("target"))
    if old != inb.signer.actor_id:
        raise ActivityError("Move: object must be the actor that signed the Move", 403)
    if not new or new == old:
        raise ActivityError("Move: target must be another actor")
    if not any([await inb.store.follower(role, old) for role in ROLES]):
        log.debug("ignored Move of %s: not a follower", old)
        return
    await inb.later(MOVE, {"old": old, "new": new})


async def on_answer(inb: Inbound, activity: Activity) -> None:
    """Accept/Reject addressed to us: fedi follows no one, so they are only kept for the record."""
    activity_id = ref_id(activity)
    if activity_id:
        await inb.store.record_received(activity_id, str(activity.get("type")), inb.signer.actor_id, activity,
                                        inb.now)


def core() -> Dispatcher:
    """This module's handlers: follows, unfollows, moves, actor updates and deletions, answers."""
    return Dispatcher(
        handlers={"Follow": on_follow, "Undo": on_undo, "Delete": on_delete, "Update": on_update, "Move": on_move,
                  "Accept": on_answer, "Reject": on_answer},
        undo={"Follow": (undo_follow,), "": (undo_follow,)})


async def process(inb: Inbound, activity: Activity) -> None:
    """Dispatch once per id: a replay changes nothing.

    The id is recorded only AFTER its handler succeeded. Recorded first, a crash (kill -9) or a full disk between
    the record and the handler's own write left the id "seen" with nothing done: the sender, which got no 202,
    resent it, and the resend was taken for a replay — the activity was lost (tests/reliability/test_crashes.py
    caught it). Handlers are idempotent (upserts, one reaction per actor, answers with stable ids), so two copies
    of one activity arriving at the same moment, both handled, change nothing more than one.
    """
    activity_id = ref_id(activity)
    if activity_id is not None and await inb.store.is_seen(activity_id):
        log.debug("replay of %s ignored", activity_id)
        return
    await dispatch(inb, activity)
    if activity_id is not None:
        await inb.store.seen(activity_id, inb.now)


async def dispatch(inb: Inbound, activity: Activity) -> bool:
    """Run the handler of the activity's type; False (logged at debug level) when there is none."""
    kind = activity.get("type")
    handler = inb.dispatcher.handlers.get(kind) if isinstance(kind, str) else None
    if handler is None:
        log.debug("ignored %s from %s (unsupported type)", kind, inb.signer.actor_id)
        return False
    await handler(inb, activity)
    return True
