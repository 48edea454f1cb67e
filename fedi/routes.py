"""Thin aiohttp handlers: discovery, actors, collections, talks and activities, media; errors as JSON or HTML.

Every document comes from the pure builders (``objects``, ``discovery``) or from the store, serialized once.
"""

from __future__ import annotations

import logging
import mimetypes
import re
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from aiohttp import web

from . import discovery, objects, webvtt
from .context import CTX, Context, dumps
from .errors import ActivityError, SignatureError, StoreError
from .negotiation import AS2, JRD, wants_as2
from .pages import Reply
from .store import Comment, TalkStamp
from .talk_objects import media_urls, with_counts
from .talks import Talk, safe_relpath
from .urls import ARCHIVE, OWNER
from .verify import authorize_fetch, fetch_needs_check

log = logging.getLogger(__name__)

VARY = {"Vary": "Accept"}
RETRY_AFTER = 60
"""Seconds a sender is asked to wait when the store cannot take a write (a full disk, a read-only file)."""
CORS = {"Access-Control-Allow-Origin": "*"}
mimetypes.add_type("video/webm", ".webm")
mimetypes.add_type("image/webp", ".webp")
mimetypes.add_type("text/javascript", ".js")
mimetypes.add_type("text/vtt", ".vtt")


def setup(app: web.Application) -> None:
    r = Router(app)
    r.add_get("/", profile_page)
    r.add_get("/.well-known/webfinger", webfinger)
    r.add_get("/.well-known/host-meta", host_meta)
    r.add_get("/.well-known/nodeinfo", nodeinfo_index)
    r.add_get("/nodeinfo/{version:2\\.[01]}", nodeinfo)
    r.add_get("/actors/{username}", actor)
    r.add_get("/actors/{username}/outbox", outbox)
    r.add_get("/actors/{username}/followers", followers)
    r.add_get("/actors/{username}/following", following)
    r.add_get("/actors/{username}/featured", featured)
    r.add_get("/talks/{slug}", talk)
    r.add_get("/talks/{slug}/embed", talk_embed)
    r.add_get("/oembed", oembed)
    r.add_get("/talks/{slug}/create", talk_create)
    r.add_get("/talks/{slug}/announce", talk_announce)
    r.add_get("/talks/{slug}/replies", talk_replies)
    r.add_get("/talks/{slug}/{kind:likes|dislikes|shares}", talk_reactions)
    r.add_get("/talks/{slug}/quotes/{token}", quote_authorization)
    r.add_get("/talks/{slug}/captions/{language:[A-Za-z0-9-]+}.{tag:[0-9a-f]{1,64}}.vtt", caption_file)
    r.add_get("/talks/{slug}/chapters/{tag:[0-9a-f]{1,64}}.vtt", chapters_track)
    r.add_get("/talks/{slug}/chapters/{tag:[0-9a-f]{1,64}}", chapters)
    r.add_get("/talks/{slug}/transcript/{language:[A-Za-z0-9-]+}", transcript)
    r.add_get("/talks/{slug}/updates/{version:\\d+}", stored_activity)
    r.add_get("/talks/{slug}/delete", stored_activity)
    r.add_get("/activities/{token}", stored_activity)
    r.add_get("/media/{path:.+}", media)
    r.add_get("/static/{name}", static)


# helpers -----------------------------------------------------------------------

def ctx_of(request: web.Request) -> Context:
    return request.app[CTX]


def as2(body: bytes, status: int = 200) -> web.Response:
    return web.Response(body=body, status=status, content_type=AS2, headers=VARY)


def html(text: str, status: int = 200) -> web.Response:
    return web.Response(text=text, status=status, content_type="text/html", charset="utf-8", headers=VARY)


def json_error(status: int, reason: str) -> web.Response:
    return web.Response(body=dumps({"error": reason}), status=status, content_type="application/json",
                        headers=VARY)


def role_of(request: web.Request) -> str:
    """The local actor named in the path, or 404."""
    ctx = ctx_of(request)
    username = request.match_info["username"]
    for role in (ARCHIVE, OWNER):
        if ctx.urls.username(role) == username:
            return role
    raise web.HTTPNotFound(reason="no such actor")


