"""Following, end to end: a real remote server (tests/remote.py) follows the real fedi app, over 127.0.0.1.

The remote signs like Mastodon (or PeerTube) with its own code and checks what fedi sends with its own
verifier, so an Accept that "arrives verified" was signed right by fedi. Jobs are run with ``run_once``.
"""

from __future__ import annotations

import datetime as dt
import logging

import pytest

from fedi.commands import followers as cli
from fedi.jobs import JobWorker
from fedi.retry import JITTER, JOBS
from fedi.urls import ARCHIVE, OWNER
from tests.conftest import ManualClock as Clock
from tests.conftest import until
from tests.fedi_app import AS, FediApp, adapt, fixture
from tests.remote import AS2, RemoteServer, Reply

pytestmark = pytest.mark.usefixtures("loopback_only")


def follow(remote: RemoteServer, target: str, actor: str = "alice", n: int = 1) -> dict:
    return {"@context": AS, "id": f"{remote.actor_id(actor)}#follows/{n}", "type": "Follow",
            "actor": remote.actor_id(actor), "object": target}


def undo(remote: RemoteServer, follow_doc: dict, actor: str = "alice") -> dict:
    inner = {k: v for k, v in follow_doc.items() if k != "@context"}
    return {"@context": AS, "id": f"{follow_doc['id']}/undo", "type": "Undo", "actor": remote.actor_id(actor),
            "object": inner}


def answers(remote: RemoteServer, kind: str) -> list:
    return [r for r in remote.received if isinstance(r.json, dict) and r.json.get("type") == kind]


async def followed(app: FediApp, remote: RemoteServer, actor: str = "alice", role: str = ARCHIVE) -> dict:
    """Follow ``role`` as ``actor`` and run the jobs; returns the Follow."""
    doc = follow(remote, app.actor(role), actor, n=len(remote.received) + 1)
    answer = await remote.signed_post(app.inbox(role), doc, actor=actor)
    assert answer.status == 202, answer.body
    await app.drain()
    return doc


# follow and Accept ---------------------------------------------------------------------------------------------

async def test_mastodon_follow_gets_a_signed_accept_at_the_personal_inbox(fedi, remote_server):
    """A Follow is answered by an Accept embedding it, POSTed to the follower's own inbox, verified remotely."""
    app = await fedi()
    doc = await followed(app, remote_server)
    [accept] = answers(remote_server, "Accept")
    assert accept.path == "/users/alice/inbox"
    assert accept.verified, accept.error
    assert accept.key_id == app.actor() + "#main-key"
    assert accept.status == 202
    body = accept.json
    assert body["actor"] == app.actor() and body["to"] == [remote_server.actor_id()]
    assert body["object"] == {k: doc[k] for k in ("id", "type", "actor", "object")}
    stored = await app.ctx.store.activity(body["id"])
    assert stored == body, "the Accept is kept, dereferenceable at its id"


async def test_accept_is_served_at_its_id(fedi, remote_server):
    """The Accept's id answers GET with the same document."""
    app = await fedi()
    await followed(app, remote_server)
    [accept] = answers(remote_server, "Accept")
    answer = await remote_server.signed_get(accept.json["id"])
    assert answer.status == 200 and answer.json == accept.json


async def test_follower_is_recorded_listed_and_counted(fedi, remote_server):
    """The follower row holds its inboxes, host and Follow id; the collection counts it."""
    app = await fedi()
    doc = await followed(app, remote_server)
    row = await app.ctx.store.follower(ARCHIVE, remote_server.actor_id())
    assert row is not None and row.state == "accepted"
    assert (row.inbox, row.shared_inbox, row.host, row.follow_id) == (
        remote_server.inbox(), remote_server.shared_inbox, "127.0.0.1", doc["id"])
    collection = await remote_server.signed_get(app.ctx.urls.followers(ARCHIVE))
    assert collection.json["totalItems"] == 1
    assert "first" not in collection.json, "the list stays private by default"
    owner = await remote_server.signed_get(app.ctx.urls.followers(OWNER))
    assert owner.json["totalItems"] == 0, "the Person's followers are a separate collection"
    rows = await cli.find(app.config, app.ctx.store, f"alice@{remote_server.domain}")
    assert [r.actor_id for r in rows] == [remote_server.actor_id()]


