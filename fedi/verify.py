"""Who signed an incoming request: signature parsing, key lookup and caching, and authorized fetch.

``Verifier.verify(request, body)`` turns a signed request into a ``Signer`` or a ``SignatureError`` (401, or 403 for a
blocked signer), never a 500. The key comes from, in order: an in-memory LRU of PARSED keys (parsing a PEM costs more
than verifying with a parsed key), the store's key cache (fresh within ``security.key_cache_seconds``), or a signed
fetch of the keyId's document through the one ``Client``. What Mastodon does is followed (docs/receivers.md, Mastodon:
signatures): blocked domains are refused before anything is fetched; a key document with an ``owner`` counts only if
the owner lists the key back; a signature that fails with a cached key triggers one refetch (key rotation) before the
request is refused; an actor whose document answers 404/410 is marked gone and not fetched again within the cache
lifetime.

``authorize_fetch`` is the check that, with ``security.authorized_fetch = true``, demands a valid signature on
GETs of everything but the actors' own documents, discovery, media and HTML pages (both sides must be able to fetch
each other's keys unsigned, or two secure servers deadlock; docs/receivers.md, Mastodon: fetching).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from . import signatures
from .actors import RemoteActor, key_owner, read_actor
from .client import Client, Clock, utcnow
from .config import Config
from .errors import ActivityError, RemoteError, SignatureError
from .lru import LRU
from .negotiation import wants_as2
from .store import Store
from .urls import ROLES, Urls, authority, domain_matches, host, same_origin

REFRESH_SECONDS = 60.0
"""At most one refetch per key in this time after a failed verification, so forged signatures naming a real
key cannot make us fetch it on every request."""
FAILURE_SECONDS = 60.0
"""After a key fetch fails (timeout, 5xx), requests naming that key are refused without a fetch for this long."""
_BAD_SIGNATURE = "signature does not verify"
"""``signatures.verify``'s reason when only the cryptographic check failed: the one case a new key can fix."""


@dataclass(frozen=True)
class Signer:
    """The verified sender of a request."""

    actor_id: str
    key_id: str
    host: str
    """``host[:port]`` of the actor id, lowercase."""


@dataclass(frozen=True)
class _Key:
    key: signatures.PublicKey
    owner: str
    fetched_at: dt.datetime
    signer: Signer
    """What a request this key verifies was signed by: made once per key, not per request."""


def _entry(key: signatures.PublicKey, key_id: str, owner: str, fetched_at: dt.datetime) -> _Key:
    return _Key(key, owner, fetched_at, Signer(actor_id=owner, key_id=key_id, host=authority(owner)))


