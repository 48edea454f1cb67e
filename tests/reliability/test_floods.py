"""Floods at a real ``fedi serve`` process: thousands of signed activities, and a storm of account deletions.

50 actors on two remote servers (tests/remote.py, signing like Mastodon) send their activities concurrently,
each actor's in order: replies, deletions of them, likes and boosts and their Undo, Follows and Undo of earlier
ones. 10% carry bad signatures (another key, a tampered body, a broken signature, a stale Date, another actor's
keyId), 5% are byte-for-byte replays of an earlier request whose effect was since undone, 5% are over the size
cap. Exactly the valid ones must take effect, which a model of the stream predicts. Meanwhile GETs of the actor
keep being answered (their p99 is reported).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import random
import time
from dataclasses import dataclass, field
from email.utils import format_datetime
from typing import Any

import aiohttp
import pytest

from fedi import config as config_mod
from fedi.config import urls_for
from fedi.store import open_store
from fedi.urls import ARCHIVE
from tests.conftest import write_config
from tests.fedi_app import AS, free_port
from tests.reliability.common import Fedi, record, size, sqlite_only, until
from tests.remote import AS2, RemoteServer

pytestmark = pytest.mark.usefixtures("loopback_only")

ACTIVITIES = size(500, 5000)
ACTORS = 50
PUBLIC = "https://www.w3.org/ns/activitystreams#Public"
SHARES = {"valid": 0.80, "bad signature": 0.10, "replay": 0.05, "oversize": 0.05}
BAD_KINDS = ("another key", "tampered body", "broken signature", "stale date", "another actor's keyId")
STATUS = {"valid": 202, "replay": 202, "bad signature": 401, "oversize": 413}


@dataclass
class Actor:
    server: RemoteServer
    name: str
    follows: bool = False
    """Followed before the flood (its Follow request is kept for a replay)."""
    follow_request: tuple[bytes, dict[str, str]] | None = None
    new_follower: bool = False
    """Followed during the flood (never undone there: a Follow's job may still be running)."""
    comments: set[str] = field(default_factory=set)
    reactions: dict[str, str | None] = field(default_factory=lambda: {"like": None, "announce": None})
    """kind → the id of the standing Like/Announce, None when none stands."""

    @property
    def id(self) -> str:
        return self.server.actor_id(self.name)


@dataclass
class Sent:
    category: str
    detail: str
    status: int = 0


@dataclass
class Flood:
    fedi: Fedi
    base: str
    talk: str
    archive: str
    servers: list[RemoteServer]
    actors: list[Actor]
    store_url: str

    @property
    def inbox(self) -> str:
        return self.base + "/inbox"


@pytest.fixture
async def flood(archive_dir, request):
    sqlite_only(request, "a real fedi process; the inbox's store calls already ran on both backends")
    port = free_port()
    write_config(archive_dir, server={"port": port, "base_url": f"http://127.0.0.1:{port}"},
                 archive={"watch_seconds": 0}, interactions={"moderation": "none"})
    config = config_mod.load(archive_dir / "config.toml")
    urls = urls_for(config)
    from fedi import keys as keys_mod

    keys = keys_mod.load_or_create(config.keys_dir)
    servers = [await RemoteServer.start(name=f"r{i}", host=f"127.0.0.{i + 2}", actors=()) for i in range(2)]
    actors = []
    for n in range(ACTORS):
        server = servers[n % 2]
        server.add_actor(f"a{n}")
        actors.append(Actor(server, f"a{n}"))
    for server in servers:
        for role, pair in keys.items():
            server.trust(urls.key(role), pair.public_pem)
    fedi = await Fedi(archive_dir, "serve").start("serve")
    try:
        session = aiohttp.ClientSession()
        try:
            async def up() -> bool:
                try:
                    async with session.get(urls.actor(ARCHIVE), headers={"Accept": AS2}) as resp:
                        return resp.status == 200
                except aiohttp.ClientError:
                    return False
            await until(up, 30, "fedi serve to answer", fedi, every=0.1)
        finally:
            await session.close()
        yield Flood(fedi, config.server.base_url, urls.talk("debat"), urls.actor(ARCHIVE), servers, actors,
                    config.store.url)
    finally:
        await fedi.stop()
        for server in servers:
            await server.close()


def signed(actor: Actor, url: str, activity: dict[str, Any], **options: Any) -> tuple[bytes, dict[str, str]]:
    body = json.dumps(activity).encode()
    return body, actor.server.sign("POST", url, body, actor=actor.name, **options)


def note(flood: Flood, actor: Actor, tag: str) -> dict[str, Any]:
    note_id = f"{actor.id}/statuses/{tag}"
    return {"@context": AS, "id": note_id + "/activity", "type": "Create", "actor": actor.id, "to": [PUBLIC],
            "object": {"id": note_id, "type": "Note", "attributedTo": actor.id, "inReplyTo": flood.talk,
                       "content": f"<p>reply {tag}</p>", "to": [PUBLIC], "published": "2026-01-01T00:00:00Z"}}


class Script:
    """One actor's stream of requests, with the model of what the valid ones do."""

    def __init__(self, flood: Flood, actor: Actor, rng: random.Random) -> None:
        self.flood, self.actor, self.rng = flood, actor, rng
        self.steps: list[tuple[Sent, bytes, dict[str, str]]] = []
        self.n = 0

    def tag(self) -> str:
        self.n += 1
        return f"{self.actor.name}-{self.n}"

    def add(self, category: str, detail: str, body: bytes, headers: dict[str, str]) -> None:
        self.steps.append((Sent(category, detail), body, headers))

    def valid(self, activity: dict[str, Any], detail: str) -> tuple[bytes, dict[str, str]]:
        body, headers = signed(self.actor, self.flood.inbox, activity)
        self.add("valid", detail, body, headers)
        return body, headers

    # valid activities, with their effect on the model ----------------------------------------------------------
    def create(self) -> str:
        doc = note(self.flood, self.actor, self.tag())
        self.valid(doc, "Create{Note}")
        self.actor.comments.add(doc["object"]["id"])
        return doc["object"]["id"]

    def delete(self, note_id: str) -> None:
        self.valid({"@context": AS, "id": note_id + "#delete", "type": "Delete", "actor": self.actor.id,
                    "object": {"id": note_id, "type": "Tombstone"}}, "Delete{Note}")
        self.actor.comments.discard(note_id)

    def react(self, kind: str) -> tuple[bytes, dict[str, str]]:
        """Like or Announce the talk, or Undo the standing one."""
        standing = self.actor.reactions[kind]
        verb = "Like" if kind == "like" else "Announce"
        if standing is None:
            activity_id = f"{self.actor.id}#{kind}s/{self.tag()}"
            sent = self.valid({"@context": AS, "id": activity_id, "type": verb, "actor": self.actor.id,
                               "object": self.flood.talk, "to": [PUBLIC]}, verb)
            self.actor.reactions[kind] = activity_id
        else:
            sent = self.valid({"@context": AS, "id": standing + "/undo", "type": "Undo", "actor": self.actor.id,
                               "object": {"id": standing, "type": verb, "actor": self.actor.id,
                                          "object": self.flood.talk}}, f"Undo{{{verb}}}")
            self.actor.reactions[kind] = None
        return sent

    def unfollow(self) -> None:
        self.valid({"@context": AS, "id": self.actor.id + "#follows/1/undo", "type": "Undo", "actor": self.actor.id,
                    "object": {"id": self.actor.id + "#follows/1", "type": "Follow", "actor": self.actor.id,
                               "object": self.flood.archive}}, "Undo{Follow}")
        self.actor.follows = False

    # the three kinds of invalid request ----------------------------------------------------------------------------
    def replay(self) -> int:
        """Replay, byte for byte, an earlier request whose effect was undone since; returns the valid requests
        it took to set it up."""
        actor = self.actor
        if actor.follows and actor.follow_request is not None:
            self.unfollow()
            body, headers = actor.follow_request
            self.add("replay", "Follow after its Undo", body, headers)
            return 1
        if self.rng.random() < 0.5:
            note_id = self.create()
            body, headers = self.steps[-1][1:]
            self.delete(note_id)
            self.add("replay", "Create{Note} after its Delete", body, headers)
            return 2
        kind = self.rng.choice(["like", "announce"])
        used = 0
        if actor.reactions[kind] is not None:  # undo the standing one first, so that the replayed one is new
            self.react(kind)
            used += 1
        body, headers = self.react(kind)
        self.react(kind)
        self.add("replay", f"{'Like' if kind == 'like' else 'Announce'} after its Undo", body, headers)
        return used + 2

    def bad(self) -> None:
        doc = note(self.flood, self.actor, self.tag())
        kind = self.rng.choice(BAD_KINDS)
        url, actor = self.flood.inbox, self.actor
        others = [a for a in self.flood.actors if a.server is actor.server and a is not actor]
        other = self.rng.choice(others)
        if kind == "another key":
            body, headers = signed(actor, url, doc, key=actor.server.keys[other.name])
        elif kind == "tampered body":
            _, headers = signed(actor, url, doc)
            doc["object"]["content"] = "<p>tampered</p>"
            body = json.dumps(doc).encode()
        elif kind == "broken signature":
            body, headers = signed(actor, url, doc)
            value = headers["Signature"]
            cut = value.index('signature="') + len('signature="')
            headers["Signature"] = value[:cut] + ("B" if value[cut] == "A" else "A") + value[cut + 1:]
        elif kind == "stale date":
            old = format_datetime(dt.datetime.now(dt.UTC) - dt.timedelta(hours=2), usegmt=True)
            body, headers = signed(actor, url, doc, date=old)
        else:  # signed, correctly, by another actor, while the activity names this one
            body = json.dumps(doc).encode()
            headers = other.server.sign("POST", url, body, actor=other.name)
        self.add("bad signature", kind, body, headers)

    def oversize(self) -> None:
        doc = note(self.flood, self.actor, self.tag())
        doc["object"]["content"] = "<p>" + "x" * (1024 * 1024) + "</p>"
        body, headers = signed(self.actor, self.flood.inbox, doc)
        self.add("oversize", "Create{Note} over 1 MiB", body, headers)

    def follow(self) -> None:
        self.valid({"@context": AS, "id": self.actor.id + "#follows/2", "type": "Follow", "actor": self.actor.id,
                    "object": self.flood.archive}, "Follow")
        self.actor.follows = True

    def some_valid(self) -> None:
        choices = ["create", "create", "like", "announce"]
        if self.actor.comments:
            choices.append("delete")
        if not self.actor.follows and self.actor.follow_request is None:
            choices.append("follow")
        pick = self.rng.choice(choices)
        if pick == "follow":
            self.follow()
            self.actor.new_follower = True
        elif pick == "create":
            self.create()
        elif pick == "delete":
            self.delete(self.rng.choice(sorted(self.actor.comments)))
        else:
            self.react(pick)


def deal(total: int, rng: random.Random) -> list[list[str]]:
    """The categories of ``total`` requests, in the shares of SHARES, dealt to the actors."""
    cards = []
    for category, share in SHARES.items():
        cards += [category] * round(total * share)
    cards += ["valid"] * (total - len(cards))
    rng.shuffle(cards)
    return [cards[i::ACTORS] for i in range(ACTORS)]


async def prefollow(flood: Flood, actors: list[Actor]) -> None:
    """Half the actors follow before the flood; their signed Follow requests are kept for replays."""
    async def one(actor: Actor) -> None:
        follow = {"@context": AS, "id": actor.id + "#follows/1", "type": "Follow", "actor": actor.id,
                  "object": flood.archive}
        body, headers = signed(actor, flood.inbox, follow)
        answer = await actor.server.send("POST", flood.inbox, body, headers)
        assert answer.status == 202, answer.body
        actor.follows, actor.follow_request = True, (body, headers)
    await asyncio.gather(*(one(a) for a in actors))

    async def all_follow() -> bool:
        async with open_store(flood.store_url) as store:
            return await store.count_followers(ARCHIVE) == len(actors)
    await until(all_follow, 60, "the Follows before the flood to be accepted", flood.fedi, every=0.1)


async def watch_reads(url: str, stop: asyncio.Event, latencies: list[float], statuses: list[int]) -> None:
    """GET the actor over and over (a new connection each time, as remote servers do) until ``stop``."""
    async with aiohttp.ClientSession() as session:
        while not stop.is_set():
            started = time.monotonic()
            async with session.get(url, headers={"Accept": AS2}) as resp:
                await resp.read()
                statuses.append(resp.status)
            latencies.append(time.monotonic() - started)
            await asyncio.sleep(0.005)


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p * len(ordered)))]


