"""Pure reader of remote actor documents: who follows us, where to deliver, which keys sign for them.

Real servers disagree on shapes (fixtures: Mastodon, PeerTube, Lemmy, GoToSocial, Mitra, oeee.cafe): ``type``
may be an array (``["Person", "vcard:individual"]``), ``publicKey`` an object, a list or a bare URL, keys may
come as FEP-521a ``assertionMethod`` Multikeys, ``url``/``icon`` as strings, Links or lists, the shared inbox
under ``endpoints`` or at the top level. Only ``id``, ``type`` and ``inbox`` are required (Mastodon and PeerTube
refuse an actor without them: docs/receivers.md, Mastodon: actors, and PeerTube: channels).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from .errors import ActivityError
from .urls import authority

ACTOR_TYPES = ("Person", "Group", "Service", "Application", "Organization")


@dataclass(frozen=True)
class RemoteKey:
    id: str
    owner: str
    pem: str | None = None
    """SubjectPublicKeyInfo PEM from ``publicKey`` (None when only a URL was given)."""
    multibase: str | None = None
    """``publicKeyMultibase`` of a FEP-521a Multikey."""


@dataclass(frozen=True)
class RemoteActor:
    id: str
    type: str
    inbox: str
    shared_inbox: str | None = None
    preferred_username: str | None = None
    name: str | None = None
    url: str | None = None
    """The profile page (the text/html link when several are given)."""
    icon: str | None = None
    followers: str | None = None
    outbox: str | None = None
    also_known_as: tuple[str, ...] = ()
    moved_to: str | None = None
    keys: tuple[RemoteKey, ...] = ()
    manually_approves: bool = False

    @property
    def host(self) -> str:
        """The id's ``authority`` (host[:port]): the domain of its handle."""
        return authority(self.id)

    @property
    def delivery_inbox(self) -> str:
        """Where to POST what is not personal: the shared inbox when there is one (one delivery per server)."""
        return self.shared_inbox or self.inbox

    def handle(self, host: str | None = None) -> str | None:
        """``user@host`` (``host`` defaults to the id's host, as Mastodon's WebFinger round trip uses it)."""
        if not self.preferred_username:
            return None
        return f"{self.preferred_username}@{host or self.host}"

    def key(self, key_id: str) -> RemoteKey | None:
        """The key named ``key_id``, if this actor publishes it."""
        return next((k for k in self.keys if k.id == key_id), None)


def read_actor(doc: Any) -> RemoteActor:
    """A remote actor, or ActivityError("actor document: <field> …") naming what is wrong."""
    if not isinstance(doc, dict):
        raise ActivityError("actor document: not a JSON object")
    actor_id = _url(doc.get("id"))
    if actor_id is None:
        raise ActivityError("actor document: id is missing or not an http(s) URL")
    kind = _actor_type(doc.get("type"))
    if kind is None:
        raise ActivityError(f"actor document: type {str(doc.get('type'))[:60]!r} is not one of "
                            f"{', '.join(ACTOR_TYPES)}")
    inbox = _url(doc.get("inbox"))
    if inbox is None:
        raise ActivityError("actor document: inbox is missing or not an http(s) URL")
    endpoints = doc.get("endpoints")
    shared = _url(endpoints.get("sharedInbox")) if isinstance(endpoints, dict) else None
    return RemoteActor(
        id=actor_id,
        type=kind,
        inbox=inbox,
        shared_inbox=shared or _url(doc.get("sharedInbox")),
        preferred_username=_text(doc.get("preferredUsername")),
        name=_text(doc.get("name")),
        url=_html_url(doc.get("url")),
        icon=_image_url(doc.get("icon")),
        followers=_url(_ref(doc.get("followers"))),
        outbox=_url(_ref(doc.get("outbox"))),
        also_known_as=tuple(u for u in (_url(_ref(v)) for v in _list(doc.get("alsoKnownAs"))) if u),
        moved_to=_url(_ref(doc.get("movedTo"))),
        keys=_keys(doc, actor_id),
        manually_approves=doc.get("manuallyApprovesFollowers") is True,
    )


def key_owner(doc: Any, key_id: str) -> str:
    """Who a key belongs to, from the document its id points at: an actor, or a standalone key document.

    The caller must still check that the owner's actor lists the same key (Mastodon's bi-directional check).
    """
    if not isinstance(doc, dict):
        raise ActivityError("key document: not a JSON object")
    if _actor_type(doc.get("type")) is not None:
        remote = read_actor(doc)
        if remote.key(key_id) is None:
            raise ActivityError(f"actor document: {remote.id} does not publish key {key_id}")
        return remote.id
    if _ref(doc.get("id")) != key_id:
        raise ActivityError(f"key document: id is not {key_id}")
    owner = _url(_ref(doc.get("owner") or doc.get("controller")))
    if owner is None:
        raise ActivityError("key document: owner is missing or not an http(s) URL")
    return owner


# helpers ----------------------------------------------------------------------------------------

def _list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _ref(value: Any) -> Any:
    """An id given as a string or as an object with ``id`` (or a Link's ``href``)."""
    if isinstance(value, dict):
        return value.get("id") or value.get("href")
    return value


def _url(value: Any) -> str | None:
    if not isinstance(value, str) or len(value) > 2048:
        return None
    try:
        parts = urlsplit(value)
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.netloc or any(c.isspace() for c in value):
        return None
    return value


def _actor_type(value: Any) -> str | None:
    return next((t for t in _list(value) if t in ACTOR_TYPES), None)


def _html_url(value: Any) -> str | None:
    """The profile page: the text/html Link if any, else the first plain URL or Link without a type."""
    fallback = None
    for item in _list(value):
        if isinstance(item, str):
            fallback = fallback or _url(item)
        elif isinstance(item, dict):
            href = _url(item.get("href"))
            if href and item.get("mediaType") == "text/html":
                return href
            if href and not item.get("mediaType"):
                fallback = fallback or href
    return fallback


def _image_url(value: Any) -> str | None:
    for item in _list(value):
        if isinstance(item, dict):
            item = item.get("url")
            if isinstance(item, list):
                item = item[0] if item else None
            item = _ref(item)
        url = _url(item)
        if url:
            return url
    return None


def _keys(doc: dict[str, Any], actor_id: str) -> tuple[RemoteKey, ...]:
    """``publicKey`` entries then FEP-521a Multikeys, merged by key id (Mitra publishes a key both ways)."""
    found: dict[str, RemoteKey] = {}

    def add(key: RemoteKey) -> None:
        old = found.get(key.id)
        found[key.id] = key if old is None else RemoteKey(
            key.id, old.owner, old.pem or key.pem, old.multibase or key.multibase)

    for item in _list(doc.get("publicKey")):
        if isinstance(item, str) and _url(item):
            add(RemoteKey(item, actor_id))
        elif isinstance(item, dict) and _url(item.get("id")):
            pem = item.get("publicKeyPem")
            add(RemoteKey(item["id"], _url(_ref(item.get("owner"))) or actor_id,
                          pem=pem if isinstance(pem, str) and pem.strip() else None))
    for item in _list(doc.get("assertionMethod")):
        if isinstance(item, dict) and _url(item.get("id")) and isinstance(item.get("publicKeyMultibase"), str):
            add(RemoteKey(item["id"], _url(_ref(item.get("controller"))) or actor_id,
                          multibase=item["publicKeyMultibase"]))
    return tuple(found.values())
