"""actors: every real actor document in the fixtures is read; broken ones are refused naming the field."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fedi import objects
from fedi.actors import ACTOR_TYPES, RemoteActor, RemoteKey, key_owner, read_actor
from fedi.errors import ActivityError
from tests.conftest import FIXTURES, fixture_params, fixture_path, needs_fixtures
from tests.test_objects import CONFIG, NOW, PEM, URLS


def load(name: str) -> dict[str, Any]:
    text = fixture_path(name).read_text(encoding="utf-8")
    return json.loads(text.replace("{{DOMAIN}}", "mastodon.example"))  # Mastodon's instance-actor template


def is_actor(doc: Any) -> bool:
    kinds = doc.get("type") if isinstance(doc, dict) else None
    return any(k in ACTOR_TYPES for k in (kinds if isinstance(kinds, list) else [kinds]))


def fixture_actors() -> list[tuple[str, dict[str, Any]]]:
    """Every actor document in the fixtures: whole files, and the actors carried by Update activities."""
    found = []
    for path in sorted(FIXTURES.rglob("*.json")):
        name = str(path.relative_to(FIXTURES))
        doc = load(name)
        if is_actor(doc):
            found.append((name, doc))
        elif isinstance(doc, dict) and doc.get("type") == "Update" and is_actor(doc.get("object")):
            found.append((f"{name}#object", doc["object"]))
    return found


ACTORS = fixture_actors()


@needs_fixtures
def test_the_fixtures_hold_the_expected_actors() -> None:
    """The walk finds every kind of actor the brief lists, so the next test covers them all."""
    names = {name for name, _ in ACTORS}
    assert len(ACTORS) >= 16
    for expected in ("mitra/person-actor-multikey.json", "oeee-cafe/person-actor-minimal.json",
                     "gotosocial/person-actor-moved-aliased.json", "peertube/channel-group-actor.json",
                     "lemmy/community-group-actor.json", "mastodon/person-actor-type-array-vcard-individual.json",
                     "gotosocial/application-actor-bot.json", "peertube/instance-actor-application.json",
                     "mastodon/update-person-actor.json#object"):
        assert expected in names


@pytest.mark.parametrize(("name", "doc"), fixture_params([pytest.param(n, d, id=n) for n, d in ACTORS], arity=2))
def test_every_fixture_actor_is_read(name: str, doc: dict[str, Any]) -> None:
    """Each real actor gives its id, type, inbox, a handle and at least one key with an owner."""
    actor = read_actor(doc)
    assert actor.id == doc["id"]
    assert actor.type in ACTOR_TYPES
    assert actor.inbox == doc["inbox"]
    assert actor.handle() == f"{doc['preferredUsername']}@{actor.host}"
    assert actor.keys and all(k.owner == actor.id and (k.pem or k.multibase) for k in actor.keys)
    assert actor.delivery_inbox in (actor.shared_inbox, actor.inbox)


@pytest.mark.parametrize(("name", "kind", "shared_inbox", "url"), [
    ("peertube/channel-group-actor.json", "Group", "https://tilvids.com/inbox",
     "https://tilvids.com/video-channels/thelinuxexperiment_channel"),
    ("lemmy/community-group-actor.json", "Group", "https://enterprise.lemmy.ml/inbox", None),
    ("oeee-cafe/person-actor-minimal.json", "Person", "https://oeee.cafe/inbox", "https://oeee.cafe/@hongminhee"),
    ("mastodon/person-actor-type-array-vcard-individual.json", "Person", "https://ap.example.com/inbox",
     "https://ap.example.com/@foo"),
    ("gotosocial/application-actor-bot.json", "Application", None, "http://localhost:8080/@the_mighty_zork"),
    ("mastodon/instance-actor-application-template.json", "Application", "https://mastodon.example/inbox",
     "https://mastodon.example/about/more?instance_actor=true"),
])
def test_fixture_details(name: str, kind: str, shared_inbox: str | None, url: str | None) -> None:
    """Type (also from a type array), shared inbox and profile page come out as published."""
    actor = read_actor(load(name))
    assert (actor.type, actor.shared_inbox, actor.url) == (kind, shared_inbox, url)


def test_mitra_multikeys_merge_with_public_key() -> None:
    """Mitra's RSA key appears as publicKey and as a Multikey: one key with both forms, plus its Ed25519 key."""
    actor = read_actor(load("mitra/person-actor-multikey.json"))
    main, ed = actor.keys
    assert main.id == "https://wizard.casa/users/hongminhee#main-key"
    assert main.pem and main.pem.startswith("-----BEGIN PUBLIC KEY-----") and main.multibase.startswith("z4MX")
    assert ed == RemoteKey("https://wizard.casa/users/hongminhee#ed25519-key", "https://wizard.casa/users/hongminhee",
                           None, "z6MkweqJajqa5jRAJTBVxxu47oCdB7HzmYbBKN8VGbFJmKkC")
    assert actor.manually_approves and actor.shared_inbox is None
    assert actor.key(ed.id) == ed and actor.key("https://wizard.casa/users/hongminhee#nope") is None