class Verifier:
    def __init__(self, config: Config, urls: Urls, store: Store, client: Client, clock: Clock = utcnow) -> None:
        self.config, self.urls, self.store, self.client, self.clock = config, urls, store, client, clock
        # key ids come from requests: each of these forgets its least recent entries past the configured size
        size = config.server.cache_entries
        self._keys: LRU[str, _Key] = LRU(size)
        """Parsed keys (a few hundred bytes each)."""
        self._inflight: dict[str, asyncio.Future[_Key]] = {}
        self._gone: LRU[str, dt.datetime] = LRU(size)
        self._failed: LRU[str, dt.datetime] = LRU(size)
        self._refreshed: LRU[str, dt.datetime] = LRU(size)

    # the API -------------------------------------------------------------------------------------------------
    async def verify(self, request: web.Request, body: bytes | None, *, store_blocks: bool = True) -> Signer:
        """The signer of ``request`` (``body``: the raw body of a POST, None for a GET) or SignatureError.

        ``store_blocks=False``: the caller checks the store's blocks itself, in the transaction that records
        what it received (the inbox under a flood: ``Store.add_jobs_of``), which spares a trip to the store.
        The config's blocked domains are still checked here, and the store's before a key is read from the
        store or fetched.
        """
        signed = signatures.parse(request.method, request.path_qs, request.headers)
        # behind a reverse proxy request.url's scheme and host may differ from what the sender addressed
        return await self.verify_signed(signed, body, self.config.server.base_url + request.path_qs,
                                        store_blocks=store_blocks)

    async def verify_signed(self, signed: signatures.SignedRequest, body: bytes | None, url: str, *,
                            store_blocks: bool = True) -> Signer:
        key_id = signed.key_id
        now = self.clock()
        if store_blocks or self._kept(key_id, now) is None:
            await self.refuse_blocked(_strip(key_id))
        else:
            self._refuse_blocked_domains(_strip(key_id))
        key, cached = await self._key(key_id, now)
        max_age = self.config.security.signature_max_age
        try:
            signatures.verify(signed, key.key, body, now, max_age=max_age, url=url)
        except SignatureError as exc:
            if not cached or exc.reason != _BAD_SIGNATURE or not self._may_refresh(key_id, now):
                raise
            self._keys.pop(key_id, None)
            key = await self._fetch_once(key_id, now)  # the actor may have rotated its key
            signatures.verify(signed, key.key, body, now, max_age=max_age, url=url)
        return key.signer

    async def refuse_blocked(self, actor_id: str) -> None:
        """SignatureError 403 when the actor or its domain (or a parent domain) is blocked."""
        self._refuse_blocked_domains(actor_id)
        if await self.store.is_blocked(actor_id):
            raise SignatureError(f"{host(actor_id) or actor_id} is blocked", 403)

    def _refuse_blocked_domains(self, actor_id: str) -> None:
        """The config's ``security.blocked_domains`` only."""
        domains = self.config.security.blocked_domains
        if not domains:
            return
        name = host(actor_id)
        if any(domain_matches(name, d) for d in domains):
            raise SignatureError(f"{name or actor_id} is blocked", 403)

    async def should_skip_unknown_delete(self, activity: dict[str, Any]) -> bool:
        """A Delete of an actor by itself, from an actor we never knew: answer 202 and fetch nothing.

        Mastodon sends these to every server it ever talked to when an account goes, and the key is gone
        with it; fetching it would only fail (docs/receivers.md, Mastodon: signatures).
        """
        if activity.get("type") != "Delete":
            return False
        actor, obj = _id(activity.get("actor")), _id(activity.get("object"))
        if not actor or actor != obj:
            return False
        if await self.store.cached_actor(actor) is not None:
            return False
        for role in ROLES:
            if await self.store.follower(role, actor) is not None:
                return False
        return True

    # keys ----------------------------------------------------------------------------------------------------
    async def _key(self, key_id: str, now: dt.datetime) -> tuple[_Key, bool]:
        """(key, came from a cache)."""
        ttl = self.config.security.key_cache_seconds
        entry = self._kept(key_id, now)
        if entry is not None:
            self._keys.move_to_end(key_id)
            return entry, True
        stored = await self.store.cached_key(key_id)
        if stored is not None and (now - stored.fetched_at).total_seconds() < ttl \
                and same_origin(stored.owner, key_id):
            try:
                key = _parse_key(stored.material, stored.kind)
            except SignatureError:
                pass  # a key we cached but can no longer read: fetch it again
            else:
                entry = _entry(key, key_id, stored.owner, stored.fetched_at)
                self._keys[key_id] = entry
                return entry, True
        return await self._fetch_once(key_id, now), False

    def _kept(self, key_id: str, now: dt.datetime) -> _Key | None:
        """The parsed key kept in memory, while it is fresh."""
        entry = self._keys.get(key_id)
        if entry is not None and (now - entry.fetched_at).total_seconds() < self.config.security.key_cache_seconds:
            return entry
        return None

    def _may_refresh(self, key_id: str, now: dt.datetime) -> bool:
        last = self._refreshed.get(key_id)
        if last is not None and (now - last).total_seconds() < REFRESH_SECONDS:
            return False
        self._refreshed[key_id] = now
        return True

    async def _fetch_once(self, key_id: str, now: dt.datetime) -> _Key:
        """Fetch a key; concurrent requests naming the same key share one fetch."""
        future = self._inflight.get(key_id)
        if future is None:
            future = asyncio.ensure_future(self._fetch(key_id, now))
            self._inflight[key_id] = future

            def done(f: asyncio.Future[_Key]) -> None:
                self._inflight.pop(key_id, None)
                if not f.cancelled():
                    f.exception()  # retrieved here, so an abandoned fetch logs no warning

            future.add_done_callback(done)
        return await asyncio.shield(future)

    async def _fetch(self, key_id: str, now: dt.datetime) -> _Key:
        url = _strip(key_id)
        ttl = self.config.security.key_cache_seconds
        if await self.store.is_gone(url):
            since = self._gone.get(url)
            if since is None:  # gone before this process started: count from now
                self._gone[url] = now
                since = now
            if (now - since).total_seconds() < ttl:
                raise SignatureError(f"could not fetch key: {url} is gone")
            self._gone[url] = now  # once per cache lifetime, look again
        failed = self._failed.get(key_id)
        if failed is not None and (now - failed).total_seconds() < FAILURE_SECONDS:
            raise SignatureError(f"could not fetch key: {url} failed moments ago")
        try:
            document = await self._get(url, now)
            owner = _owner(document, key_id)
            if not same_origin(owner, key_id):  # else any server could claim another server's key id
                raise SignatureError(f"could not use key: {key_id} and its owner {owner} are on different hosts")
            actor_doc = document if owner == _id(document.get("id")) else await self._get(owner, now)
            actor = _read_actor(actor_doc)
            if actor.id != owner:
                raise SignatureError(f"could not use key: the owner's document at {owner} has id {actor.id}")
            await self.refuse_blocked(actor.id)
            material, kind = _material(actor, key_id, document)
            key = _parse_key(material, kind)
        except SignatureError:
            self._failed[key_id] = now
            raise
        rows = [(k.id, k.pem or k.multibase or "", "pem" if k.pem else "multibase")
                for k in actor.keys if (k.pem or k.multibase) and same_origin(k.id, actor.id)]
        if not any(row[0] == key_id for row in rows):
            rows.append((key_id, material, kind))  # the key document carried the material, the actor a link
        await self.store.cache_actor(actor.id, actor_doc, rows, now)
        self._failed.pop(key_id, None)
        self._gone.pop(url, None)
        entry = _entry(key, key_id, actor.id, now)
        self._keys[key_id] = entry
        return entry

    async def _get(self, url: str, now: dt.datetime) -> dict[str, Any]:
        try:
            return await self.client.get_json(url)
        except RemoteError as exc:
            if exc.status in (404, 410):
                await self.store.mark_gone(url, now)
                self._gone[url] = now
            raise SignatureError(f"could not fetch key: {exc}") from None