def page_number(request: web.Request) -> int | None:
    raw = request.query.get("page")
    if raw is None:
        return None
    if not raw.isdigit() or int(raw) < 1 or len(raw) > 9:
        raise ActivityError("page must be a positive integer")
    return int(raw)


def within(page: int, total: int, size: int) -> int:
    """``page`` when the collection has it, else 404: no client-chosen page number past the end is built,
    served or cached (an empty collection still has its empty page 1)."""
    if page > objects.last_page(total, size):
        raise web.HTTPNotFound(reason="no such page")
    return page


# discovery ---------------------------------------------------------------------

async def webfinger(request: web.Request) -> web.Response:
    ctx = ctx_of(request)
    resource = request.query.get("resource")
    if not resource:
        return web.Response(body=dumps({"error": "resource is missing"}), status=400,
                            content_type="application/json", headers=CORS)
    try:
        role = discovery.parse_resource(resource, ctx.urls)
    except ValueError as exc:
        return web.Response(body=dumps({"error": str(exc)}), status=400, content_type="application/json",
                            headers=CORS)
    if role is None:
        return web.Response(body=dumps({"error": "no such account"}), status=404,
                            content_type="application/json", headers=CORS)
    body = ctx.cached(("webfinger", role), lambda: discovery.webfinger(ctx.urls, role))
    return web.Response(body=body, content_type=JRD, headers=CORS)


async def host_meta(request: web.Request) -> web.Response:
    ctx = ctx_of(request)
    return web.Response(text=discovery.host_meta(ctx.urls), content_type="application/xrd+xml", headers=CORS)


async def nodeinfo_index(request: web.Request) -> web.Response:
    ctx = ctx_of(request)
    return web.Response(body=dumps(discovery.nodeinfo_index(ctx.urls)), content_type="application/json",
                        headers=CORS)


async def nodeinfo(request: web.Request) -> web.Response:
    ctx = ctx_of(request)
    version = request.match_info["version"]
    doc = discovery.nodeinfo(version, local_posts=await ctx.store.count_live_talks(),
                             name=ctx.config.actor.name, description=ctx.config.actor.summary)
    profile = f"http://nodeinfo.diaspora.software/ns/schema/{version}#"
    return web.Response(body=dumps(doc), headers={**CORS, "Content-Type": f'application/json; profile="{profile}"'})


# actors and collections ----------------------------------------------------------

async def profile_page(request: web.Request) -> web.Response:
    ctx = ctx_of(request)
    if wants_as2(request.headers.get("Accept")):
        raise web.HTTPFound(ctx.urls.actor(ARCHIVE), headers=VARY)
    return html(await _profile_html(ctx))


async def _profile_html(ctx: Context) -> str:
    records = await ctx.store.talks()
    entries = await ctx.entries()
    rows = [(entries.get(rec.slug), rec) for rec in records]
    return ctx.pages.profile(rows, await ctx.store.count_followers(ARCHIVE))


async def actor(request: web.Request) -> web.Response:
    ctx = ctx_of(request)
    role = role_of(request)
    if wants_as2(request.headers.get("Accept")):
        return as2(ctx.cached(("actor", role), lambda: objects.actor(
            ctx.config, ctx.urls, role, ctx.keys[role].public_pem, published=ctx.started)))
    if role == ARCHIVE:
        return html(await _profile_html(ctx))
    return html(ctx.pages.owner())


async def outbox(request: web.Request) -> web.Response:
    ctx = ctx_of(request)
    role = role_of(request)
    page = page_number(request)
    size = ctx.config.archive.page_size
    if page is None:
        total = await ctx.store.count_live_talks()
        return as2(await _live(ctx, "outbox", role, (total,),
                               lambda: _built(objects.outbox(ctx.urls, role, total, size))))
    key = ("outbox-page", role, page)
    kept = await ctx.unchanged(key)
    if kept is not None:
        return as2(kept)
    version = await ctx.store.data_version()
    # the page's talks with their versions and live counts (one query): the page is rebuilt only when one changed
    total, stamps = await ctx.store.live_talk_stamps((page - 1) * size, size)
    within(page, total, size)

    async def build() -> bytes:
        records = await ctx.store.live_talks((page - 1) * size, size)
        counts = {s.slug: _counts_of(s) for s in stamps}
        if role == ARCHIVE:  # the embedded objects are the ones served at their ids, live counts included
            items = [objects.create(ctx.urls, with_counts(rec.object, *counts.get(rec.slug, (0, 0, 0))),
                                    ctx.urls.actor(ARCHIVE)) for rec in records]
        else:
            items = [objects.announce(ctx.urls, rec.slug, ctx.urls.actor(OWNER), rec.published) for rec in records]
        return dumps(objects.outbox_page(ctx.urls, role, page, items, total, size))
    return as2(ctx.remember(key, version, await _live(ctx, "outbox-page", f"{role}:{page}", (total, *stamps), build)))


