"""The only place ids and URLs are minted. Ids derive from usernames and slugs and never change."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from urllib.parse import quote, urlsplit

ARCHIVE = "archive"
OWNER = "owner"
ROLES = (ARCHIVE, OWNER)


@dataclass(frozen=True)
class Urls:
    base: str
    archive_username: str
    owner_username: str

    @property
    def domain(self) -> str:
        return urlsplit(self.base).netloc.lower()

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
        """Stable per talk URL, and shaped as a version-4 UUID: PeerTube keys videos by uuid and its
        validator accepts only v4 (isUUIDValid), so the name-based hash gets v4's version and variant bits."""
        raw = bytearray(uuid.uuid5(uuid.NAMESPACE_URL, self.talk(slug)).bytes)
        raw[6] = (raw[6] & 0x0F) | 0x40
        raw[8] = (raw[8] & 0x3F) | 0x80
        return str(uuid.UUID(bytes=bytes(raw)))

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
        """Always empty; PeerTube fetches a Video's ``dislikes`` for its counts (interop.md §2.2)."""
        return f"{self.talk(slug)}/dislikes"

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