def test_gotosocial_moved_account() -> None:
    """movedTo and alsoKnownAs are read, as are the avatar and the key at a path (not a fragment)."""
    actor = read_actor(load("gotosocial/person-actor-moved-aliased.json"))
    assert actor.moved_to == "http://localhost:8080/users/1happyturtle"
    assert actor.also_known_as == ("http://localhost:8080/users/1happyturtle",)
    assert actor.icon and actor.icon.endswith("01F8MH58A357CV5K7R7TJMSH6S.jpg")
    assert [k.id for k in actor.keys] == ["http://localhost:8080/users/the_mighty_zork/main-key"]
    assert actor.followers == "http://localhost:8080/users/the_mighty_zork/followers"


def test_peertube_icon_list() -> None:
    """PeerTube gives several avatars: the first is kept."""
    actor = read_actor(load("peertube/channel-group-actor.json"))
    assert actor.icon == "https://tilvids.com/lazy-static/avatars/1bbe97f1-d283-4db4-8bdd-e5320564aff9.jpg"
    assert actor.name == "The Linux Experiment"


@pytest.mark.parametrize("role", ["archive", "owner"])
def test_our_own_actors_read_back(role: str) -> None:
    """What we serve is what we read: the same reader works on our documents."""
    doc = objects.actor(CONFIG, URLS, role, PEM, NOW)
    actor = read_actor(doc)
    assert actor == RemoteActor(
        id=URLS.actor(role), type=doc["type"], inbox=URLS.inbox(role), shared_inbox=URLS.shared_inbox(),
        preferred_username=URLS.username(role), name=doc["name"], url=URLS.actor(role),
        icon=doc.get("icon", {}).get("url"), followers=URLS.followers(role), outbox=URLS.outbox(role),
        keys=(RemoteKey(URLS.key(role), URLS.actor(role), PEM),), manually_approves=False)
    assert actor.handle() == URLS.handle(role)


# the shapes real servers vary -----------------------------------------------------------------------

BASE_DOC: dict[str, Any] = {"id": "https://m.example/users/a", "type": "Person", "inbox": "https://m.example/users/a/inbox",
                            "preferredUsername": "a"}


def variant(**changes: Any) -> dict[str, Any]:
    doc = copy.deepcopy(BASE_DOC)
    for key, value in changes.items():
        if value is None:
            doc.pop(key, None)
        else:
            doc[key] = value
    return doc


def test_public_key_as_url_or_list() -> None:
    """publicKey may be a bare key URL (no PEM yet) or a list of keys."""
    assert read_actor(variant(publicKey="https://m.example/users/a#k")).keys == (
        RemoteKey("https://m.example/users/a#k", "https://m.example/users/a"),)
    keys = read_actor(variant(publicKey=[
        {"id": "https://m.example/k1", "owner": "https://m.example/users/a", "publicKeyPem": "PEM1"},
        {"id": "https://m.example/k2", "publicKeyPem": "PEM2"},
        {"publicKeyPem": "no id: skipped"}, 42])).keys
    assert keys == (RemoteKey("https://m.example/k1", "https://m.example/users/a", "PEM1"),
                    RemoteKey("https://m.example/k2", "https://m.example/users/a", "PEM2"))


def test_url_prefers_the_html_link() -> None:
    """Among several Links the text/html one is the profile page; a plain URL is taken as is."""
    links = [{"type": "Link", "mediaType": "application/activity+json", "href": "https://m.example/users/a"},
             {"type": "Link", "mediaType": "text/html", "href": "https://m.example/@a"}]
    assert read_actor(variant(url=links)).url == "https://m.example/@a"
    assert read_actor(variant(url=["https://m.example/@a", links[0]])).url == "https://m.example/@a"
    assert read_actor(variant(url={"type": "Link", "href": "https://m.example/@b"})).url == "https://m.example/@b"
    assert read_actor(variant(url="javascript:alert(1)")).url is None


def test_shared_inbox_places() -> None:
    """The shared inbox is read from endpoints or the top level; an endpoints URL or a bad value gives none."""
    assert read_actor(variant(sharedInbox="https://m.example/inbox")).shared_inbox == "https://m.example/inbox"
    assert read_actor(variant(endpoints="https://m.example/endpoints")).shared_inbox is None
    assert read_actor(variant(endpoints={"sharedInbox": "/inbox"})).shared_inbox is None
    assert read_actor(variant()).delivery_inbox == "https://m.example/users/a/inbox"


