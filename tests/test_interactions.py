"""Replies, likes and boosts, end to end: real remote servers (tests/remote.py) POST signed activities, shaped
from real Mastodon, PeerTube and Lemmy documents, to the real fedi app on 127.0.0.1.

Each test reads back what the store holds and what visitors and remote servers are served: the talk page, the
talk's object and its ``replies`` collection.
"""

from __future__ import annotations

import copy
import datetime as dt
import html
import json
import re
from dataclasses import replace
from typing import Any

import pytest

from fedi import interactions
from fedi.commands import replies as replies_cli
from fedi.inbox import Inbound
from fedi.store import Follower
from fedi.urls import ARCHIVE, OWNER
from fedi.verify import Signer
from tests.fedi_app import AS, FediApp, adapt, fixture
from tests.remote import RemoteServer
from tests.test_pages import parse

pytestmark = pytest.mark.usefixtures("loopback_only")

SLUG = "debat"
PUBLIC = "https://www.w3.org/ns/activitystreams#Public"


# documents ------------------------------------------------------------------------------------------------------

def talk_id(app: FediApp) -> str:
    return app.ctx.urls.talk(SLUG)


def mastodon_reply(remote: RemoteServer, in_reply_to: str, actor: str = "alice", n: int = 1,
                   content: str | None = None, published: str | None = None) -> dict[str, Any]:
    """Mastodon's Create{Note} reply (mastodon.madrid), re-homed on the remote test server."""
    doc = adapt(fixture("mastodon/create-note-reply-with-mention.json"), remote.actor_id(actor), remote.base)
    note_id = f"{remote.actor_id(actor)}/statuses/{n}"
    text = json.dumps(doc).replace(f"{remote.actor_id(actor)}/statuses/107224289116410645", note_id)
    text = text.replace(f"{remote.base}/@felix/107224289116410645", f"{remote.base}/@{actor}/{n}")
    doc = json.loads(text)
    doc["object"]["inReplyTo"] = in_reply_to
    if content is not None:
        doc["object"]["content"] = content
        doc["object"]["contentMap"] = {"en": content}
    if published is not None:
        doc["published"] = doc["object"]["published"] = published
    return doc


def peertube_comment(remote: RemoteServer, in_reply_to: str, actor: str = "bob", n: int = 1,
                     text: str | None = None, published: str | None = None) -> dict[str, Any]:
    """PeerTube's comment Note (video.antopie.org) in the Create PeerTube wraps it in, re-homed."""
    note = fixture("peertube/comment-note-reply.json")
    context = note.pop("@context")
    create = {"@context": context, "type": "Create", "id": f"{note['id']}/activity", "actor": note["attributedTo"],
              "to": note["to"], "cc": note["cc"], "object": note}
    doc = adapt(create, remote.actor_id(actor), remote.base)
    doc["object"]["id"] = doc["object"]["url"] = f"{remote.base}/videos/watch/x/comments/{n}"
    doc["id"] = doc["object"]["id"] + "/activity"
    doc["object"]["inReplyTo"] = in_reply_to
    if text is not None:
        doc["object"]["content"] = text
    if published is not None:
        doc["object"]["published"] = published
    return doc


def like(remote: RemoteServer, target: str, actor: str = "alice", n: int = 1) -> dict[str, Any]:
    doc = adapt(fixture("mastodon/like.json"), remote.actor_id(actor), remote.base)
    return {**doc, "id": f"{remote.actor_id(actor)}#likes/{n}", "object": target}


def boost(remote: RemoteServer, target: str, actor: str = "alice", n: int = 1) -> dict[str, Any]:
    doc = adapt(fixture("mastodon/announce-boost.json"), remote.actor_id(actor), remote.base)
    # a boost is a status of its own on Mastodon: its number differs from the replies' here
    return {**doc, "id": f"{remote.actor_id(actor)}/statuses/{1000 + n}/activity", "object": target}


def undo(remote: RemoteServer, inner: dict[str, Any], actor: str = "alice") -> dict[str, Any]:
    body = {k: v for k, v in inner.items() if k != "@context"}
    return {"@context": AS, "id": f"{inner['id']}/undo", "type": "Undo", "actor": remote.actor_id(actor),
            "object": body}