# authorized fetch ----------------------------------------------------------------------------------------------

VERIFIER = web.AppKey("verifier", Verifier)
SIGNER: Any = web.RequestKey("signer", Signer) if hasattr(web, "RequestKey") else "signer"  # aiohttp < 3.12: a str
"""Where ``authorize_fetch`` leaves the verified ``Signer`` of a GET: ``request.get(SIGNER)``."""


def fetch_needs_check(request: web.Request) -> bool:
    """Whether a GET or HEAD goes through ``authorize_fetch``: a signature is required (``security.authorized_fetch``
    and a protected path) or one is present (a blocked signer is refused whatever the setting). Most reads are
    neither, and skip it for the price of this test."""
    return _signed(request.headers) or _required(request)


def _signed(headers: Any) -> bool:
    return ("Signature" in headers or "Signature-Input" in headers
            or headers.get("Authorization", "")[:10].lower() == "signature ")


def _required(request: web.Request) -> bool:
    return request.app[VERIFIER].config.security.authorized_fetch and \
        _protected(request.path, request.headers.get("Accept"))


async def authorize_fetch(request: web.Request) -> web.Response | None:
    """The refusal of a GET or HEAD that ``fetch_needs_check``, or None to serve it.

    With ``security.authorized_fetch``, collections, talks and activities need a valid signature. Always public:
    the actors' documents (``/actors/{username}``: they carry the keys), discovery, media, static files and HTML
    pages. Signed GETs from a blocked domain get 403 whatever the setting. The verified signer is left in
    ``request[SIGNER]`` for handlers.
    """
    verifier = request.app[VERIFIER]
    headers = request.headers
    signed_present = _signed(headers)
    try:
        if _required(request):
            request[SIGNER] = await verifier.verify(request, None)
        else:  # only the block list is checked: a full verification would cost a key fetch for nothing
            try:
                signed = signatures.parse(request.method, request.path_qs, headers)
            except SignatureError:
                return None
            await verifier.refuse_blocked(_strip(signed.key_id))
    except SignatureError as exc:
        reason = "signature required" if not signed_present and exc.status == 401 else exc.reason
        return web.Response(body=json.dumps({"error": reason}), status=exc.status,
                            content_type="application/json", headers={"Vary": "Accept"})
    return None


