"""The persistence interface: what fedi keeps between requests and between processes.

``Store`` is the contract; ``open_store(url)`` picks the backend (SQLite or PostgreSQL, same contract).
Every operation is one transaction: it happens entirely or not at all, so a crash or a full disk never leaves
half a publish behind. Several processes (``fedi serve``, ``fedi deliver``, ``fedi sync``) may share one store;
claims of queue rows are atomic across them. Failures of the store itself (disk full, read-only file, cannot
open) raise ``StoreError`` naming the file; the store stays usable once the cause is gone.

Times are aware UTC datetimes passed in by callers (the store never reads the clock); JSON documents go in and
come out as dicts, or as the stored bytes where the caller serves or sends them unchanged. Cancelling the task
that awaits an operation skips it if it has not started yet; once started, it completes (or rolls back) as a whole.
Invalid arguments (a naive datetime, an unknown state or kind) raise ValueError before anything is written.

    async with open_store(config.store.url) as store:
        record = await store.talk("my-talk")
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from datetime import datetime
from types import TracebackType

from ..errors import StoreError
from .records import (
    COMMENT_STATES,
    FOLLOWER_STATES,
    KEY_KINDS,
    REACTION_KINDS,
    ActivitySummary,
    CachedActor,
    CachedKey,
    Comment,
    DeadHost,
    Delivery,
    DeliveryInfo,
    Document,
    Follower,
    HostState,
    Job,
    NewDelivery,
    OutActivity,
    Pin,
    PublishCounts,
    QueueCounts,
    Quote,
    ReactionCounts,
    Status,
    TalkChange,
    TalkJson,
    TalkRecord,
    TalkStamp,
    Target,
)
from .tables import TABLES, Row

__all__ = [
    "COMMENT_STATES", "FOLLOWER_STATES", "KEY_KINDS", "REACTION_KINDS", "ActivitySummary", "CachedActor",
    "CachedKey", "Comment", "DeadHost", "Delivery", "DeliveryInfo", "Document", "Follower", "HostState", "Job",
    "NewDelivery", "OutActivity", "Pin", "PublishCounts", "Quote", "QueueCounts", "ReactionCounts", "Row", "Status",
    "Store", "TABLES", "TalkChange", "TalkJson", "TalkRecord", "TalkStamp", "Target", "open_store",
]


def open_store(url: str) -> Store:
    """The store for ``url``, not yet opened: use ``async with``.

    ``sqlite:///PATH`` (optionally ``?mode=ro``) is one SQLite file, the default; ``postgresql://…`` (or
    ``postgres://…``) a PostgreSQL database through asyncpg (the ``postgres`` extra), for several processes on
    several machines (see ``postgres_base.PostgresBase.from_url`` for its options).
    """
    if url.startswith("sqlite:///"):
        from .sqlite import SqliteStore

        return SqliteStore.from_url(url)
    if url.startswith(("postgresql://", "postgres://")):
        try:
            from .postgres import PostgresStore
        except ModuleNotFoundError as exc:
            if exc.name != "asyncpg":
                raise
            raise StoreError(f"store url {url.partition('://')[0]}://{url.rpartition('@')[2]}: PostgreSQL needs the "
                             "asyncpg package; install it with: pip install 'fedi[postgres]'") from None
        return PostgresStore.from_url(url)
    raise StoreError(f"store url {url!r}: unknown kind of store; use sqlite:///ABSOLUTE/PATH or "
                     "postgresql://USER:PASSWORD@HOST/DATABASE")


class Store(ABC):
    """What every backend guarantees. All operations are coroutines and each is one transaction."""

    # lifetime ------------------------------------------------------------------------------------------------
    @abstractmethod
    async def open(self) -> None:
        """Connect and bring the schema up to date (migrations run in one transaction).

        Raises StoreError when the store cannot be opened or was written by a newer fedi.
        """

    @abstractmethod
    async def close(self) -> None:
        """Finish queued calls and disconnect; closing twice is harmless."""

    async def __aenter__(self) -> Store:
        await self.open()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.close()

    async def data_version(self) -> int | None:
        """A number that changes whenever anything is committed to the store, by any process; None when the
        backend cannot tell cheaply. While it stays the same, what was read from the store still holds (the
        routes serve cached documents without asking the store again). Must cost far less than an operation."""
        return None

    @abstractmethod
    async def integrity_check(self) -> str:
        """The backend's own consistency check: ``"ok"`` or the problems it found."""

    # published talks -----------------------------------------------------------------------------------------
    @abstractmethod
    async def talk(self, slug: str) -> TalkRecord | None:
        """The talk as last published, deleted ones included."""

    @abstractmethod
    async def talk_json(self, slug: str) -> TalkJson | None:
        """The stored object of a talk as bytes (hot path: served at the talk's id)."""

    @abstractmethod
    async def talks(self, include_deleted: bool = False) -> list[TalkRecord]:
        """All talks, newest ``published`` first, then by slug."""

    @abstractmethod
    async def live_talks(self, offset: int, limit: int) -> list[TalkRecord]:
        """One page of the talks not deleted, in the order of ``talks``."""

    @abstractmethod
    async def count_live_talks(self) -> int:
        """How many talks are not deleted."""

    async def talk_stamp(self, slug: str) -> TalkStamp | None:
        """What a talk's served documents depend on (hot path: every read of a talk checks its cached bytes
        against it). This default composes other operations; a backend answers it in one query."""
        rec = await self.talk(slug)
        if rec is None:
            return None
        return await self._stamp(rec.slug, rec.version, rec.deleted is not None)

    async def live_talk_stamps(self, offset: int, limit: int) -> tuple[int, list[TalkStamp]]:
        """(live talks, the stamps of one page of them, in the order of ``live_talks``): the key of a cached
        outbox page. This default composes other operations; a backend answers it in one snapshot."""
        total = await self.count_live_talks()
        page = await self.live_talks(offset, limit)
        return total, [await self._stamp(rec.slug, rec.version, False) for rec in page]

    async def _stamp(self, slug: str, version: int, deleted: bool) -> TalkStamp:
        approved = await self.comments(slug, state="approved")
        reactions = await self.reaction_counts(slug)
        return TalkStamp(slug, version, deleted, len(approved), reactions.likes, reactions.shares)

    @abstractmethod
    async def publish(self, changes: Sequence[TalkChange], activities: Sequence[OutActivity],
                      deliveries: Sequence[NewDelivery], pins: Sequence[Pin] = ()) -> PublishCounts:
        """Write talk rows, pin states, outgoing activities and their delivery rows in ONE transaction.

        Each change makes its talk row what the change says: a new slug is inserted; an existing row takes a
        change whose version is the stored version + 1 (an Update, or a re-Create after deletion), or a deletion
        at the stored version. A change the row already matches is skipped (the same publish run again). Any
        other version means another publish ran meanwhile: StoreError, and nothing of this call is written.
        Pins follow the same rule: version 1 for a talk never pinned, else the stored version + 1; a pin equal
        to the stored one is skipped. Activities are kept once per id and deliveries once per (activity id,
        inbox), so running the same publish again writes nothing new. Returns the rows actually written.
        """

    @abstractmethod
    async def pins(self) -> list[Pin]:
        """Every talk's last announced pin state (talks never pinned have none), by slug."""

    @abstractmethod
    async def featured(self) -> list[str]:
        """The slugs of the pinned talks not deleted, in the order of ``talks`` (newest ``published`` first)."""

    # outgoing activities -------------------------------------------------------------------------------------
    @abstractmethod
    async def activity(self, activity_id: str) -> Document | None:
        """An outgoing activity as stored."""

    @abstractmethod
    async def activity_json(self, activity_id: str) -> bytes | None:
        """An outgoing activity as the stored bytes (hot path: served at its id)."""

    @abstractmethod
    async def recent_activities(self, limit: int = 10) -> list[ActivitySummary]:
        """The newest outgoing activities with their delivered / dead / total delivery counts."""

    # followers -----------------------------------------------------------------------------------------------
    @abstractmethod
    async def add_follower(self, follower: Follower) -> bool:
        """Insert or update by (role, actor_id), keeping the original ``since``; ``follow_id`` joins the Follow ids
        the follower is known by (``follow_senders``) until it stops following. True when it was new."""

    @abstractmethod
    async def remove_follower(self, role: str, actor_id: str) -> bool:
        """True when there was such a follower."""

    @abstractmethod
    async def follower(self, role: str, actor_id: str) -> Follower | None:
        """One follower of one of our actors."""

    @abstractmethod
    async def follow_senders(self, follow_id: str) -> list[tuple[str, str]]:
        """(role, actor id) of each follower that sent the Follow ``follow_id``: any Follow recorded by
        ``add_follower`` while it follows, not only the latest (a bare-id Undo may name an older one)."""

    @abstractmethod
    async def followers(self, role: str, state: str | None = None, offset: int = 0,
                        limit: int | None = None) -> list[Follower]:
        """Followers of ``role`` (all states when None), oldest ``since`` first."""

    @abstractmethod
    async def count_followers(self, role: str, state: str | None = "accepted") -> int:
        """How many followers ``role`` has in ``state`` (all states when None)."""

    @abstractmethod
    async def set_follower_state(self, role: str, actor_id: str, state: str) -> bool:
        """Accept (or put back to pending) a follower. True when the follower exists."""

    @abstractmethod
    async def remove_actor(self, actor_id: str) -> dict[str, int]:
        """Forget a remote actor everywhere (it was deleted, or blocked).

        Removes it from the followers of every role, its cached document and keys, its comments, reactions,
        received records and the quote authorizations of its posts. Returns the rows removed per kind:
        followers, comments, reactions, keys, actors, received, quotes.
        """

    @abstractmethod
    async def move_follower(self, old_actor_id: str, new_actor_id: str, inbox: str, shared_inbox: str | None,
                            host: str) -> int:
        """The follower moved accounts (Move): it now follows as the new actor, ``since`` and state kept.

        Where the new actor already follows the same role, the old row just goes: no duplicate, and no role
        gains a follower. Returns the number of roles whose follower moved.
        """

    @abstractmethod
    async def remove_followers_matching(self, value: str) -> int:
        """Remove followers whose actor id is ``value`` (an id) or whose host is, or is under, the domain
        ``value``. Returns how many rows went."""

    @abstractmethod
    async def remove_followers_at_inbox(self, inbox: str) -> int:
        """Remove the followers (of every role) reached through ``inbox`` as their PERSONAL inbox, i.e. without
        a shared inbox: that inbox answered 404/410, so the account is gone. Returns how many rows went."""

    @abstractmethod
    async def delivery_targets(self, roles: Iterable[str]) -> list[Target]:
        """The distinct inboxes to POST to for the accepted followers of ``roles``, sorted by inbox.

        A follower with a shared inbox is reached through it (one target however many followers are behind
        it), any other through its personal inbox; an inbox appears once across all roles.
        """

    async def targets_for(self, role: str) -> list[Target]:
        """``delivery_targets`` for one role (e.g. the owner's followers, for its Announce)."""
        return await self.delivery_targets([role])

    # inbound activities --------------------------------------------------------------------------------------
    @abstractmethod
    async def seen(self, activity_id: str, now: datetime) -> bool:
        """Record an incoming activity id; True when it was ALREADY recorded (atomic: exactly one caller of
        many concurrent ones gets False)."""

    @abstractmethod
    async def is_seen(self, activity_id: str) -> bool:
        """Whether ``seen`` recorded this id (a read: the inbox checks it before handling, records after)."""

    @abstractmethod
    async def forget_seen_before(self, when: datetime) -> int:
        """Prune ids recorded before ``when``; returns how many went."""

    @abstractmethod
    async def record_received(self, activity_id: str, type: str, actor: str, document: Document,
                              now: datetime) -> bool:
        """Keep a received activity (Accept, Reject, …) for the record. False when it was already kept."""

    @abstractmethod
    async def received(self, activity_id: str) -> Document | None:
        """A received activity kept by ``record_received``."""

    # remote actors and keys ----------------------------------------------------------------------------------
    @abstractmethod
    async def cache_actor(self, actor_id: str, document: Document, keys: Iterable[tuple[str, str, str]],
                          fetched_at: datetime) -> None:
        """Replace the cached document and keys of an actor; keys are (key_id, material, kind) with kind
        ``pem`` or ``multibase``. A fetch that succeeded clears ``mark_gone``."""

    @abstractmethod
    async def cached_actor(self, actor_id: str) -> CachedActor | None:
        """The cached document and when it was fetched (the caller decides whether it is too old)."""

    @abstractmethod
    async def cached_key(self, key_id: str) -> CachedKey | None:
        """A cached public key by its id (hot path: every signed request)."""

    @abstractmethod
    async def forget_actor(self, actor_id: str) -> bool:
        """Drop the cached document and keys (e.g. to refetch after a key rotation). True when cached."""

    @abstractmethod
    async def mark_gone(self, actor_id: str, when: datetime) -> None:
        """Its document answered 404/410: drop the cache and stop fetching it."""

    @abstractmethod
    async def is_gone(self, actor_id: str) -> bool:
        """Whether ``mark_gone`` was recorded and no later fetch succeeded."""

    # durable jobs --------------------------------------------------------------------------------------------
    @abstractmethod
    async def add_job(self, kind: str, payload: Document, due: datetime) -> int:
        """Queue slow work (it survives restarts); returns its id."""

    @abstractmethod
    async def add_jobs_of(self, kind: str, items: Sequence[tuple[str, Document]], due: datetime) -> list[bool]:
        """Queue one job per (actor id, payload) in one transaction, except for an actor that is blocked (itself,
        its host or a parent domain, as ``is_blocked``): True for each job queued, False for each left out."""

    @abstractmethod
    async def claim_jobs(self, now: datetime, limit: int, lease_seconds: float, worker: str) -> list[Job]:
        """Atomically take up to ``limit`` due jobs, oldest due first. A claimed job is invisible to other
        workers until ``now + lease_seconds``; if it is not finished, retried or failed by then, it comes back."""

    @abstractmethod
    async def finish_job(self, job_id: int) -> None:
        """The job is done: it goes."""

    @abstractmethod
    async def retry_job(self, job_id: int, due: datetime, error: str) -> None:
        """Try again at ``due``, keeping ``error`` as the last one."""

    @abstractmethod
    async def fail_job(self, job_id: int, error: str) -> None:
        """Give up: the job stays, failed, for inspection, and is never claimed again."""

    @abstractmethod
    async def next_job_due(self, now: datetime) -> datetime | None:
        """When the next job is due (``now`` when one already is), None when there is none."""

    # delivery queue ------------------------------------------------------------------------------------------
    @abstractmethod
    async def claim_deliveries(self, now: datetime, limit: int, lease_seconds: float, worker: str,
                               skip_hosts: Iterable[str] = (), *, hosts: Iterable[str] | None = None,
                               per_host: int | None = None, busy: Mapping[str, int] | None = None
                               ) -> list[Delivery]:
        """Atomically take up to ``limit`` due rows, oldest due first, none for ``skip_hosts``.

        Two workers, even in two processes, never hold the same row at the same time; a row not resolved by
        ``now + lease_seconds`` (the worker crashed) becomes claimable again. Counts an attempt.
        ``hosts``: only rows for these hosts (a probe of a dead host). ``per_host``: at most that many rows per
        host, less the rows the worker already holds for it (``busy``: host → rows in hand), so that a worker
        never holds a row it cannot send at once.
        """

    @abstractmethod
    async def deliveries_done(self, done: Sequence[tuple[int, int]], now: datetime) -> None:
        """These inboxes accepted them: (delivery id, HTTP status) each, recorded together."""

    async def delivery_done(self, delivery_id: int, status: int, now: datetime) -> None:
        """The inbox accepted it."""
        await self.deliveries_done([(delivery_id, status)], now)

    @abstractmethod
    async def delivery_retry(self, delivery_id: int, due: datetime, status: int | None, error: str,
                             now: datetime) -> None:
        """It failed for now: claimable again at ``due``."""

    @abstractmethod
    async def delivery_dead(self, delivery_id: int, status: int | None, error: str, now: datetime) -> None:
        """It failed for good (4xx, too old, host dead): never claimed again unless ``retry_dead``."""

    @abstractmethod
    async def delivery_counts(self, activity_id: str | None = None) -> QueueCounts:
        """Rows per state, for one activity or all."""

    @abstractmethod
    async def deliveries(self, failed_only: bool = False, activity_id: str | None = None,
                         limit: int = 100) -> list[DeliveryInfo]:
        """Rows with their last status, error and attempt time, most recently attempted first. ``failed_only``
        keeps dead rows and rows retrying after an error."""

    @abstractmethod
    async def retry_dead(self, now: datetime, activity_id: str | None = None, inbox: str | None = None) -> int:
        """Put dead rows (all, or of one activity and/or inbox) back in the queue, due ``now``, with a fresh
        ``created`` and attempt count. Returns how many."""

    @abstractmethod
    async def expire_deliveries(self, now: datetime, created_before: datetime, hosts: Iterable[str],
                                error: str) -> int:
        """Give up (dead, with ``error``) the waiting rows for ``hosts`` queued before ``created_before``: rows
        of hosts the circuit breaker skips, which would otherwise wait forever. Leased rows are left alone.
        Returns how many."""

    @abstractmethod
    async def next_due(self, now: datetime) -> datetime | None:
        """When the next row is due (``now`` when one already is), None when nothing waits; lets a worker
        sleep until then. Leased rows count at their lease expiry."""

    @abstractmethod
    async def prune_deliveries(self, before: datetime) -> int:
        """Remove done and dead rows last attempted before ``before``; returns how many."""

    # host health (circuit breaker) -----------------------------------------------------------------------------
    @abstractmethod
    async def host_failed(self, host: str, now: datetime) -> HostState:
        """Record a failed attempt to ``host``; ``failing_since`` is kept from the first failure in a row."""

    @abstractmethod
    async def host_ok(self, host: str) -> bool:
        """A success: the host is healthy again. True when it had been failing."""

    @abstractmethod
    async def host_state(self, host: str) -> HostState | None:
        """None when the host is healthy."""

    @abstractmethod
    async def dead_hosts(self, now: datetime, days: float) -> list[DeadHost]:
        """Hosts failing without a success for at least ``days``, longest failing first."""

    # blocks ----------------------------------------------------------------------------------------------------
    @abstractmethod
    async def block(self, value: str) -> bool:
        """Block a domain (``example.com``, which covers its subdomains) or an actor id. True when new."""

    @abstractmethod
    async def unblock(self, value: str) -> bool:
        """True when it was blocked."""

    @abstractmethod
    async def blocks(self) -> list[str]:
        """Every blocked domain and actor id, sorted."""

    @abstractmethod
    async def is_blocked(self, actor_id: str) -> bool:
        """True when the actor id, its host or a parent domain of its host is blocked (a bare domain works
        too)."""

    # comments --------------------------------------------------------------------------------------------------
    @abstractmethod
    async def add_comment(self, comment: Comment) -> bool:
        """Insert, or refresh by id. A refresh keeps the moderation state and ``published``, and only its
        author may refresh it. True when it was new."""

    @abstractmethod
    async def comment(self, comment_id: str) -> Comment | None:
        """One comment, whatever its state."""

    @abstractmethod
    async def update_comment_content(self, comment_id: str, author_id: str, content_html: str,
                                     updated: datetime) -> bool:
        """An Update from the comment's author. False when there is no such comment by that author."""

    @abstractmethod
    async def delete_comment(self, comment_id: str, author_id: str) -> bool:
        """A Delete from the comment's author. False when there is no such comment by that author."""

    @abstractmethod
    async def comments(self, slug: str, state: str | None = "approved") -> list[Comment]:
        """Comments on a talk in ``state`` (all when None), oldest first."""

    @abstractmethod
    async def pending_comments(self) -> list[Comment]:
        """Comments waiting for moderation on every talk, oldest first."""

    @abstractmethod
    async def set_comment_state(self, comment_id: str, state: str) -> bool:
        """Approve, hide or send back to pending. True when the comment exists."""

    @abstractmethod
    async def is_reply_target(self, object_id: str) -> str | None:
        """The talk slug when ``object_id`` is a stored comment (a reply to it joins that conversation)."""

    # reactions -------------------------------------------------------------------------------------------------
    @abstractmethod
    async def add_reaction(self, kind: str, activity_id: str, actor_id: str, slug: str, now: datetime) -> bool:
        """A Like (``like``) or Announce (``announce``) of a talk; at most one per actor, talk and kind.
        True when it was new."""

    @abstractmethod
    async def remove_reaction(self, actor_id: str, kind: str, activity_id: str | None = None,
                              slug: str | None = None) -> bool:
        """An Undo: by the reaction's activity id or by talk slug, and only the actor's own."""

    @abstractmethod
    async def reaction_counts(self, slug: str) -> ReactionCounts:
        """(likes, shares) of a talk."""

    # quote authorizations ----------------------------------------------------------------------------------------
    @abstractmethod
    async def add_quote(self, quote: Quote, activity: OutActivity, delivery: NewDelivery) -> bool:
        """Keep a quote authorization with its Accept and the Accept's delivery row, in ONE transaction.

        Each is kept once per id (the delivery once per activity and inbox), so answering the same request
        again writes nothing new; an authorization already revoked stays revoked. True when the authorization
        was new."""

    @abstractmethod
    async def quote(self, quote_id: str) -> Quote | None:
        """One authorization by its URI, revoked or not."""

    @abstractmethod
    async def revoke_quotes(self, quoting: str, author: str, now: datetime) -> int:
        """The post ``quoting`` by ``author`` was deleted: its authorizations are revoked. Returns how many."""

    # fedi status ---------------------------------------------------------------------------------------------
    @abstractmethod
    async def status(self, now: datetime, dead_host_days: float = 7.0, recent: int = 5) -> Status:
        """Everything ``fedi status`` prints, read in one consistent snapshot."""

    # bulk copy between stores (fedi migrate) -------------------------------------------------------------------
    @abstractmethod
    def export_rows(self, table: str, batch: int = 1000) -> AsyncIterator[list[Row]]:
        """Every row of ``table`` (a name in ``tables.TABLES``) in primary-key order, ``batch`` rows at a time,
        as plain values (``tables`` says which): each batch is read by one statement."""

    @abstractmethod
    async def import_rows(self, table: str, rows: Sequence[Row]) -> int:
        """Insert ``rows`` (as ``export_rows`` gives them) or replace the rows with their keys, in one
        transaction; queue rows keep their ids and the id counter moves past them. Returns ``len(rows)``."""

    @abstractmethod
    async def delete_rows(self, table: str, keys: Sequence[tuple[object, ...]]) -> int:
        """Delete the rows of ``table`` with these primary keys (tuples in the order of ``Table.key``), in one
        transaction. Returns how many went."""

    @abstractmethod
    async def count_rows(self, table: str) -> int:
        """How many rows ``table`` holds."""