async def post(remote: RemoteServer, app: FediApp, doc: dict[str, Any], actor: str = "alice",
               status: int = 202) -> None:
    answer = await remote.signed_post(app.shared_inbox, doc, actor=actor)
    assert answer.status == status, answer.body


async def page(remote: RemoteServer, app: FediApp, slug: str = SLUG) -> str:
    answer = await remote.send("GET", app.ctx.urls.talk(slug), None, {"Accept": "text/html"})
    assert answer.status == 200
    return answer.body.decode()


async def served(remote: RemoteServer, url: str) -> dict[str, Any]:
    answer = await remote.signed_get(url)
    assert answer.status == 200, answer.body
    return answer.json


def contents(page_html: str) -> list[str]:
    """The text of each reply on a talk page, in page order (sanitized content holds no <div>)."""
    found = re.findall(r'<div class="reply-content">(.*?)</div>', page_html, flags=re.DOTALL)
    return [html.unescape(re.sub(r"<[^>]*>", "", f)) for f in found]


async def follows(app: FediApp, remote: RemoteServer, actor: str, role: str = ARCHIVE) -> None:
    actor_id = remote.actor_id(actor)
    await app.ctx.store.add_follower(Follower(role, actor_id, actor_id + "/inbox", remote.shared_inbox, "127.0.0.1",
                                              actor_id + "#follows/1", dt.datetime.now(dt.UTC)))


# replies --------------------------------------------------------------------------------------------------------

async def test_mastodon_reply_is_stored_with_its_author_and_shown(fedi, remote_server):
    """A Mastodon reply to the talk is stored with author, sanitized content, language, date, url and parent."""
    app = await fedi(interactions={"moderation": "none"})
    doc = mastodon_reply(remote_server, talk_id(app))
    await post(remote_server, app, doc)
    stored = await app.ctx.store.comment(doc["object"]["id"])
    assert stored is not None
    base = remote_server.base
    assert (stored.slug, stored.parent_id, stored.author_id, stored.state) == (
        SLUG, talk_id(app), remote_server.actor_id(), "approved")
    assert (stored.author_name, stored.author_handle, stored.author_avatar, stored.author_url) == (
        "Alice", f"@alice@{remote_server.domain}", f"{base}/avatars/alice.png", f"{base}/@alice")
    assert (stored.language, stored.url) == ("en", f"{base}/@alice/1")
    assert stored.published == dt.datetime(2021, 11, 5, 11, 46, 50, tzinfo=dt.UTC)
    assert stored.content_html.startswith('<p><span class="h-card"><a href="https://mamot.fr/@retiolus" '
                                          'rel="nofollow noopener ugc">@<span>retiolus</span></a></span> i have')
    page_html = await page(remote_server, app)
    doc_page = parse(page_html)
    assert contents(page_html) == [
        "@retiolus i have never been disappointed by a thinkpad. if you want to save money, get a model from a "
        "few years ago, there isnt a huge difference anyway."]
    assert doc_page.find_all("a", href=f"{base}/@alice")[0].all_text() == "Alice"
    assert doc_page.find_all("img", **{"class": "reply-avatar"})[0].attrs["src"] == f"{base}/avatars/alice.png"
    assert doc_page.find_all("a", **{"class": "reply-date"})[0].attrs["href"] == f"{base}/@alice/1"


async def test_served_objects_count_and_list_approved_replies(fedi, remote_server):
    """The talk's replies collection lists the approved reply; the served object and the outbox copy count it."""
    app = await fedi(interactions={"moderation": "none"})
    doc = mastodon_reply(remote_server, talk_id(app))
    await post(remote_server, app, doc)
    video = await served(remote_server, talk_id(app))
    assert video["replies"]["totalItems"] == 1
    first = await served(remote_server, video["replies"]["first"])
    assert first["items"] == [doc["object"]["id"]]
    outbox = await served(remote_server, app.ctx.urls.outbox_page(ARCHIVE, 1))
    [create] = outbox["orderedItems"]
    assert create["object"] == {k: v for k, v in video.items() if k != "@context"}
    create_doc = await served(remote_server, app.ctx.urls.create(SLUG))
    assert create_doc["object"]["replies"]["totalItems"] == 1