def _protected(path: str, accept: str | None) -> bool:
    parts = path.strip("/").split("/")
    if parts[0] == "actors":
        return len(parts) > 2  # the actor document itself stays public; its collections do not
    if parts[0] == "talks":
        if len(parts) > 2 and (parts[2] in ("captions", "transcript", "embed") or parts[-1].endswith(".vtt")):
            return False  # caption and chapter files, transcripts and the embed page are for players and readers
        return len(parts) > 2 or wants_as2(accept)  # /talks/{slug} is also the HTML page
    return parts[0] == "activities"


# helpers --------------------------------------------------------------------------------------------------------

def check_actor(signer: Signer, activity: dict[str, Any]) -> None:
    """The activity's ``actor`` must be whoever signed it (no forwarding without an LD signature;
    docs/receivers.md, Mastodon: signatures)."""
    if _id(activity.get("actor")) != signer.actor_id:
        raise SignatureError("actor does not match the signature", 401)


def _id(value: Any) -> str | None:
    if isinstance(value, dict):
        value = value.get("id")
    return value if isinstance(value, str) and value else None


def _strip(key_id: str) -> str:
    return key_id.split("#", 1)[0]




def _owner(document: dict[str, Any], key_id: str) -> str:
    try:
        return key_owner(document, key_id)
    except ActivityError as exc:
        raise SignatureError(f"could not use key: {exc.reason}") from None


def _read_actor(document: dict[str, Any]) -> RemoteActor:
    try:
        return read_actor(document)
    except ActivityError as exc:
        raise SignatureError(f"could not use key: {exc.reason}") from None


def _material(actor: RemoteActor, key_id: str, document: dict[str, Any]) -> tuple[str, str]:
    """The key's PEM or multibase: from the actor's listing, else from the key document it links to."""
    listed = actor.key(key_id)
    if listed is None:
        raise SignatureError(f"could not use key: {actor.id} does not list the key {key_id}")
    if listed.pem:
        return listed.pem, "pem"
    if listed.multibase:
        return listed.multibase, "multibase"
    pem, multibase = document.get("publicKeyPem"), document.get("publicKeyMultibase")
    if isinstance(pem, str) and pem.strip():
        return pem, "pem"
    if isinstance(multibase, str) and multibase:
        return multibase, "multibase"
    raise SignatureError(f"could not use key: no key material for {key_id}")


def _parse_key(material: str, kind: str) -> signatures.PublicKey:
    if kind == "multibase":
        return signatures.public_key_from_multibase(material)
    return signatures.public_key_from_pem(material)
