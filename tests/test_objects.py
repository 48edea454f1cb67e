"""objects and talk_objects: exact documents (golden files), and the receiver profiles they must satisfy."""

from __future__ import annotations

import copy
import datetime as dt
import json
import os
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fedi import config as config_mod
from fedi import objects as O
from fedi import schemas
from fedi import talk_objects as T
from fedi.talks import Media, Talk
from fedi.urls import ARCHIVE, OWNER, Urls
from tests.conftest import fixture_path

GOLDEN = Path(__file__).parent / "golden"
UTC = dt.UTC
NOW = dt.datetime(2026, 11, 26, 12, 0, 0, tzinfo=UTC)
LATER = dt.datetime(2026, 11, 27, 8, 30, 15, 123456, tzinfo=UTC)
PUBLIC = "https://www.w3.org/ns/activitystreams#Public"
BASE = "https://talks.example.org"
# a real SPKI public key (oeee.cafe fixture), so the documents look like what fedi serves
PEM = ("-----BEGIN PUBLIC KEY-----\n"
       "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAowJfOzpA/nAYyL0bVDTm\n"
       "iCAOlhFCIBnqwk1jvGrbkDhMzxlsgyoDqUSlmcJdKaPwu24YdFajDtJIgto27Ju7\n"
       "IC3hB7OFchnZ4JZrdYFo7CJABOzK58o12sdmmkCdY5hXWf1604E+mzyIdBAJ1FFJ\n"
       "L8vP07VEUsZ7yo9x0iVNg7HpCOK+y6BqI2GHS2dq9qkqQEIhC2TKHXn/RQVXwYB6\n"
       "G+YQmVUtcsbCVKdcWyTKhItLRGnepu3BqBSbieLxV27B1O9NFSoPu8xiBUnYwMoe\n"
       "sUQCE5tGcqxc75HzcVCbq7PqVqHZ1NW9RYssaSUqi4FYcjXxQrR08DrAl8rR4eXT\n"
       "4QIDAQAB\n"
       "-----END PUBLIC KEY-----\n")

RAW = {
    "server": {"base_url": BASE},
    "actor": {"username": "archive", "name": "Archives de l'association",
              "summary": "Les débats & conférences <enregistrés>.\n\nDepuis 2008 :\nhttps://assoc.example/histoire.",
              "icon": "media/logo.png", "image": "https://cdn.example.net/banner.jpg",
              "fields": [{"name": "Site", "value": "https://assoc.example"},
                         {"name": "Contact", "value": "bureau <at> assoc.example"}]},
    "owner": {"username": "assoc", "name": "L'association", "summary": "Une association loi 1901.",
              "url": "https://assoc.example"},
    "archive": {"language": "fr"},
}


def make_config(**overrides: dict[str, Any]) -> config_mod.Config:
    raw = copy.deepcopy(RAW)
    for section, values in overrides.items():
        raw[section] = {**raw.get(section, {}), **values}
    return config_mod.parse(raw, Path("/tmp/x/config.toml"))


CONFIG = make_config()
NOTE_CONFIG = make_config(archive={"object_type": "Note"})
URLS = Urls(BASE, "archive", "assoc")
FILES = f"{BASE}/media/{URLS.talk_uuid('stiegler-2010')}-"
"""The start of the sample talk's file URLs: each basename carries the talk's uuid."""

TALK = Talk(
    slug="stiegler-2010",
    title="Économie de la contribution",
    speakers=("Bernard Stiegler", "Alice Martin"),
    recorded=dt.datetime(2010, 3, 6, 13, 0, tzinfo=UTC),
    recorded_has_time=True,
    summary="Le <premier> paragraphe & sa suite.\n\nVoir https://arsindustrialis.org/debat.",
    language="fr",
    media=(Media("media/debat.webm", "video/webm", size=52_428_800, width=1280, height=720, fps=25),
           Media("https://cdn.example.net/debat.mp4", "video/mp4")),
    event="Séance publique",
    place="Paris",
    tags=("contribution", "logiciellibre"),
    license="https://creativecommons.org/licenses/by-sa/4.0/",
    duration=3723,
    thumbnail="media/poster.jpg",
    thumbnail_type="image/jpeg",
    thumbnail_width=1280,
    thumbnail_height=720,
)


def golden(name: str, doc: Any) -> None:
    """Compare with tests/golden/<name>.json (FEDI_UPDATE_GOLDEN=1 rewrites it: review the diff!)."""
    path = GOLDEN / f"{name}.json"
    if os.environ.get("FEDI_UPDATE_GOLDEN"):
        path.write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    assert doc == json.loads(path.read_text(encoding="utf-8"))


def errors(name: str, doc: Any) -> list[str]:
    return schemas.all_errors(name, doc)


def video(talk: Talk = TALK, config: config_mod.Config = CONFIG, **kw: Any) -> dict[str, Any]:
    return T.talk_object(config, URLS, talk, uuid=URLS.talk_uuid(talk.slug), published=NOW,
                         updated=kw.pop("updated", NOW), **kw)


