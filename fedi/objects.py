"""Pure builders of what fedi serves and sends: actors, activities, collections (talk objects: ``talk_objects``).

Config, ids and times in, dicts out: no I/O, no clock, no randomness. Top-level documents carry ``@context``; embedded
ones never do, so an activity embeds exactly the object served at the object's own id (minus the context). Addressing
is always ``to: [Public]`` with the full IRI (PeerTube drops ``as:Public``: docs/receivers.md, PeerTube: videos) and
``cc: [the sender's followers]`` (Mastodon needs the followers URL: docs/receivers.md, Mastodon: posts).
"""

from __future__ import annotations

import datetime as dt
import html
import math
import re
from collections.abc import Sequence
from typing import Any

from .config import Config, ProfileField
from .talk_objects import (  # noqa: F401  (re-exported: callers need one module)
    AS,
    CONTEXT,
    IMAGE_TYPES,
    PUBLIC,
    chapters_document,
    html_link,
    image_type,
    iso,
    link,
    linkify,
    paragraphs_html,
    split_paragraphs,
    talk_object,
)
from .urls import ARCHIVE, OWNER, ROLES, Urls

SECURITY = "https://w3id.org/security/v1"

ACTOR_CONTEXT: list[Any] = [AS, SECURITY, {
    "manuallyApprovesFollowers": "as:manuallyApprovesFollowers",
    "toot": "http://joinmastodon.org/ns#",
    "featured": {"@id": "toot:featured", "@type": "@id"},
    "attributionDomains": {"@id": "toot:attributionDomains", "@type": "@id"},
    "discoverable": "toot:discoverable",
    "indexable": "toot:indexable",
    # Mastodon's (wrong but expected) schema.org base for profile fields (docs/receivers.md, JSON-LD contexts)
    "schema": "http://schema.org#",
    "PropertyValue": "schema:PropertyValue",
    "value": "schema:value",
}]


# small pieces -------------------------------------------------------------------------------------

def embed(doc: dict[str, Any]) -> dict[str, Any]:
    """A copy fit to sit inside another document: no ``@context`` (nor a foreign LD ``signature``)."""
    return {k: v for k, v in doc.items() if k not in ("@context", "signature")}


def document(obj: dict[str, Any], context: list[Any] | None = None) -> dict[str, Any]:
    """A talk object (or any embedded document) ready to be served at its own id."""
    return {"@context": context or CONTEXT, **embed(obj)}


def image(urls: Urls, ref: str) -> dict[str, Any]:
    """An ``Image`` for a configured reference; PeerTube guesses the type from the URL when it is absent."""
    doc: dict[str, Any] = {"type": "Image", "url": urls.resolve(ref)}
    kind = image_type(ref)
    if kind:
        doc["mediaType"] = kind
    return doc


def property_value(field: ProfileField) -> dict[str, str]:
    """A Mastodon profile field; an http(s) value becomes a rel=me link so it can be verified."""
    if re.fullmatch(r"https?://\S+", field.value.strip()):
        value = link(field.value.strip(), rel="me nofollow noopener")
    else:
        value = html.escape(field.value)
    return {"type": "PropertyValue", "name": field.name, "value": value}


def followers_of(urls: Urls, actor_id: str) -> list[str]:
    """``cc`` of what ``actor_id`` sends: its followers when it is one of ours."""
    role = urls.role_of(actor_id)
    return [urls.followers(role)] if role else []


# actors -------------------------------------------------------------------------------------------

