"""Quotes of our talks (FEP-044f, as Mastodon 4.5+ does them): a QuoteRequest is answered with an Accept whose
``result`` is a QuoteAuthorization fedi serves; deleting the quoting post revokes it.

Every talk says ``canQuote.automaticApproval: Public`` (``talk_objects.quotable``), so every honest request is
granted. ``on_quote_request`` (an ``inbox`` handler) checks what it can at once, each refusal with its status:

- ``object`` is not one of our live talks: 400.
- ``instrument`` (the quoting post, embedded or by id) has its id on another server than the signer: 403.
- an embedded ``instrument`` is attributed to someone else than the signer: 403; it does not quote the talk
  (``quote``, ``quoteUrl``, ``quoteUri`` or ``_misskey_quote``): 400.

The rest is a durable job (``grant``): the requester's actor document (for its inbox), and for an instrument
given by id a signed GET of the post, which must be the signer's and quote the talk (else the job fails, and
nothing is granted). Then the authorization, the Accept and its delivery row to the requester's inbox are
stored in one transaction; the delivery worker signs and sends the Accept. The authorization's URI
(``/talks/{slug}/quotes/{token}``) is derived from the talk and the quoting post, so a repeated request grants
the same one; the Accept's id is derived from the request's id.

``revoke_on_delete`` (in ``dispatcher()``, for Deletes): a Delete of a post by its author revokes the post's
authorizations; their URI then answers 410 with a Tombstone. ``Delete{actor}`` removes them
(``store.remove_actor``), and the URI answers 404.
"""

from __future__ import annotations

import hashlib
import logging
from typing import Any

from . import inbox, interactions, objects
from .errors import ActivityError, RemoteError
from .inbox import Activity, Inbound, ref_id
from .jobs import JobWorker, Permanent
from .store import NewDelivery, OutActivity, Quote
from .urls import ARCHIVE, Urls, authority, same_origin

log = logging.getLogger(__name__)

GRANT = "quote"
"""Job kind: fetch what a QuoteRequest needs, then store the authorization and queue the Accept (payload:
request, slug, author, quoting, checked)."""
QUOTE_KEYS = ("quote", "quoteUrl", "quoteUri", "_misskey_quote")
"""Where a post names the post it quotes (FEP-044f, ActivityStreams' proposal, Fedibird, Misskey)."""
POST_TYPES = ("", "Tombstone", "Note", "Article", "Page", "Question")
"""Delete{…} object types that may be a quoting post ("" for a bare id)."""


# reading the request ----------------------------------------------------------------------------------------------

def quotes(post: dict[str, Any], target: str) -> bool:
    """Whether ``post`` says it quotes ``target``."""
    return any(ref_id(post.get(key)) == target for key in QUOTE_KEYS)


def author(post: dict[str, Any]) -> str | None:
    """The post's first ``attributedTo`` (Mastodon files a post under it)."""
    attributed = post.get("attributedTo")
    if isinstance(attributed, list):
        attributed = attributed[0] if attributed else None
    return ref_id(attributed)


def check_post(post: dict[str, Any], signer: str, talk: str) -> None:
    """The quoting post must be the signer's own and quote ``talk`` (ActivityError 403 / 400 otherwise)."""
    if author(post) != signer:
        raise ActivityError("QuoteRequest: the instrument's attributedTo is not the actor of the request", 403)
    if not quotes(post, talk):
        raise ActivityError("QuoteRequest: the instrument does not quote the object")


def token(*parts: str) -> str:
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:32]


def quote_id(urls: Urls, slug: str, quoting: str) -> str:
    """The same talk quoted by the same post always gets the same authorization."""
    return urls.quote_authorization(slug, token(slug, quoting))


# handlers ---------------------------------------------------------------------------------------------------------