async def followers(request: web.Request) -> web.Response:
    ctx = ctx_of(request)
    role = role_of(request)
    page = page_number(request)
    size = ctx.config.archive.page_size
    total = await ctx.store.count_followers(role)
    show = ctx.config.actor.show_followers
    if page is None or not show:
        return as2(dumps(objects.followers(ctx.urls, role, total, size, show)))
    within(page, total, size)
    rows = await ctx.store.followers(role, state="accepted", offset=(page - 1) * size, limit=size)
    items = [f.actor_id for f in rows]
    return as2(dumps(objects.followers_page(ctx.urls, role, page, items, total, size)))


async def following(request: web.Request) -> web.Response:
    ctx = ctx_of(request)
    role = role_of(request)
    return as2(ctx.cached(("following", role), lambda: objects.following(ctx.urls, role)))


async def featured(request: web.Request) -> web.Response:
    """The archive's pinned talks (the owner pins nothing), read from the store: ``fedi sync`` may pin one from
    another process, so the document is rebuilt whenever the store changed."""
    ctx = ctx_of(request)
    role = role_of(request)
    if role != ARCHIVE:
        return as2(ctx.cached(("featured", role), lambda: objects.featured(ctx.urls, role)))
    key = ("featured", role)
    kept = await ctx.unchanged(key)
    if kept is not None:
        return as2(kept)
    version = await ctx.store.data_version()
    items = [ctx.urls.talk(slug) for slug in await ctx.store.featured()]
    return as2(ctx.remember(key, version, dumps(objects.featured(ctx.urls, role, items))))


# talks ---------------------------------------------------------------------------

async def _record(request: web.Request):  # -> TalkRecord
    ctx = ctx_of(request)
    rec = await ctx.store.talk(request.match_info["slug"])
    if rec is None:
        raise web.HTTPNotFound(reason="no such talk")
    return rec


async def talk(request: web.Request) -> web.Response:
    """The talk's object (AS2) or its page (HTML), each served from cached bytes while the talk's version and
    counts (``store.talk_stamp``, one query) and, for the page, its approved replies are unchanged."""
    ctx = ctx_of(request)
    want = wants_as2(request.headers.get("Accept"))
    key = ("talk" if want else "talk-page", request.match_info["slug"])
    kept = await ctx.unchanged(key)  # nothing written to the store since it was built: no store read at all
    if kept is not None:
        return as2(kept) if want else _page(kept)
    version = await ctx.store.data_version()
    stamp = await _stamp(request)
    if stamp.deleted:
        rec = await _record(request)
        if rec.deleted is not None:
            if want:
                return as2(dumps(objects.tombstone(ctx.urls, rec.slug, rec.published, rec.deleted)), status=410)
            return html(ctx.pages.removed(rec.slug, rec.deleted), status=410)
    slug, counts = stamp.slug, _counts_of(stamp)
    if want:
        async def build_object() -> bytes:
            rec = await _record(request)
            return dumps(_with_context(with_counts(rec.object, *counts)))
        return as2(ctx.remember(key, version, await _live(ctx, "talk", slug, (stamp.version, *counts), build_object)))
    current = (await ctx.entries()).get(slug)
    if current is None:
        raise web.HTTPNotFound(reason="no such talk")
    approved = await ctx.store.comments(slug, state="approved")  # pending and hidden ones never show

    async def build_page() -> bytes:
        rec = await _record(request)
        return ctx.pages.talk(current, rec.published, rec.updated, [_reply(c) for c in approved],
                              likes=stamp.likes, shares=stamp.shares).encode()
    page = await _live(ctx, "talk-page", slug, (stamp.version, stamp.likes, stamp.shares, *approved), build_page)
    return _page(ctx.remember(key, version, page))


