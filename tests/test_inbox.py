"""The inboxes over HTTP: every refusal and its status, Collections, dedupe, and real documents as bodies."""

from __future__ import annotations

import datetime as dt
import json
import logging

import aiohttp
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fedi import inbox_routes
from fedi.errors import ActivityError
from fedi.schemas import first_error
from fedi.store import Follower
from fedi.urls import ARCHIVE
from tests.conftest import FIXTURES, fixture_params, needs_fixtures
from tests.fedi_app import AS, FediApp, adapt, fixture
from tests.remote import AS2, LD, RemoteServer

pytestmark = pytest.mark.usefixtures("loopback_only")

MiB = 1024 * 1024


@pytest.fixture
async def app(config):
    app = await FediApp.start(config)
    yield app
    await app.stop()


def follow(remote: RemoteServer, app: FediApp, actor: str = "alice", n: int = 1) -> dict:
    return {"@context": AS, "id": f"{remote.actor_id(actor)}#follows/{n}", "type": "Follow",
            "actor": remote.actor_id(actor), "object": app.actor()}


async def jobs(app: FediApp) -> int:
    return (await app.ctx.store.status(dt.datetime.now(dt.UTC))).jobs["pending"]


async def raw(method: str, url: str, body: bytes | None = None, headers: dict | None = None):
    async with aiohttp.ClientSession() as session, \
            session.request(method, url, data=body, headers=headers or {}) as resp:
        return resp.status, resp.headers, await resp.read()


# the HTTP envelope -----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE", "PATCH"])
@pytest.mark.parametrize("path", ["/actors/archive/inbox", "/actors/assoc/inbox", "/inbox"])
async def test_inboxes_take_post_only(app, method, path):
    """Anything but POST is 405 with Allow: POST."""
    status, headers, _ = await raw(method, app.base + path, headers={"Accept": "application/json"})
    assert status == 405 and headers["Allow"] == "POST"


async def test_inbox_of_unknown_actor_is_404(app, remote_server):
    """A POST to the inbox of an actor we do not have is 404."""
    answer = await remote_server.signed_post(app.base + "/actors/nobody/inbox", follow(remote_server, app))
    assert answer.status == 404


@pytest.mark.parametrize("content_type", ["text/plain", "application/json", "application/x-www-form-urlencoded", ""])
async def test_other_content_types_are_415(app, remote_server, content_type):
    """Only application/activity+json and application/ld+json are read."""
    answer = await remote_server.signed_post(app.inbox(), follow(remote_server, app),
                                             headers={"Content-Type": content_type})
    assert answer.status == 415 and "Content-Type" in answer.json["error"]
    assert await jobs(app) == 0


@pytest.mark.parametrize("content_type", [AS2, LD, "application/ld+json", "application/activity+json; charset=utf-8"])
async def test_activitystreams_content_types_are_read(app, remote_server, content_type):
    """Both AS2 media types, with or without parameters, are accepted."""
    answer = await remote_server.signed_post(app.inbox(), follow(remote_server, app),
                                             headers={"Content-Type": content_type})
    assert answer.status == 202 and answer.json == {}
    assert await jobs(app) == 1


async def test_body_over_a_mebibyte_is_413_from_its_length(app, remote_server):
    """A declared Content-Length over 1 MiB is refused before reading (and before any key fetch)."""
    doc = follow(remote_server, app) | {"padding": "x" * MiB}
    answer = await remote_server.signed_post(app.inbox(), doc)
    assert answer.status == 413
    assert remote_server.count("GET") == 0


async def test_chunked_body_over_a_mebibyte_is_413_while_reading(app):
    """Without a Content-Length, reading stops past 1 MiB."""
    async def chunks():
        yield b'{"@context": "https://www.w3.org/ns/activitystreams", "pad": "'
        for _ in range(20):
            yield b"x" * (64 * 1024)
        yield b'"}'

    status, _, body = await raw("POST", app.inbox(), chunks(), {"Content-Type": AS2})
    assert status == 413 and b"limit" in body


async def test_body_of_exactly_the_limit_is_read(app, remote_server):
    """1 MiB exactly is within the limit (the request goes on to the signature check)."""
    doc = follow(remote_server, app)
    text = json.dumps(doc | {"padding": ""})
    doc["padding"] = "x" * (MiB - len(text.encode()))
    answer = await remote_server.signed_post(app.inbox(), json.dumps(doc).encode())
    assert answer.status == 202


