"""The one outbound HTTP path: every request fedi makes to another server goes through ``Client``.

One aiohttp session per process (keep-alive per host, bounded concurrency), and on every request:
- the SSRF guard (``netguard``): the URL is checked before any lookup, every resolved address before
  connecting, and the connection goes to the checked address; redirects (at most 3) are followed here and
  each new location is checked again;
- a signature by one of our actors (GETs too: servers in authorized-fetch mode demand it; docs/receivers.md, Mastodon:
  fetching). draft-cavage by default (PeerTube accepts nothing else: docs/receivers.md, PeerTube: signatures); a host
  that refuses it with 401 (or 400/403 complaining about the signature) is asked once more with RFC 9421, and the style
  that worked is kept per host ("double-knock"). An ``Accept-Signature`` response header (RFC 9421 §5) switches the
  host to RFC 9421. Each attempt is signed afresh, with the Date of the moment it is sent;
- limits: timeouts, 1 MiB per JSON document (Content-Length checked first, then counted while reading), an
  AS2 content type, and a document ``id`` on the host it was finally fetched from (Mastodon, PeerTube).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from types import TracebackType
from typing import Any
from urllib.parse import quote

import aiohttp
from multidict import CIMultiDictProxy
from yarl import URL

from . import __version__, signatures
from .config import Config
from .errors import BlockedAddressError, DeliveryError, RemoteError
from .keys import KeyPair
from .lru import LRU
from .negotiation import AS2, is_as2_content_type
from .netguard import GuardedResolver, Policy, Resolve
from .signatures import PrivateKey
from .urls import ARCHIVE, Urls, authority, same_origin

Clock = Callable[[], dt.datetime]

ACCEPT_AS2 = f'{AS2}, application/ld+json; profile="https://www.w3.org/ns/activitystreams"'
ACCEPT_JRD = "application/jrd+json, application/json"
DOCUMENT_CAP = 1024 * 1024
"""Largest JSON document read (Mastodon's limit too: docs/receivers.md, Mastodon: fetching)."""
ERROR_CAP = 4096
"""How much of an error or redirect body is read (for the message); the rest is dropped."""
MAX_REDIRECTS = 3
REDIRECTS = frozenset({301, 302, 303, 307, 308})
_TEMPORARY = frozenset({401, 408, 429})
"""4xx worth retrying (Mastodon's list: docs/receivers.md, Mastodon: fetching); any other 4xx will not get better."""


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass(frozen=True)
class _Answer:
    status: int
    headers: CIMultiDictProxy[str]
    body: bytes
    url: str

    def snippet(self) -> str:
        text = self.body[:160].decode("utf-8", "replace")
        return "".join(c if c.isprintable() else " " for c in text).strip()


class Signer:
    """Signs off the event loop, on ``THREADS`` threads, in batches.

    An RSA-2048 signature costs ~400 µs of CPU, the largest part of a delivery, and cryptography releases the
    GIL while it computes one; so here the loop keeps sending while other cores sign. Every signature asked
    for during one pass of the loop goes to a thread together: one hop there and back (~100 µs on these
    small VMs) per batch, not per signature.

    ``jobs.Backlog`` and ``DeliveryWorker._done`` batch the same way, each written out: one generic helper for
    the three was measured and cost the fan-out 5 - 8 % (``bench.run --only fanout``, alternating runs, fedi/raw
    0.75, 0.69, 0.76, 0.67 with the helper against 0.81, 0.74, 0.80 without), on the path where every
    signature's await counts.
    """

    THREADS = min(2, os.cpu_count() or 1)
    """With one thread, a fan-out's requests waited ~40 ms on average for their signature (batches queue behind
    each other while the thread also waits for the GIL to hand each one back); with two, ~27 ms, and the
    fan-out went from 0.70 - 0.74 to 0.69 - 0.91 of raw (bench/fanout.py, five runs each). More threads than
    two only compete with the event loop for the small servers' cores."""

    BATCH = 8
    """Signatures per hop (~3 ms of RSA): a bigger batch would hold its first requests back until its last
    signature is done, and a fan-out would go out in bursts instead of a steady stream."""

    def __init__(self) -> None:
        self._executor: ThreadPoolExecutor | None = None
        self._pending: list[tuple[asyncio.Future[bytes], PrivateKey, bytes]] = []
        self._batches: set[asyncio.Task[None]] = set()

    async def sign(self, key: PrivateKey, base: bytes) -> bytes:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[bytes] = loop.create_future()
        self._pending.append((future, key, base))
        if len(self._pending) == 1:
            loop.call_soon(self._flush)
        return await future

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None

    def _flush(self) -> None:
        pending, self._pending = self._pending, []
        for start in range(0, len(pending), self.BATCH):
            task = asyncio.ensure_future(self._run(pending[start:start + self.BATCH]))
            self._batches.add(task)
            task.add_done_callback(self._batches.discard)

    async def _run(self, batch: list[tuple[asyncio.Future[bytes], PrivateKey, bytes]]) -> None:
        if self._executor is None:
            self._executor = ThreadPoolExecutor(max_workers=self.THREADS, thread_name_prefix="fedi-sign")
        try:
            outcomes = await asyncio.get_running_loop().run_in_executor(
                self._executor, _sign_all, [(key, base) for _, key, base in batch])
        except BaseException as exc:  # the executor is shut down (closing), or this task was cancelled
            outcomes = [(None, exc if isinstance(exc, Exception) else RuntimeError("signing cancelled"))] * len(batch)
        for (future, _, _), (signature, error) in zip(batch, outcomes, strict=True):
            if future.done():
                continue
            if error is not None:
                future.set_exception(error)
            else:
                assert signature is not None
                future.set_result(signature)


def _sign_all(work: list[tuple[PrivateKey, bytes]]) -> list[tuple[bytes | None, Exception | None]]:
    """On the signing thread: each signature, or the error that stopped it."""
    out: list[tuple[bytes | None, Exception | None]] = []
    for key, base in work:
        try:
            out.append((signatures.sign_base(key, base), None))
        except Exception as exc:  # handed to the one request that asked
            out.append((None, exc))
    return out


class Client:
    """Signed, guarded HTTP to other servers. Use ``async with Client(...)`` or ``start()``/``close()``."""

    def __init__(self, config: Config, urls: Urls, keys: Mapping[str, KeyPair], clock: Clock = utcnow,
                 resolver: Resolve | None = None, policy: Policy | None = None) -> None:
        self.config, self.urls, self.keys, self.clock = config, urls, keys, clock
        self.policy = policy or Policy.from_security(config.security.allow_private_addresses)
        self.resolver = GuardedResolver(self.policy, resolver)
        self.user_agent = f"fedi/{__version__} (+{config.server.base_url})"
        self._styles: LRU[str, str] = LRU(config.server.cache_entries)
        """The signature style each host answered to (hosts come from key ids and inboxes: bounded)."""
        self._session: aiohttp.ClientSession | None = None
        self._signer = Signer()

    # lifetime ------------------------------------------------------------------------------------------------
    async def start(self) -> None:
        if self._session is not None:
            return
        delivery = self.config.delivery
        connector = aiohttp.TCPConnector(limit=delivery.concurrency, limit_per_host=delivery.per_host,
                                         resolver=self.resolver)
        self._session = aiohttp.ClientSession(
            connector=connector, headers={"User-Agent": self.user_agent}, trust_env=False,
            timeout=aiohttp.ClientTimeout(total=delivery.timeout, connect=delivery.timeout))

    async def close(self) -> None:
        if self._session is not None:
            session, self._session = self._session, None
            await session.close()
        self._signer.close()

    async def __aenter__(self) -> Client:
        await self.start()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.close()

    # signature style per host ----------------------------------------------------------------------------------
    def style_for(self, host: str) -> str:
        """The style to sign with for ``host`` (``host[:port]``, as ``authority`` spells it)."""
        return self._styles.get(host.lower(), signatures.CAVAGE)

    def remember_style(self, host: str, style: str) -> None:
        self._styles[host.lower()] = style

    # the API -------------------------------------------------------------------------------------------------
    async def get_json(self, url: str, *, role: str = ARCHIVE) -> dict[str, Any]:
        """A signed GET of an ActivityStreams document; RemoteError (status kept: 404/410 mean gone) otherwise."""
        answer = await self._get(url, role, ACCEPT_AS2, signed=True)
        if answer.status != 200:
            raise RemoteError(f"GET {answer.url}: HTTP {answer.status}" + _gone(answer.status), answer.status)
        content_type = answer.headers.get("Content-Type")
        if not is_as2_content_type(content_type):
            raise RemoteError(f"GET {answer.url}: Content-Type {content_type or '(none)'!r} is not ActivityStreams "
                              f"(application/activity+json or application/ld+json)", answer.status)
        document = _json_object(answer)
        doc_id = document.get("id")
        if not isinstance(doc_id, str) or not doc_id:
            raise RemoteError(f"GET {answer.url}: the document has no id", answer.status)
        if not same_origin(doc_id, answer.url):
            raise RemoteError(f"GET {answer.url}: the document's id {doc_id[:200]} is on another host than the "
                              f"URL it was fetched from", answer.status)
        return document

    async def webfinger(self, acct: str, *, scheme: str = "https") -> dict[str, Any]:
        """An unsigned WebFinger lookup of ``user@domain`` (Mastodon does not sign these); the JRD as a dict."""
        user, _, domain = acct.removeprefix("acct:").lstrip("@").rpartition("@")
        if not user or not domain:
            raise RemoteError(f"{acct}: not a user@domain handle")
        resource = f"acct:{user}@{domain}"
        url = f"{scheme}://{domain}/.well-known/webfinger?resource={quote(resource, safe=':@')}"
        answer = await self._get(url, ARCHIVE, ACCEPT_JRD, signed=False)
        if answer.status != 200:
            raise RemoteError(f"WebFinger {resource}: HTTP {answer.status}" + _gone(answer.status), answer.status)
        if "json" not in (answer.headers.get("Content-Type") or ""):
            raise RemoteError(f"WebFinger {resource}: not JSON ({answer.headers.get('Content-Type')!r})",
                              answer.status)
        return _json_object(answer)

    async def post_activity(self, inbox: str, body: bytes, *, role: str = ARCHIVE) -> int:
        """A signed POST of an activity; the 2xx status, else DeliveryError (``permanent``, ``retry_after``).

        A refused address is a permanent DeliveryError whose ``__cause__`` is the BlockedAddressError.
        Only 307/308 redirects are followed (they keep the method and body; RFC 9110 §15.4).
        """
        url = inbox
        for _ in range(MAX_REDIRECTS + 1):
            try:
                self._check(url, "POST")
                answer = await self._signed("POST", url, role, body, {"Content-Type": AS2}, strict=False)
            except BlockedAddressError as exc:
                raise _delivery_error(str(exc), None, True, None) from exc
            except RemoteError as exc:
                raise _delivery_error(str(exc), None, False, None) from exc
            if 200 <= answer.status < 300:
                return answer.status
            location = answer.headers.get("Location")
            if answer.status in (307, 308) and location:
                url = _follow(url, location)
                continue
            snippet = answer.snippet()
            raise _delivery_error(f"POST {url}: HTTP {answer.status}" + (f": {snippet}" if snippet else ""),
                                  answer.status, _permanent(answer.status), self._retry_after(answer))
        raise _delivery_error(f"POST {inbox}: more than {MAX_REDIRECTS} redirects", None, False, None)

    # internals -------------------------------------------------------------------------------------------------
    def _check(self, url: str, method: str) -> None:
        try:
            self.policy.check_url(url)
        except BlockedAddressError as exc:
            raise BlockedAddressError(f"{method} {exc}") from None

    async def _get(self, url: str, role: str, accept: str, signed: bool) -> _Answer:
        """GET with redirects followed by hand (each location through the guard again)."""
        current = url
        for _ in range(MAX_REDIRECTS + 1):
            self._check(current, "GET")
            headers = {"Accept": accept}
            if signed:
                answer = await self._signed("GET", current, role, None, headers, strict=True)
            else:
                answer = await self._once("GET", current, role, None, headers, None, strict=True)
            location = answer.headers.get("Location")
            if answer.status not in REDIRECTS:
                return answer
            if not location:
                raise RemoteError(f"GET {current}: HTTP {answer.status} without a Location", answer.status)
            current = _follow(current, location)
        raise RemoteError(f"GET {url}: more than {MAX_REDIRECTS} redirects (last to {current})")

    async def _signed(self, method: str, url: str, role: str, body: bytes | None, headers: dict[str, str],
                      strict: bool) -> _Answer:
        """One request, and one more in the other style when the first was refused for its signature."""
        host = authority(url)
        style = self.style_for(host)
        answer = await self._once(method, url, role, body, headers, style, strict)
        if "Accept-Signature" in answer.headers:  # RFC 9421 §5: the server asks for RFC 9421 signatures
            self.remember_style(host, signatures.RFC9421)
        if not _signature_refused(answer):
            return answer
        other = signatures.RFC9421 if style == signatures.CAVAGE else signatures.CAVAGE
        retry = await self._once(method, url, role, body, headers, other, strict)
        if not _signature_refused(retry):
            self.remember_style(host, other)
        return retry

    async def _once(self, method: str, url: str, role: str, body: bytes | None, headers: dict[str, str],
                    style: str | None, strict: bool) -> _Answer:
        if self._session is None:
            raise RuntimeError("Client.start() was not called")
        send = headers
        if style is not None:
            pair = self.keys[role]
            unsigned = signatures.prepare_request(method, url, headers, body, self.urls.key(role), pair.private,
                                                  style, self.clock())
            send = unsigned.signed(await self._signer.sign(pair.private, unsigned.base))
        try:
            async with self._session.request(method, url, data=body, headers=send, allow_redirects=False) as resp:
                ok = 200 <= resp.status < 300
                data = await _read(resp, DOCUMENT_CAP if ok else ERROR_CAP, strict and ok, f"{method} {url}")
                return _Answer(resp.status, resp.headers, data, url)
        except BlockedAddressError as exc:
            raise BlockedAddressError(f"{method} {url}: {exc}") from None
        except RemoteError:
            raise
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise RemoteError(f"{method} {url}: {_describe(exc)}") from None

    def _retry_after(self, answer: _Answer) -> float | None:
        """``Retry-After`` in seconds from now: delta-seconds or an HTTP-date (RFC 9110 §10.2.3)."""
        value = (answer.headers.get("Retry-After") or "").strip()
        if not value:
            return None
        if value.isdigit():
            return float(value)
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=dt.UTC)
        return max(0.0, (when - self.clock()).total_seconds())


