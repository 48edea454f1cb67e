"""Verification glue: requests signed by a real remote server, keys fetched over HTTP and cached in a real store."""

from __future__ import annotations

import asyncio
import ipaddress
import json
import socket
from dataclasses import dataclass, replace
from email.utils import formatdate
from time import time

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from fedi import keys as keys_mod
from fedi.client import Client
from fedi.config import Config, urls_for
from fedi.errors import SignatureError
from fedi.netguard import Policy
from fedi.store import Follower, open_store
from fedi.verify import Signer, Verifier, check_actor
from tests.conftest import fixture_path
from tests.remote import RemoteServer, fresh_key, pem_of

pytestmark = pytest.mark.usefixtures("loopback_only")

LOOPBACK_ONLY = Policy(allow_http=True, allow_private=False, exempt=(ipaddress.ip_network("127.0.0.0/8"),))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class FediEnd:
    """fedi's side: a server whose every route runs ``Verifier.verify`` and answers the signer as JSON."""

    base: str
    config: Config
    verifier: Verifier
    store: object

    def url(self, path: str = "/actors/archive/inbox") -> str:
        return self.base + path


@pytest.fixture
async def store(tmp_path):
    async with open_store(f"sqlite:///{tmp_path}/fedi.sqlite3") as s:
        yield s


@pytest.fixture
async def fedi(config, store):
    ends: list = []

    async def make(**security) -> FediEnd:
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        cfg = replace(config, server=replace(config.server, base_url=base),
                      security=replace(config.security, **security))
        urls = urls_for(cfg)
        client = Client(cfg, urls, keys_mod.load_or_create(cfg.keys_dir), policy=LOOPBACK_ONLY)
        await client.start()
        verifier = Verifier(cfg, urls, store, client)

        async def handler(request: web.Request) -> web.Response:
            body = await request.read() if request.method == "POST" else None
            try:
                signer = await verifier.verify(request, body)
            except SignatureError as exc:
                return web.json_response({"error": exc.reason}, status=exc.status)
            return web.json_response({"actor_id": signer.actor_id, "key_id": signer.key_id, "host": signer.host})

        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", handler)
        server = TestServer(app, host="127.0.0.1", port=port)
        await server.start_server()
        ends.append((server, client))
        return FediEnd(base, cfg, verifier, store)

    yield make
    for server, client in ends:
        await server.close()
        await client.close()


def follow(remote: RemoteServer, actor: str = "alice") -> dict:
    return {"@context": "https://www.w3.org/ns/activitystreams", "id": f"{remote.actor_id(actor)}#follows/1",
            "type": "Follow", "actor": remote.actor_id(actor), "object": "http://127.0.0.1/actors/archive"}


def actor_gets(remote: RemoteServer, actor: str = "alice") -> int:
    return remote.count("GET", remote.actor_path(actor))


# shapes of real senders ----------------------------------------------------------------------------------------

async def test_mastodon_signed_post_verifies_and_caches_the_key(fedi, remote_server, store):
    """A Mastodon-shaped POST (content-type signed, query in the target) verifies; the key lands in the store."""
    end = await fedi()
    answer = await remote_server.signed_post(end.url("/actors/archive/inbox?x=1"), follow(remote_server))
    assert answer.status == 200, answer.json
    assert answer.json == {"actor_id": remote_server.actor_id("alice"), "key_id": remote_server.key_id("alice"),
                           "host": remote_server.domain}
    cached = await store.cached_key(remote_server.key_id("alice"))
    assert cached is not None and cached.owner == remote_server.actor_id("alice") and cached.kind == "pem"
    assert (await store.cached_actor(remote_server.actor_id("alice"))).document["inbox"] == remote_server.inbox()


async def test_peertube_signed_post_verifies(fedi):
    """A PeerTube-shaped POST (path only in the target, even with a query) verifies."""
    end = await fedi()
    remote = await RemoteServer.start(name="peertube", style="peertube")
    try:
        answer = await remote.signed_post(end.url("/inbox?page=2"), follow(remote))
        assert answer.status == 200, answer.json
        assert answer.json["actor_id"] == remote.actor_id("alice") and "/accounts/" in answer.json["actor_id"]
    finally:
        await remote.close()


async def test_rfc9421_signed_post_verifies(fedi, remote_server):
    """A POST signed with RFC 9421 by an independent implementation verifies."""
    end = await fedi()
    answer = await remote_server.signed_post(end.url(), follow(remote_server), sign="rfc9421")
    assert answer.status == 200, answer.json