async def test_followers_pages_with_show_followers(fedi, remote_server):
    """With show_followers, the collection pages list the followers' ids."""
    app = await fedi(actor={"show_followers": True}, archive={"page_size": 1})
    await followed(app, remote_server, "alice")
    await followed(app, remote_server, "bob")
    collection = (await remote_server.signed_get(app.ctx.urls.followers(ARCHIVE))).json
    assert collection["totalItems"] == 2 and collection["first"] == app.ctx.urls.followers_page(ARCHIVE, 1)
    page = (await remote_server.signed_get(collection["first"])).json
    assert page["type"] == "OrderedCollectionPage" and page["totalItems"] == 2
    assert page["orderedItems"] == [remote_server.actor_id("alice")]
    second = (await remote_server.signed_get(page["next"])).json
    assert second["orderedItems"] == [remote_server.actor_id("bob")] and "next" not in second
    past = await remote_server.signed_get(app.ctx.urls.followers_page(ARCHIVE, 3))
    assert past.status == 404, "a page past the last one does not exist"


async def test_owner_is_followed_separately(fedi, remote_server):
    """A Follow of the Person is accepted by the Person, signed with its own key."""
    app = await fedi()
    await followed(app, remote_server, role=OWNER)
    [accept] = answers(remote_server, "Accept")
    assert accept.verified and accept.key_id == app.actor(OWNER) + "#main-key"
    assert await app.ctx.store.count_followers(OWNER) == 1
    assert await app.ctx.store.count_followers(ARCHIVE) == 0


async def test_peertube_follow_gets_accept_on_personal_inbox_not_shared(fedi, peertube):
    """PeerTube refuses an Accept on its shared inbox: it goes to /accounts/NAME/inbox, PeerTube-verified."""
    app = await fedi()
    doc = adapt(fixture("peertube/undo-follow-ldsig.json")["object"] | {"@context": AS}, peertube.actor_id(),
                peertube.base, target=app.actor())
    answer = await peertube.signed_post(app.inbox(), doc)
    assert answer.status == 202, answer.body
    await app.drain()
    [accept] = answers(peertube, "Accept")
    assert accept.path == "/accounts/alice/inbox" and accept.verified and accept.status == 204
    assert accept.json["object"]["id"] == doc["id"]


async def test_mastodon_fixture_follow_is_accepted(fedi, remote_server):
    """Mastodon's real Follow document, re-homed, is accepted."""
    app = await fedi()
    doc = adapt(fixture("mastodon/follow-group.json"), remote_server.actor_id(), remote_server.base,
                target=app.actor())
    assert (await remote_server.signed_post(app.inbox(), doc)).status == 202
    await app.drain()
    [accept] = answers(remote_server, "Accept")
    assert accept.verified and accept.json["object"]["id"] == doc["id"]


async def test_repeated_follow_is_accepted_again_without_duplicates(fedi, remote_server):
    """Mastodon re-sends Follows to resync: a new Follow id gets another Accept, one follower row."""
    app = await fedi()
    first = await followed(app, remote_server)
    since = (await app.ctx.store.follower(ARCHIVE, remote_server.actor_id())).since
    second = await followed(app, remote_server)
    assert first["id"] != second["id"]
    accepts = answers(remote_server, "Accept")
    assert [a.json["object"]["id"] for a in accepts] == [first["id"], second["id"]]
    assert await app.ctx.store.count_followers(ARCHIVE) == 1
    row = await app.ctx.store.follower(ARCHIVE, remote_server.actor_id())
    assert row.since == since and row.follow_id == second["id"]


