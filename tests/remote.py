"""A real "other fediverse server" for tests: an aiohttp app on 127.0.0.x with its own keys, actors and inboxes.

It checks what fedi sends with its OWN code (a small draft-cavage verifier written here, and the independent
``http_message_signatures`` package for RFC 9421), never with ``fedi.signatures``, so a bug there cannot hide
itself. It signs what it sends to fedi with its own signer too, shaped like Mastodon or like PeerTube.

    remote = await RemoteServer.start(name="mastodon", style="mastodon")   # or the `remote_server` fixture
    remote.actor_id("alice")            # http://127.0.0.1:PORT/users/alice   (peertube: /accounts/alice)
    remote.key_id("alice")              # actor id + "#main-key"
    remote.inbox("alice"), remote.shared_inbox
    await remote.signed_post(url, activity, actor="alice")      # → Answer(status, headers, body, json)
    await remote.signed_get(url, actor="alice")
    remote.received                     # POSTs received: Received(method, path, headers, body, json, style,
                                        #   key_id, verified, error, status)
    remote.requests                     # every request, GETs included; remote.count("GET", "/users/alice")
    remote.set_responses([500, 200, Reply(429, {"Retry-After": "30"})])   # answers for the next POSTs
    remote.serve("/doc", body={...}, status=200, content_type=AS2, headers={})  # any document or redirect
    remote.rotate_key("alice"); remote.gone("alice") (410); remote.remove("alice") (404)
    remote.trust(key_id, pem)           # know a key without fetching it (otherwise keyIds are fetched by GET)
    await remote.close()

Options of ``start``: ``style`` ("mastodon" or "peertube": actor paths, document shapes and how it signs),
``host`` (127.0.0.1, 127.0.0.2, … all bind on Linux), ``accept`` ("any", "cavage" or "rfc9421": which incoming
signature styles it takes; others get ``reject_status``, 401 by default, 403 "Invalid signature" for peertube),
``advertise`` (send ``Accept-Signature`` with RFC 9421 refusals), ``require_signed_get`` (authorized fetch:
unsigned GETs of its documents get 401), ``key_document`` (the key is a separate document with an ``owner``),
``delay`` (seconds before any answer: a slow server), ``max_skew`` (Date window, seconds; None: no check).
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import hashlib
import json
import re
import time
from dataclasses import dataclass, field
from email.utils import formatdate, parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import http_message_signatures as hms
from aiohttp import web
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from multidict import CIMultiDict

AS2 = "application/activity+json"
LD = 'application/ld+json; profile="https://www.w3.org/ns/activitystreams"'
AS_CONTEXT = "https://www.w3.org/ns/activitystreams"
SECURITY_CONTEXT = "https://w3id.org/security/v1"

_KEY_POOL: list[rsa.RSAPrivateKey] = []  # RSA generation is slow; tests reuse keys across servers


def fresh_key(index: int) -> rsa.RSAPrivateKey:
    while len(_KEY_POOL) <= index:
        _KEY_POOL.append(rsa.generate_private_key(public_exponent=65537, key_size=2048))
    return _KEY_POOL[index]


def pem_of(key: rsa.RSAPrivateKey) -> str:
    return key.public_key().public_bytes(serialization.Encoding.PEM,
                                         serialization.PublicFormat.SubjectPublicKeyInfo).decode()


@dataclass
class Reply:
    """A programmed answer to the next POST."""

    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""


@dataclass
class Received:
    method: str
    path: str
    """Path and query string as received."""
    headers: CIMultiDict[str]
    body: bytes
    json: Any
    style: str | None
    """"cavage", "rfc9421", or None when unsigned."""
    key_id: str | None
    verified: bool
    error: str | None
    status: int = 0
    """What the remote answered."""
    peer: tuple[str, int] | None = None
    """The sender's address and port (the same port twice means the connection was reused)."""
    at: float = 0.0
    """``time.monotonic()`` when the request arrived (delivery rates are measured from it)."""


@dataclass
class Answer:
    status: int
    headers: CIMultiDict[str]
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


@dataclass
class _Doc:
    status: int
    body: bytes
    headers: dict[str, str]
    chunked: bool = False


class _Message:
    """The request shape http_message_signatures reads and writes (method, absolute url, headers)."""

    def __init__(self, method: str, url: str, headers: Any) -> None:
        self.method, self.url, self.headers = method, url, headers