def note(talk: Talk = TALK, **kw: Any) -> dict[str, Any]:
    return T.talk_object(NOTE_CONFIG, URLS, talk, uuid=URLS.talk_uuid(talk.slug), published=NOW,
                         updated=kw.pop("updated", NOW), **kw)


def with_talk(**changes: Any) -> Talk:
    return Talk(**{**TALK.__dict__, **changes})


# golden documents -------------------------------------------------------------------------------

def test_video_golden() -> None:
    """The sample talk as a Video is exactly the reviewed document."""
    golden("video", video(replies_count=3))


def test_note_golden() -> None:
    """The sample talk as a Note is exactly the reviewed document, with `updated` once it was edited."""
    golden("note", note(updated=LATER, replies_count=2, likes=5, shares=1))


def test_archive_actor_golden() -> None:
    """The archive Group is exactly the reviewed document."""
    golden("actor_archive", O.actor(CONFIG, URLS, ARCHIVE, PEM, NOW))


def test_owner_actor_golden() -> None:
    """The owner Person is exactly the reviewed document: its website is a field, its url our page."""
    golden("actor_owner", O.actor(CONFIG, URLS, OWNER, PEM, NOW))


@pytest.mark.parametrize("role", [ARCHIVE, OWNER])
def test_actor_url_is_a_plain_string(role: str) -> None:
    """Both actors' ``url`` is their HTML page as a plain string: PeerTube 7.0 refuses a Link or a list."""
    doc = O.actor(CONFIG, URLS, role, PEM, NOW)
    assert doc["url"] == URLS.actor(role) and isinstance(doc["url"], str)


def test_owner_lists_the_archive_host_for_attribution() -> None:
    """The owner Person names the archive's host in attributionDomains (a term of the actor context), so
    Mastodon credits the talk pages' fediverse:creator to it; the host has no port."""
    doc = O.actor(CONFIG, URLS, OWNER, PEM, NOW)
    assert doc["attributionDomains"] == ["talks.example.org"]
    assert doc["@context"][2]["attributionDomains"] == {"@id": "toot:attributionDomains", "@type": "@id"}
    assert "attributionDomains" not in O.actor(CONFIG, URLS, ARCHIVE, PEM, NOW)
    port = Urls("http://127.0.0.1:8080", "archive", "assoc")
    assert O.actor(CONFIG, port, OWNER, PEM, NOW)["attributionDomains"] == ["127.0.0.1"]


def test_video_links_the_page_first_and_names_the_group_first() -> None:
    """Mastodon takes the first Link of ``url`` as the post's link and files a Video under its first author:
    the text/html page comes before every file, and the Group before the Person."""
    doc = video()
    assert doc["url"][0] == {"type": "Link", "mediaType": "text/html", "href": f"{BASE}/talks/stiegler-2010"}
    assert all(link["mediaType"] != "text/html" for link in doc["url"][1:])
    assert doc["attributedTo"] == [{"type": "Group", "id": f"{BASE}/actors/archive"},
                                   {"type": "Person", "id": f"{BASE}/actors/assoc"}]


def test_note_links_the_talk_page_before_the_abstract() -> None:
    """Mastodon builds a post's link card from its first link: in a Note, the talk page's link comes before the
    abstract's own links (and the hashtags)."""
    content = note()["content"]
    first = content.split('<a href="', 1)[1].split('"', 1)[0]
    assert first == f"{BASE}/talks/stiegler-2010"
    assert "https://arsindustrialis.org/debat" in content


def test_file_basenames_carry_the_talk_uuid() -> None:
    """Every file Link's basename starts with the talk's uuid (PeerTube keys remote files by basename across
    the whole instance): local and remote files alike, the same name in two talks differs, and a name
    repeated within one talk is told apart."""
    uuid = URLS.talk_uuid("stiegler-2010")
    hrefs = [link["href"] for link in video()["url"][1:]]
    assert hrefs == [f"{BASE}/media/{uuid}-debat.webm", f"{BASE}/media/{uuid}-debat.mp4"]
    other = video(with_talk(slug="autre"))["url"][1]["href"]
    assert other.rsplit("/", 1)[1] != hrefs[0].rsplit("/", 1)[1] and other.endswith("-debat.webm")
    twice = with_talk(media=(Media("a/talk.webm", "video/webm", size=1, height=1),
                             Media("b/talk.webm", "video/webm", size=1, height=2)))
    names = [link["href"].rsplit("/", 1)[1] for link in video(twice)["url"][1:]]
    assert names == [f"{uuid}-talk.webm", f"{uuid}-2-talk.webm"]
    assert URLS.talk_files("x", ["https://cdn.example/v/My%20Talk.webm?x=1", "https://cdn.example/"]) == [
        f"{BASE}/media/{URLS.talk_uuid('x')}-My%20Talk.webm", f"{BASE}/media/{URLS.talk_uuid('x')}-file"]