def actor(config: Config, urls: Urls, role: str, public_pem: str, published: dt.datetime) -> dict[str, Any]:
    """The archive (a ``Group``, so PeerTube users can follow it) or its owner (a ``Person``, the association).

    PeerTube turns a Group into a channel only when ``attributedTo`` names a same-host Person (docs/receivers.md,
    PeerTube: channels). ``url`` is our own page (the actor's id, which serves HTML to browsers): Mastodon ignores a
    profile URL on another host, so the association's website goes into a "Website" field instead.
    """
    if role not in ROLES:
        raise ValueError(f"unknown actor role {role!r}")
    archive = role == ARCHIVE
    actor_id = urls.actor(role)
    name = config.actor.name if archive else config.owner.name
    summary = config.actor.summary if archive else config.owner.summary
    doc: dict[str, Any] = {
        "@context": ACTOR_CONTEXT,
        "id": actor_id,
        "type": "Group" if archive else "Person",
        "preferredUsername": urls.username(role),
        "name": name,
        "summary": paragraphs_html(split_paragraphs(summary)),
        # a plain string: PeerTube 7.0 refuses an actor whose url is a Link or a list (and with the Group its
        # channel and every video); Mastodon and PeerTube 8 take a string too
        "url": actor_id,
        "inbox": urls.inbox(role),
        "outbox": urls.outbox(role),
        "followers": urls.followers(role),
        "following": urls.following(role),
        "featured": urls.featured(role),
        "endpoints": {"sharedInbox": urls.shared_inbox()},
        "publicKey": {"id": urls.key(role), "owner": actor_id, "publicKeyPem": public_pem},
        "manuallyApprovesFollowers": config.actor.manually_approves_followers if archive else False,
        "discoverable": True,
        "indexable": True,
        "published": iso(published),
    }
    if archive:
        doc["attributedTo"] = [{"type": "Person", "id": urls.actor(OWNER)}]
    else:
        # Mastodon shows "More from <owner>" under a link card whose page names the owner in its
        # fediverse:creator meta tag, when the page's host is listed here
        doc["attributionDomains"] = [urls.hostname]
    icon = config.actor.icon if archive else config.owner.icon
    if icon:
        doc["icon"] = image(urls, icon)
    if archive and config.actor.image:
        doc["image"] = image(urls, config.actor.image)
    fields: Sequence[ProfileField] = config.actor.fields if archive else (
        [ProfileField("Website", config.owner.url)] if config.owner.url else [])
    doc["attachment"] = [property_value(f) for f in fields]
    doc["tag"] = []
    return doc


# activities ---------------------------------------------------------------------------------------

def _slug(urls: Urls, obj: dict[str, Any]) -> str:
    slug = urls.talk_slug(str(obj.get("id", "")))
    if slug is None:
        raise ValueError(f"not one of our talk objects: {obj.get('id')!r}")
    return slug


def create(urls: Urls, obj: dict[str, Any], actor_id: str) -> dict[str, Any]:
    """Create{talk}: same addressing and date as the object it embeds."""
    body = embed(obj)
    return {"@context": CONTEXT, "id": urls.create(_slug(urls, obj)), "type": "Create", "actor": actor_id,
            "published": body["published"], "to": list(body["to"]), "cc": list(body["cc"]), "object": body}


def update(urls: Urls, obj: dict[str, Any], actor_id: str, version: int, now: dt.datetime) -> dict[str, Any]:
    """Update{talk} number ``version``; Mastodon edits a Note with it, and a Video since 4.5
    (docs/receivers.md, Mastodon: posts)."""
    body = embed(obj)
    return {"@context": CONTEXT, "id": urls.update(_slug(urls, obj), version), "type": "Update",
            "actor": actor_id, "published": iso(now), "to": list(body["to"]), "cc": list(body["cc"]),
            "object": body}


def tombstone(urls: Urls, slug: str, published: dt.datetime | None, deleted: dt.datetime,
              former_type: str | None = None) -> dict[str, Any]:
    """What a removed talk's id answers (with 410), and what its Delete carries."""
    doc: dict[str, Any] = {"@context": [AS], "id": urls.talk(slug), "type": "Tombstone"}
    if former_type:
        doc["formerType"] = former_type
    if published is not None:
        doc["published"] = iso(published)
    doc["deleted"] = iso(deleted)
    return doc


def delete(urls: Urls, slug: str, actor_id: str, now: dt.datetime, *, published: dt.datetime | None = None,
           former_type: str | None = None) -> dict[str, Any]:
    """Delete{Tombstone} of a talk taken out of the archive."""
    return {"@context": [AS], "id": urls.delete(slug), "type": "Delete", "actor": actor_id, "published": iso(now),
            "to": [PUBLIC], "cc": followers_of(urls, actor_id),
            "object": embed(tombstone(urls, slug, published, now, former_type))}


def announce(urls: Urls, slug: str, actor_id: str, published: dt.datetime) -> dict[str, Any]:
    """The owner boosting a talk, so the association's followers see it too (object by id, as Mastodon does)."""
    cc = followers_of(urls, actor_id)
    if actor_id != urls.actor(ARCHIVE):
        cc.append(urls.actor(ARCHIVE))
    return {"@context": [AS], "id": urls.announce(slug), "type": "Announce", "actor": actor_id,
            "published": iso(published), "to": [PUBLIC], "cc": cc, "object": urls.talk(slug)}


