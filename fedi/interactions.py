"""Replies, likes and boosts of our talks, as the inbox receives them from Mastodon, PeerTube and others.

Handlers with ``inbox``'s signature (an ``Inbound`` and the verified activity, whose ``actor`` is the signer),
added to ``inbox``'s own by ``dispatcher()``, which the app calls once where it is wired:

- ``Create{Note}`` whose ``inReplyTo`` is one of our talks, or a reply already stored under one (any depth): stored as
  a comment with its author, sanitized content, language, ``published``, ``url`` and parent. PeerTube comments are
  Notes with ``inReplyTo`` too (docs/receivers.md, PeerTube: comments), in ``text/markdown``: shown as typed. The Note
  must be the signer's own (``attributedTo``) and its id on the signer's server (Mastodon's rule: docs/receivers.md,
  Mastodon: posts), or 403. Replies to anything else, and replies not addressed to the public (mentions,
  followers-only), are ignored: the talk page is public.
- ``Update{Note}`` by its author edits it; ``Delete`` of it (a Tombstone, a Note or its bare id: docs/receivers.md,
  Mastodon: activities) removes it; ``Delete{actor}`` is ``inbox.on_delete``'s, and ``store.remove_actor`` takes its
  comments and reactions.
- ``Like`` and ``Announce`` whose ``object`` is one of our talks: one per actor, talk and kind, kept with the
  activity id, so that ``Undo`` (embedded or by id) or an actor's deletion takes it back. PeerTube's Announces
  of its own videos, and likes of anything else, are not about us: ignored.

Moderation (``interactions.moderation``) is decided when a reply is stored: ``followers`` approves replies
from accepted followers of the archive or the owner and holds the others, ``all`` holds every reply, ``none``
approves every reply. Blocked actors and domains are dropped. An edit keeps the decision, except that under
``all`` an approved reply goes back to waiting (its text is new).

The author's display name, handle, avatar and profile come from the actor document the verifier has just
fetched (signed GET) and cached; when that copy is missing or old, a durable ``comment-author`` job fetches it
again and refreshes the reply, so the inbox still answers at once.
"""

from __future__ import annotations

import datetime as dt
import html
import logging
import re
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from dateutil import parser as date_parser

from . import inbox
from .actors import read_actor
from .config import Config
from .errors import ActivityError
from .inbox import Activity, Inbound, object_type, ref_id
from .sanitize import HANDLE_MAX, clean_html, clean_text, is_http_url, text_to_html
from .store import REACTION_KINDS, CachedActor, Comment, Store
from .urls import ROLES, Urls, same_origin

if TYPE_CHECKING:
    from .jobs import JobWorker

log = logging.getLogger(__name__)

AUTHOR = "comment-author"
"""Job kind: fetch a reply's author again and refresh the reply (payload: actor, comment)."""
MODERATION = ("followers", "all", "none")
PUBLIC = frozenset({"https://www.w3.org/ns/activitystreams#Public", "as:Public", "Public"})
"""The spellings of the public collection Mastodon accepts (docs/receivers.md, Mastodon: posts)."""
REPLY_TYPES = ("Note",)
SUMMARY_MAX = 500
ATTACHMENTS_MAX = 4
_LANGUAGE = re.compile(r"^[A-Za-z]{2,3}(?:-[A-Za-z0-9]{1,8}){0,3}$")
_KIND = {"Like": "like", "Announce": "announce"}


# reading a Note -----------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Author:
    """How a reply's author is shown: plain text already cleaned, URLs http(s) or None."""

    name: str | None
    handle: str | None
    """``@user@host``."""
    avatar: str | None
    url: str | None


def author_of(actor_id: str, document: dict[str, Any] | None) -> Author:
    """The author as the talk page shows it, from its actor document (None: only the id is known)."""
    if document is None:
        return Author(None, None, None, actor_id)
    try:
        actor = read_actor(document)
    except ActivityError:
        return Author(None, None, None, actor_id)
    handle = actor.handle()
    return Author(name=clean_text(actor.name) or None,
                  handle=clean_text(f"@{handle}", HANDLE_MAX) if handle else None,
                  avatar=actor.icon if is_http_url(actor.icon) else None,
                  url=actor.url if is_http_url(actor.url) else actor_id)


