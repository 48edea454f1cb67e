"""From files to activities: compare the archive folder with what was published, and record it in one transaction.

A new entry → ``Create`` by the archive, plus an ``Announce`` by the owner; a changed object → ``Update`` (same
id and uuid, ``updated`` bumped); a removed entry → ``Delete`` with a ``Tombstone``. The talk rows, the
activities and one delivery row per (activity, target inbox) are written by ONE ``store.publish`` call, so a
crash never leaves a publication without its deliveries, and running the same sync twice writes nothing new.

Who receives what (fan-out). Targets come from ``store.delivery_targets``: a follower's shared inbox when it has
one (one POST per shared inbox, however many followers stand behind it), else its personal inbox; deduplicated.

- ``Create`` → the archive's followers. ``Announce`` (by the owner) → the owner's followers only: a Mastodon user
  who follows only the association still sees the talk (Mastodon fans a boost out to the booster's followers),
  and an inbox that already gets the Create is not sent a boost it would only drop. An inbox behind both roles
  receives the two activities, each once: no inbox ever receives the SAME activity twice.
- ``Update`` and ``Delete`` → the followers of both roles, once per inbox: every server that may hold the talk.
- A talk is announced once, at its first publication: an Update never re-announces, and neither does a talk
  added again after its removal (Mastodon keeps a tombstone for a deleted id and refuses it anyway).
- Pinning (``pinned = true`` in the entry) or unpinning a live talk → ``Add`` / ``Remove`` with ``target`` the
  archive's ``featured`` collection, then one ``Update`` of the archive per sync (Mastodon re-reads ``featured``
  when the actor is updated, and fetches pinned talks it never received), to the followers of both roles. What
  was announced is stored (``store.pins``), so each change is sent once, however often the sync runs. A pinned
  talk that is deleted leaves ``featured`` without an activity of its own: its Delete unpins it everywhere.

``published`` of the talk and of its activities is the moment fedi first publishes it (Mastodon only pushes
posts of the last hours to home timelines: docs/receivers.md, Mastodon: posts); the recording date travels as
``originallyPublishedAt`` (PeerTube's field, understood through the object's context).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import zlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import keys as keys_mod
from . import objects
from .config import Config
from .errors import ConfigError, StoreError
from .store import NewDelivery, OutActivity, Pin, PublishCounts, Store, TalkChange, TalkRecord, Target
from .talks import Talk
from .urls import ARCHIVE, OWNER, Urls

log = logging.getLogger(__name__)

VOLATILE = ("published", "updated", "replies", "likes", "shares")
"""Fields that change without the talk changing (dates, counters): they never trigger an Update."""

CREATE, UPDATE, DELETE, PIN, UNPIN = "create", "update", "delete", "pin", "unpin"


@dataclass(frozen=True)
class Targets:
    """The inboxes of a fan-out, read from the store once per sync."""

    archive: tuple[Target, ...] = ()
    owner: tuple[Target, ...] = ()
    everyone: tuple[Target, ...] = ()
    """Followers of both roles, one entry per inbox."""


@dataclass(frozen=True)
class Step:
    """What one talk's change sends: its activities and how many distinct inboxes they reach."""

    kind: str
    """``create``, ``update``, ``delete``, ``pin`` or ``unpin``."""
    slug: str
    activities: tuple[dict[str, Any], ...]
    counts: tuple[int, ...]
    """Inboxes each activity goes to, in the order of ``activities``."""
    inboxes: int
    """Distinct inboxes reached by the step."""
    deliveries: int


@dataclass(frozen=True)
class Plan:
    """Everything one sync writes, computed without touching the store."""

    changes: tuple[TalkChange, ...] = ()
    activities: tuple[OutActivity, ...] = ()
    deliveries: tuple[NewDelivery, ...] = ()
    steps: tuple[Step, ...] = ()
    pins: tuple[Pin, ...] = ()

    @property
    def writes(self) -> bool:
        return bool(self.changes or self.pins)


@dataclass
class Result:
    steps: list[Step] = field(default_factory=list)
    deliveries: int = 0
    activity_ids: list[str] = field(default_factory=list)
    written: PublishCounts | None = None
    """Rows actually written; None for a dry run."""
    dry_run: bool = False

    @property
    def changed(self) -> bool:
        return bool(self.steps)


# pure pieces ---------------------------------------------------------------------------------------------------