async def test_replayed_follow_changes_nothing(fedi, remote_server):
    """The same Follow id twice: 202 both times, one Accept."""
    app = await fedi()
    doc = follow(remote_server, app.actor())
    assert (await remote_server.signed_post(app.inbox(), doc)).status == 202
    assert (await remote_server.signed_post(app.inbox(), doc)).status == 202
    await app.drain()
    assert len(answers(remote_server, "Accept")) == 1


async def test_follow_of_something_else_is_rejected_and_nothing_stored(fedi, remote_server):
    """A Follow of a talk (not an actor) gets a Reject; no follower row."""
    app = await fedi()
    doc = follow(remote_server, app.base + "/talks/debat")
    assert (await remote_server.signed_post(app.shared_inbox, doc)).status == 202
    await app.drain()
    [reject] = answers(remote_server, "Reject")
    assert reject.verified and reject.json["object"]["id"] == doc["id"]
    assert await app.ctx.store.followers(ARCHIVE) == [] and await app.ctx.store.followers(OWNER) == []


# unfollow ------------------------------------------------------------------------------------------------------

async def test_undo_follow_removes_the_follower(fedi, remote_server):
    """Undo{Follow} by the follower removes it; a second Undo is harmless."""
    app = await fedi()
    doc = await followed(app, remote_server)
    assert (await remote_server.signed_post(app.inbox(), undo(remote_server, doc))).status == 202
    assert await app.ctx.store.count_followers(ARCHIVE) == 0
    again = undo(remote_server, doc) | {"id": doc["id"] + "/undo-again"}
    assert (await remote_server.signed_post(app.inbox(), again)).status == 202


async def test_undo_by_follow_id_only(fedi, remote_server):
    """An Undo naming the Follow by its id alone works too."""
    app = await fedi()
    doc = await followed(app, remote_server)
    bare = {"@context": AS, "id": doc["id"] + "/undo", "type": "Undo", "actor": remote_server.actor_id(),
            "object": doc["id"]}
    assert (await remote_server.signed_post(app.inbox(), bare)).status == 202
    assert await app.ctx.store.count_followers(ARCHIVE) == 0


async def test_undo_by_an_older_follow_id(fedi, remote_server):
    """After a second Follow (Mastodon re-sends them with new ids), a bare-id Undo of the FIRST ends the follow."""
    app = await fedi()
    first = await followed(app, remote_server)
    second = await followed(app, remote_server)
    assert first["id"] != second["id"]
    bare = {"@context": AS, "id": first["id"] + "/undo", "type": "Undo", "actor": remote_server.actor_id(),
            "object": first["id"]}
    assert (await remote_server.signed_post(app.inbox(), bare)).status == 202
    assert await app.ctx.store.follower(ARCHIVE, remote_server.actor_id()) is None


async def test_undo_of_an_unknown_follow_id_changes_nothing(fedi, remote_server):
    """A bare-id Undo naming a Follow id never received is accepted and ignored: the follower stays."""
    app = await fedi()
    doc = await followed(app, remote_server)
    bare = {"@context": AS, "id": doc["id"] + "/undo", "type": "Undo", "actor": remote_server.actor_id(),
            "object": remote_server.actor_id() + "#follows/never"}
    assert (await remote_server.signed_post(app.inbox(), bare)).status == 202
    assert await app.ctx.store.count_followers(ARCHIVE) == 1


async def test_bare_undo_of_someone_elses_follow_is_refused(fedi, remote_server):
    """Bob cannot undo Alice's Follow by naming its id alone: 403, and Alice still follows."""
    app = await fedi()
    doc = await followed(app, remote_server)
    bare = {"@context": AS, "id": remote_server.actor_id("bob") + "#undo/1", "type": "Undo",
            "actor": remote_server.actor_id("bob"), "object": doc["id"]}
    answer = await remote_server.signed_post(app.inbox(), bare, actor="bob")
    assert answer.status == 403 and "another actor" in answer.json["error"]
    assert await app.ctx.store.count_followers(ARCHIVE) == 1


