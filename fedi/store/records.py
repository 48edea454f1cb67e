"""The typed records that cross the store boundary, shared by every backend.

Times are aware ``datetime`` objects in UTC, always passed in by the caller (the store never reads the clock).
JSON documents go in as ``dict`` and come out as ``dict``, or as the stored ``bytes`` where a caller serves or
sends them as they are (no re-encoding per request or per delivery). Records returned in bulk on hot paths
(``Target``) are named tuples: creating 100,000 of them costs a third of the same number of dataclasses.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

from ..urls import host, host_name

Document = dict[str, Any]

FOLLOWER_STATES = ("accepted", "pending")
COMMENT_STATES = ("pending", "approved", "hidden")
REACTION_KINDS = ("like", "announce")
KEY_KINDS = ("pem", "multibase")


# published talks and outgoing activities -------------------------------------------------------------------
@dataclass(frozen=True)
class TalkRecord:
    slug: str
    uuid: str
    version: int
    """Set by the publisher at the first Create; each Update stores the next number."""
    object_hash: str
    published: datetime
    updated: datetime
    deleted: datetime | None
    object: Document
    """The talk object as last published (or the Tombstone given at deletion): what is served at its id."""


class TalkJson(NamedTuple):
    """The stored object of a talk as bytes, for serving at its id without re-encoding."""

    body: bytes
    deleted: bool


@dataclass(frozen=True)
class TalkChange:
    """The row a talk should have after ``publish``: the same fields as ``TalkRecord``.

    ``version`` is the number this change stores: the first for a new slug, the stored version + 1 for an
    Update or a re-Create after deletion (the caller mints activity ids from it), the stored version itself when
    ``deleted`` is set (a deletion keeps the version).
    """

    slug: str
    uuid: str
    version: int
    object_hash: str
    published: datetime
    updated: datetime
    deleted: datetime | None
    object: Document


@dataclass(frozen=True)
class OutActivity:
    id: str
    actor_role: str
    type: str
    slug: str | None
    document: Document
    published: datetime


class PublishCounts(NamedTuple):
    """Rows actually written by ``publish``; all zero when the same publish runs again."""

    talks: int
    activities: int
    deliveries: int


@dataclass(frozen=True)
class Pin:
    """A talk's pinned state as last announced to followers (``Add``/``Remove`` to the featured collection).

    ``version`` counts the announced changes: the first pin stores 1, each later change the stored version + 1
    (the caller mints the Add/Remove ids from it, so that pinning again after an unpin is a new activity).
    """

    slug: str
    version: int
    pinned: bool
    at: datetime
    """When this state was announced."""


@dataclass(frozen=True)
class Quote:
    """A QuoteAuthorization: the archive lets ``quoting`` (a remote post by ``author``) quote talk ``slug``."""

    id: str
    """The authorization's URI, served while it is not revoked."""
    slug: str
    quoting: str
    """The quoting post's id (the authorization's ``interactingObject``)."""
    author: str
    """The quoting post's author, who asked (only they may revoke it, by deleting the post)."""
    request_id: str | None
    created: datetime
    revoked: datetime | None = None


@dataclass(frozen=True)
class ActivitySummary:
    id: str
    type: str
    actor_role: str
    slug: str | None
    published: datetime
    delivered: int
    dead: int
    total: int


# delivery queue ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class NewDelivery:
    activity_id: str
    inbox: str
    host: str
    """Authority of the inbox URL (host[:port], lowercase): the unit of per-host concurrency and health."""
    actor_role: str
    due: datetime


@dataclass(frozen=True)
class Delivery:
    """A claimed delivery row: everything a worker needs to sign and POST it."""

    id: int
    activity_id: str
    inbox: str
    host: str
    actor_role: str
    attempts: int
    """Attempts started, this one included (a claim counts as an attempt, so a crash loop shows)."""
    created: datetime
    """When the row was queued (or re-queued by ``retry_dead``): the start of its maximum age."""
    body: bytes
    """The activity JSON as stored; rows of the same activity share one bytes object."""