def test_create_embeds_the_served_object() -> None:
    """Create{Video} embeds the very object served at its id, with the object's addressing and date."""
    obj = video()
    assert O.create(URLS, obj, URLS.actor(ARCHIVE)) == {
        "@context": O.CONTEXT,
        "id": f"{BASE}/talks/stiegler-2010/create",
        "type": "Create",
        "actor": f"{BASE}/actors/archive",
        "published": "2026-11-26T12:00:00Z",
        "to": [PUBLIC],
        "cc": [f"{BASE}/actors/archive/followers"],
        "object": obj,
    }
    assert O.document(obj) == {"@context": O.CONTEXT, **obj}


def test_create_strips_the_context_of_a_stored_document() -> None:
    """An object stored with its @context is embedded without it, and the input is left untouched."""
    served = O.document(note())
    activity = O.create(URLS, served, URLS.actor(ARCHIVE))
    assert "@context" not in activity["object"]
    assert activity["object"] == note()
    assert "@context" in served


def test_create_refuses_a_foreign_object() -> None:
    """Only our talks can be wrapped: an id minted elsewhere is a programming error."""
    with pytest.raises(ValueError, match="not one of our talk objects"):
        O.create(URLS, {"id": "https://elsewhere.example/talks/x", "to": [], "cc": [], "published": ""}, "x")


def test_update() -> None:
    """Update{Note} number 2: its own id and date, the object's addressing."""
    obj = note(updated=LATER)
    assert O.update(URLS, obj, URLS.actor(ARCHIVE), 2, LATER) == {
        "@context": O.CONTEXT,
        "id": f"{BASE}/talks/stiegler-2010/updates/2",
        "type": "Update",
        "actor": f"{BASE}/actors/archive",
        "published": "2026-11-27T08:30:15Z",
        "to": [PUBLIC],
        "cc": [f"{BASE}/actors/archive/followers"],
        "object": obj,
    }


def test_delete_and_tombstone() -> None:
    """Delete carries the Tombstone the talk's id then serves (without its @context inside)."""
    stone = O.tombstone(URLS, "stiegler-2010", NOW, LATER, former_type="Video")
    assert stone == {"@context": ["https://www.w3.org/ns/activitystreams"], "id": f"{BASE}/talks/stiegler-2010",
                     "type": "Tombstone", "formerType": "Video", "published": "2026-11-26T12:00:00Z",
                     "deleted": "2026-11-27T08:30:15Z"}
    assert O.delete(URLS, "stiegler-2010", URLS.actor(ARCHIVE), LATER, published=NOW, former_type="Video") == {
        "@context": ["https://www.w3.org/ns/activitystreams"],
        "id": f"{BASE}/talks/stiegler-2010/delete",
        "type": "Delete",
        "actor": f"{BASE}/actors/archive",
        "published": "2026-11-27T08:30:15Z",
        "to": [PUBLIC],
        "cc": [f"{BASE}/actors/archive/followers"],
        "object": O.embed(stone),
    }


def test_tombstone_without_dates_or_type() -> None:
    """A record that never had a publication date still gets a valid Tombstone."""
    assert O.tombstone(URLS, "x", None, NOW) == {
        "@context": ["https://www.w3.org/ns/activitystreams"], "id": f"{BASE}/talks/x", "type": "Tombstone",
        "deleted": "2026-11-26T12:00:00Z"}


def test_announce_by_owner() -> None:
    """The owner boosts a talk: to Public, cc its followers and the archive, object by id."""
    assert O.announce(URLS, "stiegler-2010", URLS.actor(OWNER), NOW) == {
        "@context": ["https://www.w3.org/ns/activitystreams"],
        "id": f"{BASE}/talks/stiegler-2010/announce",
        "type": "Announce",
        "actor": f"{BASE}/actors/assoc",
        "published": "2026-11-26T12:00:00Z",
        "to": [PUBLIC],
        "cc": [f"{BASE}/actors/assoc/followers", f"{BASE}/actors/archive"],
        "object": f"{BASE}/talks/stiegler-2010",
    }


FOLLOW = {
    "@context": "https://www.w3.org/ns/activitystreams",
    "id": "https://mastodon.example/5b3f2c1a-0d9e-4f53-8a9c-0f1e2d3c4b5a",
    "type": "Follow",
    "actor": "https://mastodon.example/users/alice",
    "object": f"{BASE}/actors/archive",
    "signature": {"type": "RsaSignature2017", "signatureValue": "xyz"},
}