def _follow(follow: dict[str, Any]) -> dict[str, Any]:
    # only the fields receivers match on (Mastodon: id, or type+actor;
    # docs/receivers.md, Mastodon: activities): never echo foreign extras back
    return {k: follow[k] for k in ("id", "type", "actor", "object") if k in follow}


def _answer(kind: str, activity_id: str, actor_id: str, follow: dict[str, Any]) -> dict[str, Any]:
    doc: dict[str, Any] = {"@context": [AS], "id": activity_id, "type": kind, "actor": actor_id,
                           "object": _follow(follow)}
    follower = follow.get("actor")
    if isinstance(follower, str):
        doc["to"] = [follower]
    return doc


def accept(activity_id: str, actor_id: str, follow: dict[str, Any]) -> dict[str, Any]:
    """Accept{Follow} embedding the Follow, the shape both Mastodon and PeerTube match
    (docs/receivers.md, Mastodon: activities, and PeerTube: follows)."""
    return _answer("Accept", activity_id, actor_id, follow)


def reject(activity_id: str, actor_id: str, follow: dict[str, Any]) -> dict[str, Any]:
    return _answer("Reject", activity_id, actor_id, follow)


def update_actor(actor_doc: dict[str, Any], activity_id: str, now: dt.datetime) -> dict[str, Any]:
    """Update{actor}: Mastodon and PeerTube re-read the profile (send it before rotating keys:
    docs/receivers.md, PeerTube: signatures)."""
    return {"@context": actor_doc.get("@context", ACTOR_CONTEXT), "id": activity_id, "type": "Update",
            "actor": actor_doc["id"], "published": iso(now), "to": [PUBLIC], "cc": [actor_doc["followers"]],
            "object": embed(actor_doc)}


# pinned talks -------------------------------------------------------------------------------------

def pin(urls: Urls, slug: str, activity_id: str, pinned: bool, now: dt.datetime) -> dict[str, Any]:
    """Add (pin) or Remove (unpin) of a talk to the archive's featured collection: Mastodon pins or unpins it
    live when ``target`` is the actor's ``featured`` and the talk is one of the actor's own posts."""
    archive = urls.actor(ARCHIVE)
    return {"@context": [AS], "id": activity_id, "type": "Add" if pinned else "Remove", "actor": archive,
            "published": iso(now), "to": [PUBLIC], "cc": followers_of(urls, archive), "object": urls.talk(slug),
            "target": urls.featured(ARCHIVE)}


# quotes (FEP-044f) --------------------------------------------------------------------------------

FEP_044F = "https://w3id.org/fep/044f#"
QUOTE_CONTEXT: list[Any] = [AS, {
    "QuoteRequest": f"{FEP_044F}QuoteRequest",
    "QuoteAuthorization": f"{FEP_044F}QuoteAuthorization",
    "gts": "https://gotosocial.org/ns#",
    "interactingObject": {"@id": "gts:interactingObject", "@type": "@id"},
    "interactionTarget": {"@id": "gts:interactionTarget", "@type": "@id"},
}]
"""The terms of QuoteRequest, its Accept and the QuoteAuthorization, as Mastodon declares them."""


def quote_authorization(urls: Urls, quote_id: str, slug: str, quoting: str) -> dict[str, Any]:
    """The stamp a quoting post points to: Mastodon checks that it is a QuoteAuthorization on the talk's host,
    ``attributedTo`` the talk's author (the archive), naming the quoting post and the talk."""
    return {"@context": QUOTE_CONTEXT, "id": quote_id, "type": "QuoteAuthorization",
            "attributedTo": urls.actor(ARCHIVE), "interactingObject": quoting, "interactionTarget": urls.talk(slug)}


def accept_quote(urls: Urls, activity_id: str, request: dict[str, Any], quote_id: str) -> dict[str, Any]:
    """Accept{QuoteRequest}: Mastodon matches it by the request's id (or its object and instrument) and keeps
    ``result`` as the quote's authorization."""
    requester = request["actor"]
    inner = {k: request[k] for k in ("id", "type", "actor", "object", "instrument") if k in request}
    return {"@context": QUOTE_CONTEXT, "id": activity_id, "type": "Accept", "actor": urls.actor(ARCHIVE),
            "to": [requester], "object": inner, "result": quote_id}


