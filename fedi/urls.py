"""The only place ids and URLs are minted, and the one notion of a server's identity.

Ids derive from usernames and slugs and never change. A remote server is named by ``authority`` (the key of every
per-host state: delivery limits, circuit breaker, signature style), ``host`` (what domain blocks match) and
``origin``/``same_origin`` (who may speak for an id): all three read a URL the same way — host lowercase, without
a trailing dot, an internationalized name as punycode (as aiohttp sends it), the scheme's default port dropped.
"""

from __future__ import annotations

import functools
import hashlib
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import NamedTuple
from urllib.parse import quote, unquote, urlsplit

ARCHIVE = "archive"
OWNER = "owner"
ROLES = (ARCHIVE, OWNER)


DEFAULT_PORTS = {"http": 80, "https": 443}


class Origin(NamedTuple):
    """Scheme, host and port (the default one filled in): two URLs with equal origins are one server."""

    scheme: str
    host: str
    port: int | None


def host_name(name: str) -> str:
    """A host name in comparable form: lowercase, no trailing dot, an IDN as punycode ("" when it is none).

    Punycode as yarl (aiohttp's URL) makes it, IDNA 2008 with UTS 46 mapping, then IDNA 2003, so a name here is
    the name the client connects to. An IPv6 address is given without brackets."""
    name = name.strip().rstrip(".")
    if name.isascii():
        return name.lower()
    import idna  # here: the store, which imports this module, loads with the standard library alone

    try:
        return idna.encode(name, uts46=True).decode("ascii")
    except (idna.IDNAError, UnicodeError):
        try:
            return name.encode("idna").decode("ascii").lower()
        except UnicodeError:
            return ""


@functools.lru_cache(maxsize=4096)
def origin(url: str) -> Origin | None:
    """The URL's origin; None when it has no host or cannot be parsed (an invalid port, a bad IDN).
    Cached: a fan-out asks for the same inboxes at every attempt."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    host = host_name(parts.hostname or "")
    if not host:
        return None
    return Origin(scheme, host, port if port is not None else DEFAULT_PORTS.get(scheme))


def same_origin(a: str, b: str) -> bool:
    """Both URLs are on one server (scheme, host and port); never true for a URL that cannot be parsed.

    ``a`` that starts with ``b``'s own ``scheme://authority/`` is on its server without being parsed: an inbox
    checks each new activity id against its actor this way, and parsing every id would push the servers fedi
    delivers to out of ``origin``'s cache."""
    y = origin(b)
    if y is None:
        return False
    start = b.find("://")
    end = b.find("/", start + 3) if start > 0 else -1
    if end > 0 and a.startswith(b[:end + 1]):
        return True
    return origin(a) == y


def host(url: str) -> str:
    """The URL's host name without port ("" when none): what domain blocks match."""
    found = origin(url)
    return found.host if found is not None else ""


def authority(url: str) -> str:
    """``host[:port]`` of a URL, the port only when not the scheme's default ("" when none): the key of per-host
    state (delivery limits, circuit breaker, signature style) and the domain of a handle."""
    found = origin(url)
    if found is None:
        return ""
    name = f"[{found.host}]" if ":" in found.host else found.host
    return name if found.port is None or found.port == DEFAULT_PORTS.get(found.scheme) else f"{name}:{found.port}"


def authority_of(netloc: str, scheme: str = "https") -> str:
    """``authority`` of a bare ``host[:port]`` (a handle's domain), read as if in a URL of ``scheme``; "" for
    anything else (a path, query, fragment or user part, white space: ``example.com#x`` is no domain)."""
    if not netloc or any(c in "/?#@\\" or not c.isprintable() or c.isspace() for c in netloc):
        return ""
    return authority(f"{scheme}://{netloc}/")


def domain_matches(name: str, domain: str) -> bool:
    """A domain block covers the domain and its subdomains (both as ``host_name`` gives them)."""
    return bool(domain) and (name == domain or name.endswith("." + domain))