@pytest.mark.parametrize("kind", ["Accept", "Reject"])
def test_accept_and_reject_embed_the_follow(kind: str) -> None:
    """The answer embeds the Follow's id, type, actor and object only, and is addressed to the follower."""
    build = O.accept if kind == "Accept" else O.reject
    assert build(f"{BASE}/activities/abc", URLS.actor(ARCHIVE), FOLLOW) == {
        "@context": ["https://www.w3.org/ns/activitystreams"],
        "id": f"{BASE}/activities/abc",
        "type": kind,
        "actor": f"{BASE}/actors/archive",
        "object": {"id": FOLLOW["id"], "type": "Follow", "actor": "https://mastodon.example/users/alice",
                   "object": f"{BASE}/actors/archive"},
        "to": ["https://mastodon.example/users/alice"],
    }


def test_update_actor() -> None:
    """Update{actor} embeds the profile without its context, which moves up to the activity."""
    profile = O.actor(CONFIG, URLS, ARCHIVE, PEM, NOW)
    activity = O.update_actor(profile, f"{BASE}/activities/u1", LATER)
    assert activity == {
        "@context": O.ACTOR_CONTEXT,
        "id": f"{BASE}/activities/u1",
        "type": "Update",
        "actor": f"{BASE}/actors/archive",
        "published": "2026-11-27T08:30:15Z",
        "to": [PUBLIC],
        "cc": [f"{BASE}/actors/archive/followers"],
        "object": O.embed(profile),
    }
    assert "@context" not in activity["object"]


# collections ------------------------------------------------------------------------------------

AS_CTX = ["https://www.w3.org/ns/activitystreams"]
OUTBOX = f"{BASE}/actors/archive/outbox"


def test_outbox() -> None:
    """45 talks in pages of 20: first is page 1, last is page 3."""
    assert O.outbox(URLS, ARCHIVE, 45, 20) == {
        "@context": AS_CTX, "id": OUTBOX, "type": "OrderedCollection", "totalItems": 45,
        "first": f"{OUTBOX}?page=1", "last": f"{OUTBOX}?page=3"}


def test_empty_outbox_still_has_a_page() -> None:
    """An empty archive points first and last to the (empty) page 1."""
    assert O.outbox(URLS, ARCHIVE, 0, 20) == {
        "@context": AS_CTX, "id": OUTBOX, "type": "OrderedCollection", "totalItems": 0,
        "first": f"{OUTBOX}?page=1", "last": f"{OUTBOX}?page=1"}


def test_outbox_pages() -> None:
    """Middle pages link both ways; the first has no prev, the last no next; items lose their @context."""
    create = O.create(URLS, video(), URLS.actor(ARCHIVE))
    assert O.outbox_page(URLS, ARCHIVE, 2, [create], 45, 20) == {
        "@context": AS_CTX, "id": f"{OUTBOX}?page=2", "type": "OrderedCollectionPage", "partOf": OUTBOX,
        "totalItems": 45, "startIndex": 20, "prev": f"{OUTBOX}?page=1", "next": f"{OUTBOX}?page=3",
        "orderedItems": [O.embed(create)]}
    first = O.outbox_page(URLS, ARCHIVE, 1, [], 45, 20)
    assert "prev" not in first and first["next"] == f"{OUTBOX}?page=2"
    last = O.outbox_page(URLS, ARCHIVE, 3, [], 45, 20)
    assert "next" not in last and last["prev"] == f"{OUTBOX}?page=2"
    only = O.outbox_page(URLS, ARCHIVE, 1, [], 5, 20)
    assert "next" not in only and "prev" not in only


def test_followers_hidden_and_shown() -> None:
    """Hidden: the count only, no first page; shown: paged like the outbox, items are actor ids."""
    base = f"{BASE}/actors/archive/followers"
    assert O.followers(URLS, ARCHIVE, 7, 20, False) == {
        "@context": AS_CTX, "id": base, "type": "OrderedCollection", "totalItems": 7}
    assert O.followers(URLS, ARCHIVE, 7, 20, True) == {
        "@context": AS_CTX, "id": base, "type": "OrderedCollection", "totalItems": 7,
        "first": f"{base}?page=1", "last": f"{base}?page=1"}
    assert O.followers_page(URLS, ARCHIVE, 1, ["https://m.example/users/a"], 7, 20) == {
        "@context": AS_CTX, "id": f"{base}?page=1", "type": "OrderedCollectionPage", "partOf": base,
        "totalItems": 7, "startIndex": 0, "orderedItems": ["https://m.example/users/a"]}


def test_following_and_featured() -> None:
    """The archive follows no one; featured is empty unless items are given."""
    assert O.following(URLS, OWNER) == {"@context": AS_CTX, "id": f"{BASE}/actors/assoc/following",
                                        "type": "OrderedCollection", "totalItems": 0, "orderedItems": []}
    assert O.featured(URLS, ARCHIVE) == {"@context": AS_CTX, "id": f"{BASE}/actors/archive/featured",
                                         "type": "OrderedCollection", "totalItems": 0, "orderedItems": []}
    pinned = O.featured(URLS, ARCHIVE, [O.document(note())])
    assert pinned["totalItems"] == 1 and pinned["orderedItems"] == [note()]


# receiver profiles: what we build passes -------------------------------------------------------------