async def test_a_flood_of_signed_activities_takes_exactly_the_valid_ones(flood: Flood):
    """5,000 activities (500 in CI) from 50 actors: exactly the valid ones take effect; reads stay answered."""
    rng = random.Random(2026)
    await prefollow(flood, flood.actors[::2])
    scripts = []
    for actor, cards in zip(flood.actors, deal(ACTIVITIES, rng), strict=True):
        script = Script(flood, actor, rng)
        debt = 0  # valid cards already spent setting up a replay
        for card in cards:
            if card == "replay":
                debt += script.replay()
            elif card == "bad signature":
                script.bad()
            elif card == "oversize":
                script.oversize()
            elif debt > 0:
                debt -= 1
            else:
                script.some_valid()
        scripts.append(script)

    async def run(script: Script) -> None:
        session = script.actor.server
        for sent, body, headers in script.steps:
            answer = await session.send("POST", flood.inbox, body, headers)
            sent.status = answer.status

    stop, latencies, statuses = asyncio.Event(), [], []
    reader = asyncio.create_task(watch_reads(flood.archive, stop, latencies, statuses))
    started = time.monotonic()
    await asyncio.gather(*(run(s) for s in scripts))
    took = time.monotonic() - started
    stop.set()
    await reader

    steps = [sent for s in scripts for sent, _, _ in s.steps]
    wrong = [(s.category, s.detail, s.status) for s in steps if s.status != STATUS[s.category]]
    assert not wrong, wrong[:20]
    assert set(statuses) == {200} and len(latencies) > 10

    # what the valid ones did, and nothing else: replies, reactions, followers (their jobs run in fedi serve)
    expected_followers = {a.id for a in flood.actors if a.follows}

    async def settled() -> bool:
        async with open_store(flood.store_url) as store:
            followers = {f.actor_id for f in await store.followers(ARCHIVE)}
            return followers == expected_followers and await store.next_job_due(dt.datetime.now(dt.UTC)) is None
    await until(settled, 60, "the followers to match the model", flood.fedi, every=0.2)
    async with open_store(flood.store_url) as store:
        comments = {c.id for c in await store.comments("debat", state=None)}
        expected = {c for a in flood.actors for c in a.comments}
        assert comments == expected, (len(comments - expected), len(expected - comments))
        counts = await store.reaction_counts("debat")
        assert counts.likes == sum(a.reactions["like"] is not None for a in flood.actors)
        assert counts.shares == sum(a.reactions["announce"] is not None for a in flood.actors)
        assert await store.integrity_check() == "ok"
    by_category: dict[str, dict[str, int]] = {}
    for s in steps:  # the model above checked that exactly the valid ones took effect
        row = by_category.setdefault(s.category, {"sent": 0, "answered 202": 0, "refused": 0, "took effect": 0})
        row["sent"] += 1
        row["answered 202" if s.status == 202 else "refused"] += 1
        row["took effect"] += s.category == "valid"
    record("flood", activities=len(steps), actors=ACTORS, seconds=round(took, 2),
           per_second=round(len(steps) / took), by_category=by_category,
           actor_gets=len(latencies), actor_get_p50_ms=round(percentile(latencies, 0.5) * 1000, 1),
           actor_get_p99_ms=round(percentile(latencies, 0.99) * 1000, 1),
           actor_get_max_ms=round(max(latencies) * 1000, 1))
    assert percentile(latencies, 0.99) < 1.0, "reads of the actor waited behind the flood"
    assert len(steps) >= ACTIVITIES