async def test_real_undo_documents_unfollow(fedi, remote_server, peertube):
    """Mastodon's and PeerTube's real Undo{Follow}, re-homed, remove the follower."""
    app = await fedi()
    for remote, path in ((remote_server, "mastodon/undo-follow-group.json"),
                         (peertube, "peertube/undo-follow-ldsig.json")):
        real = adapt(fixture(path), remote.actor_id(), remote.base, target=app.actor())
        assert (await remote.signed_post(app.inbox(), real["object"] | {"@context": AS})).status == 202
        await app.drain()
        assert await app.ctx.store.follower(ARCHIVE, remote.actor_id()) is not None
        assert (await remote.signed_post(app.inbox(), real)).status == 202
        assert await app.ctx.store.follower(ARCHIVE, remote.actor_id()) is None


async def test_undo_by_someone_else_is_refused(fedi, remote_server):
    """Bob cannot undo Alice's Follow: 403, and Alice still follows."""
    app = await fedi()
    doc = await followed(app, remote_server)
    forged = undo(remote_server, doc, actor="bob")
    forged["object"]["actor"] = remote_server.actor_id("alice")
    answer = await remote_server.signed_post(app.inbox(), forged, actor="bob")
    assert answer.status == 403 and "actor" in answer.json["error"]
    assert await app.ctx.store.count_followers(ARCHIVE) == 1


async def test_undo_of_a_follow_id_on_another_server_is_refused(fedi, remote_server, peertube):
    """An Undo naming a Follow id of another server is refused with 403."""
    app = await fedi()
    doc = await followed(app, remote_server)
    forged = {"@context": AS, "id": peertube.actor_id() + "#undo/1", "type": "Undo", "actor": peertube.actor_id(),
              "object": doc["id"]}
    answer = await peertube.signed_post(app.inbox(), forged)
    assert answer.status == 403
    assert await app.ctx.store.count_followers(ARCHIVE) == 1


# manual approval -----------------------------------------------------------------------------------------------

async def test_manual_approval_then_approve(fedi, remote_server):
    """With manual approval, the Follow waits (no Accept) until 'fedi followers approve'."""
    app = await fedi(actor={"manually_approves_followers": True})
    doc = await followed(app, remote_server)
    assert answers(remote_server, "Accept") == []
    [row] = await app.ctx.store.followers(ARCHIVE, state="pending")
    assert await app.ctx.store.count_followers(ARCHIVE) == 0, "pending followers are not counted"
    approved = await cli.approve(app.config, app.ctx.store, remote_server.actor_id())
    assert [f.actor_id for f in approved] == [row.actor_id]
    await app.drain()
    [accept] = answers(remote_server, "Accept")
    assert accept.verified and accept.json["object"]["id"] == doc["id"]
    assert await app.ctx.store.count_followers(ARCHIVE) == 1


async def test_manual_approval_then_reject(fedi, remote_server):
    """'fedi followers reject' removes the request and sends a Reject of the Follow."""
    app = await fedi(actor={"manually_approves_followers": True})
    doc = await followed(app, remote_server)
    await cli.reject(app.config, app.ctx.store, f"alice@{remote_server.domain}")
    await app.drain()
    [reject] = answers(remote_server, "Reject")
    assert reject.verified and reject.json["object"]["id"] == doc["id"]
    assert await app.ctx.store.followers(ARCHIVE) == []


async def test_manual_approval_keeps_an_accepted_follower_accepted(fedi, remote_server):
    """A repeated Follow from an approved follower is accepted at once."""
    app = await fedi(actor={"manually_approves_followers": True})
    await followed(app, remote_server)
    await cli.approve(app.config, app.ctx.store, remote_server.actor_id())
    await app.drain()
    await followed(app, remote_server)
    assert len(answers(remote_server, "Accept")) == 2
    assert (await app.ctx.store.follower(ARCHIVE, remote_server.actor_id())).state == "accepted"


async def test_owner_follows_never_wait(fedi, remote_server):
    """Manual approval is the archive's; the owner (Person) accepts at once, as its actor says."""
    app = await fedi(actor={"manually_approves_followers": True})
    await followed(app, remote_server, role=OWNER)
    assert len(answers(remote_server, "Accept")) == 1