def talk_uuid(urls: Urls, slug: str) -> str:
    """The talk's uuid as first published (``Urls.talk_uuid``; the store keeps it afterwards)."""
    return urls.talk_uuid(slug)


def bumped(previous: dt.datetime | None, now: dt.datetime) -> dt.datetime:
    """The ``updated`` of a changed talk: ``now``, or one second after the previous ``updated`` when ``now`` is
    not later in whole seconds (as objects show dates). Mastodon applies an Update only with a newer ``updated``,
    and shows a Note as edited only when ``updated`` differs from ``published``."""
    if previous is None:
        return now
    floor = previous.replace(microsecond=0) + dt.timedelta(seconds=1)
    return now if now >= floor else floor


def object_hash(obj: Mapping[str, Any]) -> str:
    """A hash of what receivers would show of the object, dates and counters left out."""
    stable = {k: v for k, v in obj.items() if k not in VOLATILE}
    return hashlib.sha256(json.dumps(stable, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


def build_object(config: Config, urls: Urls, talk: Talk, *, uuid: str, published: dt.datetime,
                 updated: dt.datetime) -> dict[str, Any]:
    """The talk's object as published: ``talk_object`` plus the recording date on a Note too."""
    obj = objects.talk_object(config, urls, talk, uuid=uuid, published=published, updated=updated)
    # a Video carries it already; PeerTube's term, declared in the objects' context (sc:datePublished)
    obj.setdefault("originallyPublishedAt", objects.iso(talk.recorded))
    return obj


def plan(config: Config, urls: Urls, talks: Iterable[Talk], records: Mapping[str, TalkRecord], targets: Targets,
         now: dt.datetime, *, keep: Iterable[str] = (), only: Iterable[str] | None = None,
         used_ids: Iterable[str] = (), pins: Mapping[str, Pin] | None = None,
         archive: dict[str, Any] | None = None) -> Plan:
    """What to write so that the store matches ``talks``: a pure function of its arguments.

    ``keep``: slugs whose entry exists but could not be read (a typo must not delete a published talk).
    ``only``: restrict the comparison to these slugs (``fedi publish FILE``). ``used_ids``: plain Delete ids the
    store already holds: a talk removed, added again and removed again needs a new Delete id, or receivers (and
    the store) would take the second Delete for the first. ``pins``: the pin states announced so far, by slug
    (None: pins are left as they are). ``archive``: the archive's actor document, for the Update that follows
    pin changes (without it, none is sent).
    """
    current = {t.slug: t for t in talks}
    wanted = set(only) if only is not None else None
    kept, used = set(keep), set(used_ids)
    changes: list[TalkChange] = []
    activities: list[OutActivity] = []
    deliveries: list[NewDelivery] = []
    steps: list[Step] = []

    def send(kind: str, slug: str, sent: Sequence[tuple[dict[str, Any], str, Sequence[Target]]]) -> None:
        inboxes: set[str] = set()
        for activity, role, to in sent:
            inner = activity.get("object")
            about = None if isinstance(inner, dict) and inner.get("id") == archive_id else slug  # Update{archive}
            activities.append(OutActivity(id=activity["id"], actor_role=role, type=activity["type"], slug=about,
                                          document=activity, published=now))
            deliveries.extend(NewDelivery(activity_id=activity["id"], inbox=t.inbox, host=t.host, actor_role=role,
                                          due=now) for t in spread(to))
            inboxes.update(t.inbox for t in to)
        counts = tuple(len(to) for _, _, to in sent)
        steps.append(Step(kind, slug, tuple(a for a, _, _ in sent), counts, len(inboxes), sum(counts)))

    archive_id, owner_id = urls.actor(ARCHIVE), urls.actor(OWNER)
    for slug in sorted(set(current) | set(records)):
        if wanted is not None and slug not in wanted:
            continue
        talk, rec = current.get(slug), records.get(slug)
        if talk is not None and (rec is None or rec.deleted is not None):
            version = 0 if rec is None else rec.version + 1
            uuid = talk_uuid(urls, slug) if rec is None else rec.uuid
            obj = build_object(config, urls, talk, uuid=uuid, published=now, updated=now)
            changes.append(TalkChange(slug=slug, uuid=uuid, version=version, object_hash=object_hash(obj),
                                      published=now, updated=now, deleted=None, object=obj))
            create = objects.create(urls, obj, archive_id)
            if rec is None:
                send(CREATE, slug, [(create, ARCHIVE, targets.archive),
                                    (objects.announce(urls, slug, owner_id, now), OWNER, targets.owner)])
            else:  # added again after its removal: a Create of its own id, to every server that saw the Delete
                create["id"] = urls.recreate(slug, version)
                send(CREATE, slug, [(create, ARCHIVE, targets.everyone)])
        elif talk is not None and rec is not None:
            updated = bumped(rec.updated, now)
            obj = build_object(config, urls, talk, uuid=rec.uuid, published=rec.published, updated=updated)
            digest = object_hash(obj)
            if digest == rec.object_hash:
                continue
            version = rec.version + 1
            changes.append(TalkChange(slug=slug, uuid=rec.uuid, version=version, object_hash=digest,
                                      published=rec.published, updated=updated, deleted=None, object=obj))
            send(UPDATE, slug, [(objects.update(urls, obj, archive_id, version, now), ARCHIVE, targets.everyone)])
        elif talk is None and rec is not None and rec.deleted is None and slug not in kept:
            former = rec.object.get("type") if isinstance(rec.object.get("type"), str) else None
            tomb = objects.tombstone(urls, slug, rec.published, now, former)
            changes.append(TalkChange(slug=slug, uuid=rec.uuid, version=rec.version, object_hash=rec.object_hash,
                                      published=rec.published, updated=now, deleted=now, object=tomb))
            delete = objects.delete(urls, slug, archive_id, now, published=rec.published, former_type=former)
            if delete["id"] in used:  # removed once already: receivers and the store dedupe by id
                delete["id"] = urls.redelete(slug, rec.version)
            send(DELETE, slug, [(delete, ARCHIVE, targets.everyone)])
    pinned = [] if pins is None else plan_pins(urls, current, records, pins, now, kept, wanted)
    for i, (pin, activity) in enumerate(pinned):
        sent = [] if activity is None else [(activity, ARCHIVE, targets.everyone)]
        if sent and archive is not None and not any(a for _, a in pinned[i + 1:]):
            # after the last Add/Remove: receivers re-read the featured collection, fetching unknown talks
            token = hashlib.sha256("\n".join(a["id"] for _, a in pinned if a).encode()).hexdigest()[:32]
            sent.append((objects.update_actor(archive, urls.featured_update(token), now), ARCHIVE,
                         targets.everyone))
        if sent:
            send(PIN if pin.pinned else UNPIN, pin.slug, sent)
    return Plan(tuple(changes), tuple(activities), tuple(deliveries), tuple(steps), tuple(p for p, _ in pinned))


def plan_pins(urls: Urls, current: Mapping[str, Talk], records: Mapping[str, TalkRecord], pins: Mapping[str, Pin],
              now: dt.datetime, kept: set[str], wanted: set[str] | None) -> list[tuple[Pin, dict[str, Any] | None]]:
    """Each pin state to store, with its Add or Remove (None for a talk unpinned by its deletion), by slug.

    A talk is pinned when its entry says so and it is live after this sync; an entry that could not be read
    keeps its state, and so does a talk outside ``wanted``.
    """
    out: list[tuple[Pin, dict[str, Any] | None]] = []
    for slug in sorted(set(current) | set(pins)):
        if (wanted is not None and slug not in wanted) or (slug not in current and slug in kept):
            continue
        talk, old = current.get(slug), pins.get(slug)
        want = talk is not None and talk.pinned
        if want == (old is not None and old.pinned):
            continue
        pin = Pin(slug=slug, version=(old.version if old else 0) + 1, pinned=want, at=now)
        if talk is None and slug in records:  # deleted: its Delete takes it out of featured everywhere
            out.append((pin, None))
        elif talk is not None:
            out.append((pin, objects.pin(urls, slug, urls.pin(slug, pin.version, want), want, now)))
    return out


def spread(targets: Sequence[Target]) -> list[Target]:
    """The targets in the order to queue them: each server's inboxes spread evenly over the whole fan-out.

    The queue is sent oldest row first, and a server takes at most ``delivery.per_host`` at once. In the
    store's order (by inbox URL) a server's inboxes sit together, so a server with many personal inboxes (no
    shared inbox) would be left for last and end the fan-out with a long tail, four at a time. Placing the
    k-th of a server's n inboxes at (k + phase) / n of the way keeps every server busy from the start to the
    end; the phase, a hash of the host, scatters the servers with one inbox instead of piling them in the middle.
    """
    by_host: dict[str, list[Target]] = {}
    for target in targets:
        by_host.setdefault(target.host, []).append(target)
    keyed = [((k + zlib.crc32(host.encode()) / 2**32) / len(group), host, k)
             for host, group in by_host.items() for k in range(len(group))]
    return [by_host[host][k] for _, host, k in sorted(keyed)]


# the store side ------------------------------------------------------------------------------------------------

async def read_targets(store: Store) -> Targets:
    return Targets(archive=tuple(await store.delivery_targets([ARCHIVE])),
                   owner=tuple(await store.delivery_targets([OWNER])),
                   everyone=tuple(await store.delivery_targets([ARCHIVE, OWNER])))


def entry_slugs(folder: Path) -> set[str]:
    """The slugs of every entry file present, readable or not."""
    return {p.stem for p in folder.glob("*.toml")}


async def sync(config: Config, urls: Urls, store: Store, talks: Sequence[Talk], now: dt.datetime, *,
               dry_run: bool = False, only: Iterable[str] | None = None, keep: Iterable[str] | None = None,
               attempts: int = 3, keys: Mapping[str, keys_mod.KeyPair] | None = None) -> Result:
    """Publish what changed in ``talks`` (the valid entries of the folder, or only the slugs in ``only``).

    ``keep`` defaults to the entry files present in the archive folder, so an entry that fails to parse is left
    alone rather than deleted. A missing archive folder is an error once talks were published from it: it would
    otherwise delete every one of them.
    Another process publishing at the same moment makes the store refuse the write; the comparison is then
    made again (``attempts`` times in all). ``keys``: the actors' key pairs, whose public key the archive's
    Update carries after a pin change (read from ``keys_dir`` when not given).
    """
    missing = keep is None and not config.archive.dir.is_dir()
    keep = set(entry_slugs(config.archive.dir) if keep is None and not missing else keep or ())
    only = None if only is None else set(only)
    for attempt in range(1, attempts + 1):
        records = {rec.slug: rec for rec in await store.talks(include_deleted=True)}
        if missing and any(r.deleted is None and (only is None or r.slug in only) for r in records.values()):
            raise ConfigError(f"{config.archive.dir}: the archive folder does not exist (archive.dir); nothing "
                              "was published or deleted")
        pins = {p.slug: p for p in await store.pins()}
        planned = plan(config, urls, talks, records, Targets(), now, keep=keep, only=only, pins=pins)
        if planned.writes:  # the followers are read only when something is sent (100k of them take a while)
            used = await _used_ids(store, urls, records.values(), {t.slug for t in talks} | keep, only)
            archive = group_document(config, urls, keys, now) if any(
                p.slug in {t.slug for t in talks} for p in planned.pins) else None
            planned = plan(config, urls, talks, records, await read_targets(store), now, keep=keep, only=only,
                           used_ids=used, pins=pins, archive=archive)
        result = Result(steps=list(planned.steps), deliveries=len(planned.deliveries),
                        activity_ids=[a.id for a in planned.activities], dry_run=dry_run)
        if dry_run or not planned.writes:
            return result
        try:
            result.written = await store.publish(planned.changes, planned.activities, planned.deliveries,
                                                 planned.pins)
        except StoreError:
            if attempt == attempts:
                raise
            log.info("another publish ran at the same time; comparing again")
            continue
        return result
    raise AssertionError("unreachable")  # pragma: no cover


def group_document(config: Config, urls: Urls, keys: Mapping[str, keys_mod.KeyPair] | None,
                   now: dt.datetime) -> dict[str, Any]:
    """The archive's actor document, as its Update carries it (Mastodon replaces the whole profile, key
    included, with what an Update{actor} embeds)."""
    pair = (keys or keys_mod.load_or_create(config.keys_dir, (ARCHIVE,)))[ARCHIVE]
    return objects.actor(config, urls, ARCHIVE, pair.public_pem, published=now)


async def _used_ids(store: Store, urls: Urls, records: Iterable[TalkRecord], present: set[str],
                    only: set[str] | None) -> set[str]:
    """Plain Delete ids already taken, looked up for the talks about to be deleted only (rare, so cheap)."""
    used = set()
    for rec in records:
        doomed = rec.deleted is None and rec.slug not in present and (only is None or rec.slug in only)
        if doomed and rec.version > 0 and await store.activity_json(urls.delete(rec.slug)) is not None:
            used.add(urls.delete(rec.slug))
    return used
