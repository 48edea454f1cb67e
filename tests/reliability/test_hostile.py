"""Hostile input at the real app over HTTP: random and malformed documents, forged authorship, path tricks, markup.

One fedi (tests/fedi_app.py) and two remote servers on 127.0.0.x: ``alice``'s (she follows the archive, has a
reply and a like on the talk) and ``mallory``'s (the attacker, with a valid key of its own). Every request must
get the right 4xx — never a 500, never a hang (each is cut at ``HANG`` seconds) — and must change nothing it
should not: the store's tables (caches aside) are compared before and after (``Scene.snapshot``).
"""

from __future__ import annotations

import asyncio
import copy
import datetime as dt
import json
import os
from dataclasses import dataclass
from email.utils import format_datetime
from html.parser import HTMLParser
from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fedi.sanitize import CONTENT_MAX, ELLIPSIS
from fedi.store import TABLES
from fedi.urls import ARCHIVE
from tests.fedi_app import AS, FediApp
from tests.reliability.common import LOOPBACK_ONLY, record, size
from tests.remote import AS2, Answer, RemoteServer

pytestmark = pytest.mark.usefixtures("loopback_only")

HANG = 10.0
"""No request may take longer than this."""
REFUSED = frozenset({400, 401, 403, 404, 405, 413, 415})
CACHES = frozenset({"actors", "keys", "seen", "gone", "hosts"})
"""Tables that only remember what was fetched or seen: not state an activity changes."""
PUBLIC = "https://www.w3.org/ns/activitystreams#Public"
COUNTS: dict[str, int] = {}


def count(category: str, n: int = 1) -> None:
    COUNTS[category] = COUNTS.get(category, 0) + n


@dataclass
class Scene:
    app: FediApp
    alice: RemoteServer
    """alice's server (127.0.0.2): actors alice (a follower with a reply and a like) and bob (no state)."""
    mallory: RemoteServer
    """The attacker's server (127.0.0.3)."""
    follow: dict[str, Any]
    reply: dict[str, Any]

    @property
    def talk(self) -> str:
        return self.app.ctx.urls.talk("debat")

    async def snapshot(self) -> dict[str, list]:
        out = {}
        for table in TABLES:
            if table.name in CACHES:
                continue
            rows: list = []
            async for batch in self.app.ctx.store.export_rows(table.name):
                rows.extend(batch)
            out[table.name] = rows
        return out

    async def post(self, activity: Any, actor: str = "alice", server: RemoteServer | None = None,
                   url: str | None = None, **options: Any) -> Answer:
        remote = server or (self.mallory if actor == "mallory" else self.alice)
        return await asyncio.wait_for(remote.signed_post(url or self.app.shared_inbox, activity, actor=actor,
                                                         **options), HANG)

    async def send(self, method: str, url: str, body: bytes | None, headers: dict[str, str]) -> Answer:
        return await asyncio.wait_for(self.alice.send(method, url, body, headers), HANG)

    async def refused(self, answer: Answer, expected: int | set[int] | frozenset[int], what: str) -> None:
        wanted = {expected} if isinstance(expected, int) else set(expected)
        assert answer.status in wanted, f"{what}: HTTP {answer.status} {answer.body[:300]!r}, wanted {wanted}"


def changed(before: dict[str, list], after: dict[str, list]) -> set[str]:
    return {name for name in before if before[name] != after[name]}


@pytest.fixture
async def scene(config):
    app = await FediApp.start(config, interactions={"moderation": "none"})
    alice = await RemoteServer.start(name="alice", host="127.0.0.2", actors=("alice", "bob"))
    mallory = await RemoteServer.start(name="mallory", host="127.0.0.3", actors=("mallory",))
    for remote in (alice, mallory):
        for role, pair in app.ctx.keys.items():
            remote.trust(app.ctx.urls.key(role), pair.public_pem)
    follow = {"@context": AS, "id": alice.actor_id() + "#follows/1", "type": "Follow", "actor": alice.actor_id(),
              "object": app.actor()}
    assert (await alice.signed_post(app.inbox(), follow)).status == 202
    await app.drain()
    talk = app.ctx.urls.talk("debat")
    note = {"id": alice.base + "/users/alice/statuses/1", "type": "Note", "attributedTo": alice.actor_id(),
            "inReplyTo": talk, "content": "<p>Merci !</p>", "to": [PUBLIC], "published": "2026-01-01T00:00:00Z"}
    create = {"@context": AS, "id": note["id"] + "/activity", "type": "Create", "actor": alice.actor_id(),
              "object": note, "to": [PUBLIC]}
    assert (await alice.signed_post(app.shared_inbox, create)).status == 202
    like = {"@context": AS, "id": alice.actor_id() + "#likes/1", "type": "Like", "actor": alice.actor_id(),
            "object": talk}
    assert (await alice.signed_post(app.shared_inbox, like)).status == 202
    s = Scene(app, alice, mallory, follow, note)
    assert await app.ctx.store.follower(ARCHIVE, alice.actor_id()) is not None
    assert await app.ctx.store.comment(note["id"]) is not None
    yield s
    await app.stop()
    await alice.close()
    await mallory.close()