@pytest.mark.parametrize("role", [ARCHIVE, OWNER])
@pytest.mark.parametrize("profile", ["mastodon_actor", "peertube_actor"])
def test_actors_pass_receiver_profiles(role: str, profile: str) -> None:
    """Both actors satisfy Mastodon's and PeerTube's actor rules."""
    assert errors(profile, O.actor(CONFIG, URLS, role, PEM, NOW)) == []


def test_minimal_config_actors_pass() -> None:
    """Without icon, summary or fields the actors are still valid for both receivers."""
    raw = {"server": {"base_url": "http://127.0.0.1:8080"}, "actor": {"name": "A"},
           "owner": {"username": "o", "name": "O"}}
    config = config_mod.parse(raw, Path("/tmp/x/config.toml"))
    urls = Urls("http://127.0.0.1:8080", "archive", "o")
    for role in (ARCHIVE, OWNER):
        doc = O.actor(config, urls, role, PEM, NOW)
        assert "icon" not in doc and "image" not in doc and doc["attachment"] == []
        assert errors("mastodon_actor", doc) == [] and errors("peertube_actor", doc) == []


@pytest.mark.parametrize("profile", ["peertube_video", "mastodon_note"])
def test_video_passes_receiver_profiles(profile: str) -> None:
    """The Video satisfies PeerTube's validator and shows well on Mastodon."""
    assert errors(profile, video()) == []


def test_note_passes_mastodon_profile() -> None:
    """The Note satisfies Mastodon's rules for a full post."""
    assert errors("mastodon_note", note()) == []


def test_activities_use_full_public_iri() -> None:
    """Every activity we build addresses Public by its full IRI and cc's URLs only (PeerTube's URL check)."""
    activities = [O.create(URLS, video(), URLS.actor(ARCHIVE)), O.update(URLS, note(), URLS.actor(ARCHIVE), 1, NOW),
                  O.delete(URLS, "x", URLS.actor(ARCHIVE), NOW), O.announce(URLS, "x", URLS.actor(OWNER), NOW),
                  O.update_actor(O.actor(CONFIG, URLS, OWNER, PEM, NOW), f"{BASE}/activities/1", NOW)]
    for activity in activities:
        assert activity["to"] == [PUBLIC]
        for field in ("to", "cc"):
            assert all(isinstance(u, str) and u.startswith("https://") for u in activity[field]), activity["id"]


def test_profiles_accept_what_the_receivers_themselves_emit() -> None:
    """The profiles are not stricter than reality: PeerTube's own Video and Mastodon's own Person pass."""
    peertube_video = json.loads(fixture_path("peertube/video-object.json").read_text(encoding="utf-8"))
    assert errors("peertube_video", peertube_video) == []
    mastodon_person = json.loads(fixture_path("mastodon/person-actor-activitypub-academy.json").read_text())
    assert errors("mastodon_actor", mastodon_person) == []
    for name in ("channel-group-actor", "account-person-actor", "account-person-actor-framatube"):
        peertube_actor = json.loads(fixture_path(f"peertube/{name}.json").read_text(encoding="utf-8"))
        assert errors("peertube_actor", peertube_actor) == [], name


# receiver profiles: known-bad variants are refused ---------------------------------------------------

def bad(doc: dict[str, Any], path: list[Any], value: Any = None, drop: bool = False) -> dict[str, Any]:
    doc = copy.deepcopy(doc)
    target = doc
    for key in path[:-1]:
        target = target[key]
    if drop:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return doc


@pytest.mark.parametrize(("path", "value", "drop"), [
    (["to"], ["as:Public"], False),
    (["cc"], ["Public"], False),
    (["duration"], "PT1H2M5S", False),
    (["duration"], 3723, False),
    (["icon"], [], False),
    (["icon"], None, True),
    (["icon", 0, "width"], None, True),
    (["icon", 0, "mediaType"], "image/svg+xml", False),
    (["name"], "ab", False),
    (["name"], "x" * 121, False),
    (["uuid"], "0b7e3c1e-5d2a-1f7b-9a61-2f3c4d5e6f70", False),
    (["uuid"], None, True),
    (["url"], f"{BASE}/talks/stiegler-2010", False),
    (["url", 1, "size"], None, True),
    (["url", 1, "height"], -1, False),
    (["attributedTo"], [{"type": "Person", "id": f"{BASE}/actors/assoc"}], False),
    (["attributedTo"], f"{BASE}/actors/archive", False),
    (["commentsPolicy"], None, True),
    (["mediaType"], None, True),
    (["mediaType"], "text/plain", False),
    (["views"], None, True),
    (["published"], "yesterday", False),
    (["type"], "Note", False),
])
def test_peertube_video_profile_refuses(path: list[Any], value: Any, drop: bool) -> None:
    """Each variant PeerTube would drop (or misread) fails the profile."""
    assert errors("peertube_video", bad(video(), path, value, drop)) != []