async def _read(resp: aiohttp.ClientResponse, cap: int, strict: bool, what: str) -> bytes:
    """The body up to ``cap`` bytes (after decompression); past it, an error when ``strict``, else cut."""
    length = resp.content_length
    if strict and length is not None and length > cap:
        raise RemoteError(f"{what}: the document is {length} bytes, over the {cap}-byte limit", resp.status)
    chunks, size = [], 0
    async for chunk in resp.content.iter_chunked(64 * 1024):
        size += len(chunk)
        if size > cap:
            if strict:
                raise RemoteError(f"{what}: the document is over the {cap}-byte limit", resp.status)
            chunks.append(chunk[:len(chunk) - (size - cap)])
            break
        chunks.append(chunk)
    return b"".join(chunks)


def _signature_refused(answer: _Answer) -> bool:
    """401, or a 400/403 whose body blames the signature (PeerTube: 403 "Invalid signature"), or a 4xx asking
    for another kind of signature."""
    if answer.status == 401:
        return True
    if answer.status in (400, 403) and b"signature" in answer.body.lower():
        return True
    return 400 <= answer.status < 500 and "Accept-Signature" in answer.headers


def _permanent(status: int) -> bool:
    if 400 <= status < 500:
        return status not in _TEMPORARY
    return status == 501