# blocks --------------------------------------------------------------------------------------------------------

async def test_blocked_domain_is_refused_before_any_fetch(fedi, peertube):
    """A Follow from a domain in security.blocked_domains: 403, no key fetched, nothing stored."""
    app = await fedi(security={"blocked_domains": ("127.0.0.2",)})
    answer = await peertube.signed_post(app.inbox(), follow(peertube, app.actor()))
    assert answer.status == 403
    assert peertube.count("GET") == 0
    assert await app.ctx.store.followers(ARCHIVE) == []
    assert (await app.ctx.store.status(dt.datetime.now(dt.UTC))).jobs["pending"] == 0


async def test_block_removes_followers_sends_reject_and_refuses_them(fedi, remote_server, peertube):
    """'fedi block DOMAIN' removes its followers, sends each a Reject, and refuses its next requests."""
    app = await fedi()
    await followed(app, remote_server)
    await followed(app, peertube)
    new, gone = await cli.block(app.config, app.ctx.store, "127.0.0.2")
    assert new and [f.actor_id for f in gone] == [peertube.actor_id()]
    await app.drain()
    [reject] = answers(peertube, "Reject")
    assert reject.verified and reject.path == "/accounts/alice/inbox"
    assert answers(remote_server, "Reject") == []
    assert [f.actor_id for f in await app.ctx.store.followers(ARCHIVE)] == [remote_server.actor_id()]
    again = await peertube.signed_post(app.inbox(), follow(peertube, app.actor(), n=9))
    assert again.status == 403


async def test_block_of_one_actor(fedi, remote_server):
    """Blocking an actor id removes that follower only."""
    app = await fedi()
    await followed(app, remote_server, "alice")
    await followed(app, remote_server, "bob")
    await cli.block(app.config, app.ctx.store, remote_server.actor_id("bob"))
    await app.drain()
    assert [f.actor_id for f in await app.ctx.store.followers(ARCHIVE)] == [remote_server.actor_id("alice")]
    assert (await remote_server.signed_post(app.inbox(), follow(remote_server, app.actor(), "bob", 7),
                                            actor="bob")).status == 403


async def test_config_block_removes_existing_followers_at_start(fedi, config, peertube):
    """A domain added to security.blocked_domains loses its followers when the job worker starts."""
    app = await fedi()
    await followed(app, peertube)
    await app.stop()
    blocked = await FediApp.start(config, port=app.config.server.port, security={"blocked_domains": ("127.0.0.2",)})
    try:
        await blocked.drain()
        assert await blocked.ctx.store.followers(ARCHIVE) == []
        assert len(answers(peertube, "Reject")) == 1
    finally:
        await blocked.stop()


async def test_follow_from_actor_blocked_meanwhile_is_rejected(fedi, remote_server):
    """Blocked between the 202 and the job: Reject, nothing stored."""
    app = await fedi()
    assert (await remote_server.signed_post(app.inbox(), follow(remote_server, app.actor()))).status == 202
    await app.ctx.store.block(remote_server.actor_id())
    await app.drain()
    assert len(answers(remote_server, "Reject")) == 1 and answers(remote_server, "Accept") == []
    assert await app.ctx.store.followers(ARCHIVE) == []


# Delete, Update, Move ------------------------------------------------------------------------------------------

async def test_delete_of_the_actor_removes_everything_from_it(fedi, remote_server):
    """Delete{actor} by itself removes the follower, its cached document and keys."""
    app = await fedi()
    await followed(app, remote_server)
    doc = adapt(fixture("mastodon/delete-actor.json"), remote_server.actor_id(), remote_server.base)
    assert (await remote_server.signed_post(app.inbox(), doc)).status == 202
    store = app.ctx.store
    assert await store.followers(ARCHIVE) == []
    assert await store.cached_actor(remote_server.actor_id()) is None
    assert await store.cached_key(remote_server.key_id()) is None