@pytest.mark.parametrize("body, reason", [
    (b"{not json", "not valid JSON"),
    (b"\xff\xfe", "not valid JSON"),
    (b"[1, 2]", "not a JSON object"),
    (b'{"type": "Follow"}', "@context"),
    (b'{"@context": "https://example.org/ns", "type": "Follow"}', "@context"),
    (b'{"@context": ["https://w3id.org/security/v1"], "type": "Follow"}', "@context"),
])
async def test_bad_json_or_context_is_400(app, remote_server, body, reason):
    """Not a JSON object with an ActivityStreams @context: 400, before any key fetch."""
    answer = await remote_server.signed_post(app.inbox(), body)
    assert answer.status == 400 and reason in answer.json["error"]
    assert remote_server.count("GET") == 0


# signatures ------------------------------------------------------------------------------------------------------

async def test_unsigned_post_is_401(app, remote_server):
    """No signature: 401."""
    status, _, body = await raw("POST", app.inbox(), json.dumps(follow(remote_server, app)).encode(),
                                {"Content-Type": AS2})
    assert status == 401 and "error" in json.loads(body)
    assert await jobs(app) == 0


async def test_tampered_body_is_401(app, remote_server):
    """A body changed after signing fails the digest: 401."""
    body = json.dumps(follow(remote_server, app)).encode()
    headers = remote_server.sign("POST", app.inbox(), body)
    answer = await remote_server.send("POST", app.inbox(), body.replace(b"follows/1", b"follows/2"), headers)
    assert answer.status == 401
    assert await jobs(app) == 0


async def test_signed_by_someone_else_than_the_actor_is_401(app, remote_server):
    """Bob signs a Follow whose actor is Alice: 401."""
    remote_server.add_actor("bob")
    answer = await remote_server.signed_post(app.inbox(), follow(remote_server, app, "alice"), actor="bob")
    assert answer.status == 401 and "actor" in answer.json["error"]
    assert await jobs(app) == 0


async def test_store_blocked_actor_is_403(app, remote_server):
    """A blocked actor is refused with 403."""
    await app.ctx.store.block(remote_server.actor_id())
    answer = await remote_server.signed_post(app.inbox(), follow(remote_server, app))
    assert answer.status == 403
    assert await jobs(app) == 0


async def test_peertube_style_signature_is_accepted(config):
    """A PeerTube-signed POST (path-only request target, no content-type signed) passes."""
    remote = await RemoteServer.start(name="peertube", style="peertube")
    app = await FediApp.start(config)
    try:
        answer = await remote.signed_post(app.inbox(), follow(remote, app))
        assert answer.status == 202
    finally:
        await app.stop()
        await remote.close()


async def test_rfc9421_signature_is_accepted(app, remote_server):
    """An RFC 9421 signed POST (Mastodon 4.5) passes."""
    answer = await remote_server.signed_post(app.inbox(), follow(remote_server, app), sign="rfc9421")
    assert answer.status == 202


# shapes ----------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("change, reason", [
    ({"object": None}, "object is missing"),
    ({"id": None}, "id is missing"),
    ({"object": 42}, "object must be"),
    ({"object": "not a url"}, "object"),
    ({"type": ["Follow"]}, "type must be a string"),
])
async def test_malformed_follow_is_400_naming_the_field(app, remote_server, change, reason):
    """Schema errors name the first bad field."""
    doc = follow(remote_server, app)
    for key, value in change.items():
        if value is None:
            doc.pop(key)
        else:
            doc[key] = value
    answer = await remote_server.signed_post(app.inbox(), doc)
    assert answer.status == 400 and reason in answer.json["error"], answer.json
    assert await jobs(app) == 0


async def test_update_with_a_bare_id_is_400(app, remote_server):
    """Update needs the embedded object (Mastodon: the new profile)."""
    doc = {"@context": AS, "id": remote_server.actor_id() + "#updates/1", "type": "Update",
           "actor": remote_server.actor_id(), "object": remote_server.actor_id()}
    answer = await remote_server.signed_post(app.inbox(), doc)
    assert answer.status == 400 and answer.json["error"].startswith("object must be an object")


async def test_activity_id_on_another_server_is_403(app, remote_server):
    """An activity id must live on its actor's server (else ids of others could be spoiled for dedupe)."""
    doc = follow(remote_server, app) | {"id": "http://127.0.0.9/follows/1"}
    answer = await remote_server.signed_post(app.inbox(), doc)
    assert answer.status == 403 and "id" in answer.json["error"]