async def test_signed_get_verifies(fedi, remote_server):
    """A signed GET (no body) verifies too (authorized fetch)."""
    end = await fedi()
    answer = await remote_server.signed_get(end.url("/actors/archive/outbox?page=1"))
    assert answer.status == 200, answer.json


async def test_key_document_with_owner_verifies(fedi):
    """A keyId naming a separate key document is accepted when its owner lists the key back."""
    end = await fedi()
    remote = await RemoteServer.start(key_document=True)
    try:
        answer = await remote.signed_post(end.url(), follow(remote))
        assert answer.status == 200, answer.json
        assert answer.json["actor_id"] == remote.actor_id("alice")
        assert remote.count("GET", "/keys/alice") == 1 and actor_gets(remote) == 1
    finally:
        await remote.close()


async def test_key_document_whose_owner_does_not_list_it_is_refused(fedi, remote_server):
    """A key document claiming an owner that does not list the key is refused (bi-directional check)."""
    end = await fedi()
    mallory = fresh_key(5)
    key_id = remote_server.serve("/keys/mallory", {"id": remote_server.base + "/keys/mallory", "type": "Key",
                                                   "owner": remote_server.actor_id("alice"),
                                                   "publicKeyPem": pem_of(mallory)})
    answer = await remote_server.signed_post(end.url(), follow(remote_server), key_id=key_id, key=mallory)
    assert answer.status == 401
    assert "does not list the key" in answer.json["error"]


async def test_key_owned_by_another_host_is_refused(fedi, remote_server):
    """A key document on one host naming an owner on another host is refused before trusting it."""
    end = await fedi()
    other = await RemoteServer.start(host="127.0.0.2")
    try:
        key_id = remote_server.serve("/keys/x", {"id": remote_server.base + "/keys/x", "type": "Key",
                                                 "owner": other.actor_id("alice"),
                                                 "publicKeyPem": pem_of(other.keys["alice"])})
        answer = await remote_server.signed_post(end.url(), follow(other), key_id=key_id, key=other.keys["alice"])
        assert answer.status == 401 and "different hosts" in answer.json["error"]
    finally:
        await other.close()


# caching, rotation, gone ------------------------------------------------------------------------------------------

async def test_key_is_fetched_once(fedi, remote_server, store):
    """The second request uses the cached key; a new Verifier on the same store does too."""
    end = await fedi()
    for _ in range(3):
        assert (await remote_server.signed_post(end.url(), follow(remote_server))).status == 200
    assert actor_gets(remote_server) == 1
    fresh = await fedi()  # another process on the same store
    assert (await remote_server.signed_post(fresh.url(), follow(remote_server))).status == 200
    assert actor_gets(remote_server) == 1


async def test_concurrent_requests_share_one_fetch(fedi, remote_server):
    """Ten simultaneous requests naming an unknown key cause one fetch."""
    end = await fedi()
    answers = await asyncio.gather(*(remote_server.signed_post(end.url(), follow(remote_server))
                                     for _ in range(10)))
    assert [a.status for a in answers] == [200] * 10
    assert actor_gets(remote_server) == 1


async def test_stale_cache_is_refetched(fedi, remote_server):
    """With key_cache_seconds = 0 every request fetches the key again."""
    end = await fedi(key_cache_seconds=0)
    for _ in range(2):
        assert (await remote_server.signed_post(end.url(), follow(remote_server))).status == 200
    assert actor_gets(remote_server) == 2


async def test_key_rotation_refetches_once(fedi, remote_server):
    """After the remote rotates its key, the cached key fails, one refetch succeeds."""
    end = await fedi()
    assert (await remote_server.signed_post(end.url(), follow(remote_server))).status == 200
    remote_server.rotate_key("alice")
    answer = await remote_server.signed_post(end.url(), follow(remote_server))
    assert answer.status == 200, answer.json
    assert actor_gets(remote_server) == 2
    assert (await remote_server.signed_post(end.url(), follow(remote_server))).status == 200
    assert actor_gets(remote_server) == 2


async def test_forged_signatures_do_not_cause_a_fetch_each(fedi, remote_server):
    """Bad signatures naming a cached key: one refetch, then refusals without fetching."""
    end = await fedi()
    assert (await remote_server.signed_post(end.url(), follow(remote_server))).status == 200
    forger = fresh_key(6)
    for _ in range(3):
        answer = await remote_server.signed_post(end.url(), follow(remote_server), key=forger)
        assert answer.status == 401 and answer.json["error"] == "signature does not verify"
    assert actor_gets(remote_server) == 2