async def test_delete_of_a_gone_actor_whose_key_cannot_be_fetched(fedi, remote_server):
    """The actor's server already answers 410: the Delete is taken at its word (202) and the follower goes."""
    app = await fedi(security={"key_cache_seconds": 1})
    await followed(app, remote_server)
    await app.ctx.store.forget_actor(remote_server.actor_id())  # the key cache expired meanwhile
    app.ctx.verifier._keys.clear()
    remote_server.gone()
    doc = adapt(fixture("lemmy/delete-user-actor.json"), remote_server.actor_id(), remote_server.base)
    answer = await remote_server.signed_post(app.shared_inbox, doc)
    assert answer.status == 202, answer.body
    assert await app.ctx.store.followers(ARCHIVE) == []


async def test_update_of_the_actor_refreshes_inboxes_and_cache(fedi, remote_server):
    """Update{Person} changes the cached document and the follower's inboxes at once."""
    app = await fedi()
    await followed(app, remote_server)
    person = remote_server.actor_document("alice")
    person["inbox"] = remote_server.base + "/users/alice/new-inbox"
    person["endpoints"] = {"sharedInbox": remote_server.base + "/new-shared"}
    update = {"@context": AS, "id": remote_server.actor_id() + "#updates/1", "type": "Update",
              "actor": remote_server.actor_id(), "object": {k: v for k, v in person.items() if k != "@context"}}
    assert (await remote_server.signed_post(app.inbox(), update)).status == 202
    row = await app.ctx.store.follower(ARCHIVE, remote_server.actor_id())
    assert (row.inbox, row.shared_inbox) == (person["inbox"], person["endpoints"]["sharedInbox"])
    cached = await app.ctx.store.cached_actor(remote_server.actor_id())
    assert cached.document["inbox"] == person["inbox"]


async def test_update_of_someone_else_changes_nothing(fedi, remote_server):
    """Bob cannot rewrite Alice's profile: accepted, ignored."""
    app = await fedi()
    await followed(app, remote_server)
    person = remote_server.actor_document("alice") | {"inbox": remote_server.base + "/evil"}
    update = {"@context": AS, "id": remote_server.actor_id("bob") + "#updates/1", "type": "Update",
              "actor": remote_server.actor_id("bob"), "object": person}
    assert (await remote_server.signed_post(app.inbox(), update, actor="bob")).status == 202
    assert (await app.ctx.store.follower(ARCHIVE, remote_server.actor_id())).inbox == remote_server.inbox()


def serve_moved(remote: RemoteServer, new: str, also_known_as: list[str]) -> None:
    remote.add_actor(new)
    remote.serve(remote.actor_path(new), remote.actor_document(new) | {"alsoKnownAs": also_known_as})


def move(remote: RemoteServer, old: str, new: str) -> dict:
    return {"@context": AS, "id": f"{remote.actor_id(old)}#moves/1", "type": "Move", "actor": remote.actor_id(old),
            "object": remote.actor_id(old), "target": remote.actor_id(new)}


async def test_move_with_matching_also_known_as(fedi, remote_server):
    """Move to an actor listing the old one in alsoKnownAs: the follower becomes the new actor."""
    app = await fedi()
    await followed(app, remote_server, "alice")
    serve_moved(remote_server, "alice2", [remote_server.actor_id("alice")])
    assert (await remote_server.signed_post(app.inbox(), move(remote_server, "alice", "alice2"))).status == 202
    await app.drain()
    rows = await app.ctx.store.followers(ARCHIVE)
    assert [(r.actor_id, r.inbox) for r in rows] == [(remote_server.actor_id("alice2"), remote_server.inbox("alice2"))]


async def test_move_without_matching_also_known_as_changes_nothing(fedi, remote_server):
    """Move to an actor that does not list the old one: nothing moves."""
    app = await fedi()
    await followed(app, remote_server, "alice")
    serve_moved(remote_server, "mallory", [])
    assert (await remote_server.signed_post(app.inbox(), move(remote_server, "alice", "mallory"))).status == 202
    await app.drain()
    assert [r.actor_id for r in await app.ctx.store.followers(ARCHIVE)] == [remote_server.actor_id("alice")]