async def test_peertube_comment_is_shown_as_typed(fedi, peertube):
    """A PeerTube comment (text/markdown) is stored as escaped paragraphs, never as markup."""
    app = await fedi(interactions={"moderation": "none"})
    doc = peertube_comment(peertube, talk_id(app), text="**Merci** <b>pour</b>\nla vidéo\n\nhttps://x.example/a")
    await post(peertube, app, doc, actor="bob")
    stored = await app.ctx.store.comment(doc["object"]["id"])
    assert stored is not None and stored.author_id == peertube.actor_id("bob")
    assert stored.content_html == ('<p>**Merci** &lt;b&gt;pour&lt;/b&gt;<br>la vidéo</p><p><a href="https://x.example/a"'
                                   ' rel="nofollow noopener ugc">https://x.example/a</a></p>')
    assert (stored.author_name, stored.author_handle, stored.author_avatar) == (
        "Bob", f"@bob@{peertube.domain}", None)
    assert stored.published == dt.datetime(2022, 4, 29, 7, 52, 32, 548000, tzinfo=dt.UTC)
    assert stored.language is None
    assert contents(await page(peertube, app)) == ["**Merci** <b>pour</b>la vidéohttps://x.example/a"]


async def test_nested_reply_joins_the_conversation(fedi, remote_server, peertube):
    """A reply to a stored reply is kept under the same talk, with that reply as parent, and nests on the page."""
    app = await fedi(interactions={"moderation": "none"})
    first = mastodon_reply(remote_server, talk_id(app), content="<p>first</p>", published="2024-01-01T10:00:00Z")
    await post(remote_server, app, first)
    second = peertube_comment(peertube, first["object"]["id"], text="second", published="2024-01-01T11:00:00.5Z")
    await post(peertube, app, second, actor="bob")
    third = mastodon_reply(remote_server, second["object"]["id"], actor="carol", n=3, content="<p>third</p>",
                           published="2024-01-01T12:00:00Z")
    await post(remote_server, app, third, actor="carol")
    stored = await app.ctx.store.comments(SLUG)
    assert [(c.id, c.parent_id) for c in stored] == [
        (first["object"]["id"], talk_id(app)), (second["object"]["id"], first["object"]["id"]),
        (third["object"]["id"], second["object"]["id"])]
    doc = parse(await page(remote_server, app))
    lists = doc.find_all("ol", **{"class": "replies"})
    assert len(lists) == 3, "each reply nests inside its parent's list item"
    assert [c.all_text() for c in lists[2].find_all("div", **{"class": "reply-content"})] == ["third"]


async def test_edit_by_its_author_changes_the_text(fedi, remote_server):
    """Update{Note} from the author replaces the content and sets updated; from someone else it changes nothing."""
    app = await fedi(interactions={"moderation": "none"})
    doc = mastodon_reply(remote_server, talk_id(app), content="<p>before</p>")
    await post(remote_server, app, doc)
    note_id = doc["object"]["id"]
    update = adapt(fixture("mastodon/update-note-edit.json"), remote_server.actor_id(), remote_server.base)
    update["object"]["id"] = note_id
    update["id"] = note_id + "#updates/1"
    impostor = copy.deepcopy(update)
    impostor.update(id=remote_server.actor_id("eve") + "#updates/9", actor=remote_server.actor_id("eve"))
    impostor["object"].update(attributedTo=remote_server.actor_id("eve"), content="<p>hijacked</p>")
    await post(remote_server, app, impostor, actor="eve")
    assert (await app.ctx.store.comment(note_id)).content_html == "<p>before</p>"
    await post(remote_server, app, update)
    stored = await app.ctx.store.comment(note_id)
    assert stored.content_html == "<p>Creating Test Data!!! :)</p><p>By updating it 🆕</p>"
    assert stored.updated == dt.datetime(2023, 2, 4, 8, 54, 15, tzinfo=dt.UTC)
    assert contents(await page(remote_server, app)) == ["Creating Test Data!!! :)By updating it 🆕"]


async def test_edit_under_moderation_all_waits_again(fedi, remote_server):
    """With moderation "all", an approved reply that is edited goes back to waiting."""
    app = await fedi(interactions={"moderation": "all"})
    doc = mastodon_reply(remote_server, talk_id(app))
    await post(remote_server, app, doc)
    await replies_cli.approve(app.ctx.store, doc["object"]["id"])
    update = {"@context": AS, "id": doc["object"]["id"] + "#updates/1", "type": "Update",
              "actor": remote_server.actor_id(), "object": {**doc["object"], "content": "<p>spam</p>"}}
    await post(remote_server, app, update)
    assert (await app.ctx.store.comment(doc["object"]["id"])).state == "pending"
    assert contents(await page(remote_server, app)) == []


