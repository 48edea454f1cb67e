"""The HTTP side of the inboxes: ``POST /actors/{username}/inbox`` and the shared ``POST /inbox``.

In order, each check answering with its own status (JSON ``{"error": …}``, never a 500):
405 anything but POST · 415 not an ActivityStreams content type · 413 body over 1 MiB (Content-Length checked before
reading, then counted while reading) · 400 not a JSON object, or no ActivityStreams ``@context`` · 202 at once for a
Delete of an unknown actor by itself (no key fetch, as Mastodon does: docs/receivers.md, Mastodon: signatures) ·
401/403 signature (``verify``) · 400 shape (``schemas/incoming.json``, naming the first bad field) · 401 the activity's
``actor`` is not the signer · 403 its id is on another server · 202 for a replayed id, changing nothing · then the
handler (``ctx.dispatcher``), the id recorded, and 202 ``{}``. Under a flood the checks up to authorship still answer,
but the rest (replay, handler) runs later in the job worker (``jobs.Pressure``).

A POST may carry a Collection of activities (PeerTube does): every item is checked first, so one bad item
refuses the whole POST and nothing of it is applied; then each item is handled in order.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from aiohttp import web

from . import inbox, schemas
from .context import CTX, Context
from .errors import ActivityError, SignatureError
from .routes import Router, role_of
from .urls import same_origin
from .verify import VERIFIER, Signer, check_actor

log = logging.getLogger(__name__)

BODY_CAP = 1024 * 1024
"""Largest inbox POST read (Mastodon's limit for JSON documents too)."""
COLLECTION_CAP = 100
"""Most activities handled from one POST."""
CONTENT_TYPES = ("application/activity+json", "application/ld+json")
AS = "https://www.w3.org/ns/activitystreams"
COLLECTIONS = ("Collection", "OrderedCollection", "CollectionPage", "OrderedCollectionPage")
ACCEPTED = {"Content-Type": "application/json"}


def setup(app: web.Application) -> None:
    r = Router(app)
    r.add_route("*", "/actors/{username}/inbox", personal_inbox)
    r.add_route("*", "/inbox", shared_inbox)


async def personal_inbox(request: web.Request) -> web.Response:
    _only_post(request)
    role_of(request)  # 404 for an unknown actor
    return await receive(request)


async def shared_inbox(request: web.Request) -> web.Response:
    _only_post(request)
    return await receive(request)


def _only_post(request: web.Request) -> None:
    if request.method != "POST":
        raise web.HTTPMethodNotAllowed(request.method, ["POST"])


async def receive(request: web.Request) -> web.Response:
    ctx: Context = request.app[CTX]
    with ctx.pressure.receiving():
        return await _receive(request, ctx)


async def _receive(request: web.Request, ctx: Context) -> web.Response:
    if request.content_type not in CONTENT_TYPES:
        raise ActivityError(f"Content-Type must be application/activity+json or application/ld+json, not "
                            f"{request.headers.get('Content-Type', '(none)')[:80]!r}", 415)
    body = await read_body(request)
    document = parse(body)
    verifier = request.app[VERIFIER]
    if await verifier.should_skip_unknown_delete(document):
        log.debug("Delete of unknown actor %s: 202 without fetching its key", document.get("actor"))
        return accepted()
    backlog = ctx.backlog if ctx.pressure.should_defer() else None
    try:
        signer = await verifier.verify(request, body, store_blocks=backlog is None)
    except SignatureError:
        if await _deleted_and_gone(ctx, document):
            return accepted()
        raise
    activities = items(document)
    for path, activity in activities:
        check(ctx, signer, path, activity)
    now = ctx.clock()
    if backlog is not None:
        payload = {"activities": [a for _, a in activities], "received": now.isoformat(),
                   "signer": {"actor_id": signer.actor_id, "key_id": signer.key_id, "host": signer.host}}
        if not await backlog.add(signer.actor_id, payload, now):
            raise SignatureError(f"{signer.host} is blocked", 403)
        return accepted()
    inb = inbox.Inbound(ctx.config, ctx.urls, ctx.store, now, signer, ctx.dispatcher)
    for _, activity in activities:
        await inbox.process(inb, activity)
    return accepted()


def accepted() -> web.Response:
    return web.Response(status=202, body=b"{}", headers=ACCEPTED)


async def read_body(request: web.Request) -> bytes:
    """The body, refused with 413 past ``BODY_CAP`` without reading the rest."""
    length = request.content_length
    if length is not None and length > BODY_CAP:
        raise ActivityError(f"the body is {length} bytes, over the {BODY_CAP}-byte limit", 413)
    if length is not None:  # the parser delivers exactly that many bytes: one read, not a chunk loop
        return await request.read()
    chunks, size = [], 0
    async for chunk in request.content.iter_chunked(64 * 1024):
        size += len(chunk)
        if size > BODY_CAP:
            raise ActivityError(f"the body is over the {BODY_CAP}-byte limit", 413)
        chunks.append(chunk)
    return b"".join(chunks)


def parse(body: bytes) -> dict[str, Any]:
    try:
        document = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise ActivityError("the body is not valid JSON") from None
    except RecursionError:  # 100,000 nested brackets fit in 200 KB; Python's parser gives up (not a ValueError)
        raise ActivityError("the body is nested too deeply") from None
    if not isinstance(document, dict):
        raise ActivityError("the body is not a JSON object")
    context = document.get("@context")
    if not (context == AS or (isinstance(context, list) and AS in context)):
        raise ActivityError(f"@context must be or contain {AS}")
    return document


def items(document: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """(path for messages, activity): the document itself, or the embedded activities of a Collection."""
    if document.get("type") not in COLLECTIONS:
        return [("", document)]
    key = "orderedItems" if "orderedItems" in document else "items"
    listed = document.get(key)
    if not isinstance(listed, list):
        raise ActivityError(f"{key} must be a list of activities")
    if len(listed) > COLLECTION_CAP:
        raise ActivityError(f"{key} holds {len(listed)} activities; at most {COLLECTION_CAP} per POST", 413)
    found = []
    for index, item in enumerate(listed):
        if not isinstance(item, dict):
            raise ActivityError(f"{key}[{index}] must be an embedded activity, not a link")
        found.append((f"{key}[{index}]", item))
    return found


def check(ctx: Context, signer: Signer, path: str, activity: dict[str, Any]) -> None:
    """Shape, then authorship: the signer's own activity, with an id on the signer's server."""
    problem = schemas.first_error("incoming", activity)
    if problem:
        # schemas.describe speaks TOML ("a table"); an inbox speaks JSON
        problem = problem.replace("a table", "an object")
        raise ActivityError(f"{path}: {problem}" if path else problem)
    check_actor(signer, activity)
    activity_id = inbox.ref_id(activity)
    if activity_id is not None and not same_origin(activity_id, signer.actor_id):
        raise ActivityError(f"{path + ': ' if path else ''}id is not on the server of its actor", 403)


async def _deleted_and_gone(ctx: Context, document: dict[str, Any]) -> bool:
    """A Delete of an actor by itself whose signature cannot be checked because its server already answers
    404/410 for it: the origin itself says it is gone, so forget it (else it would stay a follower for ever)."""
    if document.get("type") != "Delete":
        return False
    actor = inbox.ref_id(document.get("actor"))
    if actor is None or actor != inbox.ref_id(document.get("object")) or not await ctx.store.is_gone(actor):
        return False
    removed = await ctx.store.remove_actor(actor)
    log.info("%s is gone (its server says so); removed %s", actor, removed)
    return True