async def test_move_onto_an_existing_follower_does_not_duplicate(fedi, remote_server):
    """When the new actor already follows, the old row goes and the count drops to one."""
    app = await fedi()
    await followed(app, remote_server, "alice")
    serve_moved(remote_server, "alice2", [remote_server.actor_id("alice")])
    await followed(app, remote_server, "alice2")
    assert (await remote_server.signed_post(app.inbox(), move(remote_server, "alice", "alice2"))).status == 202
    await app.drain()
    assert [r.actor_id for r in await app.ctx.store.followers(ARCHIVE)] == [remote_server.actor_id("alice2")]


async def test_move_of_someone_else_is_refused(fedi, remote_server):
    """GoToSocial's negative case: a Move whose object is not its actor is refused (403)."""
    app = await fedi()
    await followed(app, remote_server, "alice")
    doc = adapt(fixture("gotosocial/move-invalid-object-not-actor.json"), remote_server.actor_id("bob"),
                remote_server.base)
    doc["object"] = remote_server.actor_id("alice")
    answer = await remote_server.signed_post(app.inbox(), doc, actor="bob")
    assert answer.status == 403
    assert [r.actor_id for r in await app.ctx.store.followers(ARCHIVE)] == [remote_server.actor_id("alice")]


# durability ----------------------------------------------------------------------------------------------------

async def test_restart_between_follow_and_accept(fedi, remote_server):
    """Stopped after the 202, before any job ran: the next app on the same store still sends the Accept."""
    app = await fedi()
    doc = follow(remote_server, app.actor())
    assert (await remote_server.signed_post(app.inbox(), doc)).status == 202
    assert answers(remote_server, "Accept") == []
    restarted = await app.restart()
    try:
        await restarted.drain()
        [accept] = answers(remote_server, "Accept")
        assert accept.verified and accept.json["object"]["id"] == doc["id"]
    finally:
        await restarted.stop()


async def test_background_worker_of_the_app_sends_the_accept(fedi, config, remote_server):
    """With background workers on, the Accept goes out by itself within seconds."""
    app = await FediApp.start(config, background=True)
    try:
        assert (await remote_server.signed_post(app.inbox(), follow(remote_server, app.actor()))).status == 202
        await until(lambda: answers(remote_server, "Accept"), 10, "the background workers to send the Accept")
        assert len(answers(remote_server, "Accept")) == 1
    finally:
        await app.stop()


async def test_failed_accept_is_retried_by_the_delivery_worker(fedi, remote_server):
    """A 503 from the follower's inbox: the Accept is retried when Retry-After says, not before."""
    app = await fedi()
    remote_server.set_responses([Reply(503, {"Retry-After": "120"})])
    assert (await remote_server.signed_post(app.inbox(), follow(remote_server, app.actor()))).status == 202
    clock = Clock()
    await app.drain(clock)
    assert [a.status for a in answers(remote_server, "Accept")] == [503]
    deliverer = app.deliverer(clock)
    clock.now += dt.timedelta(seconds=119)
    assert await deliverer.run_once() == 0
    clock.now += dt.timedelta(seconds=2)
    assert await deliverer.run_once() == 1
    assert [a.status for a in answers(remote_server, "Accept")] == [503, 202]


async def test_permanently_refused_accept_is_given_up(fedi, remote_server):
    """A 400 from the follower's inbox will not get better: the delivery is dead, kept for inspection."""
    app = await fedi()
    remote_server.set_responses([400])
    assert (await remote_server.signed_post(app.inbox(), follow(remote_server, app.actor()))).status == 202
    await app.drain()
    counts = await app.ctx.store.delivery_counts()
    assert (counts.done, counts.dead) == (0, 1)
    assert (await app.ctx.store.status(dt.datetime.now(dt.UTC))).jobs == {"pending": 0, "failed": 0}