async def test_delete_by_its_author_removes_the_reply(fedi, remote_server):
    """Delete{Tombstone} (Mastodon) or Delete{id} (PeerTube) from the author removes it; from another, nothing."""
    app = await fedi(interactions={"moderation": "none"})
    one, two = (mastodon_reply(remote_server, talk_id(app), n=n) for n in (1, 2))
    for doc in (one, two):
        await post(remote_server, app, doc)
    other = {"@context": AS, "id": remote_server.actor_id("eve") + "#delete/1", "type": "Delete",
             "actor": remote_server.actor_id("eve"), "object": one["object"]["id"]}
    await post(remote_server, app, other, actor="eve")
    assert await app.ctx.store.comment(one["object"]["id"]) is not None
    tombstone = adapt(fixture("mastodon/delete-note-tombstone-ldsig.json"), remote_server.actor_id(),
                      remote_server.base)
    tombstone["id"] = one["object"]["id"] + "#delete"
    tombstone["object"].update(id=one["object"]["id"], atomUri=one["object"]["id"])
    await post(remote_server, app, tombstone)
    bare = {"@context": AS, "id": two["object"]["id"] + "#delete", "type": "Delete",
            "actor": remote_server.actor_id(), "object": two["object"]["id"]}
    await post(remote_server, app, bare)
    assert await app.ctx.store.comments(SLUG, state=None) == []
    assert "reply-content" not in await page(remote_server, app)


async def test_deleted_actor_takes_its_replies_and_reactions(fedi, remote_server):
    """Delete{actor} removes the actor's replies, likes and boosts, and nobody else's."""
    app = await fedi(interactions={"moderation": "none"})
    await post(remote_server, app, mastodon_reply(remote_server, talk_id(app)))
    await post(remote_server, app, like(remote_server, talk_id(app)))
    await post(remote_server, app, boost(remote_server, talk_id(app)))
    await post(remote_server, app, like(remote_server, talk_id(app), actor="bob"), actor="bob")
    gone = adapt(fixture("mastodon/delete-actor.json"), remote_server.actor_id(), remote_server.base)
    await post(remote_server, app, gone)
    assert await app.ctx.store.comments(SLUG, state=None) == []
    assert tuple(await app.ctx.store.reaction_counts(SLUG)) == (1, 0)


async def test_replies_to_objects_not_ours_are_ignored(fedi, remote_server, peertube):
    """Replies, likes and boosts of other objects answer 202 and store nothing (PeerTube's own Announces too)."""
    app = await fedi(interactions={"moderation": "none"})
    await post(remote_server, app, mastodon_reply(remote_server, "https://mamot.fr/users/retiolus/statuses/1"))
    await post(remote_server, app, mastodon_reply(remote_server, talk_id(app) + "/replies", n=2))
    await post(remote_server, app, mastodon_reply(remote_server, app.ctx.urls.talk("nope"), n=3))
    await post(remote_server, app, like(remote_server, "https://ds9.lemmy.ml/post/147"))
    channel = adapt(fixture("peertube/announce-video-by-channel.json"), peertube.actor_id("chan"), peertube.base)
    await post(peertube, app, channel, actor="chan")
    no_note = mastodon_reply(remote_server, talk_id(app), n=4)
    no_note["object"]["type"] = "Article"
    await post(remote_server, app, no_note)
    assert await app.ctx.store.comments(SLUG, state=None) == []
    assert tuple(await app.ctx.store.reaction_counts(SLUG)) == (0, 0)


async def test_private_replies_never_reach_the_page(fedi, remote_server):
    """A reply addressed only to us (a direct mention) or to followers is not stored: the page is public."""
    app = await fedi(interactions={"moderation": "none"})
    direct = mastodon_reply(remote_server, talk_id(app))
    for doc in (direct, direct["object"]):
        doc["to"], doc["cc"] = [app.actor()], []
    await post(remote_server, app, direct)
    assert await app.ctx.store.comments(SLUG, state=None) == []