def note_html(obj: dict[str, Any]) -> str:
    """The Note's content as safe HTML: its content warning (``summary``) first, then the text (HTML, or plain
    text for ``text/markdown``), then links to its attachments (images are never embedded)."""
    content = obj.get("content")
    if not isinstance(content, str):
        mapped = obj.get("contentMap")
        content = next((v for v in mapped.values() if isinstance(v, str)), "") if isinstance(mapped, dict) else ""
    body = text_to_html(content) if obj.get("mediaType") == "text/markdown" else clean_html(content)
    parts = []
    warning = clean_text(obj.get("summary"), SUMMARY_MAX)
    if warning:
        parts.append(f"<p><strong>{html.escape(warning)}</strong></p>")
    parts.append(body)
    links = []
    for item in _list(obj.get("attachment"))[:ATTACHMENTS_MAX]:
        href = _link(item)
        if href:
            label = clean_text(item.get("name") if isinstance(item, dict) else None) or href
            links.append(f'<a href="{html.escape(href)}">{html.escape(label)}</a>')
    if links:
        parts.append("<p>" + "<br>".join(links) + "</p>")
    return clean_html("".join(parts))


def note_language(obj: dict[str, Any]) -> str | None:
    """Mastodon's rule: the first key of ``contentMap`` (docs/receivers.md, Mastodon: posts), when it looks like a
    language tag."""
    mapped = obj.get("contentMap")
    if isinstance(mapped, dict):
        return next((k for k in mapped if isinstance(k, str) and _LANGUAGE.match(k)), None)
    return None


def note_url(obj: dict[str, Any]) -> str | None:
    """The reply's page: ``url`` as a string, a Link, or a list of them (text/html preferred); http(s) only."""
    fallback = None
    for item in _list(obj.get("url")):
        href = _link(item)
        if href and isinstance(item, dict) and item.get("mediaType") == "text/html":
            return href
        fallback = fallback or href
    return fallback