@pytest.fixture(scope="module", autouse=True)
def report_counts():
    yield
    if COUNTS:
        record("hostile", **COUNTS, total=sum(COUNTS.values()))


# random input (hypothesis) ----------------------------------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-2**63, max_value=2**63) | st.floats(allow_nan=False)
    | st.text(max_size=40),
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=10), children, max_size=5),
    max_leaves=30)
FIELDS = st.sampled_from(["@context", "id", "type", "actor", "object", "target", "to", "cc", "inReplyTo",
                          "attributedTo", "content", "published", "orderedItems", "items"])
TYPES = st.sampled_from(["Follow", "Undo", "Create", "Update", "Delete", "Like", "Announce", "Move", "Accept",
                         "Reject", "OrderedCollection", "Collection", "Note", "Person"])


@st.composite
def activities(draw: st.DrawFn) -> dict[str, Any]:
    """Random documents that look like activities often enough to reach the handlers."""
    doc = draw(st.dictionaries(FIELDS | st.text(max_size=8), json_values, max_size=8))
    if draw(st.booleans()):
        doc["@context"] = AS
        doc["type"] = draw(TYPES)
    if draw(st.booleans()):
        doc["actor"] = "http://127.0.0.2:{port}/users/alice"
    if draw(st.booleans()):
        doc["object"] = draw(json_values | st.sampled_from(["{talk}", "{archive}", "{alice}"]))
    return doc


def fill(value: Any, names: dict[str, str]) -> Any:
    text = json.dumps(value)
    for key, replacement in names.items():
        text = text.replace("{" + key + "}", replacement)
    return json.loads(text)