async def test_note_claiming_another_author_or_server_is_refused(fedi, remote_server, peertube):
    """A Note attributed to someone else, or whose id is on another server, is refused with 403."""
    app = await fedi(interactions={"moderation": "none"})
    other = mastodon_reply(remote_server, talk_id(app))
    other["object"]["attributedTo"] = remote_server.actor_id("bob")
    await post(remote_server, app, other, status=403)
    elsewhere = mastodon_reply(remote_server, talk_id(app), n=2)
    elsewhere["object"]["id"] = f"{peertube.base}/users/alice/statuses/2"
    await post(remote_server, app, elsewhere, status=403)
    assert await app.ctx.store.comments(SLUG, state=None) == []


# likes and boosts ---------------------------------------------------------------------------------------------

async def test_likes_and_boosts_count_once_per_actor_and_undo_takes_them_back(fedi, remote_server):
    """Like and Announce of the talk count once per actor; Undo (embedded) removes exactly the actor's own."""
    app = await fedi()
    store = app.ctx.store
    alice_like = like(remote_server, talk_id(app))
    await post(remote_server, app, alice_like)
    await post(remote_server, app, like(remote_server, talk_id(app), n=2))
    lemmy = adapt(fixture("lemmy/like.json"), remote_server.actor_id("bob"), remote_server.base)
    lemmy["object"] = talk_id(app)
    await post(remote_server, app, lemmy, actor="bob")
    assert tuple(await store.reaction_counts(SLUG)) == (2, 0)
    alice_boost = boost(remote_server, talk_id(app))
    await post(remote_server, app, alice_boost)
    assert tuple(await store.reaction_counts(SLUG)) == (2, 1)
    likes = await served(remote_server, app.ctx.urls.likes(SLUG))
    shares = await served(remote_server, app.ctx.urls.shares(SLUG))
    assert (likes["totalItems"], shares["totalItems"]) == (2, 1)
    assert "2\u00a0j’aime · 1\u00a0partage" in parse(await page(remote_server, app)).all_text()
    # Mastodon's Undo{Like} may embed a Like whose id differs (undo-like.json): the talk identifies it
    masto_undo = adapt(fixture("mastodon/undo-like.json"), remote_server.actor_id(), remote_server.base)
    masto_undo["object"]["object"] = talk_id(app)
    await post(remote_server, app, masto_undo)
    assert tuple(await store.reaction_counts(SLUG)) == (1, 1)
    unboost = adapt(fixture("mastodon/undo-announce.json"), remote_server.actor_id(), remote_server.base)
    unboost["object"].update(actor=remote_server.actor_id(), id=alice_boost["id"], object=talk_id(app))
    await post(remote_server, app, unboost)
    assert tuple(await store.reaction_counts(SLUG)) == (1, 0)
    await post(remote_server, app, like(remote_server, talk_id(app), n=3))
    assert tuple(await store.reaction_counts(SLUG)) == (2, 0), "liked again after the Undo"


async def test_undo_by_bare_id_and_lemmy_undo(fedi, remote_server):
    """Undo{"<like id>"} (Mastodon's compact form) and Lemmy's Undo{Like} remove the matching like only."""
    app = await fedi()
    alice = like(remote_server, talk_id(app))
    await post(remote_server, app, alice)
    lemmy = adapt(fixture("lemmy/like.json"), remote_server.actor_id("bob"), remote_server.base)
    lemmy["object"] = talk_id(app)
    await post(remote_server, app, lemmy, actor="bob")
    compact = adapt(fixture("mastodon/undo-like-object-uri.json"), remote_server.actor_id(), remote_server.base)
    compact["object"] = alice["id"]
    await post(remote_server, app, compact)
    assert tuple(await app.ctx.store.reaction_counts(SLUG)) == (1, 0)
    lemmy_undo = adapt(fixture("lemmy/undo-like.json"), remote_server.actor_id("bob"), remote_server.base)
    lemmy_undo["object"].update(id=lemmy["id"], object=talk_id(app))
    await post(remote_server, app, lemmy_undo, actor="bob")
    assert tuple(await app.ctx.store.reaction_counts(SLUG)) == (0, 0)