def _delivery_error(message: str, status: int | None, permanent: bool, retry_after: float | None) -> DeliveryError:
    return DeliveryError(message, status, permanent=permanent, retry_after=retry_after)


def _follow(url: str, location: str) -> str:
    """The absolute URL a (possibly relative) Location points to."""
    try:
        return str(URL(url).join(URL(location)))
    except (ValueError, TypeError):
        raise RemoteError(f"{url}: redirect to a malformed Location {location[:200]!r}") from None


def _gone(status: int) -> str:
    return " (gone)" if status in (404, 410) else ""


def _json_object(answer: _Answer) -> dict[str, Any]:
    try:
        document = json.loads(answer.body)
    except (ValueError, UnicodeDecodeError):
        raise RemoteError(f"GET {answer.url}: the body is not valid JSON", answer.status) from None
    except RecursionError:  # a document nested thousands of levels deep: Python's parser gives up
        raise RemoteError(f"GET {answer.url}: the body is nested too deeply", answer.status) from None
    if not isinstance(document, dict):
        raise RemoteError(f"GET {answer.url}: the body is not a JSON object", answer.status)
    return document


def _describe(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return "timed out"
    if isinstance(exc, aiohttp.ClientConnectorError):
        return f"cannot connect ({exc.os_error.strerror or exc.os_error})"
    return str(exc) or type(exc).__name__

