"""Quotes (FEP-044f, as Mastodon 4.5+ sends them), end to end: a real remote server on 127.0.0.1 POSTs signed
QuoteRequests to the real fedi app, receives the Accept through the delivery queue and fetches the
QuoteAuthorization; refusals; revocation by deleting the quoting post. Both stores."""

from __future__ import annotations

from typing import Any

import pytest

from fedi import objects
from fedi.talk_objects import CONTEXT
from fedi.urls import ARCHIVE
from tests.fedi_app import AS, FediApp
from tests.remote import RemoteServer
from tests.test_interactions import post

pytestmark = pytest.mark.usefixtures("loopback_only")

SLUG = "debat"
PUBLIC = "https://www.w3.org/ns/activitystreams#Public"
FEP = "https://w3id.org/fep/044f#"


def note(remote: RemoteServer, talk: str, actor: str = "alice", n: int = 1, author: str | None = None) -> dict:
    """A quoting post as Mastodon serializes it (``quote``, and the older ``_misskey_quote`` and ``quoteUri``)."""
    return {"id": f"{remote.actor_id(actor)}/statuses/{n}", "type": "Note",
            "attributedTo": remote.actor_id(author or actor), "content": "<p>À voir</p>", "to": [PUBLIC],
            "cc": [f"{remote.actor_id(actor)}/followers"], "quote": talk, "_misskey_quote": talk, "quoteUri": talk}


def quote_request(remote: RemoteServer, talk: str, instrument: Any, actor: str = "alice", n: int = 1) -> dict:
    return {"@context": [AS, {"QuoteRequest": f"{FEP}QuoteRequest", "quote": {"@id": f"{FEP}quote",
                                                                               "@type": "@id"}}],
            "id": f"{remote.actor_id(actor)}/quote_requests/{n}", "type": "QuoteRequest",
            "actor": remote.actor_id(actor), "object": talk, "instrument": instrument}


def accepts(remote: RemoteServer, actor: str = "alice") -> list[dict]:
    inbox = remote.actor_path(actor) + "/inbox"
    return [r.json for r in remote.received if r.path == inbox and r.json.get("type") == "Accept" and r.verified]


async def get(remote: RemoteServer, url: str, signed: bool = True) -> tuple[int, Any]:
    if signed:
        answer = await remote.signed_get(url)
    else:
        answer = await remote.send("GET", url, None, {"Accept": "application/activity+json"})
    return answer.status, answer.json


# what the talks say -------------------------------------------------------------------------------------------

@pytest.mark.parametrize("object_type", ["Video", "Note"])
async def test_every_talk_may_be_quoted_by_anyone(fedi, remote_server, object_type):
    """The served talk carries canQuote.automaticApproval = Public, with the terms Mastodon declares."""
    app = await fedi(archive={"object_type": object_type})
    status, doc = await get(remote_server, app.ctx.urls.talk(SLUG))
    assert status == 200 and doc["type"] == object_type
    assert doc["interactionPolicy"] == {"canQuote": {"automaticApproval": [PUBLIC]}}
    terms = doc["@context"][1]
    assert terms["gts"] == "https://gotosocial.org/ns#"
    assert terms["interactionPolicy"] == {"@id": "gts:interactionPolicy", "@type": "@id"}
    assert terms["canQuote"] == {"@id": "gts:canQuote", "@type": "@id"}
    assert terms["automaticApproval"] == {"@id": "gts:automaticApproval", "@type": "@id"}
    assert doc["@context"] == CONTEXT


# granted ------------------------------------------------------------------------------------------------------

async def test_quote_request_is_accepted_and_its_authorization_served(fedi, remote_server):
    """An embedded quoting post: Accept (signed, to the requester's inbox) whose result is a QuoteAuthorization
    fedi serves; the same request again sends nothing more, another request for the post grants the same one."""
    app: FediApp = await fedi()
    talk = app.ctx.urls.talk(SLUG)
    quoting = note(remote_server, talk)
    request = quote_request(remote_server, talk, quoting)
    await post(remote_server, app, request)
    await app.drain()
    (accept,) = accepts(remote_server)
    assert (accept["actor"], accept["to"]) == (app.actor(), [remote_server.actor_id()])
    assert accept["object"] == {"id": request["id"], "type": "QuoteRequest", "actor": remote_server.actor_id(),
                                "object": talk, "instrument": quoting["id"]}
    assert accept["@context"][1]["QuoteRequest"] == f"{FEP}QuoteRequest"
    uri = accept["result"]
    assert uri.startswith(talk + "/quotes/")
    status, stamp = await get(remote_server, uri)
    assert status == 200
    assert {k: v for k, v in stamp.items() if k != "@context"} == {
        "id": uri, "type": "QuoteAuthorization", "attributedTo": app.actor(ARCHIVE),
        "interactingObject": quoting["id"], "interactionTarget": talk}
    terms = stamp["@context"][1]
    assert terms["QuoteAuthorization"] == f"{FEP}QuoteAuthorization"
    assert terms["interactingObject"]["@id"] == "gts:interactingObject"
    assert terms["interactionTarget"]["@id"] == "gts:interactionTarget"

    await post(remote_server, app, request)  # a replay: the inbox dedupes it
    again = quote_request(remote_server, talk, quoting, n=2)  # a new request for the same post
    await post(remote_server, app, again)
    await app.drain()
    assert [a["result"] for a in accepts(remote_server)] == [uri, uri]
    assert accepts(remote_server)[1]["object"]["id"] == again["id"]