async def test_note_object_counts_likes_and_boosts(fedi, remote_server):
    """A talk published as a Note serves live likes, shares and replies totals."""
    app = await fedi(archive={"object_type": "Note"}, interactions={"moderation": "none"})
    await post(remote_server, app, like(remote_server, talk_id(app)))
    await post(remote_server, app, boost(remote_server, talk_id(app)))
    await post(remote_server, app, mastodon_reply(remote_server, talk_id(app)))
    note = await served(remote_server, talk_id(app))
    assert (note["likes"]["totalItems"], note["shares"]["totalItems"], note["replies"]["totalItems"]) == (1, 1, 1)
    await post(remote_server, app, undo(remote_server, like(remote_server, talk_id(app))))
    note = await served(remote_server, talk_id(app))
    assert note["likes"]["totalItems"] == 0, "a new count is served at once, not a cached one"


# moderation ---------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("mode", "follower_state", "stranger_state", "policy"), [
    ("followers", "approved", "pending", 1),
    ("all", "pending", "pending", 3),
    ("none", "approved", "approved", 1),
])
async def test_moderation_modes(fedi, remote_server, mode, follower_state, stranger_state, policy):
    """Each mode decides at storing time; pending replies stay off the page and out of the collection."""
    app = await fedi(interactions={"moderation": mode})
    await follows(app, remote_server, "alice")
    await follows(app, remote_server, "carol", role=OWNER)
    docs = {name: mastodon_reply(remote_server, talk_id(app), actor=name, n=n, content=f"<p>{name}</p>")
            for n, name in enumerate(("alice", "bob", "carol"), 1)}
    for name, doc in docs.items():
        await post(remote_server, app, doc, actor=name)
    states = {name: (await app.ctx.store.comment(doc["object"]["id"])).state for name, doc in docs.items()}
    assert states == {"alice": follower_state, "bob": stranger_state, "carol": follower_state}
    shown = [name for name in docs if states[name] == "approved"]
    assert contents(await page(remote_server, app)) == shown
    video = await served(remote_server, talk_id(app))
    assert video["commentsPolicy"] == policy and video["replies"]["totalItems"] == len(shown)
    listed = await served(remote_server, video["replies"]["first"])
    assert listed["items"] == [docs[name]["object"]["id"] for name in shown]


async def test_approving_and_hiding_change_what_visitors_see(fedi, remote_server):
    """A waiting reply appears once approved and disappears once hidden; a re-sent Create cannot undo that."""
    app = await fedi(interactions={"moderation": "all"})
    doc = mastodon_reply(remote_server, talk_id(app), content="<p>wait</p>")
    await post(remote_server, app, doc)
    assert contents(await page(remote_server, app)) == []
    await replies_cli.approve(app.ctx.store, doc["object"]["id"])
    assert contents(await page(remote_server, app)) == ["wait"]
    await replies_cli.hide(app.ctx.store, doc["object"]["id"])
    again = {**doc, "id": doc["id"] + "/again"}
    await post(remote_server, app, again)
    assert (await app.ctx.store.comment(doc["object"]["id"])).state == "hidden"
    assert contents(await page(remote_server, app)) == []


async def test_blocked_actors_and_domains_are_dropped(fedi, remote_server, peertube):
    """A blocked actor is refused (403) and nothing of it is stored; a block takes effect at once."""
    app = await fedi(interactions={"moderation": "none"}, security={"blocked_domains": ("127.0.0.2",)})
    await post(peertube, app, peertube_comment(peertube, talk_id(app)), actor="bob", status=403)
    await app.ctx.store.block(remote_server.actor_id("eve"))
    await post(remote_server, app, mastodon_reply(remote_server, talk_id(app), actor="eve"), actor="eve",
               status=403)
    await post(remote_server, app, like(remote_server, talk_id(app), actor="eve"), actor="eve", status=403)
    assert await app.ctx.store.comments(SLUG, state=None) == []
    assert tuple(await app.ctx.store.reaction_counts(SLUG)) == (0, 0)


async def test_blocked_author_dropped_by_the_handler(fedi, remote_server):
    """The handlers check blocks too (a block added after the signature was checked)."""
    app = await fedi(interactions={"moderation": "none"})
    store = app.ctx.store
    doc = mastodon_reply(remote_server, talk_id(app))
    await store.block(remote_server.domain.split(":")[0])
    signer = Signer(remote_server.actor_id(), remote_server.key_id(), remote_server.domain)
    inb = Inbound(app.config, app.ctx.urls, store, dt.datetime.now(dt.UTC), signer, app.ctx.dispatcher)
    await interactions.on_create(inb, doc)
    await interactions.on_like(inb, like(remote_server, talk_id(app)))
    assert await store.comments(SLUG, state=None) == []
    assert tuple(await store.reaction_counts(SLUG)) == (0, 0)