@settings(max_examples=size(60, 600), deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(doc=activities())
async def test_random_activities_get_a_4xx_or_a_202_never_a_500(scene, doc):
    """Random JSON signed by alice: 202 or a 4xx, and a refused one changes nothing."""
    names = {"talk": scene.talk, "archive": scene.app.actor(), "alice": scene.alice.actor_id(),
             "port": str(scene.alice.base.rsplit(":", 1)[1])}
    doc = fill(doc, names)
    before = await scene.snapshot()
    answer = await scene.post(doc)
    count("random JSON documents")
    assert answer.status in REFUSED | {202}, (answer.status, answer.body[:300])
    if answer.status != 202:
        assert changed(before, await scene.snapshot()) == set(), doc


@settings(max_examples=size(40, 400), deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=st.binary(max_size=300), content_type=st.sampled_from([AS2, "application/ld+json", "text/plain", ""]),
       signed=st.booleans())
async def test_random_bytes_get_a_4xx(scene, body, content_type, signed):
    """Random bytes, signed or not, under any content type: a 4xx, never a 500."""
    headers = {"Content-Type": content_type} if content_type else {}
    if signed:
        headers = scene.alice.sign("POST", scene.app.shared_inbox, body, headers=headers)
    answer = await scene.send("POST", scene.app.shared_inbox, body, headers)
    count("random byte bodies")
    assert answer.status in REFUSED, (answer.status, answer.body[:300])


# nesting, size --------------------------------------------------------------------------------------------------

def nested_list(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


def nested_object(depth: int, inner: bytes = b"1") -> bytes:
    return b'{"a":' * depth + inner + b"}" * depth


async def test_nesting_100000_levels_deep_is_a_400(scene):
    """100,000 levels of arrays or objects, alone or inside an activity: 400, at once."""
    alice = scene.alice.actor_id()
    head = json.dumps({"@context": AS, "id": alice + "#deep", "type": "Create", "actor": alice})[:-1].encode()
    bodies = {
        "arrays": nested_list(100_000),
        "objects": nested_object(100_000),
        "inside an activity": head + b',"object":' + nested_object(100_000, b'{"id":"x"}') + b"}",
        "inside a Note": head + b',"object":{"type":"Note","id":"' + alice.encode() + b'/n","content":'
                         + nested_list(100_000) + b"}}",
    }
    before = await scene.snapshot()
    for what, body in bodies.items():
        for signed in (False, True):
            headers = {"Content-Type": AS2}
            if signed:
                headers = scene.alice.sign("POST", scene.app.shared_inbox, body, headers=headers)
            answer = await scene.send("POST", scene.app.shared_inbox, body, headers)
            count("deeply nested documents")
            await scene.refused(answer, 400, f"{what} ({'signed' if signed else 'unsigned'})")
    assert changed(before, await scene.snapshot()) == set()


async def test_a_deeply_nested_key_document_is_a_401(scene):
    """A keyId whose document nests 100,000 levels deep: the key cannot be used (401), not a 500."""
    mallory = scene.mallory
    mallory.serve("/deep-key", body=nested_object(100_000).decode())
    activity = {"@context": AS, "id": mallory.actor_id("mallory") + "#l", "type": "Like",
                "actor": mallory.actor_id("mallory"), "object": scene.talk}
    answer = await scene.post(activity, actor="mallory", key_id=mallory.base + "/deep-key")
    count("deeply nested key documents")
    await scene.refused(answer, 401, "deeply nested key document")


async def test_huge_strings_and_arrays_are_bounded(scene):
    """Near-1-MiB strings and 50,000-item arrays in every slot: answered within seconds, never a 500; a body
    over 1 MiB is a 413 before it is read."""
    alice = scene.alice.actor_id()
    big = "x" * 900_000
    note = dict(scene.reply, id=alice + "/statuses/big")
    cases = {
        "huge content": {"object": dict(note, content=big)},
        "huge name": {"object": dict(note, id=alice + "/statuses/big2", name=big, content="<p>hi</p>")},
        "huge summary": {"object": dict(note, id=alice + "/statuses/big3", summary=big)},
        "50,000 recipients": {"object": dict(note, id=alice + "/statuses/big4"), "to": [PUBLIC] * 50_000},
        "50,000 types": {"object": dict(note, id=alice + "/statuses/big5", type=["Note"] * 50_000)},
        "50,000 tags": {"object": dict(note, id=alice + "/statuses/big6", tag=[{"type": "Hashtag"}] * 50_000)},
        "50,000 attachments": {"object": dict(note, id=alice + "/statuses/big7",
                                              attachment=[{"url": "https://a.example/x"}] * 50_000)},
        "huge id": {"object": dict(note, id=alice + "/" + "y" * 800_000)},
        "huge type": {"type": "C" * 900_000},
        "50,000-item collection": {"type": "OrderedCollection", "orderedItems": [{"type": "Like"}] * 50_000},
    }
    loop = asyncio.get_running_loop()
    for what, fields in cases.items():
        activity = {"@context": AS, "id": alice + "#" + what.replace(" ", "-"), "type": "Create", "actor": alice,
                    "to": [PUBLIC], **fields}
        started = loop.time()
        answer = await scene.post(activity)
        count("huge strings and arrays")
        assert answer.status in REFUSED | {202}, (what, answer.status, answer.body[:200])
        assert loop.time() - started < 5, f"{what} took {loop.time() - started:.1f} s"
        if answer.status == 202:
            stored = await scene.app.ctx.store.comment(activity["object"]["id"]) if "object" in activity else None
            assert stored is None or len(stored.content_html) <= CONTENT_MAX + len(ELLIPSIS), what
    over = {"@context": AS, "id": alice + "#over", "type": "Create", "actor": alice,
            "object": dict(note, id=alice + "/statuses/over", content="x" * (1024 * 1024))}
    answer = await scene.post(over)
    count("huge strings and arrays")
    await scene.refused(answer, 413, "a body over 1 MiB")
    assert await scene.app.ctx.store.comment(alice + "/statuses/over") is None


# every field of every activity, with a wrong type ----------------------------------------------------------------

WRONG = [None, True, 0, -1, 1.5, 1e308, "", "x", "ftp://a.example/x", "javascript:alert(1)", [], {}, [None],
         {"id": None}, {"id": 5}, ["https://a.example/x", 3], "http://127.0.0.3:1/users/mallory"]


def bases(scene: Scene) -> dict[str, dict[str, Any]]:
    """A valid activity of each kind by bob (who has no state yet), with its id to be made unique per variant."""
    bob = scene.alice.actor_id("bob")
    note = {"id": bob + "/statuses/{n}", "type": "Note", "attributedTo": bob, "inReplyTo": scene.talk,
            "content": "<p>hello</p>", "to": [PUBLIC], "cc": [], "published": "2026-01-01T00:00:00Z",
            "url": bob + "/statuses/{n}", "summary": None, "mediaType": "text/html", "tag": [], "attachment": []}
    return {
        "Follow": {"type": "Follow", "object": scene.app.actor()},
        "Undo": {"type": "Undo", "object": {"id": bob + "#follows/{n}", "type": "Follow", "actor": bob,
                                            "object": scene.app.actor()}},
        "Create": {"type": "Create", "object": note, "to": [PUBLIC]},
        "Update": {"type": "Update", "object": dict(note, id=bob + "/statuses/1", content="<p>edited</p>")},
        "Delete": {"type": "Delete", "object": {"id": bob + "/statuses/1", "type": "Tombstone"}},
        "Like": {"type": "Like", "object": scene.talk},
        "Announce": {"type": "Announce", "object": scene.talk, "to": [PUBLIC]},
        "Move": {"type": "Move", "object": bob, "target": scene.mallory.actor_id("mallory")},
    }


def paths_of(doc: dict[str, Any]) -> list[tuple[str, ...]]:
    found = []
    for key, value in doc.items():
        found.append((key,))
        if isinstance(value, dict):
            found.extend((key, *sub) for sub in paths_of(value))
    return found


def with_value(doc: dict[str, Any], path: tuple[str, ...], value: Any) -> dict[str, Any]:
    out = copy.deepcopy(doc)
    target = out
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return out


async def test_every_field_of_every_activity_with_a_wrong_type(scene):
    """Each field of Follow, Undo, Create, Update, Delete, Like, Announce and Move given a wrong type: a 4xx
    changing nothing, or a 202 changing no more than the valid activity does."""
    bob = scene.alice.actor_id("bob")
    n = 0

    def build(base: dict[str, Any]) -> dict[str, Any]:
        nonlocal n
        n += 1
        doc = {"@context": AS, "id": f"{bob}#activities/{n}", "actor": bob, **base}
        return json.loads(json.dumps(doc).replace("{n}", str(n)))

    problems = []
    for kind, base in bases(scene).items():
        before = await scene.snapshot()
        answer = await scene.post(build(base), actor="bob")
        assert answer.status == 202, (kind, answer.body)
        allowed = changed(before, await scene.snapshot())
        valid = build(base)
        for path in paths_of(valid):
            if path == ("@context",):
                continue
            for value in WRONG:
                doc = with_value(valid, path, value)
                doc["id"] = valid["id"] + f"/{'.'.join(path)}/{WRONG.index(value)}" if path != ("id",) else value
                before = await scene.snapshot()
                answer = await scene.post(doc, actor="bob")
                count("wrong-typed fields")
                moved = changed(before, await scene.snapshot())
                if answer.status not in REFUSED | {202}:
                    problems.append(f"{kind} {'.'.join(path)}={value!r}: HTTP {answer.status} {answer.body[:200]!r}")
                elif answer.status != 202 and moved:
                    problems.append(f"{kind} {'.'.join(path)}={value!r}: refused ({answer.status}) but changed {moved}")
                elif not moved <= allowed:
                    problems.append(f"{kind} {'.'.join(path)}={value!r}: changed {moved}, the valid one {allowed}")
    assert not problems, "\n".join(problems[:40])


# WebFinger and handles -------------------------------------------------------------------------------------------

async def test_unicode_and_crlf_tricks_in_webfinger_resources(scene):
    """Only our exact accounts resolve; CRLF, NUL, homoglyphs, bidi and zero-width tricks get 400 or 404, and no
    header is injected into the answer."""
    domain = scene.app.ctx.urls.domain
    good = [f"acct:archive@{domain}", f"acct:ARCHIVE@{domain.upper()}", f"archive@{domain}", scene.app.actor()]
    bad = {
        f"acct:archive@{domain}\r\nLocation: http://evil.example/": 400,
        f"acct:archive@{domain}\r\n\r\n<script>alert(1)</script>": 400,
        f"acct:archive\n@{domain}": 400,
        f"acct:archive@{domain}\x00": 400,
        f"acct:arch\u0131ve@{domain}": 404,  # dotless i
        f"acct:\uff41rchive@{domain}": 404,  # fullwidth a
        f"acct:\u0430rchive@{domain}": 404,  # Cyrillic a
        f"acct:arch\u200bive@{domain}": 404,  # zero-width space
        f"acct:archive@{domain}\u202e": 404,  # right-to-left override
        f"acct:archive@evil.example@{domain}": 404,
        f"acct:archive@{domain}/../..": 404,
        f"acct:archive@{domain}#x": 404,
        "acct:archive@evil.example": 404,
        f"acct:@{domain}": 400,
        "acct:": 400,
        "x" * 3000: 400,
        f"{scene.app.actor()}\r\nX-Injected: 1": 400,
        f"javascript:alert(1)//@{domain}": 404,
        "": 400,
    }
    url = scene.app.base + "/.well-known/webfinger?resource="
    for resource in good:
        answer = await scene.send("GET", url + quote(resource, safe=""), None, {})
        assert answer.status == 200, (resource, answer.body)
    for resource, status in bad.items():
        answer = await scene.send("GET", url + quote(resource, safe=""), None, {})
        count("WebFinger and handle tricks")
        assert answer.status == status, (resource, answer.status, answer.body)
        assert "X-Injected" not in answer.headers and "Location" not in answer.headers
        assert answer.headers["Content-Type"].startswith("application/json")
    for raw in ("%FF%FE", "acct%3Aarchive%40" + "%E2%80%AE", "%C0%AE%C0%AE"):  # invalid UTF-8, overlong forms
        answer = await scene.send("GET", url + raw, None, {})
        count("WebFinger and handle tricks")
        assert answer.status in (400, 404), (raw, answer.status)


async def test_tricky_names_and_handles_are_shown_as_plain_text(scene):
    """An author whose name and handle hold CRLF, bidi overrides, zero-width characters and markup: stored and
    shown as plain, escaped text, with the control characters gone."""
    alice = scene.alice
    evil = "ev\u202eil\r\nX-Injected: 1\u200b<script>alert(1)</script>"
    alice.add_actor("trick")
    document = alice.actor_document("trick") | {"name": evil, "preferredUsername": "trick\r\n\u202e<b>x</b>",
                                                "summary": "<script>alert(2)</script>"}
    alice.serve(alice.actor_path("trick"), body=document)
    note = dict(scene.reply, id=alice.actor_id("trick") + "/statuses/1", attributedTo=alice.actor_id("trick"))
    create = {"@context": AS, "id": note["id"] + "/activity", "type": "Create", "actor": alice.actor_id("trick"),
              "object": note, "to": [PUBLIC]}
    answer = await scene.post(create, actor="trick")
    assert answer.status == 202, answer.body
    stored = await scene.app.ctx.store.comment(note["id"])
    assert stored is not None
    for value in (stored.author_name or "", stored.author_handle or ""):
        assert not any(c in value for c in "\r\n\u202e\u200b"), repr(value)
    page = await scene.send("GET", scene.talk, None, {"Accept": "text/html"})
    assert page.status == 200 and "X-Injected" not in page.headers
    html = page.body.decode()
    tags = Tags()
    tags.feed(html)
    assert not tags.bad, tags.bad
    assert "<b>x</b>" not in html and "\u202e" not in html and "\u200b" not in html
    assert "&lt;script&gt;" in html, "the name is shown, as text"
    count("WebFinger and handle tricks")


# keys and authorship ---------------------------------------------------------------------------------------------

async def test_key_ids_pointing_to_private_addresses_are_refused_before_connecting(scene, loopback_only):
    """keyIds on private, link-local, unspecified or mapped addresses, or with another scheme: 401, and not one
    connection attempt leaves 127.0.0.0/8."""
    client = scene.app.ctx.client
    assert client is not None
    client.policy = LOOPBACK_ONLY
    client.resolver.policy = LOOPBACK_ONLY
    mallory = scene.mallory.actor_id("mallory")
    key_ids = ["http://10.0.0.1/users/x#main-key", "http://169.254.169.254/latest/meta-data/#k",
               "http://[::1]:8080/users/x#main-key", "http://0.0.0.0:8080/users/x#main-key",
               "http://[::ffff:10.0.0.1]/users/x#k", "http://100.64.0.1/users/x#k", "https://192.168.1.1/k",
               "http://[fe80::1]/k", "http://224.0.0.1/k", "file:///etc/passwd", "acct:admin@localhost",
               "gopher://127.0.0.2:70/k", "http://2130706433/k", "http://0x7f.1/k"]
    before = await scene.snapshot()
    for key_id in key_ids:
        activity = {"@context": AS, "id": mallory + "#l", "type": "Like", "actor": mallory, "object": scene.talk}
        answer = await scene.post(activity, actor="mallory", key_id=key_id)
        count("keyIds to private addresses or other schemes")
        await scene.refused(answer, 401, key_id)
    outside = [a for a in loopback_only if not a.startswith("127.")]
    assert not outside, f"connections were attempted to {outside}"
    assert changed(before, await scene.snapshot()) == set()


async def test_key_ids_that_are_not_keys_or_not_the_signers(scene):
    """A keyId naming another actor's key, a document that is no key, a key whose owner is elsewhere or does not
    list it back: 401, nothing changes."""
    m = scene.mallory
    mallory, alice = m.actor_id("mallory"), scene.alice.actor_id()
    pem = m.actor_document("mallory")["publicKey"]["publicKeyPem"]
    docs = {
        "a Note": {"@context": AS, "id": m.base + "/notes/1", "type": "Note", "content": "hi"},
        "a collection": {"@context": AS, "id": m.base + "/c", "type": "OrderedCollection", "totalItems": 0},
        "a key owned by alice's actor": {"@context": AS, "id": m.base + "/keys/x", "owner": alice, "publicKeyPem": pem},
        "a key whose owner does not list it": {"@context": AS, "id": m.base + "/keys/y", "owner": mallory,
                                               "publicKeyPem": pem},
        "a key with another id": {"@context": AS, "id": m.base + "/keys/other", "owner": mallory, "publicKeyPem": pem},
        "an actor without keys": {"@context": AS, "id": m.base + "/bare", "type": "Person", "inbox": m.base + "/i"},
    }
    paths = {what: "/" + doc["id"].split("/", 3)[3] for what, doc in docs.items()}
    paths["a key with another id"] = "/keys/z"
    for what, doc in docs.items():
        m.serve(paths[what], body=doc)
    m.serve("/page", body="<html>key</html>", content_type="text/html")
    m.serve("/array", body="[1, 2]")
    m.serve("/string", body='"key"')
    key_ids = {what: m.base + paths[what] for what in docs}
    key_ids |= {"an HTML page": m.base + "/page", "a JSON array": m.base + "/array",
                "a JSON string": m.base + "/string", "a missing document": m.base + "/nothing",
                "alice's key": scene.alice.key_id("alice")}
    before = await scene.snapshot()
    for what, key_id in key_ids.items():
        activity = {"@context": AS, "id": mallory + "#l/" + what.replace(" ", "-"), "type": "Like",
                    "actor": mallory, "object": scene.talk}
        answer = await scene.post(activity, actor="mallory", key_id=key_id)
        count("keyIds that are not the signer's key")
        await scene.refused(answer, 401, what)
    assert changed(before, await scene.snapshot()) == set()


async def test_nobody_acts_in_someone_elses_name(scene):
    """mallory, with a valid key of its own, tries to act as alice or on alice's things: each is refused (401 or
    403), or accepted as a no-op, and alice's follow, reply and like stay."""
    m, a = scene.mallory.actor_id("mallory"), scene.alice
    alice, reply = a.actor_id(), scene.reply
    follow = {k: v for k, v in scene.follow.items() if k != "@context"}
    forged_note = dict(reply, id=a.base + "/users/alice/statuses/666", content="<p>I, alice, say…</p>")
    cases: list[tuple[str, dict[str, Any], set[int]]] = [
        ("a Like whose actor is alice", {"type": "Like", "actor": alice, "object": scene.talk}, {401}),
        ("a Follow whose actor is alice", {"type": "Follow", "actor": alice, "object": scene.app.actor()}, {401}),
        ("a reply attributed to alice", {"type": "Create", "object": forged_note, "to": [PUBLIC]}, {403}),
        ("a reply of mallory's with an id on alice's server",
         {"type": "Create", "object": dict(forged_note, attributedTo=m), "to": [PUBLIC]}, {403}),
        ("an activity id on alice's server",
         {"type": "Like", "object": scene.talk, "id": a.base + "/users/alice#likes/9"}, {403}),
        ("an Undo of alice's Follow", {"type": "Undo", "object": follow}, {403}),
        ("an Undo of alice's Follow by its id", {"type": "Undo", "object": follow["id"]}, {403}),
        ("an Undo of alice's Follow, re-signed as mallory's",
         {"type": "Undo", "object": dict(follow, actor=m)}, {403}),
        ("an Undo of alice's Like", {"type": "Undo", "object": {"id": alice + "#likes/1", "type": "Like",
                                                               "actor": alice, "object": scene.talk}}, {403}),
        ("a Delete of alice", {"type": "Delete", "object": alice}, {202}),
        ("a Delete of alice as alice", {"type": "Delete", "actor": alice, "object": alice}, {401}),
        ("a Delete of alice's reply", {"type": "Delete", "object": {"id": reply["id"], "type": "Tombstone"}}, {202}),
        ("a Delete of alice's reply by id", {"type": "Delete", "object": reply["id"]}, {202}),
        ("an Update of alice's reply", {"type": "Update", "object": dict(reply, content="<p>edited</p>")}, {403}),
        ("an Update of alice's reply as mallory's",
         {"type": "Update", "object": dict(reply, content="<p>edited</p>", attributedTo=m)}, {403}),
        ("an Update of alice's profile", {"type": "Update", "object": a.actor_document("alice") | {
            "inbox": scene.mallory.base + "/steal"}}, {202}),
        ("a Move of alice", {"type": "Move", "object": alice, "target": m}, {403}),
        ("an Accept of alice's", {"type": "Accept", "object": follow, "actor": alice}, {401}),
    ]
    cached = await scene.app.ctx.store.cached_actor(alice)
    before = await scene.snapshot()
    for n, (what, fields, statuses) in enumerate(cases):
        activity = {"@context": AS, "id": f"{m}#forged/{n}", "actor": m, **fields}
        answer = await scene.post(activity, actor="mallory")
        count("activities in someone else's name")
        await scene.refused(answer, statuses, what)
        assert changed(before, await scene.snapshot()) == set(), what
    # unsigned, as the Delete shortcut for unknown actors would take it: alice is known, so it needs a signature
    body = json.dumps({"@context": AS, "id": alice + "#delete", "type": "Delete", "actor": alice,
                       "object": alice}).encode()
    answer = await scene.send("POST", scene.app.shared_inbox, body, {"Content-Type": AS2})
    count("activities in someone else's name")
    await scene.refused(answer, 401, "an unsigned Delete of a known actor")
    assert changed(before, await scene.snapshot()) == set()
    after = await scene.app.ctx.store.cached_actor(alice)
    assert after is not None and cached is not None and after.document == cached.document


# signatures: dates and digests -------------------------------------------------------------------------------------

async def test_old_future_and_malformed_dates_and_bad_digests_are_401(scene):
    """A Date two hours old or ahead, a malformed one, a body that is not the one signed, a missing or foreign
    Digest: 401, nothing changes."""
    alice, inbox = scene.alice.actor_id(), scene.app.shared_inbox
    now = dt.datetime.now(dt.UTC)
    before = await scene.snapshot()

    def like(tag: str) -> dict[str, Any]:
        return {"@context": AS, "id": f"{alice}#likes/{tag}", "type": "Like", "actor": alice, "object": scene.talk}

    for tag, when in (("old", now - dt.timedelta(hours=2)), ("future", now + dt.timedelta(hours=2)),
                      ("ancient", dt.datetime(1970, 1, 1, tzinfo=dt.UTC))):
        answer = await scene.post(like(tag), date=format_datetime(when, usegmt=True))
        count("bad dates and digests")
        await scene.refused(answer, 401, f"a Date {tag}")
    for date in ("yesterday", "Mon, 32 Foo 2026 99:99:99 GMT", "", "Thu, 01 Jan 99999 00:00:00 GMT"):
        answer = await scene.post(like("bad-date"), headers={"Date": date})
        count("bad dates and digests")
        await scene.refused(answer, 401, f"the Date {date!r}")
    signed_body = json.dumps(like("digest")).encode()
    headers = scene.alice.sign("POST", inbox, signed_body)
    other = json.dumps(like("digest") | {"object": scene.app.actor()}).encode()
    variants = {
        "another body": (other, headers),
        "a Digest of another body": (other, headers | {"Digest": "SHA-256=" + "A" * 43 + "="}),
        "no Digest header": (signed_body, {k: v for k, v in headers.items() if k != "Digest"}),
        "a SHA-512 Digest only": (signed_body, headers | {"Digest": "SHA-512=" + "A" * 86 + "=="}),
        "a Digest that is not base64": (signed_body, headers | {"Digest": "SHA-256=!!!"}),
    }
    for what, (body, sent) in variants.items():
        answer = await scene.send("POST", inbox, body, sent)
        count("bad dates and digests")
        await scene.refused(answer, 401, what)
    assert changed(before, await scene.snapshot()) == set()


# /media --------------------------------------------------------------------------------------------------------

async def raw_get(scene: Scene, target: str) -> tuple[int, bytes]:
    """A GET with the request target sent byte for byte (clients normalize ``..`` away)."""
    host, port = scene.app.base.split("://")[1].split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        writer.write(f"GET {target} HTTP/1.1\r\nHost: {host}:{port}\r\nConnection: close\r\n\r\n".encode("latin-1"))
        await writer.drain()
        data = await asyncio.wait_for(reader.read(), HANG)
    finally:
        writer.close()
    status = int(data.split(b" ", 2)[1]) if data.startswith(b"HTTP/1.1 ") else 0
    return status, data


async def test_path_tricks_on_media_never_leave_the_archive_folder(scene, archive_dir):
    """Dot segments (plain, encoded, doubly encoded, overlong), backslashes, NUL, absolute paths, the entries
    themselves, hidden files and symlinks out of the folder: 400 or 404, never a byte of what is outside."""
    media = archive_dir / "outbox" / "media"
    os.symlink(archive_dir / "keys" / "archive.private.pem", media / "key.png")
    os.symlink("/etc/passwd", media / "passwd.png")
    os.symlink(archive_dir, media / "up")
    (archive_dir / "outbox" / ".secret").write_text("hidden")
    targets = ["/media/../config.toml", "/media/..%2fconfig.toml", "/media/%2e%2e/config.toml",
               "/media/%2e%2e%2fconfig.toml", "/media/%252e%252e%252fconfig.toml", "/media/..%5cconfig.toml",
               "/media/media/../../keys/archive.private.pem", "/media/%2e%2e/keys/archive.private.pem",
               "/media/..%c0%afconfig.toml", "/media/media/..%00/poster.png", "/media/%00", "/media//etc/passwd",
               "/media/%2fetc%2fpasswd", "/media/debat.toml", "/media/.secret", "/media/media/key.png",
               "/media/media/passwd.png", "/media/media/up/config.toml", "/media/media/up/keys/archive.private.pem",
               "/media/media\\..\\..\\config.toml", "/media/media/./../../config.toml", "/media/~/.ssh/id_rsa",
               "/media/" + "a/" * 2000 + "x"]
    secrets = (b"PRIVATE KEY", b"[server]", b"root:", b"hidden", b'title = "Un d')
    for target in targets:
        status, data = await raw_get(scene, target)
        count("path tricks on /media")
        assert status in (400, 404), (target, status, data[:200])
        assert not any(s in data for s in secrets), target
    status, data = await raw_get(scene, "/media/media/poster.png")
    assert status == 200, "the real file is still served"


# markup --------------------------------------------------------------------------------------------------------

async def test_html_and_scripts_in_names_and_replies_never_reach_a_page(scene):
    """Scripts, event handlers, javascript:/data: links, frames, SVG and styles in a reply and in its author's
    name: the talk page shows the text, none of the markup."""
    alice = scene.alice
    alice.add_actor("markup")
    alice.serve(alice.actor_path("markup"), body=alice.actor_document("markup") | {
        "name": '<script>alert("name")</script><img src=x onerror=alert(1)>',
        "icon": {"type": "Image", "url": "javascript:alert(3)"}, "url": "javascript:alert(4)"})
    payloads = ['<script>alert("content")</script>', '<img src=x onerror=alert(1)>',
                '<a href="javascript:alert(2)">click</a>', '<a href="data:text/html,<script>alert(5)</script>">d</a>',
                '<iframe src="https://evil.example"></iframe>', '<svg onload=alert(6)>', '<style>body{}</style>',
                '<p style="background:url(javascript:alert(7))" onclick="alert(8)">text</p>',
                '<form action="https://evil.example"><input></form>', '<math><mi>x</mi></math>',
                '"><script>alert(9)</script>', "<scr<script>ipt>alert(10)</script>",
                '<a href="  JaVaScRiPt:alert(11)">x</a>', "<base href='https://evil.example/'>",
                '<meta http-equiv="refresh" content="0;url=https://evil.example">']
    note = dict(scene.reply, id=alice.actor_id("markup") + "/statuses/1", attributedTo=alice.actor_id("markup"),
                content="<p>visible text</p>" + "".join(payloads),
                summary='<script>alert("cw")</script>',
                attachment=[{"type": "Document", "url": "javascript:alert(12)", "name": "<b>att</b>"}])
    create = {"@context": AS, "id": note["id"] + "/activity", "type": "Create", "actor": alice.actor_id("markup"),
              "object": note, "to": [PUBLIC]}
    answer = await scene.post(create, actor="markup")
    assert answer.status == 202, answer.body
    count("markup in names and replies", len(payloads) + 4)
    page = (await scene.send("GET", scene.talk, None, {"Accept": "text/html"})).body.decode()
    assert "visible text" in page
    tags = Tags()
    tags.feed(page)
    assert not tags.bad, tags.bad
    assert "alert(" not in tags.urls


class Tags(HTMLParser):
    """What a browser would run or load from a page: script-like elements, event handlers, script URLs."""

    RUN = frozenset({"script", "iframe", "frame", "object", "embed", "svg", "math", "form", "base", "style"})

    def __init__(self) -> None:
        super().__init__()
        self.bad: list[str] = []
        self.urls = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self.RUN:
            self.bad.append(f"<{tag}>")
        if tag == "meta" and any(name == "http-equiv" and (value or "").lower() == "refresh" for name, value in attrs):
            self.bad.append("<meta http-equiv=refresh>")
        for name, value in attrs:
            if name.startswith("on"):
                self.bad.append(f"<{tag} {name}>")
            if name in ("href", "src", "action", "formaction", "style", "content") and value:
                self.urls += value + " "
                if value.strip().lower().startswith(("javascript:", "data:", "vbscript:")):
                    self.bad.append(f"<{tag} {name}={value!r}>")