def _page(body: bytes) -> web.Response:
    return web.Response(body=body, content_type="text/html", charset="utf-8", headers=VARY)


def _with_context(obj: dict) -> dict:
    return {"@context": objects.CONTEXT, **obj} if "@context" not in obj else obj


def _reply(comment: Comment) -> Reply:
    """A stored (already sanitized) reply as the talk page shows it; a missing name falls back to the handle,
    then to the actor id."""
    c = comment
    return Reply(id=c.id, parent_id=c.parent_id, author_name=c.author_name or c.author_handle or c.author_id,
                 author_handle=c.author_handle or "", author_url=c.author_url or c.author_id, published=c.published,
                 content_html=c.content_html, author_avatar=c.author_avatar, url=c.url)


async def _stamp(request: web.Request) -> TalkStamp:
    stamp = await ctx_of(request).store.talk_stamp(request.match_info["slug"])
    if stamp is None:
        raise web.HTTPNotFound(reason="no such talk")
    return stamp


def _counts_of(stamp: TalkStamp) -> tuple[int, int, int]:
    """(approved replies, likes, boosts), read from the store at each request: replies are approved by the CLI,
    in another process, so no in-memory copy of them could be trusted."""
    return stamp.replies, stamp.likes, stamp.shares


async def _built(document: Any) -> bytes:
    return dumps(document)


async def _live(ctx: Context, kind: str, name: str, stamp: tuple[Any, ...],
                build: Callable[[], Awaitable[bytes]]) -> bytes:
    """The cached bytes of a document that changes with ``stamp`` (a talk's version and live counts…): one
    entry per (kind, name), rebuilt when the stamp differs (a key per count would grow the cache with every
    like). Cleared with the rest of the cache at each sync."""
    tag = repr(stamp).encode()
    stamp_key = (f"{kind}-stamp", name)
    old = ctx.cache.get(stamp_key)
    if old == tag:
        body = ctx.cache.get((kind, name, old))
        if body is not None:
            return body
    elif old is not None:
        ctx.cache.pop((kind, name, old), None)
    body = await build()
    ctx.cache[stamp_key] = tag
    ctx.cache[(kind, name, tag)] = body
    return body


async def talk_embed(request: web.Request) -> web.Response:
    """The bare player of a live talk, for other sites' frames (no X-Frame-Options: it is made to be framed)."""
    ctx = ctx_of(request)
    stamp = await _stamp(request)
    if stamp.deleted:
        rec = await _record(request)
        return html(ctx.pages.removed(rec.slug, rec.deleted), status=410)
    current = (await ctx.entries()).get(stamp.slug)
    if current is None:
        raise web.HTTPNotFound(reason="no such talk")
    key = ("embed", stamp.slug)  # the cache is cleared at each sync, when an entry may have changed
    body = ctx.cache.get(key)
    if body is None:
        body = ctx.cache[key] = ctx.pages.embed(current).encode()
    return _page(body)


async def oembed(request: web.Request) -> web.Response:
    """oEmbed for our live talk pages (``?url=<talk page>&format=json``): a ``video`` whose html frames the
    embed page. Another URL gets 404, a format other than json 501 (as the oEmbed spec says)."""
    ctx = ctx_of(request)
    if request.query.get("format", "json") != "json":
        return json_error(501, "only format=json is available")
    url = request.query.get("url")
    if not url:
        return json_error(400, "url is missing")
    sizes = [request.query.get(k) for k in ("maxwidth", "maxheight")]
    if any(v is not None and (not v.isdigit() or len(v) > 6 or int(v) < 1) for v in sizes):
        return json_error(400, "maxwidth and maxheight must be positive integers")
    slug = ctx.urls.talk_slug(url)
    stamp = await ctx.store.talk_stamp(slug) if slug else None
    current = (await ctx.entries()).get(slug) if slug else None
    if stamp is None or stamp.deleted or current is None:
        return json_error(404, "not a talk of this archive")
    width, height = (int(v) if v else None for v in sizes)
    doc = discovery.oembed(ctx.config, ctx.urls, current, width, height)
    return web.Response(body=dumps(doc), content_type="application/json",
                        headers={**CORS, "Cache-Control": "public, max-age=300"})