# hostile content ------------------------------------------------------------------------------------------------

HOSTILE = ('<p>hi<script>alert(1)</script><img src=x onerror=alert(2)>'
           '<a href="javascript:alert(3)" onclick="alert(4)">click</a><a href="data:text/html,x">d</a>'
           '<style>body{display:none}</style><span style="position:fixed">css</span>'
           '<iframe src="https://evil.example"></iframe><form action="https://evil.example"><input></form>'
           '<svg onload=alert(5)><b>unclosed <em>tags')


async def test_hostile_reply_and_author_are_stored_and_shown_inert(fedi, remote_server):
    """Scripts, handlers, bad URLs, CSS, frames and forms are gone; names lose bidi and zero-width tricks."""
    app = await fedi(interactions={"moderation": "none"})
    eve = remote_server.actor_document("eve")
    eve.update(name="\u202egnp.exe\u200b\u2066 Eve<script>alert(6)</script>" + "\u0301" * 50,
               preferredUsername="eve", url="javascript:alert(7)")
    eve["icon"]["url"] = "data:image/png;base64,AAAA"
    remote_server.serve("/users/eve", eve)
    await post(remote_server, app, mastodon_reply(remote_server, talk_id(app), actor="eve", content=HOSTILE),
               actor="eve")
    [stored] = await app.ctx.store.comments(SLUG)
    assert stored.content_html == ('<p>hi<a rel="nofollow noopener ugc">click</a><a rel="nofollow noopener ugc">d</a>'
                                   '<span>css</span></p>unclosed <em>tags</em>')
    assert stored.author_name == "gnp.exe Eve<script>alert(6)</script>\u0301\u0301", "two accents kept, not 50"
    assert (stored.author_avatar, stored.author_url) == (None, remote_server.actor_id("eve"))
    page_html = await page(remote_server, app)
    doc = parse(page_html)
    assert not doc.find_all("script") and not doc.find_all("iframe") and not doc.find_all("form")
    assert [img.attrs.get("class") for img in doc.find_all("img")] == [], "no image, not even the avatar"
    assert "javascript:" not in page_html and "data:image" not in page_html
    assert all(not k.startswith("on") for e in doc.iter() for k in e.attrs)
    assert "\u202e" not in page_html and "\u200b" not in page_html


async def test_a_megabyte_of_text_is_capped(fedi, remote_server):
    """A reply of 1 MB is stored cut to the cap, still well-formed."""
    app = await fedi(interactions={"moderation": "none"})
    doc = mastodon_reply(remote_server, talk_id(app), content="<p>" + "a " * 500_000)
    doc["object"].pop("contentMap")
    await post(remote_server, app, doc)
    [stored] = await app.ctx.store.comments(SLUG)
    assert len(stored.content_html) <= 20_010 and stored.content_html.endswith("…</p>")


# the author job -------------------------------------------------------------------------------------------------

async def test_author_refetched_by_a_job_when_the_cached_copy_is_old(fedi, remote_server):
    """When the cached actor document is missing or old, a job fetches it and refreshes the reply's author."""
    app = await fedi(interactions={"moderation": "none"})
    store = app.ctx.store
    doc = mastodon_reply(remote_server, talk_id(app))
    signer = Signer(remote_server.actor_id(), remote_server.key_id(), remote_server.domain)
    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=2)
    inb = Inbound(app.config, app.ctx.urls, store, later, signer, app.ctx.dispatcher)
    await interactions.on_create(inb, doc)
    assert (await store.comment(doc["object"]["id"])).author_name is None, "nothing cached yet"
    renamed = remote_server.actor_document("alice")
    renamed["name"] = "Alice Renamed"
    remote_server.serve("/users/alice", renamed)
    assert await app.drain(clock=lambda: later) == 1
    stored = await store.comment(doc["object"]["id"])
    assert (stored.author_name, stored.author_handle) == ("Alice Renamed", f"@alice@{remote_server.domain}")
    assert remote_server.count("GET", "/users/alice") == 1
    assert replace(stored, author_name=None, author_handle=None, author_avatar=None, author_url=None).state == \
        "approved"