@dataclass(frozen=True)
class Urls:
    base: str
    archive_username: str
    owner_username: str

    @property
    def domain(self) -> str:
        """Our ``authority``: the domain of our handles."""
        return authority(self.base)

    @property
    def hostname(self) -> str:
        """The host without a port: what Mastodon compares with an actor's ``attributionDomains``."""
        return (urlsplit(self.base).hostname or "").lower()

    # actors -----------------------------------------------------------------
    def username(self, role: str) -> str:
        return self.archive_username if role == ARCHIVE else self.owner_username

    def actor(self, role: str) -> str:
        return f"{self.base}/actors/{self.username(role)}"

    def key(self, role: str) -> str:
        return f"{self.actor(role)}#main-key"

    def inbox(self, role: str) -> str:
        return f"{self.actor(role)}/inbox"

    def outbox(self, role: str) -> str:
        return f"{self.actor(role)}/outbox"

    def outbox_page(self, role: str, page: int) -> str:
        return f"{self.outbox(role)}?page={page}"

    def followers(self, role: str) -> str:
        return f"{self.actor(role)}/followers"

    def followers_page(self, role: str, page: int) -> str:
        return f"{self.followers(role)}?page={page}"

    def following(self, role: str) -> str:
        return f"{self.actor(role)}/following"

    def featured(self, role: str) -> str:
        return f"{self.actor(role)}/featured"

    def shared_inbox(self) -> str:
        return f"{self.base}/inbox"

    def handle(self, role: str) -> str:
        """``archive@talks.example.org`` (no leading @)."""
        return f"{self.username(role)}@{self.domain}"

    def role_of(self, actor_id: str) -> str | None:
        """Which local actor an id names, if any."""
        for role in ROLES:
            if actor_id == self.actor(role):
                return role
        return None

    # talks and their activities ------------------------------------------------
    def talk(self, slug: str) -> str:
        return f"{self.base}/talks/{slug}"

    def talk_uuid(self, slug: str) -> str:
        """Stable per talk id, and a version-4 UUID: PeerTube keys videos by uuid and its validator accepts
        only v4 (``isUUIDValid``). Derived from the talk's id, so the same archive always names a talk the same."""
        digest = hashlib.sha256(self.talk(slug).encode()).digest()
        return str(uuid.UUID(bytes=digest[:16], version=4))

    def embed(self, slug: str) -> str:
        """The bare player of a talk, for other sites' frames (oEmbed, twitter:player)."""
        return f"{self.talk(slug)}/embed"

    def oembed_endpoint(self) -> str:
        return f"{self.base}/oembed"

    def oembed(self, page: str) -> str:
        """The oEmbed answer for one of our pages, as its ``<link rel="alternate">`` announces it."""
        return f"{self.oembed_endpoint()}?url={quote(page, safe='')}&format=json"

    def create(self, slug: str) -> str:
        return f"{self.talk(slug)}/create"

    def update(self, slug: str, version: int) -> str:
        return f"{self.talk(slug)}/updates/{version}"

    def delete(self, slug: str) -> str:
        return f"{self.talk(slug)}/delete"

    def recreate(self, slug: str, version: int) -> str:
        """The Create of a talk added again after its removal (receivers dedupe by id: it needs its own)."""
        return self.activity(f"{slug}.create.{version}")

    def redelete(self, slug: str, version: int) -> str:
        """The Delete of a talk removed a second (or later) time."""
        return self.activity(f"{slug}.delete.{version}")

    def announce(self, slug: str) -> str:
        return f"{self.talk(slug)}/announce"

    def replies(self, slug: str) -> str:
        return f"{self.talk(slug)}/replies"

    def replies_page(self, slug: str, page: int) -> str:
        return f"{self.replies(slug)}?page={page}"

    def likes(self, slug: str) -> str:
        return f"{self.talk(slug)}/likes"

    def shares(self, slug: str) -> str:
        return f"{self.talk(slug)}/shares"

    def dislikes(self, slug: str) -> str:
        """Always empty; PeerTube fetches it for its counts (docs/receivers.md, PeerTube: videos)."""
        return f"{self.talk(slug)}/dislikes"

    def pin(self, slug: str, version: int, pinned: bool) -> str:
        """The Add (pinned) or Remove of a talk to the featured collection: ``version`` counts the changes."""
        return self.activity(f"{slug}.{'add' if pinned else 'remove'}.{version}")

    def featured_update(self, token: str) -> str:
        """The archive's Update that follows pin changes (receivers then read ``featured`` again)."""
        return self.activity(f"featured.{token}")

    def quote_authorization(self, slug: str, token: str) -> str:
        """A QuoteAuthorization of talk ``slug``, served under the talk like its other documents."""
        return f"{self.talk(slug)}/quotes/{token}"

    def quote_accept(self, token: str) -> str:
        return self.activity(f"accept-quote-{token}")

    def caption(self, slug: str, language: str, tag: str) -> str:
        """A local caption file; ``tag`` follows its content, so an edit gives a new URL (and an Update)."""
        return f"{self.talk(slug)}/captions/{language}.{tag}.vtt"

    def chapters(self, slug: str, tag: str) -> str:
        """The chapters document a Video's ``hasParts`` names (PeerTube fetches it)."""
        return f"{self.talk(slug)}/chapters/{tag}"

    def chapters_track(self, slug: str, tag: str) -> str:
        """The same chapters as a WebVTT file, for the players' ``<track kind="chapters">``."""
        return f"{self.chapters(slug, tag)}.vtt"

    def transcript(self, slug: str, language: str) -> str:
        return f"{self.talk(slug)}/transcript/{language}"

    def moment(self, slug: str, seconds: int) -> str:
        """The talk page, its player set at ``seconds`` (a media-fragment style anchor)."""
        return f"{self.talk(slug)}#t={int(seconds)}"

    def talk_slug(self, object_id: str) -> str | None:
        """The slug named by one of our talk ids (``…/talks/<slug>``), or None for any other URL."""
        prefix = f"{self.base}/talks/"
        if not object_id.startswith(prefix):
            return None
        slug = object_id[len(prefix):]
        return slug if slug and not any(c in slug for c in "/?#") else None

    def activity(self, token: str) -> str:
        """Other activities (Accept, Reject, actor Update…), kept in the store and served from there."""
        return f"{self.base}/activities/{token}"

    def hashtag(self, tag: str) -> str:
        return f"{self.base}/tags/{quote(tag.lower(), safe='')}"

    # files ------------------------------------------------------------------
    def media(self, relpath: str) -> str:
        return f"{self.base}/media/{quote(relpath)}"

    def talk_files(self, slug: str, refs: Sequence[str]) -> list[str]:
        """Where a talk's media files are served, in the order of ``refs``: ``/media/<uuid>-<basename>``.

        PeerTube stores a remote file under the basename of its URL, in a column unique over the whole
        instance, so two talks' ``video.webm`` (from any servers) would collide; the talk's uuid makes each
        basename unique. A basename repeated within one talk gets its position too (``<uuid>-2-talk.webm``).
        A local file is served at that URL; a file hosted elsewhere is redirected to from it.
        """
        prefix = self.talk_uuid(slug)
        seen: set[str] = set()
        out = []
        for i, ref in enumerate(refs):
            name = file_basename(ref)
            while name in seen:
                name = f"{i + 1}-{name}"
            seen.add(name)
            out.append(self.media(f"{prefix}-{name}"))
        return out

    def resolve(self, ref: str) -> str:
        """An entry's media or thumbnail reference: an absolute URL stays, a path is served under /media/."""
        if ref.startswith(("http://", "https://")):
            return ref
        return self.media(ref)

    def static(self, name: str) -> str:
        return f"{self.base}/static/{name}"

    # discovery --------------------------------------------------------------
    def nodeinfo(self, version: str) -> str:
        return f"{self.base}/nodeinfo/{version}"

    def webfinger_template(self) -> str:
        return f"{self.base}/.well-known/webfinger?resource={{uri}}"


def file_basename(ref: str) -> str:
    """The last path segment of a media reference (a relative path or a URL), decoded; ``file`` when empty."""
    path = urlsplit(ref).path if ref.startswith(("http://", "https://")) else ref
    name = unquote(PurePosixPath(path).name) if path else ""
    return name.replace("/", "_") or "file"