async def talk_create(request: web.Request) -> web.Response:
    ctx = ctx_of(request)
    stamp = await _stamp(request)
    if stamp.deleted:
        raise web.HTTPGone(reason="talk removed")
    counts = _counts_of(stamp)

    async def build() -> bytes:
        rec = await _record(request)
        return dumps(objects.create(ctx.urls, with_counts(rec.object, *counts), ctx.urls.actor(ARCHIVE)))
    return as2(await _live(ctx, "create", stamp.slug, (stamp.version, *counts), build))


async def talk_announce(request: web.Request) -> web.Response:
    ctx = ctx_of(request)
    rec = await _record(request)
    if rec.deleted is not None:
        raise web.HTTPGone(reason="talk removed")
    return as2(dumps(objects.announce(ctx.urls, rec.slug, ctx.urls.actor(OWNER), rec.published)))


async def talk_replies(request: web.Request) -> web.Response:
    """Approved replies only (pending and hidden ones are never exposed), paged like every collection."""
    ctx = ctx_of(request)
    rec = await _record(request)
    page = page_number(request)
    approved = await ctx.store.comments(rec.slug, state="approved")
    size = ctx.config.archive.page_size
    if page is not None:
        within(page, len(approved), size)
    doc = objects.replies_collection(ctx.urls, rec.slug, [c.id for c in approved], page, size)
    return as2(dumps(doc))


async def talk_reactions(request: web.Request) -> web.Response:
    """Counts that PeerTube fetches by URL (likes, dislikes, shares); the actors behind them stay private."""
    ctx = ctx_of(request)
    rec = await _record(request)
    kind = request.match_info["kind"]
    counts = await ctx.store.reaction_counts(rec.slug)
    total = {"likes": counts.likes, "shares": counts.shares}.get(kind, 0)
    url = {"likes": ctx.urls.likes, "dislikes": ctx.urls.dislikes, "shares": ctx.urls.shares}[kind](rec.slug)
    return as2(dumps(objects.ordered_collection(url, total)))


async def quote_authorization(request: web.Request) -> web.Response:
    """A QuoteAuthorization granted to a remote post (``quotes``): 410 with a Tombstone once revoked."""
    ctx = ctx_of(request)
    quote = await ctx.store.quote(_public_url(ctx, request))
    if quote is None:
        raise web.HTTPNotFound(reason="no such quote authorization")
    if quote.revoked is not None:
        return as2(dumps(objects.revoked_quote(quote.id, quote.revoked)), status=410)
    return as2(dumps(objects.quote_authorization(ctx.urls, quote.id, quote.slug, quote.quoting)))


# captions, chapters and transcripts -----------------------------------------------------------------

VTT_TYPE = "text/vtt; charset=utf-8"
VTT_MAX_AGE = 86400
"""Seconds a caption or chapters file may be cached: its URL changes with its content."""


async def _live_entry(request: web.Request) -> Talk:
    """The current entry of a published talk: 410 once removed, 404 when unknown."""
    stamp = await _stamp(request)
    if stamp.deleted:
        raise web.HTTPGone(reason="talk removed")
    entry = (await ctx_of(request).entries()).get(stamp.slug)
    if entry is None:
        raise web.HTTPNotFound(reason="no such talk")
    return entry


def _vtt(request: web.Request, text: str, tag: str) -> web.Response:
    """A WebVTT file for players on any origin: CORS, caching, and 304 when the client has this version.
    An older tag gets the current file, cached briefly (a page or a receiver may still hold the old URL)."""
    etag = f'"{tag}"'
    max_age = VTT_MAX_AGE if request.match_info["tag"] == tag else 300
    headers = {**CORS, "Cache-Control": f"public, max-age={max_age}", "ETag": etag,
               "X-Content-Type-Options": "nosniff"}
    if etag in request.headers.get("If-None-Match", ""):
        return web.Response(status=304, headers=headers)
    return web.Response(body=text.encode(), headers={**headers, "Content-Type": VTT_TYPE})