def revoked_quote(quote_id: str, revoked: dt.datetime) -> dict[str, Any]:
    """What a revoked authorization's URI answers (with 410)."""
    return {"@context": [AS], "id": quote_id, "type": "Tombstone", "formerType": "QuoteAuthorization",
            "deleted": iso(revoked)}


# collections --------------------------------------------------------------------------------------

def ordered_collection(id: str, total: int, first: str | None = None, last: str | None = None) -> dict[str, Any]:
    doc: dict[str, Any] = {"@context": [AS], "id": id, "type": "OrderedCollection", "totalItems": total}
    if first is not None:
        doc["first"] = first
    if last is not None:
        doc["last"] = last
    return doc


def ordered_page(id: str, part_of: str, items: Sequence[Any], next: str | None = None, prev: str | None = None,
                 start_index: int | None = None, total: int | None = None) -> dict[str, Any]:
    doc: dict[str, Any] = {"@context": [AS], "id": id, "type": "OrderedCollectionPage", "partOf": part_of}
    if total is not None:
        doc["totalItems"] = total
    if start_index is not None:
        doc["startIndex"] = start_index
    if prev is not None:
        doc["prev"] = prev
    if next is not None:
        doc["next"] = next
    doc["orderedItems"] = [embed(i) if isinstance(i, dict) else i for i in items]
    return doc


def last_page(total: int, page_size: int) -> int:
    """Pages are numbered from 1; an empty collection still has (an empty) page 1."""
    return max(1, math.ceil(total / page_size))


def outbox(urls: Urls, role: str, total: int, page_size: int) -> dict[str, Any]:
    return ordered_collection(urls.outbox(role), total, first=urls.outbox_page(role, 1),
                              last=urls.outbox_page(role, last_page(total, page_size)))


def outbox_page(urls: Urls, role: str, page: int, items: Sequence[Any], total: int,
                page_size: int) -> dict[str, Any]:
    """Page ``page`` of the outbox, newest first (the caller orders ``items``)."""
    return _page(urls.outbox_page, urls.outbox(role), role, page, items, total, page_size)


def followers(urls: Urls, role: str, total: int, page_size: int, show_items: bool) -> dict[str, Any]:
    """With the list hidden, only the count is shown, as Mastodon does (no ``first``: the list is private)."""
    if not show_items:
        return ordered_collection(urls.followers(role), total)
    return ordered_collection(urls.followers(role), total, first=urls.followers_page(role, 1),
                              last=urls.followers_page(role, last_page(total, page_size)))


def followers_page(urls: Urls, role: str, page: int, items: Sequence[str], total: int,
                   page_size: int) -> dict[str, Any]:
    return _page(urls.followers_page, urls.followers(role), role, page, items, total, page_size)


def _page(page_url: Any, part_of: str, role: str, page: int, items: Sequence[Any], total: int,
          page_size: int) -> dict[str, Any]:
    last = last_page(total, page_size)
    return ordered_page(page_url(role, page), part_of, items,
                        next=page_url(role, page + 1) if page < last else None,
                        prev=page_url(role, page - 1) if page > 1 else None,
                        start_index=(page - 1) * page_size, total=total)


def replies_collection(urls: Urls, slug: str, reply_ids: Sequence[str], page: int | None,
                       page_size: int) -> dict[str, Any]:
    """A talk's approved replies: the Collection (page None) or one of its CollectionPages, oldest first."""
    total = len(reply_ids)
    if page is None:
        return {"@context": [AS], "id": urls.replies(slug), "type": "Collection", "totalItems": total,
                "first": urls.replies_page(slug, 1)}
    items = list(reply_ids[(page - 1) * page_size: page * page_size])
    doc: dict[str, Any] = {"@context": [AS], "id": urls.replies_page(slug, page), "type": "CollectionPage",
                           "partOf": urls.replies(slug), "items": items}
    if page * page_size < total:
        doc["next"] = urls.replies_page(slug, page + 1)
    return doc


def following(urls: Urls, role: str) -> dict[str, Any]:
    """The archive follows no one."""
    return {**ordered_collection(urls.following(role), 0), "orderedItems": []}


def featured(urls: Urls, role: str, items: Sequence[Any] = ()) -> dict[str, Any]:
    """Pinned posts, all of them in the collection itself: Mastodon reads only its first page, takes the
    items as URIs and fetches those it does not know. Empty unless ``items`` are given."""
    return {**ordered_collection(urls.featured(role), len(items)),
            "orderedItems": [embed(i) if isinstance(i, dict) else i for i in items]}