async def test_failure_other_than_the_signature_does_not_refetch(fedi, remote_server):
    """A stale Date with a cached key is refused without fetching the key again."""
    end = await fedi()
    assert (await remote_server.signed_post(end.url(), follow(remote_server))).status == 200
    old = formatdate(time() - 3 * 3600, usegmt=True)
    answer = await remote_server.signed_post(end.url(), follow(remote_server), date=old)
    assert answer.status == 401 and "old" in answer.json["error"]
    assert actor_gets(remote_server) == 1


async def test_gone_actor_is_not_fetched_in_a_loop(fedi, remote_server, store):
    """A 410 marks the actor gone; later requests are refused without another fetch."""
    end = await fedi()
    remote_server.gone("alice")
    for _ in range(3):
        answer = await remote_server.signed_post(end.url(), follow(remote_server))
        assert answer.status == 401 and "gone" in answer.json["error"]
    assert actor_gets(remote_server) == 1
    assert await store.is_gone(remote_server.actor_id("alice"))
    restarted = await fedi()  # a new process knows it is gone from the store
    assert (await remote_server.signed_post(restarted.url(), follow(remote_server))).status == 401
    assert actor_gets(remote_server) == 1


async def test_404_actor_is_marked_gone(fedi, remote_server, store):
    """A 404 counts as gone too."""
    end = await fedi()
    remote_server.remove("alice")
    assert (await remote_server.signed_post(end.url(), follow(remote_server))).status == 401
    assert await store.is_gone(remote_server.actor_id("alice"))


async def test_unreachable_key_is_401_not_500(fedi, remote_server):
    """A key document answering 500 gives 401 "could not fetch key", and is not refetched at once."""
    end = await fedi()
    remote_server.serve(remote_server.actor_path("alice"), {"error": "boom"}, status=500)
    for _ in range(2):
        answer = await remote_server.signed_post(end.url(), follow(remote_server))
        assert answer.status == 401 and answer.json["error"].startswith("could not fetch key")
    assert actor_gets(remote_server) == 1


async def test_key_doc_that_is_not_an_actor_nor_a_key_is_refused(fedi, remote_server):
    """A keyId pointing at a document that names no key is a 401."""
    end = await fedi()
    remote_server.serve(remote_server.actor_path("alice"), {"id": remote_server.actor_id("alice"), "type": "Note"})
    answer = await remote_server.signed_post(end.url(), follow(remote_server))
    assert answer.status == 401 and "could not use key" in answer.json["error"]


# refusals before any fetch ---------------------------------------------------------------------------------------

async def test_blocked_domain_in_store_is_403_before_any_fetch(fedi, store):
    """A domain blocked in the store gets 403 and the remote sees no request at all."""
    end = await fedi()
    remote = await RemoteServer.start(host="127.0.0.2")
    try:
        await store.block("127.0.0.2")
        answer = await remote.signed_post(end.url(), follow(remote))
        assert answer.status == 403 and "blocked" in answer.json["error"]
        assert remote.requests == []
    finally:
        await remote.close()


async def test_blocked_domain_in_config_is_403(fedi):
    """security.blocked_domains works the same way."""
    end = await fedi(blocked_domains=("127.0.0.3",))
    remote = await RemoteServer.start(host="127.0.0.3")
    try:
        assert (await remote.signed_post(end.url(), follow(remote))).status == 403
        assert remote.requests == []
    finally:
        await remote.close()


async def test_blocked_actor_is_403(fedi, remote_server, store):
    """Blocking one actor id refuses its signatures, and only its."""
    end = await fedi()
    await store.block(remote_server.actor_id("bob"))
    assert (await remote_server.signed_post(end.url(), follow(remote_server, "bob"), actor="bob")).status == 403
    assert (await remote_server.signed_post(end.url(), follow(remote_server))).status == 200


BOGUS = 'keyId="{}",algorithm="rsa-sha256",headers="(request-target) host date",signature="AAAA"'


@pytest.mark.parametrize("headers", [{}, {"Signature": "garbage"}, {"Signature": 'keyId="",signature="AA=="'},
                                     {"Signature": BOGUS.format("acct:alice@127.0.0.1")},
                                     {"Signature": BOGUS.format("not a url")},
                                     {"Signature": BOGUS.format("file:///etc/passwd#main-key")}])