async def test_unknown_type_is_202_ignored_and_logged(app, remote_server, caplog):
    """A type without a handler (Flag, View, Question…) is accepted and ignored, at debug level."""
    doc = adapt(fixture("mastodon/flag-report.json"), remote_server.actor_id(), remote_server.base)
    with caplog.at_level(logging.DEBUG, logger="fedi.inbox"):
        answer = await remote_server.signed_post(app.inbox(), doc)
    assert answer.status == 202
    assert await jobs(app) == 0
    assert any("Flag" in r.getMessage() and r.levelno == logging.DEBUG for r in caplog.records)


# dedupe ----------------------------------------------------------------------------------------------------------

async def test_replayed_id_is_202_and_changes_nothing(app, remote_server):
    """The second POST of the same id queues nothing."""
    doc = follow(remote_server, app)
    assert (await remote_server.signed_post(app.inbox(), doc)).status == 202
    assert (await remote_server.signed_post(app.shared_inbox, doc)).status == 202
    assert await jobs(app) == 1


async def test_refused_activity_is_not_marked_seen(app, remote_server):
    """An activity refused by its handler (403) is refused again when replayed, not silently dropped."""
    await app.ctx.store.add_follower(Follower(
        ARCHIVE, remote_server.actor_id(), remote_server.inbox(), None, "127.0.0.1", "x", dt.datetime.now(dt.UTC)))
    forged = {"@context": AS, "id": remote_server.actor_id("bob") + "#undo", "type": "Undo",
              "actor": remote_server.actor_id("bob"),
              "object": {"type": "Follow", "actor": remote_server.actor_id(), "object": app.actor()}}
    for _ in range(2):
        assert (await remote_server.signed_post(app.inbox(), forged, actor="bob")).status == 403
    assert await app.ctx.store.count_followers(ARCHIVE) == 1


# special cases ---------------------------------------------------------------------------------------------------

async def test_delete_of_unknown_actor_is_202_without_any_fetch(app, remote_server):
    """Mastodon's account-deletion flood: 202 at once, no key fetched (docs/receivers.md, Mastodon: signatures)."""
    remote_server.gone()
    doc = adapt(fixture("mastodon/delete-actor.json"), remote_server.actor_id(), remote_server.base)
    answer = await remote_server.signed_post(app.shared_inbox, doc)
    assert answer.status == 202
    assert remote_server.count("GET") == 0


async def test_collection_is_handled_item_by_item(app, remote_server):
    """An OrderedCollection of two Follows queues two jobs; replays inside are skipped."""
    items = [follow(remote_server, app, n=1), follow(remote_server, app, n=2), follow(remote_server, app, n=1)]
    body = {"@context": AS, "type": "OrderedCollection", "orderedItems": items}
    assert (await remote_server.signed_post(app.shared_inbox, body)).status == 202
    assert await jobs(app) == 2


async def test_collection_with_one_bad_item_applies_nothing(app, remote_server):
    """A bad item refuses the whole POST (400 naming it), and nothing of it is applied or marked seen."""
    good, bad = follow(remote_server, app, n=1), follow(remote_server, app, n=2)
    del bad["object"]
    body = {"@context": AS, "type": "Collection", "items": [good, bad]}
    answer = await remote_server.signed_post(app.shared_inbox, body)
    assert answer.status == 400 and answer.json["error"] == "items[1]: object is missing"
    assert await jobs(app) == 0
    assert (await remote_server.signed_post(app.shared_inbox, good)).status == 202
    assert await jobs(app) == 1


@pytest.mark.parametrize("body, status", [
    ({"type": "OrderedCollection", "orderedItems": "nope"}, 400),
    ({"type": "OrderedCollection", "orderedItems": ["https://x.example/activity/1"]}, 400),
    ({"type": "Collection", "items": [{"type": "Like"}] * 101}, 413),
])
async def test_bad_collections_are_refused(app, remote_server, body, status):
    """Items must be a list of embedded activities, at most 100 per POST."""
    answer = await remote_server.signed_post(app.shared_inbox, {"@context": AS, **body})
    assert answer.status == status


async def test_item_of_a_collection_by_another_actor_is_401(app, remote_server):
    """Every item of a Collection must be the signer's own."""
    body = {"@context": AS, "type": "OrderedCollection",
            "orderedItems": [follow(remote_server, app), follow(remote_server, app, "bob", 2)]}
    assert (await remote_server.signed_post(app.shared_inbox, body)).status == 401
    assert await jobs(app) == 0


# real documents as bodies --------------------------------------------------------------------------------------