async def caption_file(request: web.Request) -> web.Response:
    entry = await _live_entry(request)
    language = request.match_info["language"]
    caption = next((c for c in entry.captions if c.local and c.language == language), None)
    if caption is None or caption.text is None:
        raise web.HTTPNotFound(reason="no such caption file")
    return _vtt(request, caption.text, caption.tag)


async def chapters_track(request: web.Request) -> web.Response:
    entry = await _live_entry(request)
    if not entry.chapters:
        raise web.HTTPNotFound(reason="this talk has no chapters")
    # a chapter whose end is unknown (no duration) lasts until the end of any recording
    text = webvtt.write((c.start, c.end if c.end is not None else 360000, c.title) for c in entry.chapters)
    return _vtt(request, text, entry.chapters_tag)


async def chapters(request: web.Request) -> web.Response:
    """The document a Video's ``hasParts`` names; under authorized fetch it needs a signed GET like the Video."""
    ctx = ctx_of(request)
    entry = await _live_entry(request)
    if not entry.chapters:
        raise web.HTTPNotFound(reason="this talk has no chapters")
    return as2(dumps(objects.chapters_document(ctx.urls, entry)))


async def transcript(request: web.Request) -> web.Response:
    """A caption file as a page to read, for people and search engines."""
    ctx = ctx_of(request)
    entry = await _live_entry(request)
    language = request.match_info["language"]
    caption = next((c for c in entry.captions if c.local and c.language == language), None)
    if caption is None:
        raise web.HTTPNotFound(reason="no transcript in this language")

    async def build() -> bytes:  # an hour of captions takes some milliseconds to render: kept until the next sync
        return ctx.pages.transcript(entry, caption).encode()
    return _page(await _live(ctx, "transcript", f"{entry.slug}:{language}", (caption.tag, entry.chapters_tag), build))


async def stored_activity(request: web.Request) -> web.Response:
    ctx = ctx_of(request)
    doc = await ctx.store.activity(_public_url(ctx, request))
    if doc is None:
        raise web.HTTPNotFound(reason="no such activity")
    return as2(dumps(doc))


def _public_url(ctx: Context, request: web.Request) -> str:
    """The id of the requested document: base_url + path (the proxy may have changed scheme and host)."""
    return ctx.urls.base + request.rel_url.path


# files -----------------------------------------------------------------------------

_TALK_FILE = re.compile(r"^([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})-[^/]+$")


async def media(request: web.Request) -> web.StreamResponse:
    """A talk's file under its uuid-named URL (``Urls.talk_files``): the local file, or a redirect to where
    the entry says it is hosted. Any other path is a file of the archive folder, as before those names."""
    ctx = ctx_of(request)
    path = request.match_info["path"]
    named = _TALK_FILE.match(path)
    if named:
        talk = await ctx.entry_by_uuid(named.group(1))
        if talk is not None:
            url = ctx.urls.media(path)
            for item, href in zip(talk.media, media_urls(ctx.urls, talk), strict=True):
                if href == url:
                    if item.local:
                        return _archive_file(ctx, item.ref)
                    raise web.HTTPFound(item.ref, headers={"Cache-Control": "public, max-age=3600"})
    return _archive_file(ctx, path)


def _archive_file(ctx: Context, ref: str) -> web.StreamResponse:
    """A file inside the archive folder (never an entry, a hidden file, or anything outside), or 404."""
    folder = ctx.config.archive.dir.resolve()
    rel = safe_relpath(ref)
    if rel is None or rel.endswith(".toml") or any(part.startswith(".") for part in rel.split("/")):
        raise web.HTTPNotFound(reason="no such file")
    path = (folder / rel)
    try:
        resolved = path.resolve(strict=True)
    except (OSError, RuntimeError):
        raise web.HTTPNotFound(reason="no such file") from None
    if not resolved.is_relative_to(folder) or not resolved.is_file():
        raise web.HTTPNotFound(reason="no such file")
    return _file(resolved, max_age=86400)


async def static(request: web.Request) -> web.StreamResponse:
    name = request.match_info["name"]
    path = Path(__file__).parent / "static" / name
    if safe_relpath(name) != name or not path.is_file():
        raise web.HTTPNotFound(reason="no such file")
    return _file(path, max_age=3600)