@pytest.mark.parametrize(("path", "value", "drop"), [
    (["url"], [{"type": "Link", "mediaType": "text/html", "href": f"{BASE}/actors/archive"}], False),
    (["url"], {"type": "Link", "mediaType": "text/html", "href": f"{BASE}/actors/archive"}, False),
    (["url"], [f"{BASE}/actors/archive"], False),
    (["url"], None, True),
    (["attributedTo"], None, True),
    (["attributedTo"], [], False),
    (["attributedTo"], [{"type": "Group", "id": f"{BASE}/actors/archive"}], False),
    (["publicKey", "publicKeyPem"], PEM.replace("PUBLIC KEY", "RSA PUBLIC KEY"), False),
    (["publicKey", "owner"], None, True),
    (["preferredUsername"], "ar chive", False),
    (["inbox"], "/inbox", False),
    (["type"], "Note", False),
    (["endpoints", "sharedInbox"], "as:Public", False),
])
def test_peertube_actor_profile_refuses(path: list[Any], value: Any, drop: bool) -> None:
    """Each actor variant PeerTube rejects (or cannot make a channel of) fails the profile."""
    assert errors("peertube_actor", bad(O.actor(CONFIG, URLS, ARCHIVE, PEM, NOW), path, value, drop)) != []


@pytest.mark.parametrize(("path", "value", "drop"), [
    (["@context"], "https://w3id.org/security/v1", False),
    (["@context"], None, True),
    (["inbox"], None, True),
    (["followers"], None, True),
    (["preferredUsername"], "bad name!", False),
    (["type"], "Tombstone", False),
    (["publicKey", "publicKeyPem"], "ssh-rsa AAAA", False),
    (["url"], [{"type": "Link", "mediaType": "application/activity+json", "href": f"{BASE}/actors/archive"}],
     False),
])
def test_mastodon_actor_profile_refuses(path: list[Any], value: Any, drop: bool) -> None:
    """Each actor variant Mastodon rejects (or shows badly) fails the profile."""
    assert errors("mastodon_actor", bad(O.actor(CONFIG, URLS, OWNER, PEM, NOW), path, value, drop)) != []


@pytest.mark.parametrize(("path", "value", "drop"), [
    (["summary"], "<p>a content warning</p>", False),
    (["content"], None, True),
    (["to"], ["as:Public"], False),
    (["to"], [f"{BASE}/actors/archive/followers"], False),
    (["attachment"], [{"type": "Document", "mediaType": "image/png", "url": f"{BASE}/a.png"}] * 5, False),
    (["attachment", 0, "mediaType"], "video/x-matroska", False),
    (["attachment", 0, "url"], None, True),
    (["tag", 0, "href"], None, True),
    (["sensitive"], True, False),
    (["published"], "26/11/2026", False),
])
def test_mastodon_note_profile_refuses(path: list[Any], value: Any, drop: bool) -> None:
    """Each Note variant Mastodon would show badly (a CW, hidden, dropped media) fails the profile."""
    assert errors("mastodon_note", bad(note(), path, value, drop)) != []


@pytest.mark.parametrize(("path", "value", "drop"), [
    (["summary"], None, True),
    (["name"], None, True),
    (["url"], [{"type": "Link", "mediaType": "video/webm", "href": f"{BASE}/media/x.webm"}], False),
])
def test_mastodon_profile_refuses_a_bare_video(path: list[Any], value: Any, drop: bool) -> None:
    """A Video without name, teaser or HTML link would show as an empty post on Mastodon."""
    assert errors("mastodon_note", bad(video(), path, value, drop)) != []


# behaviour of the talk builders ----------------------------------------------------------------------

def test_object_type_follows_the_config() -> None:
    """archive.object_type picks the shape; the ids are the same."""
    assert video()["type"] == "Video" and note()["type"] == "Note"
    assert video()["id"] == note()["id"] == f"{BASE}/talks/stiegler-2010"


def test_note_has_no_summary_and_no_updated_until_edited() -> None:
    """A Note never carries a summary (content warning) nor `updated` (edit marker) on first publication."""
    doc = note()
    assert "summary" not in doc and "updated" not in doc
    assert note(updated=LATER)["updated"] == "2026-11-27T08:30:15Z"


@pytest.mark.parametrize(("title", "expected"), [
    ("AI", "AI — Bernard Stiegler, Alice Martin"),
    ("Économie", "Économie"),
    ("x" * 120, "x" * 120),
    ("mot " * 40, ("mot " * 29).rstrip() + "…"),
])
def test_video_name_fits_peertube(title: str, expected: str) -> None:
    """Titles are fitted to 3–120 characters: short ones get the speakers, long ones are cut at a word."""
    name = video(with_talk(title=title))["name"]
    assert name == expected and 3 <= len(name) <= 120