async def test_a_flood_of_deletes_of_unknown_actors_costs_no_key_fetch(flood: Flood):
    """Delete{actor} of accounts we never knew, signed with keys we would have to fetch: 202 each, and not one
    GET leaves fedi (their servers see no request; one is not even listening)."""
    count = size(300, 3000)
    hosts = [*flood.servers]
    before = [len(s.requests) for s in hosts]
    loop = asyncio.get_running_loop()
    started = loop.time()
    sem = asyncio.Semaphore(32)

    async def one(n: int) -> int:
        server = hosts[n % len(hosts)]
        name = f"gone{n}"
        actor = server.base + f"/users/{name}" if n % 5 else f"http://127.0.0.9:9/users/{name}"  # nobody there
        body = json.dumps({"@context": AS, "id": actor + "#delete", "type": "Delete", "actor": actor,
                           "object": actor, "to": [PUBLIC]}).encode()
        # signed as the deleted account would (its key is gone with it: any key will do)
        headers = server.sign("POST", flood.inbox, body, actor="a0" if server is hosts[0] else "a1",
                              key_id=actor + "#main-key")
        async with sem:
            return (await server.send("POST", flood.inbox, body, headers)).status

    statuses = await asyncio.gather(*(one(n) for n in range(count)))
    took = loop.time() - started
    assert set(statuses) == {202}
    assert [len(s.requests) for s in hosts] == before, "fedi fetched a key for a Delete of an unknown actor"
    record("delete_flood", deletes=count, seconds=round(took, 2), per_second=round(count / took),
           key_fetches=sum(len(s.requests) for s in hosts) - sum(before))