def parse_time(value: Any, now: dt.datetime) -> dt.datetime | None:
    """An ISO 8601 date as aware UTC; None when missing or malformed; never later than ``now``."""
    if not isinstance(value, str) or len(value) > 64:
        return None
    try:
        when = date_parser.isoparse(value)
    except (ValueError, OverflowError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    try:
        when = when.astimezone(dt.UTC)
    except (ValueError, OverflowError):
        return None
    return min(when, now)


def is_public(activity: Activity, obj: dict[str, Any]) -> bool:
    """Addressed to the public (``to`` or ``cc``; docs/receivers.md, Mastodon: posts): a direct mention or a
    followers-only reply must never appear on a public page."""
    for doc in (obj, activity):
        for key in ("to", "cc"):
            if any(ref_id(v) in PUBLIC for v in _list(doc.get(key))):
                return True
    return False


# moderation -----------------------------------------------------------------------------------------------------

async def decide_state(config: Config, store: Store, author_id: str) -> str:
    """``approved`` or ``pending`` for a new reply of ``author_id``, as ``interactions.moderation`` says."""
    mode = config.interactions.moderation
    if mode == "none":
        return "approved"
    if mode == "all":
        return "pending"
    for role in ROLES:
        follower = await store.follower(role, author_id)
        if follower is not None and follower.state == "accepted":
            return "approved"
    return "pending"


async def reply_target(urls: Urls, store: Store, object_id: str) -> str | None:
    """The slug of the conversation ``object_id`` belongs to: one of our live talks, or a stored reply."""
    slug = urls.talk_slug(object_id)
    if slug is not None:
        record = await store.talk(slug)
        return slug if record is not None and record.deleted is None else None
    return await store.is_reply_target(object_id)


# handlers -------------------------------------------------------------------------------------------------------

async def on_create(inb: Inbound, activity: Activity) -> None:
    """Create{Note} replying to our talks: a comment, approved or waiting. Anything else is ignored."""
    obj = activity["object"]
    if object_type(obj) not in REPLY_TYPES:
        log.debug("ignored Create{%s} from %s", object_type(obj), inb.signer.actor_id)
        return
    parent = ref_id(obj.get("inReplyTo"))
    slug = await reply_target(inb.urls, inb.store, parent) if parent else None
    if slug is None:
        log.debug("ignored %s: not a reply to one of our talks", obj["id"])
        return
    author = _own_note(inb, obj, "Create")
    if not is_public(activity, obj):
        log.info("ignored %s by %s: not addressed to the public", obj["id"], author)
        return
    if await inbox.is_blocked(inb.config, inb.store, author):
        log.info("dropped %s: %s is blocked", obj["id"], author)
        return
    content = note_html(obj)
    if not content:
        log.info("ignored %s: nothing left to show once sanitized", obj["id"])
        return
    cached = await inb.store.cached_actor(author)
    who = author_of(author, cached.document if cached else None)
    comment = Comment(
        id=obj["id"], slug=slug, parent_id=parent, author_id=author, author_name=who.name,
        author_handle=who.handle, author_avatar=who.avatar, author_url=who.url, content_html=content,
        language=note_language(obj), published=parse_time(obj.get("published"), inb.now) or inb.now,
        url=note_url(obj), state=await decide_state(inb.config, inb.store, author),
        updated=parse_time(obj.get("updated"), inb.now))
    if await inb.store.add_comment(comment):
        log.info("reply %s by %s on %s: %s", comment.id, author, slug, comment.state)
    if _stale(inb.config, cached, inb.now):
        await inb.later(AUTHOR, {"actor": author, "comment": comment.id})


async def on_update_note(inb: Inbound, activity: Activity) -> None:
    """Update{Note} by its author: the stored reply takes the new text (unknown Notes are ignored)."""
    obj = activity["object"]
    existing = await inb.store.comment(obj["id"])
    if existing is None:
        log.debug("ignored Update of %s: not a stored reply", obj["id"])
        return
    author = _own_note(inb, obj, "Update")
    if existing.author_id != author:
        log.debug("ignored Update of %s: not a stored reply of %s", obj["id"], author)
        return
    content = note_html(obj)
    if not content:
        return
    updated = parse_time(obj.get("updated"), inb.now) or inb.now
    await inb.store.update_comment_content(existing.id, author, content, updated)
    if inb.config.interactions.moderation == "all" and existing.state == "approved":
        await inb.store.set_comment_state(existing.id, "pending")


async def on_delete_note(inb: Inbound, activity: Activity) -> None:
    """Delete of a reply (Tombstone, Note or bare id) by its author; anything else is not ours to delete."""
    object_id = ref_id(activity.get("object"))
    if object_id and await inb.store.delete_comment(object_id, inb.signer.actor_id):
        log.info("reply %s deleted by its author", object_id)


async def on_like(inb: Inbound, activity: Activity) -> None:
    await _react(inb, activity, "like")


async def on_announce(inb: Inbound, activity: Activity) -> None:
    await _react(inb, activity, "announce")


async def _react(inb: Inbound, activity: Activity, kind: str) -> None:
    """A like or a boost of one of our live talks, at most one per actor (a repeat changes nothing)."""
    target = ref_id(activity.get("object"))
    slug = inb.urls.talk_slug(target) if target else None
    record = await inb.store.talk_json(slug) if slug else None  # the bytes and a flag: no JSON to parse here
    if slug is None or record is None or record.deleted:
        log.debug("ignored %s of %s: not one of our talks", activity.get("type"), target)
        return
    if await inbox.is_blocked(inb.config, inb.store, inb.signer.actor_id):
        return
    activity_id = ref_id(activity) or f"{inb.signer.actor_id}#{kind}/{slug}"
    await inb.store.add_reaction(kind, activity_id, inb.signer.actor_id, slug, inb.now)


async def undo_reaction(inb: Inbound, activity: Activity) -> None:
    """Undo{Like} / Undo{Announce} (``inbox.on_undo`` checked it is the signer's): matched by the undone
    activity's id, or by the talk it named (Mastodon's Undo may embed a Like with another id)."""
    inner = activity["object"]
    kind = _KIND.get(object_type(inner))
    inner_id = ref_id(inner)
    target = ref_id(inner.get("object")) if isinstance(inner, dict) else None
    slug = inb.urls.talk_slug(target) if target else None
    if kind is None or (inner_id is None and slug is None):
        return
    await inb.store.remove_reaction(inb.signer.actor_id, kind, activity_id=inner_id, slug=slug)


async def undo_by_id(inb: Inbound, activity: Activity) -> None:
    """Undo of a bare id (Mastodon's compact form): whichever reaction of the signer has that id goes."""
    inner_id = ref_id(activity.get("object"))
    if inner_id is None:
        return
    for kind in REACTION_KINDS:
        await inb.store.remove_reaction(inb.signer.actor_id, kind, activity_id=inner_id)


# the author job -------------------------------------------------------------------------------------------------

async def refresh_author(worker: JobWorker, payload: dict[str, Any]) -> None:
    """Job ``comment-author``: fetch the author's document (signed GET, cached) and refresh the reply."""
    actor = payload["actor"]
    await worker.remote_actor(actor, fresh=True)  # Permanent when gone or malformed: the job fails
    cached = await worker.store.cached_actor(actor)
    comment = await worker.store.comment(payload["comment"])
    if cached is None or comment is None or comment.author_id != actor:
        return
    who = author_of(actor, cached.document)
    await worker.store.add_comment(replace(comment, author_name=who.name, author_handle=who.handle,
                                           author_avatar=who.avatar, author_url=who.url))


# wiring -------------------------------------------------------------------------------------------------------

def dispatcher() -> inbox.Dispatcher:
    """fedi's whole dispatcher: ``inbox``'s handlers, these, and the author job they queue."""
    return inbox.core().extended(
        handlers={"Create": on_create, "Like": on_like, "Announce": on_announce},
        update={"Note": (on_update_note,)},
        delete={"Note": (on_delete_note,), "Tombstone": (on_delete_note,), "": (on_delete_note,)},
        undo={"Like": (undo_reaction,), "Announce": (undo_reaction,), "": (undo_by_id,)},
        job_kinds={AUTHOR: refresh_author})


# helpers --------------------------------------------------------------------------------------------------------

def _own_note(inb: Inbound, obj: dict[str, Any], verb: str) -> str:
    """The Note's author, which must be the signer, with the Note's id on the signer's server (else 403)."""
    attributed = _list(obj.get("attributedTo"))
    author = ref_id(attributed[0]) if attributed else inb.signer.actor_id
    if author != inb.signer.actor_id:
        raise ActivityError(f"{verb}: the Note's attributedTo is not the actor of the activity", 403)
    if not is_http_url(obj["id"]):
        raise ActivityError(f"{verb}: the Note's id is not a plain http(s) URL")
    if not same_origin(obj["id"], author):
        raise ActivityError(f"{verb}: the Note's id is on another server than its author", 403)
    return author


def _stale(config: Config, cached: CachedActor | None, now: dt.datetime) -> bool:
    return cached is None or (now - cached.fetched_at).total_seconds() >= config.security.key_cache_seconds


def _list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _link(item: Any) -> str | None:
    """An http(s) URL given as a string, a Link (``href``) or an object with a ``url``."""
    if isinstance(item, dict):
        item = item.get("href") or item.get("url")
        if isinstance(item, list):
            item = item[0] if item else None
        if isinstance(item, dict):
            item = item.get("href")
    return item if is_http_url(item) else None
