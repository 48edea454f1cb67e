"""Pure WebFinger (RFC 7033), host-meta (RFC 6415) and NodeInfo documents, and the WebFinger resource parser.

Mastodon finds an account through ``acct:user@host`` and insists that the ``self`` link (type
``application/activity+json``) equals the actor id exactly (docs/receivers.md, Mastodon: WebFinger); PeerTube takes
the first ``self`` link (docs/receivers.md, PeerTube: channels). Both fall back to host-meta's ``lrdd`` template.
"""

from __future__ import annotations

import html
import re
from typing import Any
from urllib.parse import urlsplit
from xml.sax.saxutils import quoteattr

from . import __version__
from .config import Config
from .talk_objects import player_size, sized_image
from .talks import Talk
from .urls import ARCHIVE, ROLES, Urls, authority_of

NODEINFO_VERSIONS = ("2.0", "2.1")
NODEINFO_SCHEMA = "http://nodeinfo.diaspora.software/ns/schema/{}"
AS2 = "application/activity+json"
PROFILE_PAGE = "http://webfinger.net/rel/profile-page"
MAX_RESOURCE = 2048
_USER_RE = re.compile(r"^[A-Za-z0-9_.\-]+$")


class ResourceError(ValueError):
    """A malformed ``resource`` parameter (the route answers 400)."""


def parse_resource(resource: str, urls: Urls) -> str | None:
    """The role a WebFinger resource names, None for an unknown user or another host.

    Like Mastodon: ``acct:user@host`` or a bare ``user@host``, the user case-insensitive, the host equal to ours
    (with its ``:port`` when not the default); or the URL of one of our actors. ``@user@host`` names no one (the
    user part would be ``@user``). Anything else that is not a URL or an ``@`` address is malformed.
    """
    if not isinstance(resource, str):
        raise ResourceError("resource must be a string")
    text = resource.strip()
    if not text or len(text) > MAX_RESOURCE or any(c.isspace() or ord(c) < 32 or c == "\x7f" for c in text):
        raise ResourceError("resource must be acct:user@host or an actor URL")
    if text.lower().startswith(("http://", "https://")):
        return _role_of_url(text, urls)
    if text.lower().startswith("acct:"):
        text = text[len("acct:"):]
    user, at, host = text.rpartition("@")
    if not at or not user or not host:
        raise ResourceError("resource must be acct:user@host or an actor URL")
    if not _USER_RE.match(user) or _host(host, urls) != _host(urls.domain, urls):
        return None
    return next((role for role in ROLES if urls.username(role).lower() == user.lower()), None)


def _host(netloc: str, urls: Urls) -> str:
    """A host[:port] in comparable form (``urls.authority_of``), read with our scheme's default port."""
    return authority_of(netloc, urlsplit(urls.base).scheme)


def _role_of_url(url: str, urls: Urls) -> str | None:
    try:
        parts = urlsplit(url)
        netloc = parts.netloc
        _ = parts.port  # raises ValueError on a port that is not a number
    except ValueError:
        raise ResourceError("resource is not a valid URL") from None
    if not netloc or _host(netloc, urls) != _host(urls.domain, urls):
        return None
    path = parts.path.rstrip("/")
    for role in ROLES:
        if urlsplit(urls.actor(role)).path == path:
            return role
    return None


def webfinger(urls: Urls, role: str) -> dict[str, Any]:
    """The JRD for one of our actors; ``self`` comes first for clients that take the first link."""
    actor_id = urls.actor(role)
    return {
        "subject": f"acct:{urls.handle(role)}",
        "aliases": [actor_id],
        "links": [
            {"rel": "self", "type": AS2, "href": actor_id},
            {"rel": PROFILE_PAGE, "type": "text/html", "href": actor_id},
        ],
    }


def host_meta(urls: Urls) -> str:
    """The XRD pointing to WebFinger (Mastodon tries it when /.well-known/webfinger answers 404)."""
    return ('<?xml version="1.0" encoding="UTF-8"?>\n'
            '<XRD xmlns="http://docs.oasis-open.org/ns/xri/xrd-1.0">\n'
            f'  <Link rel="lrdd" template={quoteattr(urls.webfinger_template())}/>\n'
            "</XRD>\n")


def nodeinfo_index(urls: Urls) -> dict[str, Any]:
    """``/.well-known/nodeinfo``: where the NodeInfo documents are."""
    return {"links": [{"rel": NODEINFO_SCHEMA.format(v), "href": urls.nodeinfo(v)} for v in NODEINFO_VERSIONS]}


def nodeinfo(version: str, *, local_posts: int, name: str, description: str) -> dict[str, Any]:
    """NodeInfo 2.0 or 2.1: two users (the archive and its owner), no registrations, ActivityPub only."""
    if version not in NODEINFO_VERSIONS:
        raise ValueError(f"unknown NodeInfo version {version!r}")
    return {
        "version": version,
        "software": {"name": "fedi", "version": __version__},
        "protocols": ["activitypub"],
        "services": {"inbound": [], "outbound": []},
        "openRegistrations": False,
        "usage": {"users": {"total": 2, "activeMonth": 2, "activeHalfyear": 2}, "localPosts": local_posts},
        "metadata": {"nodeName": name, "nodeDescription": description},
    }


def oembed(config: Config, urls: Urls, talk: Talk, max_width: int | None = None,
           max_height: int | None = None) -> dict[str, Any]:
    """The oEmbed answer (type ``video``) for a talk page: Mastodon turns it into a link card whose ``html``
    (an ``<iframe>`` of the embed page, the one element its sanitizer keeps) plays the talk inline.

    The frame keeps the player's proportions within ``max_width``/``max_height`` when the consumer gives them.
    """
    width, height = player_size(talk)
    scale = min(1.0, (max_width or width) / width, (max_height or height) / height)
    width, height = max(1, round(width * scale)), max(1, round(height * scale))
    thumbnail, thumb_width, thumb_height = sized_image(config, urls, talk)
    frame = (f'<iframe src="{html.escape(urls.embed(talk.slug))}" width="{width}" height="{height}" '
             f'title="{html.escape(talk.title)}" frameborder="0" allowfullscreen></iframe>')
    return {
        "type": "video",
        "version": "1.0",
        "title": talk.title,
        "author_name": ", ".join(talk.speakers),
        "author_url": urls.actor(ARCHIVE),
        "provider_name": config.actor.name,
        "provider_url": f"{urls.base}/",
        "thumbnail_url": thumbnail,
        "thumbnail_width": thumb_width,
        "thumbnail_height": thumb_height,
        "width": width,
        "height": height,
        "html": frame,
    }