@dataclass(frozen=True)
class DeliveryInfo:
    id: int
    activity_id: str
    inbox: str
    host: str
    actor_role: str
    state: str
    """``pending`` (never tried to the end), ``retrying``, ``done`` or ``dead``."""
    attempts: int
    due: datetime
    created: datetime
    last_status: int | None
    last_error: str | None
    last_attempt: datetime | None
    worker: str | None


@dataclass(frozen=True)
class QueueCounts:
    pending: int = 0
    retrying: int = 0
    done: int = 0
    dead: int = 0

    @property
    def total(self) -> int:
        return self.pending + self.retrying + self.done + self.dead


# followers ---------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Follower:
    role: str
    """Which of our actors is followed (``urls.ARCHIVE`` or ``urls.OWNER``)."""
    actor_id: str
    inbox: str
    shared_inbox: str | None
    host: str
    """Lowercase host of the follower's actor id (what domain blocks match)."""
    follow_id: str | None
    since: datetime
    state: str = "accepted"


class Target(NamedTuple):
    """One inbox to POST to and how many distinct followers it reaches."""

    inbox: str
    host: str
    """Authority of ``inbox`` (host[:port], lowercase), as ``NewDelivery.host`` wants it."""
    follower_count: int


# remote actors, keys, hosts -------------------------------------------------------------------------------------
class CachedActor(NamedTuple):
    document: Document
    fetched_at: datetime


@dataclass(frozen=True)
class CachedKey:
    key_id: str
    owner: str
    material: str
    """A PEM (``kind="pem"``) or a multibase string (``kind="multibase"``, FEP-521a)."""
    kind: str
    fetched_at: datetime


@dataclass(frozen=True)
class HostState:
    host: str
    failing_since: datetime
    last_failure: datetime
    failures: int


class DeadHost(NamedTuple):
    host: str
    failing_since: datetime


# durable jobs ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Job:
    id: int
    kind: str
    payload: Document
    attempts: int
    """Attempts started, this one included."""
    lease_until: datetime
    """The claim holds until then; after it the job is claimable again unless finished, retried or failed."""
    created: datetime
    last_error: str | None


# interactions -------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Comment:
    id: str
    """The Note's id."""
    slug: str
    parent_id: str | None
    """The object it replies to (the talk's id or another comment's id), None when unknown."""
    author_id: str
    author_name: str | None
    author_handle: str | None
    author_avatar: str | None
    author_url: str | None
    content_html: str
    """Already sanitised by the caller."""
    language: str | None
    published: datetime
    url: str | None
    state: str = "pending"
    updated: datetime | None = None


class ReactionCounts(NamedTuple):
    likes: int
    shares: int


class TalkStamp(NamedTuple):
    """What the ActivityStreams documents served for a talk depend on, read without parsing its object: the key
    of their cached bytes. ``version`` changes with every publication of the talk (Update, Delete, re-Create);
    the counts are the live ones its object shows."""

    slug: str
    version: int
    deleted: bool
    replies: int
    """Approved replies."""
    likes: int
    shares: int


# fedi status ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Status:
    followers: dict[str, dict[str, int]]
    """role → {"accepted": n, "pending": n}."""
    follower_hosts: int
    """Distinct hosts among accepted followers of every role."""
    live_talks: int
    queue: QueueCounts
    recent: list[ActivitySummary]
    dead_hosts: list[DeadHost]
    jobs: dict[str, int]
    """{"pending": n, "failed": n}."""
    pending_comments: int


# blocks ------------------------------------------------------------------------------------------------------------

def block_domain(value: str) -> str:
    """A blocked domain as ``urls.host_name`` spells hosts (lowercase, punycode), without surrounding dots."""
    return host_name(value.strip().strip("."))


def block_value(value: str) -> str:
    """Actor ids are kept as given, domains lowercase without surrounding dots."""
    value = value.strip()
    normal = value if "://" in value else block_domain(value)
    if not normal:
        raise ValueError(f"block {value!r}: give a domain or an actor id")
    return normal


def block_candidates(actor_id: str) -> list[str]:
    """The actor id, its host and every parent domain of its host: a block of any of them applies."""
    value = actor_id.strip()
    if "://" in value:
        candidates, name = [value], host(value)
    else:
        candidates, name = [], block_domain(value)
    labels = name.split(".") if name else []
    candidates.extend(".".join(labels[i:]) for i in range(len(labels)))
    return candidates