def test_collections_and_moves_as_objects() -> None:
    """followers, outbox and movedTo may be objects with an id."""
    actor = read_actor(variant(followers={"id": "https://m.example/f", "type": "OrderedCollection"},
                               outbox={"id": "https://m.example/o"}, movedTo={"id": "https://n.example/u/a"},
                               alsoKnownAs="https://n.example/u/a", manuallyApprovesFollowers="yes"))
    assert (actor.followers, actor.outbox, actor.moved_to) == (
        "https://m.example/f", "https://m.example/o", "https://n.example/u/a")
    assert actor.also_known_as == ("https://n.example/u/a",)
    assert actor.manually_approves is False  # only a real true counts


def test_handle_without_username() -> None:
    """An actor without preferredUsername has no handle; the host can be given explicitly."""
    assert read_actor(variant(preferredUsername=None)).handle() is None
    assert read_actor(variant()).handle("example.net") == "a@example.net"


@pytest.mark.parametrize(("doc", "field"), [
    ([], "not a JSON object"),
    ("https://m.example/users/a", "not a JSON object"),
    (variant(id=None), "id"),
    (variant(id="/users/a"), "id"),
    (variant(id="ftp://m.example/users/a"), "id"),
    (variant(type=None), "type"),
    (variant(type="Note"), "type"),
    (variant(type=["vcard:individual"]), "type"),
    (variant(type="Tombstone"), "type"),
    (variant(inbox=None), "inbox"),
    (variant(inbox="inbox"), "inbox"),
    (variant(inbox={"id": "https://m.example/inbox"}), "inbox"),
])
def test_broken_actors_are_refused(doc: Any, field: str) -> None:
    """A document that is not a usable actor is an ActivityError naming the field."""
    with pytest.raises(ActivityError, match=f"actor document: {field}"):
        read_actor(doc)


def test_a_trimmed_real_actor_without_inbox_is_refused() -> None:
    """Pleroma's trimmed copy of a deleted Mastodon account has no inbox: refused, naming it."""
    with pytest.raises(ActivityError, match="actor document: inbox"):
        read_actor(load("mastodon/delete-actor-embedded-person.json")["object"])


# key documents ------------------------------------------------------------------------------------

def test_key_owner_of_an_actor_document() -> None:
    """A key id that resolves to the actor itself: the owner is that actor, if it lists the key."""
    doc = load("oeee-cafe/person-actor-minimal.json")
    assert key_owner(doc, doc["publicKey"]["id"]) == doc["id"]
    with pytest.raises(ActivityError, match="does not publish key"):
        key_owner(doc, doc["id"] + "#other-key")


def test_key_owner_of_a_standalone_key() -> None:
    """A key document (Mastodon's, or a Multikey) names its owner or controller."""
    key = {"@context": "https://w3id.org/security/v1", "id": "https://m.example/users/a/main-key",
           "owner": "https://m.example/users/a", "publicKeyPem": PEM}
    assert key_owner(key, key["id"]) == "https://m.example/users/a"
    multikey = {"id": "https://m.example/k", "type": "Multikey", "controller": "https://m.example/users/a"}
    assert key_owner(multikey, "https://m.example/k") == "https://m.example/users/a"
    with pytest.raises(ActivityError, match="id is not"):
        key_owner(key, "https://m.example/users/b/main-key")
    with pytest.raises(ActivityError, match="owner"):
        key_owner({"id": "https://m.example/k"}, "https://m.example/k")
    with pytest.raises(ActivityError, match="not a JSON object"):
        key_owner(None, "https://m.example/k")


# property: arbitrary JSON never escapes as another exception ------------------------------------------------

_json = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=30),
                     lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=10), inner,
                                                                                   max_size=3), max_leaves=12)
_field = st.sampled_from(["id", "type", "inbox", "publicKey", "assertionMethod", "url", "icon", "endpoints",
                          "sharedInbox", "followers", "alsoKnownAs", "movedTo", "preferredUsername", "name"])


@given(st.dictionaries(_field, _json | st.sampled_from(["https://m.example/x", "Person", "Group"]), max_size=10))
def test_any_document_is_read_or_refused(doc: dict[str, Any]) -> None:
    """Whatever the shape, the reader returns an actor or raises ActivityError, nothing else."""
    try:
        actor = read_actor(doc)
    except ActivityError as exc:
        assert str(exc).startswith("actor document: ")
        return
    assert actor.id.startswith("https://") and actor.inbox.startswith("https://")
    assert all(isinstance(k, RemoteKey) for k in actor.keys)


@needs_fixtures
def test_fixtures_folder_exists() -> None:
    """The fixtures are really there (a missing folder would silently test nothing)."""
    assert isinstance(FIXTURES, Path) and (FIXTURES / "INDEX.md").is_file()