def test_unknown_duration_and_sizes_are_zero() -> None:
    """PeerTube needs integers: unknown duration is PT0S, unknown height and size 0."""
    doc = video(with_talk(duration=None))
    assert doc["duration"] == "PT0S"
    assert doc["url"][2] == {"type": "Link", "mediaType": "video/mp4", "href": f"{FILES}debat.mp4",
                             "height": 0, "size": 0}


def test_icon_falls_back_to_the_archive_avatar_then_to_fedi() -> None:
    """No poster: the archive's icon (size 0 = unknown); no icon either: fedi's default poster."""
    bare = with_talk(thumbnail=None, thumbnail_type=None, thumbnail_width=None, thumbnail_height=None)
    assert video(bare)["icon"] == [{"type": "Image", "url": f"{BASE}/media/media/logo.png",
                                    "mediaType": "image/png", "width": 0, "height": 0}]
    no_icon = make_config(actor={"icon": "https://cdn.example.net/avatar"})  # no extension: type unknown
    assert video(bare, no_icon)["icon"] == [{"type": "Image", "url": f"{BASE}/static/poster.jpg",
                                             "mediaType": "image/jpeg", "width": 0, "height": 0}]
    assert errors("peertube_video", video(bare, no_icon)) == []


def test_attachments_prefer_one_small_mp4_with_its_poster() -> None:
    """Mastodon gets one playable file (mp4 first) under 99 MB, with the poster as its icon."""
    media = (Media("a.webm", "video/webm", size=1000), Media("b.mp4", "video/mp4", size=2000, width=640, height=360),
             Media("c.ogg", "audio/ogg", size=10))
    [doc] = video(with_talk(media=media))["attachment"]
    assert doc == {"type": "Document", "mediaType": "video/mp4", "url": f"{FILES}b.mp4",
                   "name": "Économie de la contribution", "width": 640, "height": 360,
                   "icon": {"type": "Image", "url": f"{BASE}/media/media/poster.jpg", "mediaType": "image/jpeg"}}


@pytest.mark.parametrize("kind", ["Video", "Note"])
def test_no_attachment_when_no_file_fits(kind: str) -> None:
    """Files too big, of unknown size or of a type Mastodon cannot play: no attachment at all, not even the
    poster (a status with media gets no link card, and the card is what plays the whole talk)."""
    media = (Media("big.mp4", "video/mp4", size=100_000_000), Media("x.mp4", "video/mp4"),
             Media("y.mkv", "video/x-matroska", size=10))
    doc = (video if kind == "Video" else note)(with_talk(media=media))
    assert "attachment" not in doc
    assert errors("mastodon_note", doc) == []


@pytest.mark.parametrize("kind", ["Video", "Note"])
def test_an_attachment_when_one_file_fits(kind: str) -> None:
    """One file within 99 MB of a type Mastodon plays: it is attached (the others are not)."""
    media = (Media("big.mp4", "video/mp4", size=100_000_000), Media("small.webm", "video/webm", size=99_000_000))
    doc = (video if kind == "Video" else note)(with_talk(media=media))
    assert [(a["url"], a["mediaType"]) for a in doc["attachment"]] == [(f"{FILES}small.webm", "video/webm")]


def test_audio_only_talk_attaches_the_audio() -> None:
    """A recording without video is attached as audio."""
    [doc] = note(with_talk(media=(Media("talk.mp3", "audio/mpeg", size=5000),)))["attachment"]
    assert doc["mediaType"] == "audio/mpeg" and doc["url"] == f"{FILES}talk.mp3"


@pytest.mark.parametrize(("url", "expected"), [
    ("https://creativecommons.org/licenses/by/4.0/", ("1", "Attribution")),
    ("https://creativecommons.org/licenses/by-sa/4.0/", ("2", "Attribution - Share Alike")),
    ("http://creativecommons.org/licenses/by-nd/3.0/fr/", ("3", "Attribution - No Derivatives")),
    ("https://creativecommons.org/licenses/by-nc/2.0", ("4", "Attribution - Non Commercial")),
    ("https://creativecommons.org/licenses/by-nc-sa/4.0/deed.fr", ("5", "Attribution - Non Commercial - Share Alike")),
    ("https://www.creativecommons.org/licenses/BY-NC-ND/4.0/", ("6", "Attribution - Non Commercial - No Derivatives")),
    ("https://creativecommons.org/publicdomain/zero/1.0/", ("7", "Public Domain Dedication")),
    ("https://creativecommons.org/publicdomain/mark/1.0/", ("7", "Public Domain Dedication")),
    ("https://www.gnu.org/licenses/fdl-1.3.html", None),
    ("https://creativecommons.org/licenses/by-sa-nc/4.0/", None),
    ("https://creativecommons.org.evil.example/licenses/by/4.0/", None),
    (None, None),
])
def test_licence_mapping(url: str | None, expected: tuple[str, str] | None) -> None:
    """Creative Commons URLs map to PeerTube's licence ids; anything else is left out."""
    got = T.licence(url)
    assert got == (None if expected is None else {"identifier": expected[0], "name": expected[1]})
    assert ("licence" in video(with_talk(license=url))) is (expected is not None)