class _BadSignature(Exception):
    pass


class RemoteServer:
    def __init__(self, name: str, style: str, host: str, accept: str, advertise: bool, require_signed_get: bool,
                 key_document: bool, delay: float, max_skew: float | None, reject_status: int | None) -> None:
        if style not in ("mastodon", "peertube"):
            raise ValueError(f"style must be mastodon or peertube, not {style!r}")
        if accept not in ("any", "cavage", "rfc9421"):
            raise ValueError(f"accept must be any, cavage or rfc9421, not {accept!r}")
        self.name, self.style, self.host, self.accept = name, style, host, accept
        self.advertise, self.require_signed_get, self.key_document = advertise, require_signed_get, key_document
        self.delay, self.max_skew = delay, max_skew
        self.hold: asyncio.Event | None = None
        """When set to an Event, every answer waits until it is set: a slow server without a race against time."""
        self.reject_status = reject_status or (403 if style == "peertube" else 401)
        self.requests: list[Received] = []
        self.responses: list[Reply] = []
        self.documents: dict[str, _Doc] = {}
        self.keys: dict[str, rsa.RSAPrivateKey] = {}
        self.status_of: dict[str, int] = {}  # actor name → 404/410
        self.known_keys: dict[str, Any] = {}  # other servers' key ids → public keys
        self._next_key = 0
        self.base = ""
        self._runner: web.AppRunner | None = None
        self.session: aiohttp.ClientSession | None = None

    # lifetime -------------------------------------------------------------------------------------------------
    @classmethod
    async def start(cls, name: str = "mastodon", style: str = "mastodon", host: str = "127.0.0.1",
                    accept: str = "any", advertise: bool = False, require_signed_get: bool = False,
                    key_document: bool = False, delay: float = 0.0, max_skew: float | None = 1800,
                    reject_status: int | None = None, actors: tuple[str, ...] = ("alice",)) -> RemoteServer:
        self = cls(name, style, host, accept, advertise, require_signed_get, key_document, delay, max_skew,
                   reject_status)
        if not host.startswith("127."):
            raise ValueError("the remote test server binds on 127.0.0.0/8 only")
        app = web.Application(client_max_size=4 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._dispatch)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.base = f"http://{host}:{port}"
        self.session = aiohttp.ClientSession()
        for actor in actors:
            self.add_actor(actor)
        return self

    async def close(self) -> None:
        if self.session is not None:
            await self.session.close()
        if self._runner is not None:
            await self._runner.cleanup()

    # naming ---------------------------------------------------------------------------------------------------
    @property
    def domain(self) -> str:
        return urlsplit(self.base).netloc

    def actor_path(self, name: str) -> str:
        return f"/accounts/{name}" if self.style == "peertube" else f"/users/{name}"

    def actor_id(self, name: str = "alice") -> str:
        if name not in self.keys:
            self.add_actor(name)
        return self.base + self.actor_path(name)

    def key_id(self, name: str = "alice") -> str:
        if self.key_document:
            return f"{self.base}/keys/{name}"
        return f"{self.actor_id(name)}#main-key"

    def inbox(self, name: str = "alice") -> str:
        return f"{self.actor_id(name)}/inbox"

    @property
    def shared_inbox(self) -> str:
        return f"{self.base}/inbox"

    # programming ----------------------------------------------------------------------------------------------
    def add_actor(self, name: str) -> None:
        if name not in self.keys:
            self.keys[name] = fresh_key(self._next_key)
            self._next_key += 1

    def rotate_key(self, name: str = "alice") -> None:
        """The actor gets a new key pair (the key id stays, as Mastodon does)."""
        self.keys[name] = fresh_key(len(_KEY_POOL))  # a brand-new key, held by no one else

    def gone(self, name: str = "alice") -> None:
        self.status_of[name] = 410

    def remove(self, name: str = "alice") -> None:
        self.status_of[name] = 404

    def trust(self, key_id: str, pem: str) -> None:
        self.known_keys[key_id] = serialization.load_pem_public_key(pem.encode())

    def forget_keys(self) -> None:
        self.known_keys.clear()

    def set_responses(self, replies: list[int | Reply | tuple[int, dict[str, str]]]) -> None:
        """Answers for the next POSTs, in order (after them, the normal 202)."""
        self.responses = [r if isinstance(r, Reply) else Reply(*r) if isinstance(r, tuple) else Reply(r)
                          for r in replies]

    def serve(self, path: str, body: Any = None, status: int = 200, content_type: str = AS2,
              headers: dict[str, str] | None = None, chunked: bool = False) -> str:
        """Answer GETs of ``path`` with this document (dict → JSON, str/bytes as they are); returns its URL.

        ``chunked`` sends it without a Content-Length, in 64 KiB chunks.
        """
        data = body if isinstance(body, bytes) else body.encode() if isinstance(body, str) else \
            json.dumps(body).encode() if body is not None else b""
        self.documents[path] = _Doc(status, data, {"Content-Type": content_type, **(headers or {})}, chunked)
        return self.base + path

    def redirect(self, path: str, location: str, status: int = 302) -> str:
        return self.serve(path, status=status, content_type="text/plain", headers={"Location": location})

    @property
    def received(self) -> list[Received]:
        return [r for r in self.requests if r.method == "POST"]

    def count(self, method: str, path: str | None = None) -> int:
        return sum(1 for r in self.requests if r.method == method and (path is None or r.path.split("?")[0] == path))

    # documents ------------------------------------------------------------------------------------------------
    def actor_document(self, name: str) -> dict[str, Any]:
        actor = self.base + self.actor_path(name)
        key = {"id": self.key_id(name), "owner": actor, "publicKeyPem": pem_of(self.keys[name])}
        if self.style == "peertube":
            return {
                "@context": [AS_CONTEXT, SECURITY_CONTEXT, {"RsaSignature2017": "https://w3id.org/security#RsaSignature2017"}],
                "type": "Person", "id": actor, "following": f"{actor}/following", "followers": f"{actor}/followers",
                "playlists": f"{actor}/playlists", "inbox": f"{actor}/inbox", "outbox": f"{actor}/outbox",
                "preferredUsername": name, "url": actor, "name": name.title(),
                "endpoints": {"sharedInbox": self.shared_inbox}, "publicKey": key, "published": "2020-01-01T00:00:00Z",
                "summary": None,
            }
        return {
            "@context": [AS_CONTEXT, SECURITY_CONTEXT, {"manuallyApprovesFollowers": "as:manuallyApprovesFollowers",
                                                         "toot": "http://joinmastodon.org/ns#",
                                                         "discoverable": "toot:discoverable"}],
            "id": actor, "type": "Person", "following": f"{actor}/following", "followers": f"{actor}/followers",
            "inbox": f"{actor}/inbox", "outbox": f"{actor}/outbox", "featured": f"{actor}/collections/featured",
            "preferredUsername": name, "name": name.title(), "summary": "<p>A remote test account.</p>",
            "url": f"{self.base}/@{name}", "manuallyApprovesFollowers": False, "discoverable": True,
            "published": "2020-01-01T00:00:00Z", "publicKey": key, "endpoints": {"sharedInbox": self.shared_inbox},
            "icon": {"type": "Image", "mediaType": "image/png", "url": f"{self.base}/avatars/{name}.png"},
        }

    def _actor_name(self, path: str) -> tuple[str | None, str]:
        """(actor name, rest of the path) when the path is under an actor."""
        m = re.fullmatch(r"/(?:users|accounts)/([a-z0-9_]+)(/.*)?", path)
        if m and m.group(1) in self.keys:
            return m.group(1), m.group(2) or ""
        return None, ""

    # the server -----------------------------------------------------------------------------------------------
    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        record = Received(request.method, request.path_qs, CIMultiDict(request.headers), body, None, None, None,
                          False, None, peer=request.transport.get_extra_info("peername") if request.transport else None,
                          at=time.monotonic())
        try:
            record.json = json.loads(body) if body else None
        except ValueError:
            record.json = None
        self.requests.append(record)
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.hold is not None:
            await self.hold.wait()
        response = await self._answer(request, body, record)
        record.status = response.status
        return response

    async def _answer(self, request: web.Request, body: bytes, record: Received) -> web.StreamResponse:
        if "Signature" in request.headers or "Signature-Input" in request.headers:
            await self._check(request, body, record)
        path = request.path
        if request.method == "POST":
            return self._inbox(path, record)
        if request.method not in ("GET", "HEAD"):
            return web.Response(status=405)
        if path == "/.well-known/webfinger":
            return self._webfinger(request.query.get("resource", ""))
        if self.require_signed_get and not record.verified:
            return self._refusal(record.error or "request not signed")
        if path in self.documents:
            doc = self.documents[path]
            if not doc.chunked:
                return web.Response(status=doc.status, body=doc.body, headers=doc.headers)
            stream = web.StreamResponse(status=doc.status, headers=doc.headers)
            stream.enable_chunked_encoding()
            await stream.prepare(request)
            try:
                for start in range(0, len(doc.body), 64 * 1024):
                    await stream.write(doc.body[start:start + 64 * 1024])
                await stream.write_eof()
            except (ConnectionError, RuntimeError):
                pass  # the client stopped reading (a size cap at work)
            return stream
        name, rest = self._actor_name(path)
        if name is None and path.startswith("/keys/") and path[6:] in self.keys:
            name, rest = path[6:], "#key"
        if name is None:
            return web.json_response({"error": "not found"}, status=404)
        if name in self.status_of:
            status = self.status_of[name]
            doc = {"@context": AS_CONTEXT, "id": self.base + self.actor_path(name), "type": "Tombstone"}
            return web.Response(status=status, body=json.dumps(doc), content_type=AS2)
        if rest == "":
            document = self.actor_document(name)
            if self.key_document:
                document["publicKey"] = {"id": self.key_id(name), "owner": document["id"],
                                         "publicKeyPem": document["publicKey"]["publicKeyPem"]}
            return self._as2(document)
        if rest == "#key":
            actor = self.base + self.actor_path(name)
            return self._as2({"@context": [AS_CONTEXT, SECURITY_CONTEXT], "id": self.key_id(name), "type": "Key",
                              "owner": actor, "publicKeyPem": pem_of(self.keys[name])})
        if rest in ("/followers", "/following", "/outbox", "/collections/featured"):
            actor = self.base + self.actor_path(name)
            return self._as2({"@context": AS_CONTEXT, "id": actor + rest, "type": "OrderedCollection",
                              "totalItems": 0, "orderedItems": []})
        return web.json_response({"error": "not found"}, status=404)

    def _as2(self, document: dict[str, Any]) -> web.Response:
        return web.Response(body=json.dumps(document), content_type=AS2)

    def _webfinger(self, resource: str) -> web.Response:
        m = re.fullmatch(r"acct:([a-z0-9_]+)@(.+)", resource)
        if not m or m.group(2) != self.domain or m.group(1) not in self.keys:
            return web.json_response({"error": "not found"}, status=404)
        name = m.group(1)
        actor = self.base + self.actor_path(name)
        jrd = {"subject": resource, "aliases": [actor],
               "links": [{"rel": "http://webfinger.net/rel/profile-page", "type": "text/html", "href": actor},
                         {"rel": "self", "type": AS2, "href": actor}]}
        return web.Response(body=json.dumps(jrd), content_type="application/jrd+json")

    def _inbox(self, path: str, record: Received) -> web.StreamResponse:
        name, rest = self._actor_name(path)
        if not (path == "/inbox" or (name is not None and rest == "/inbox")):
            return web.json_response({"error": "no such inbox"}, status=404)
        if self.responses:
            reply = self.responses.pop(0)
            return web.Response(status=reply.status, headers=reply.headers, body=reply.body)
        if not record.verified:
            return self._refusal(record.error or "request not signed")
        return web.Response(status=204 if self.style == "peertube" else 202)

    def _refusal(self, reason: str) -> web.Response:
        headers = {}
        if self.advertise:  # RFC 9421 §5.1: the signature we would accept
            headers["Accept-Signature"] = 'sig1=("@method" "@target-uri" "content-digest");keyid'
        if self.reject_status == 403:  # PeerTube's wording
            return web.json_response({"error": f"Invalid signature: {reason}"}, status=403, headers=headers)
        return web.json_response({"error": reason}, status=self.reject_status, headers=headers)

    # verification (independent of fedi.signatures) -----------------------------------------------------------
    async def _check(self, request: web.Request, body: bytes, record: Received) -> None:
        style = "rfc9421" if "Signature-Input" in request.headers else "cavage"
        record.style = style
        try:
            if self.accept not in ("any", style):
                raise _BadSignature(f"{style} signatures are not accepted here")
            if style == "cavage":
                await self._verify_cavage(request, body, record)
            else:
                await self._verify_rfc9421(request, body, record)
        except _BadSignature as exc:
            record.error = str(exc)
            return
        record.verified = True

    async def _verify_cavage(self, request: web.Request, body: bytes, record: Received) -> None:
        params = dict(re.findall(r'(\w+)="([^"]*)"', request.headers["Signature"]))
        key_id, names = params.get("keyId"), params.get("headers", "date").lower().split()
        record.key_id = key_id
        if not key_id or "signature" not in params:
            raise _BadSignature("keyId or signature missing")
        if params.get("algorithm", "hs2019") not in ("rsa-sha256", "hs2019"):
            raise _BadSignature("unsupported algorithm")
        if "host" not in names or "(request-target)" not in names or "date" not in names:
            raise _BadSignature("host, date and (request-target) must be signed")
        if request.method == "POST":
            expected = "SHA-256=" + base64.b64encode(hashlib.sha256(body).digest()).decode()
            if "digest" not in names or request.headers.get("Digest") != expected:
                raise _BadSignature("Digest missing, unsigned or wrong")
        self._check_date(request.headers.get("Date"))
        key = await self._public_key(key_id)
        signature = base64.b64decode(params["signature"])
        for target in dict.fromkeys((request.path_qs, request.path)):  # with the query, then without (Mastodon)
            lines = []
            for name in names:
                if name == "(request-target)":
                    lines.append(f"(request-target): {request.method.lower()} {target}")
                else:
                    values = request.headers.getall(name, [])
                    if not values:
                        raise _BadSignature(f"signed header {name} missing")
                    lines.append(f"{name}: {', '.join(v.strip() for v in values)}")
            try:
                key.verify(signature, "\n".join(lines).encode(), padding.PKCS1v15(), hashes.SHA256())
                return
            except InvalidSignature:
                continue
        raise _BadSignature("signature does not verify")

    def _check_date(self, value: str | None) -> None:
        if self.max_skew is None:
            return
        if not value:
            raise _BadSignature("Date missing")
        try:
            when = parsedate_to_datetime(value).timestamp()
        except (TypeError, ValueError):
            raise _BadSignature("Date malformed") from None
        if abs(time.time() - when) > self.max_skew:
            raise _BadSignature("Date out of the accepted window")

    async def _verify_rfc9421(self, request: web.Request, body: bytes, record: Received) -> None:
        m = re.search(r'keyid="([^"]+)"', request.headers.get("Signature-Input", ""))
        if not m:
            raise _BadSignature("keyid missing")
        key_id = record.key_id = m.group(1)
        key = await self._public_key(key_id)
        resolver = hms.MappingKeyResolver(public_keys={key_id: key}, private_keys={})
        verifier = hms.HTTPMessageVerifier(signature_algorithm=hms.algorithms.RSA_V1_5_SHA256,
                                           key_resolver=resolver)
        url = f"http://{request.host}{request.path_qs}"
        required = ("@method", "@target-uri") + (("content-digest",) if request.method == "POST" else ())
        try:
            verifier.verify(_Message(request.method, url, request.headers), max_age=dt.timedelta(hours=1),
                            require_components=required, body=body if request.method == "POST" else None)
        except hms.HTTPMessageSignaturesException as exc:
            raise _BadSignature(f"RFC 9421: {exc}") from None

    async def _public_key(self, key_id: str) -> Any:
        if key_id in self.known_keys:
            return self.known_keys[key_id]
        assert self.session is not None
        url = key_id.split("#")[0]
        if not (urlsplit(url).hostname or "").startswith("127."):
            raise _BadSignature(f"key {key_id}: tests never fetch outside 127.0.0.0/8")
        try:
            async with self.session.get(url, headers={"Accept": AS2}) as resp:
                if resp.status != 200:
                    raise _BadSignature(f"key {key_id}: HTTP {resp.status}")
                doc = await resp.json(content_type=None)
        except aiohttp.ClientError as exc:
            raise _BadSignature(f"key {key_id}: {exc}") from None
        keys = doc.get("publicKey") if isinstance(doc, dict) else None
        for key in keys if isinstance(keys, list) else [keys] if keys else [doc]:
            if isinstance(key, dict) and key.get("id") == key_id and key.get("publicKeyPem"):
                self.known_keys[key_id] = serialization.load_pem_public_key(key["publicKeyPem"].encode())
                return self.known_keys[key_id]
        raise _BadSignature(f"key {key_id} not found in {url}")

    # signing requests to fedi (independent of fedi.signatures) -----------------------------------------------
    def sign(self, method: str, url: str, body: bytes | None, actor: str = "alice", sign: str | None = None,
             headers: dict[str, str] | None = None, date: str | None = None, key_id: str | None = None,
             key: rsa.RSAPrivateKey | None = None) -> dict[str, str]:
        """Headers for a request signed like Mastodon (``sign="mastodon"``), PeerTube ("peertube") or RFC 9421.

        ``key_id``/``key`` override the actor's (to forge, or to sign for a key document served by hand).
        """
        sign = sign or self.style
        key, key_id = key or self.keys[actor], key_id or self.key_id(actor)
        parts = urlsplit(url)
        out = {"Host": parts.netloc, "Date": date or formatdate(usegmt=True),
               "Accept": "application/activity+json, application/ld+json", "User-Agent": f"remote-test ({self.name})",
               **(headers or {})}
        if body is not None:
            out.setdefault("Content-Type", AS2)
        if sign == "rfc9421":
            message = _Message(method, url, dict(out))
            signer = hms.HTTPMessageSigner(signature_algorithm=hms.algorithms.RSA_V1_5_SHA256,
                                           key_resolver=hms.MappingKeyResolver(public_keys={},
                                                                               private_keys={key_id: key}))
            covered = ("@method", "@target-uri") + (("content-digest",) if body is not None else ())
            signer.sign(message, key_id=key_id, label="sig1", covered_component_ids=covered, body=body,
                        include_alg=False)
            return dict(message.headers)
        if body is not None:
            out["Digest"] = "SHA-256=" + base64.b64encode(hashlib.sha256(body).digest()).decode()
        if sign == "mastodon":  # Mastodon: query in the target; signs content-type on POST, accept on GET
            target = parts.path + (f"?{parts.query}" if parts.query else "")
            names = ["(request-target)", "host", "date"] + (["digest", "content-type"] if body is not None
                                                            else ["accept"])
        elif sign == "peertube":  # PeerTube: path only
            target = parts.path
            names = ["(request-target)", "host", "date"] + (["digest"] if body is not None else [])
        else:
            raise ValueError(f"unknown signing style {sign!r}")
        values = {k.lower(): v for k, v in out.items()}
        lines = [f"(request-target): {method.lower()} {target}" if n == "(request-target)" else f"{n}: {values[n]}"
                 for n in names]
        signature = key.sign("\n".join(lines).encode(), padding.PKCS1v15(), hashes.SHA256())
        out["Signature"] = (f'keyId="{key_id}",algorithm="rsa-sha256",headers="{" ".join(names)}",'
                            f'signature="{base64.b64encode(signature).decode()}"')
        return out

    async def signed_post(self, url: str, activity: Any, actor: str = "alice", sign: str | None = None,
                          headers: dict[str, str] | None = None, **options: Any) -> Answer:
        """POST ``activity`` (a dict, or bytes as they are) signed by ``actor``; options as for ``sign``."""
        body = activity if isinstance(activity, bytes) else json.dumps(activity).encode()
        return await self.send("POST", url, body, self.sign("POST", url, body, actor, sign, headers, **options))

    async def signed_get(self, url: str, actor: str = "alice", sign: str | None = None,
                         headers: dict[str, str] | None = None, **options: Any) -> Answer:
        return await self.send("GET", url, None, self.sign("GET", url, None, actor, sign, headers, **options))

    async def send(self, method: str, url: str, body: bytes | None, headers: dict[str, str]) -> Answer:
        """One raw request (no redirects followed), e.g. to replay a signed request with a changed header."""
        if not urlsplit(url).hostname.startswith("127."):  # type: ignore[union-attr]
            raise ValueError(f"tests never send outside 127.0.0.0/8: {url}")
        assert self.session is not None
        async with self.session.request(method, url, data=body, headers=headers, allow_redirects=False) as resp:
            return Answer(resp.status, CIMultiDict(resp.headers), await resp.read())