async def test_missing_or_malformed_signature_is_401_without_fetch(fedi, remote_server, headers):
    """No signature, or junk, is refused with 401 and nothing is fetched."""
    end = await fedi()
    answer = await remote_server.send("POST", end.url(), b"{}", {"Content-Type": "application/activity+json",
                                                                  **headers})
    assert answer.status == 401
    assert remote_server.requests == []


async def test_tampered_body_is_refused(fedi, remote_server):
    """The body must match the signed Digest."""
    end = await fedi()
    body = json.dumps(follow(remote_server)).encode()
    headers = remote_server.sign("POST", end.url(), body)
    answer = await remote_server.send("POST", end.url(), body.replace(b"Follow", b"Block"), headers)
    assert answer.status == 401 and "digest" in answer.json["error"]


# the actor of the activity ---------------------------------------------------------------------------------------

def test_check_actor_accepts_the_signer():
    """The activity's actor (string or embedded object) equal to the signer passes."""
    signer = Signer("https://m.example/users/alice", "https://m.example/users/alice#main-key", "m.example")
    check_actor(signer, {"actor": "https://m.example/users/alice"})
    check_actor(signer, {"actor": {"id": "https://m.example/users/alice", "type": "Person"}})


@pytest.mark.parametrize("actor", ["https://m.example/users/bob", None, 42, {"type": "Person"}])
def test_check_actor_refuses_anyone_else(actor):
    """An activity whose actor is not the key's owner is refused with 401."""
    signer = Signer("https://m.example/users/alice", "https://m.example/users/alice#main-key", "m.example")
    with pytest.raises(SignatureError, match="actor does not match") as info:
        check_actor(signer, {"actor": actor})
    assert info.value.status == 401


async def test_signed_by_alice_for_bob_is_caught(fedi, remote_server):
    """A valid signature by alice on an activity claiming bob verifies as alice, then check_actor refuses it."""
    end = await fedi()
    answer = await remote_server.signed_post(end.url(), follow(remote_server, "bob"))
    signer = Signer(**answer.json)
    with pytest.raises(SignatureError):
        check_actor(signer, follow(remote_server, "bob"))
    check_actor(signer, follow(remote_server, "alice"))


# Mastodon's account-deletion flood -------------------------------------------------------------------------------

def self_delete(remote: RemoteServer, actor: str = "alice") -> dict:
    doc = json.loads(fixture_path("mastodon/delete-actor.json").read_text(encoding="utf-8"))
    doc.update(id=f"{remote.actor_id(actor)}#delete", actor=remote.actor_id(actor), object=remote.actor_id(actor))
    return doc


async def test_unknown_self_delete_is_skipped_without_fetching(fedi, remote_server):
    """A Delete of an unknown actor by itself is skipped, and its key is never fetched."""
    end = await fedi()
    assert await end.verifier.should_skip_unknown_delete(self_delete(remote_server)) is True
    assert remote_server.requests == []


async def test_self_delete_of_a_known_actor_is_not_skipped(fedi, remote_server, store):
    """Once the actor is cached (or follows us), its Delete must be verified and processed."""
    end = await fedi()
    assert (await remote_server.signed_post(end.url(), follow(remote_server))).status == 200
    assert await end.verifier.should_skip_unknown_delete(self_delete(remote_server)) is False
    bob = remote_server.actor_id("bob")
    await store.add_follower(Follower(role="archive", actor_id=bob, inbox=bob + "/inbox", shared_inbox=None,
                                      host=remote_server.domain, follow_id=None, since=end.verifier.clock()))
    assert await end.verifier.should_skip_unknown_delete(self_delete(remote_server, "bob")) is False


@pytest.mark.parametrize("change", [{"type": "Update"}, {"object": "https://m.example/users/alice/statuses/1"},
                                    {"object": {"id": "https://m.example/users/carol"}}])
async def test_other_activities_are_not_skipped(fedi, change):
    """Only a Delete whose object is its own actor qualifies."""
    end = await fedi()
    activity = {"type": "Delete", "actor": "https://m.example/users/alice",
                "object": {"id": "https://m.example/users/alice", "type": "Tombstone"}}
    assert await end.verifier.should_skip_unknown_delete(activity) is True  # embedded object form qualifies
    assert await end.verifier.should_skip_unknown_delete({**activity, **change}) is False