async def on_quote_request(inb: Inbound, activity: Activity) -> None:
    """QuoteRequest of one of our talks: checked here (400/403), granted by the ``quote`` job."""
    target = ref_id(activity.get("object")) or ""
    slug = inb.urls.talk_slug(target)
    record = await inb.store.talk_json(slug) if slug else None
    if slug is None or record is None or record.deleted:
        raise ActivityError("QuoteRequest: object is not one of our talks")
    instrument = activity.get("instrument")
    quoting = ref_id(instrument)
    if quoting is None:
        raise ActivityError("QuoteRequest: instrument (the quoting post) is missing")
    if not same_origin(quoting, inb.signer.actor_id):
        raise ActivityError("QuoteRequest: the instrument is on another server than the actor", 403)
    embedded = isinstance(instrument, dict) and len(instrument) > 1
    if embedded:
        check_post(instrument, inb.signer.actor_id, target)
    request = {"id": ref_id(activity), "type": "QuoteRequest", "actor": inb.signer.actor_id, "object": target,
               "instrument": quoting}
    await inb.later(GRANT, {"request": request, "slug": slug, "author": inb.signer.actor_id, "quoting": quoting,
                            "checked": embedded})


async def revoke_on_delete(inb: Inbound, activity: Activity) -> None:
    """Delete of a post by its author: the authorizations to quote our talks it held are revoked."""
    post = ref_id(activity.get("object"))
    if post and (count := await inb.store.revoke_quotes(post, inb.signer.actor_id, inb.now)):
        log.info("revoked %d quote authorization(s) of %s: deleted by its author", count, post)


# the job ----------------------------------------------------------------------------------------------------------

async def grant(worker: JobWorker, payload: dict[str, Any]) -> None:
    """Job ``quote``: the requester's inbox, the post when only its id came, then the authorization and Accept."""
    urls, store = worker.urls, worker.store
    request, slug, requester, quoting = payload["request"], payload["slug"], payload["author"], payload["quoting"]
    actor = await worker.remote_actor(requester)
    if not payload.get("checked"):
        try:
            post = await worker.client.get_json(quoting)
        except RemoteError as exc:
            if exc.status is not None and 400 <= exc.status < 500 and exc.status not in (401, 408, 429):
                raise Permanent(f"quoting post {quoting}: {exc}") from None
            raise
        try:
            check_post(post, requester, urls.talk(slug))
        except ActivityError as exc:
            raise Permanent(f"{quoting}: {exc.reason}") from None
    record = await store.talk(slug)
    if record is None or record.deleted is not None:
        raise Permanent(f"talk {slug} was removed before its quote could be authorized")
    qid = quote_id(urls, slug, quoting)
    existing = await store.quote(qid)
    if existing is not None and existing.revoked is not None:
        log.info("ignored a QuoteRequest of %s: its authorization was revoked (the post was deleted)", quoting)
        return
    now = worker.clock()
    accept_id = urls.quote_accept(token(request.get("id") or "", requester, quoting))
    accept = objects.accept_quote(urls, accept_id, request, qid)
    if await store.add_quote(Quote(id=qid, slug=slug, quoting=quoting, author=requester, request_id=request.get("id"),
                                   created=now),
                             OutActivity(id=accept_id, actor_role=ARCHIVE, type="Accept", slug=slug, document=accept,
                                         published=now),
                             NewDelivery(activity_id=accept_id, inbox=actor.inbox, host=authority(actor.inbox),
                                         actor_role=ARCHIVE, due=now)):
        log.info("%s may quote %s (%s)", quoting, slug, qid)


# wiring -------------------------------------------------------------------------------------------------------

def dispatcher() -> inbox.Dispatcher:
    """fedi's whole dispatcher: ``interactions.dispatcher()`` (inbox's handlers, replies, likes, boosts) with the
    quote requests and the ``quote`` job; ``app`` builds it once."""
    return interactions.dispatcher().extended(
        handlers={"QuoteRequest": on_quote_request},
        delete={kind: (revoke_on_delete,) for kind in POST_TYPES},
        job_kinds={GRANT: grant})