async def test_actor_fetch_failure_retries_the_follow_job(fedi, remote_server):
    """The follower's server fails (500) when the job fetches its actor: retried after the backoff, then done."""
    app = await fedi()
    assert (await remote_server.signed_post(app.inbox(), follow(remote_server, app.actor()))).status == 202
    await app.ctx.store.forget_actor(remote_server.actor_id())
    remote_server.serve(remote_server.actor_path("alice"), {"error": "boom"}, status=500)
    clock = Clock()
    worker = app.worker(clock)
    assert await worker.run_once() == 1
    assert await app.ctx.store.followers(ARCHIVE) == []
    del remote_server.documents[remote_server.actor_path("alice")]
    clock.now += dt.timedelta(seconds=JOBS.base(1) * (1 - JITTER) - 1)
    assert await worker.run_once() == 0, "retried before the backoff"
    clock.now += dt.timedelta(seconds=JOBS.base(1) * 2 * JITTER + 2)
    assert await worker.run_once() == 1
    assert [f.actor_id for f in await app.ctx.store.followers(ARCHIVE)] == [remote_server.actor_id()]


async def test_gone_follower_fails_the_follow_job(fedi, remote_server):
    """A follower whose actor is gone (410) by the time the job runs is not recorded; the job fails."""
    app = await fedi()
    assert (await remote_server.signed_post(app.inbox(), follow(remote_server, app.actor()))).status == 202
    await app.ctx.store.forget_actor(remote_server.actor_id())
    remote_server.gone()
    await app.drain()
    assert await app.ctx.store.followers(ARCHIVE) == []
    assert (await app.ctx.store.status(dt.datetime.now(dt.UTC))).jobs["failed"] == 1


async def test_unknown_job_kind_is_retried_and_logged_never_dropped(fedi, caplog):
    """A job of a kind this process was not wired for stays pending (logged as an error, retried later), and a
    worker wired with that kind runs it once it is due again."""
    app = await fedi()
    clock = Clock()
    await app.ctx.store.add_job("from-the-future", {"n": 1}, clock())
    with caplog.at_level(logging.ERROR, logger="fedi.jobs"):
        assert await app.worker(clock).run_once() == 1
    assert "'from-the-future'" in caplog.text
    assert (await app.ctx.store.status(clock())).jobs == {"pending": 1, "failed": 0}
    assert await app.worker(clock).run_once() == 0, "retried later, not at once"
    ran: list[dict] = []

    async def from_the_future(worker, payload) -> None:
        ran.append(payload)

    wired = JobWorker(app.config, app.ctx.urls, app.ctx.store, app.ctx.client,
                      app.ctx.dispatcher.extended(job_kinds={"from-the-future": from_the_future}), clock)
    clock.advance(3600)
    assert await wired.run_once() == 1
    assert ran == [{"n": 1}]
    assert (await app.ctx.store.status(clock())).jobs == {"pending": 0, "failed": 0}


async def test_accept_and_reject_addressed_to_us_are_recorded(fedi, remote_server):
    """Accept/Reject (real Mastodon documents, re-homed) are kept for the record, no error."""
    app = await fedi()
    for path in ("mastodon/accept-follow.json", "mastodon/reject-follow.json"):
        doc = adapt(fixture(path), remote_server.actor_id(), remote_server.base)
        assert (await remote_server.signed_post(app.inbox(), doc)).status == 202
        assert (await app.ctx.store.received(doc["id"]))["type"] == doc["type"]


async def test_collection_of_follows_from_peertube(fedi, peertube):
    """PeerTube may POST an OrderedCollection of activities: each one is handled."""
    app = await fedi()
    items = [follow(peertube, app.actor(), n=1), follow(peertube, app.actor(OWNER), n=2)]
    body = {"@context": AS, "type": "OrderedCollection", "totalItems": 2,
            "orderedItems": [{k: v for k, v in i.items() if k != "@context"} for i in items]}
    assert (await peertube.signed_post(app.shared_inbox, body, headers={"Content-Type": AS2})).status == 202
    await app.drain()
    assert len(answers(peertube, "Accept")) == 2
    assert await app.ctx.store.count_followers(ARCHIVE) == 1 and await app.ctx.store.count_followers(OWNER) == 1