def _file(path: Path, max_age: int) -> web.FileResponse:
    # FileResponse answers Range (206/416), If-None-Match/If-Modified-Since (304) with ETag and Last-Modified
    kind = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    headers = {"Content-Type": kind, "Cache-Control": f"public, max-age={max_age}", "Accept-Ranges": "bytes",
               "X-Content-Type-Options": "nosniff"}
    if kind == "text/vtt":  # a caption file under its own path: as under /talks/, for players on any origin
        headers.update(CORS, **{"Content-Type": VTT_TYPE})
    return web.FileResponse(path, headers=headers)


# errors ------------------------------------------------------------------------------

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
SAFE_METHODS = ("GET", "HEAD")


def guard(handler: Handler) -> Handler:
    """``handler`` with what every route needs, in one call: authorized fetch for GET and HEAD
    (``verify.authorize_fetch``), and every failure mapped to its status (``failure``). As aiohttp middlewares the
    same took three coroutines per request, a tenth of the CPU of a cached read."""
    async def guarded(request: web.Request) -> web.StreamResponse:
        try:
            if request.method in SAFE_METHODS and fetch_needs_check(request):
                refused = await authorize_fetch(request)
                if refused is not None:
                    return refused
            return await handler(request)
        except Exception as exc:  # noqa: BLE001 - the one place a failure becomes an answer: see failure()
            return failure(request, exc)
    guarded.__name__ = guarded.__qualname__ = getattr(handler, "__name__", "handler")
    return guarded


class Router:
    """``app.router`` adding every handler through ``guard``, and answering what no route takes (``unmatched``)."""

    def __init__(self, app: web.Application) -> None:
        self.router = app.router

    def add_get(self, path: str, handler: Handler) -> None:
        self.router.add_get(path, guard(handler))

    def add_route(self, method: str, path: str, handler: Handler) -> None:
        self.router.add_route(method, path, guard(handler))

    def add_fallback(self) -> None:
        """Last of all: any path and method no route takes gets fedi's 404, or 405 with Allow (JSON or a page)."""
        router = self.router

        async def unmatched(request: web.Request) -> web.Response:
            allowed: set[str] = set()
            for resource in router.resources():
                if resource is not fallback:
                    allowed |= (await resource.resolve(request))[1]
            if allowed:
                raise web.HTTPMethodNotAllowed(request.method, allowed)
            raise web.HTTPNotFound()
        fallback = router.add_route("*", "/{unmatched:.*}", guard(unmatched)).resource


def failure(request: web.Request, exc: Exception) -> web.Response:
    """Map every failure to the right status: JSON for machines, a page for people; never a bare 500. An
    HTTPException under 400 (a redirect) is raised again for aiohttp to send."""
    if isinstance(exc, web.HTTPException):
        if exc.status < 400:
            raise exc
        return _error(request, exc.status, exc.reason, exc.headers)
    if isinstance(exc, (ActivityError, SignatureError)):
        return json_error(exc.status, exc.reason)
    if isinstance(exc, StoreError):
        # the store refused a write (disk full, read-only file): nothing of it was kept. A 503 with Retry-After
        # makes the sender try again later; the message names the cause in the log, not the file to the world.
        log.error("%s %s: %s", request.method, request.path, exc)
        resp = _error(request, 503, "temporarily unable to store this; try again later", None)
        resp.headers["Retry-After"] = str(RETRY_AFTER)
        return resp
    # the one place an unexpected error is caught: log it, answer 500 without details
    log.error("unexpected error on %s %s", request.method, request.path, exc_info=exc)
    return _error(request, 500, "internal error", None)


def _error(request: web.Request, status: int, reason: str, headers) -> web.Response:  # type: ignore[no-untyped-def]
    extra = {k: v for k, v in (headers or {}).items() if k in ("Allow", "Retry-After", "Location")}
    machine = (wants_as2(request.headers.get("Accept")) or request.method != "GET"
               or request.path.startswith(("/.well-known/", "/nodeinfo/", "/media/"))
               or "json" in request.headers.get("Accept", ""))
    if machine:
        resp = json_error(status, reason.lower())
    else:
        resp = html(ctx_of(request).pages.error(status, reason), status=status)
    resp.headers.update(extra)
    return resp