async def test_quote_request_by_id_fetches_the_post(fedi, remote_server):
    """An instrument given by id is fetched (signed GET) and must be the signer's, quoting the talk."""
    app: FediApp = await fedi()
    talk = app.ctx.urls.talk(SLUG)
    own, borrowed = note(remote_server, talk, n=5), note(remote_server, talk, n=6, author="bob")
    for doc in (own, borrowed):
        remote_server.serve(doc["id"].removeprefix(remote_server.base), body={"@context": AS, **doc})
    await post(remote_server, app, quote_request(remote_server, talk, own["id"], n=5))
    await post(remote_server, app, quote_request(remote_server, talk, borrowed["id"], n=6))
    await app.drain()
    (accept,) = accepts(remote_server)
    assert accept["object"]["instrument"] == own["id"]
    status, stamp = await get(remote_server, accept["result"])
    assert status == 200 and stamp["interactingObject"] == own["id"]
    assert remote_server.count("GET", borrowed["id"].removeprefix(remote_server.base)) >= 1


# refused ------------------------------------------------------------------------------------------------------

async def test_quote_requests_not_for_us_or_not_by_the_author_are_refused(fedi, remote_server, peertube):
    """Not one of our talks → 400; a post of another server, or attributed to someone else → 403; a post that
    does not quote the talk → 400; no instrument → 400. Nothing is granted."""
    app: FediApp = await fedi()
    talk = app.ctx.urls.talk(SLUG)
    cases = [
        (quote_request(remote_server, f"{remote_server.base}/statuses/9", note(remote_server, talk)), 400),
        (quote_request(remote_server, app.ctx.urls.talk("nope"), note(remote_server, talk)), 400),
        (quote_request(remote_server, talk, {**note(remote_server, talk), "id": peertube.actor_id() + "/n/1"}), 403),
        (quote_request(remote_server, talk, note(remote_server, talk, author="bob")), 403),
        (quote_request(remote_server, talk, {**note(remote_server, talk), "quote": None, "_misskey_quote": None,
                                             "quoteUri": None}), 400),
        ({k: v for k, v in quote_request(remote_server, talk, "x").items() if k != "instrument"}, 400),
    ]
    for n, (doc, status) in enumerate(cases):
        doc["id"] = f"{remote_server.actor_id()}/quote_requests/{100 + n}"
        answer = await remote_server.signed_post(app.shared_inbox, doc)
        assert answer.status == status, (n, answer.body)
        assert "error" in answer.json
    await app.drain()
    assert accepts(remote_server) == []


# revoked ------------------------------------------------------------------------------------------------------

async def test_deleting_the_quoting_post_revokes_the_authorization(fedi, remote_server):
    """Delete of the post by another actor changes nothing; by its author, the URI answers 410 with a
    Tombstone; an authorization of a deleted actor answers 404."""
    app: FediApp = await fedi()
    talk = app.ctx.urls.talk(SLUG)
    first, second = note(remote_server, talk, n=1), note(remote_server, talk, actor="bob", n=2)
    await post(remote_server, app, quote_request(remote_server, talk, first, n=1))
    await post(remote_server, app, quote_request(remote_server, talk, second, actor="bob", n=2), actor="bob")
    await app.drain()
    uri = accepts(remote_server)[0]["result"]
    (bob_uri,) = [a["result"] for a in accepts(remote_server, "bob")]
    by_eve = {"@context": AS, "id": remote_server.actor_id("eve") + "#delete/1", "type": "Delete",
              "actor": remote_server.actor_id("eve"), "object": first["id"]}
    await post(remote_server, app, by_eve, actor="eve")
    assert (await get(remote_server, uri))[0] == 200
    tombstone = {"@context": AS, "id": first["id"] + "#delete", "type": "Delete", "actor": remote_server.actor_id(),
                 "object": {"id": first["id"], "type": "Tombstone"}}
    await post(remote_server, app, tombstone)
    status, doc = await get(remote_server, uri)
    assert status == 410 and (doc["type"], doc["id"], doc["formerType"]) == ("Tombstone", uri, "QuoteAuthorization")
    await post(remote_server, app, quote_request(remote_server, talk, first, n=3))  # asked again: stays revoked
    await app.drain()
    assert (await get(remote_server, uri))[0] == 410 and len(accepts(remote_server)) == 1
    gone = {"@context": AS, "id": remote_server.actor_id("bob") + "#delete", "type": "Delete",
            "actor": remote_server.actor_id("bob"), "object": remote_server.actor_id("bob")}
    await post(remote_server, app, gone, actor="bob")
    assert (await get(remote_server, bob_uri))[0] == 404


async def test_authorizations_follow_authorized_fetch(fedi, remote_server):
    """With authorized fetch, the authorization needs a signed GET like every other object."""
    app: FediApp = await fedi(security={"authorized_fetch": True})
    talk = app.ctx.urls.talk(SLUG)
    await post(remote_server, app, quote_request(remote_server, talk, note(remote_server, talk)))
    await app.drain()
    uri = accepts(remote_server)[0]["result"]
    assert (await get(remote_server, uri, signed=False))[0] == 401
    assert (await get(remote_server, uri))[0] == 200


def test_builders_are_pure_and_shaped_as_mastodon_reads_them(config):
    """The Accept embeds only the request's id, type, actor, object and instrument; the Tombstone names it."""
    from fedi.config import urls_for

    urls = urls_for(config)
    request = {"id": "https://m.example/r/1", "type": "QuoteRequest", "actor": "https://m.example/u/a",
               "object": urls.talk(SLUG), "instrument": "https://m.example/s/1", "signature": {"x": 1}}
    accept = objects.accept_quote(urls, urls.quote_accept("t"), request, urls.quote_authorization(SLUG, "q"))
    assert accept["object"] == {k: v for k, v in request.items() if k != "signature"}
    assert accept["result"] == f"{urls.talk(SLUG)}/quotes/q" and accept["type"] == "Accept"