def test_language() -> None:
    """PeerTube gets the primary subtag and an English name; contentMap keeps the talk's own tag."""
    doc = video(with_talk(language="pt-BR"))
    assert doc["language"] == {"identifier": "pt", "name": "Portuguese"}
    assert list(doc["contentMap"]) == ["pt-BR"] and list(doc["nameMap"]) == ["pt-BR"]
    assert T.language("xx") == {"identifier": "xx", "name": "xx"}


def test_markup_in_entries_is_escaped() -> None:
    """Titles, speakers, places and summaries are text: markup is escaped everywhere it lands."""
    evil = with_talk(title="<script>alert(1)</script>", speakers=("<b>Eve</b>",), place='"><img src=x>',
                     summary="<iframe> & https://x.example/a?b=<c>")
    for doc in (video(evil), note(evil)):
        html_fields = json.dumps([doc.get("content"), doc.get("summary"), doc["contentMap"]])
        for tag in ("<script", "<b>", "<img", "<iframe", "<c>"):
            assert tag not in html_fields
    # name and alt texts are plain text by definition (AS2): kept as written, for the receiver to escape
    assert video(evil)["name"] == "<script>alert(1)</script>"
    assert video(evil)["attachment"][0]["name"] == "<script>alert(1)</script>"


def test_long_summary_is_cut_to_peertube_limit() -> None:
    """A 20,000-character abstract becomes a description within PeerTube's 10,000 characters."""
    long = with_talk(summary="\n\n".join(["mot & <mot> " * 200] * 8))
    doc = video(long)
    assert len(doc["content"]) <= 10000 and doc["content"].endswith("…</p>")
    assert errors("peertube_video", doc) == []
    assert len(doc["summary"]) < 1000


def test_iso_dates() -> None:
    """Dates are UTC with whole seconds and a Z; a naive datetime counts as UTC."""
    assert O.iso(dt.datetime(2010, 3, 6, 14, 0, 5, 999, tzinfo=dt.timezone(dt.timedelta(hours=1)))) == \
        "2010-03-06T13:00:05Z"
    assert O.iso(dt.datetime(2010, 3, 6)) == "2010-03-06T00:00:00Z"


def test_unknown_role_is_refused() -> None:
    """Only the two local actors exist."""
    with pytest.raises(ValueError, match="role"):
        O.actor(CONFIG, URLS, "admin", PEM, NOW)


def test_linkify_keeps_trailing_punctuation_out() -> None:
    """A URL at the end of a sentence does not swallow the full stop."""
    assert O.linkify("Voir https://a.example/x. Fin") == (
        'Voir <a href="https://a.example/x" rel="nofollow noopener" target="_blank">https://a.example/x</a>. Fin')


# property: any entry the talk schema allows gives documents the receivers accept ---------------------

_text = st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=300).filter(str.strip)


@settings(max_examples=60, deadline=None)
@given(title=_text, speakers=st.lists(_text, min_size=1, max_size=4), summary=_text,
       tags=st.lists(st.from_regex(r"[a-z0-9]{1,40}", fullmatch=True), max_size=5, unique=True),
       duration=st.none() | st.integers(0, 10**6), size=st.none() | st.integers(0, 10**9),
       height=st.none() | st.integers(0, 5000))
def test_any_talk_gives_valid_documents(title: str, speakers: list[str], summary: str, tags: list[str],
                                        duration: int | None, size: int | None, height: int | None) -> None:
    """Whatever the entry says, the Video passes PeerTube's profile and both shapes pass Mastodon's."""
    talk = with_talk(title=title.strip(), speakers=tuple(s.strip() for s in speakers), summary=summary.strip(),
                     tags=tuple(tags), duration=duration,
                     media=(Media("m/talk.webm", "video/webm", size=size, height=height),))
    doc = video(talk)
    assert errors("peertube_video", doc) == []
    assert errors("mastodon_note", doc) == []
    assert errors("mastodon_note", note(talk)) == []
    assert O.create(URLS, doc, URLS.actor(ARCHIVE))["object"] == doc


def test_talk_slug_round_trip() -> None:
    """urls.talk_slug inverts urls.talk, and names nothing else (how create/update find their ids)."""
    assert URLS.talk_slug(URLS.talk("stiegler-2010")) == "stiegler-2010"
    for other in (f"{BASE}/talks/", f"{BASE}/talks/a/create", f"{BASE}/talks/a?page=1", f"{BASE}/actors/archive",
                  "https://elsewhere.example/talks/a"):
        assert URLS.talk_slug(other) is None
    assert URLS.dislikes("a") == f"{BASE}/talks/a/dislikes"


def test_objects_reexports_the_talk_builder() -> None:
    """Callers build talk objects through objects.talk_object, the same function."""
    assert O.talk_object is T.talk_object and O.PUBLIC == PUBLIC