ACTIVITY_FIXTURES = fixture_params(sorted(
    str(p.relative_to(FIXTURES)) for p in FIXTURES.glob("*/*.json")
    if isinstance(doc := json.loads(p.read_text(encoding="utf-8")), dict) and "actor" in doc))
# what fedi answers each (signed by the re-homed actor); everything else is 202
EXPECTED = {
    # GoToSocial's own negative case: a Move of another actor
    "gotosocial/move-invalid-object-not-actor.json": 403,
    # anonymised capture: the boost undone is by "john", the Undo by "first" — an Undo of someone else's activity
    "mastodon/undo-announce.json": 403,
    # Pleroma's trimmed copy keeps only an inline context, without the ActivityStreams one
    "mastodon/delete-actor-embedded-person.json": 400,
}


@needs_fixtures
def test_all_activity_fixtures_are_listed():
    """The fixtures folder holds the real activities these tests use (guards against an empty glob)."""
    assert len(ACTIVITY_FIXTURES) >= 40


@pytest.mark.parametrize("path", ACTIVITY_FIXTURES)
def test_real_activities_pass_the_schema(path):
    """Every real activity in the fixtures has a shape the inbox accepts."""
    doc = fixture(path)
    if path == "gotosocial/update-person-actor.json":  # its id is a placeholder filled in at runtime by GtS' test
        doc["id"] = doc["actor"] + "#updates/1"
    assert first_error("incoming", doc) is None


@pytest.mark.parametrize("path", ACTIVITY_FIXTURES)
async def test_real_activities_as_signed_bodies(app, remote_server, path):
    """Each real activity, re-homed on the remote server and signed by its actor, gets the expected status."""
    doc = adapt(fixture(path), remote_server.actor_id(), remote_server.base, target=app.actor())
    if path == "gotosocial/update-person-actor.json":
        doc["id"] = doc["actor"] + "#updates/1"
    answer = await remote_server.signed_post(app.inbox(), doc)
    assert answer.status == EXPECTED.get(path, 202), answer.body


# property tests --------------------------------------------------------------------------------------------------

json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=20),
                           lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                                      max_size=4), max_leaves=12)


@settings(max_examples=300, deadline=None)
@given(doc=st.dictionaries(st.sampled_from(["type", "id", "actor", "object", "target", "@context"]) | st.text(),
                           json_values, max_size=6))
def test_schema_never_crashes_and_names_a_field(doc):
    """Any JSON object gets None or one sentence from the schema check, never an exception."""
    problem = first_error("incoming", doc)
    assert problem is None or (isinstance(problem, str) and problem)


@settings(max_examples=200, deadline=None)
@given(kind=st.sampled_from(["Follow", "Undo", "Accept", "Reject", "Delete", "Update", "Move", "Like", "Announce",
                             "Create"]),
       drop=st.sampled_from(["actor", "object", "type"]))
def test_schema_refuses_each_activity_without_its_core_fields(kind, drop):
    """Without type, actor or object, no profiled activity passes."""
    doc = {"type": kind, "id": "https://a.example/1", "actor": "https://a.example/u",
           "object": {"id": "https://a.example/o", "type": "Note", "actor": "https://a.example/u"},
           "target": "https://b.example/u"}
    del doc[drop]
    assert first_error("incoming", doc) is not None


@settings(max_examples=300, deadline=None)
@given(body=st.binary(max_size=200) | st.builds(lambda v: json.dumps(v).encode(), json_values))
def test_parse_gives_an_object_or_a_400(body):
    """Any body parses to a JSON object with the AS context, or is refused with a 400 — never another error."""
    try:
        document = inbox_routes.parse(body)
    except ActivityError as exc:
        assert exc.status == 400 and exc.reason
    else:
        assert isinstance(document, dict) and AS in (document["@context"] if isinstance(document["@context"], list)
                                                     else [document["@context"]])


@settings(max_examples=200, deadline=None)
@given(document=st.fixed_dictionaries({"type": st.sampled_from(["Collection", "OrderedCollection", "Follow"])},
                                      optional={"items": json_values, "orderedItems": json_values}))
def test_items_gives_activities_or_refuses(document):
    """A Collection's items are embedded activities, else a 400/413; any other document is its own one item."""
    try:
        found = inbox_routes.items(document)
    except ActivityError as exc:
        assert exc.status in (400, 413)
    else:
        assert all(isinstance(item, dict) for _, item in found)
        if document["type"] == "Follow":
            assert found == [("", document)]
