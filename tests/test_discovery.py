"""discovery: exact WebFinger, host-meta and NodeInfo documents, and the WebFinger resource parser."""

from __future__ import annotations

import datetime as dt
import json
import xml.etree.ElementTree as ET
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fedi import __version__, discovery, talk_objects
from fedi import config as config_mod
from fedi.discovery import ResourceError, parse_resource
from fedi.talks import Media, Talk, image_size
from fedi.urls import ARCHIVE, OWNER, Urls
from tests.conftest import fixture_path

URLS = Urls("https://talks.example.org", "archive", "assoc")
PORTED = Urls("http://127.0.0.1:8080", "archive", "assoc")


def test_webfinger_document() -> None:
    """The JRD names the account, aliases the actor and links self (AS2) and the profile page."""
    assert discovery.webfinger(URLS, ARCHIVE) == {
        "subject": "acct:archive@talks.example.org",
        "aliases": ["https://talks.example.org/actors/archive"],
        "links": [
            {"rel": "self", "type": "application/activity+json",
             "href": "https://talks.example.org/actors/archive"},
            {"rel": "http://webfinger.net/rel/profile-page", "type": "text/html",
             "href": "https://talks.example.org/actors/archive"},
        ],
    }


def test_webfinger_keeps_the_port_in_the_subject() -> None:
    """On a non-default port the handle's host carries it, as Mastodon's round trip expects."""
    assert discovery.webfinger(PORTED, OWNER)["subject"] == "acct:assoc@127.0.0.1:8080"


def test_webfinger_has_the_shape_real_servers_serve() -> None:
    """Our JRD has the keys and the self link Mastodon's and PeerTube's own JRDs have."""
    ours = discovery.webfinger(URLS, ARCHIVE)
    for name in ("mastodon/webfinger-jrd-mastodon-social-gargron.json", "peertube/webfinger-jrd-framatube.json"):
        theirs = json.loads(fixture_path(name).read_text(encoding="utf-8"))
        assert {"subject", "aliases", "links"} <= set(theirs) and set(ours) == {"subject", "aliases", "links"}
        their_self = next(link for link in theirs["links"] if link["rel"] == "self")
        our_self = next(link for link in ours["links"] if link["rel"] == "self")
        assert set(their_self) == set(our_self) and their_self["type"] == our_self["type"]


def test_host_meta() -> None:
    """host-meta is the XRD whose lrdd template leads to our WebFinger endpoint."""
    text = discovery.host_meta(URLS)
    assert text == ('<?xml version="1.0" encoding="UTF-8"?>\n'
                    '<XRD xmlns="http://docs.oasis-open.org/ns/xri/xrd-1.0">\n'
                    '  <Link rel="lrdd" template="https://talks.example.org/.well-known/webfinger?resource={uri}"/>\n'
                    "</XRD>\n")
    root = ET.fromstring(text.encode())
    link = root.find("{http://docs.oasis-open.org/ns/xri/xrd-1.0}Link")
    assert link is not None and link.get("template") == URLS.webfinger_template()


def test_host_meta_escapes_the_template() -> None:
    """A base URL with XML-special characters still gives well-formed XML."""
    urls = Urls('https://a.example/"&<', "archive", "assoc")
    root = ET.fromstring(discovery.host_meta(urls).encode())
    link = root.find("{http://docs.oasis-open.org/ns/xri/xrd-1.0}Link")
    assert link is not None and link.get("template") == urls.webfinger_template()


def test_nodeinfo_index() -> None:
    """The well-known document links both NodeInfo versions."""
    assert discovery.nodeinfo_index(URLS) == {"links": [
        {"rel": "http://nodeinfo.diaspora.software/ns/schema/2.0", "href": "https://talks.example.org/nodeinfo/2.0"},
        {"rel": "http://nodeinfo.diaspora.software/ns/schema/2.1", "href": "https://talks.example.org/nodeinfo/2.1"},
    ]}


@pytest.mark.parametrize("version", ["2.0", "2.1"])
def test_nodeinfo(version: str) -> None:
    """NodeInfo says: fedi, ActivityPub, closed registrations, two users, the number of talks."""
    assert discovery.nodeinfo(version, local_posts=4, name="Archives", description="Les débats.") == {
        "version": version,
        "software": {"name": "fedi", "version": __version__},
        "protocols": ["activitypub"],
        "services": {"inbound": [], "outbound": []},
        "openRegistrations": False,
        "usage": {"users": {"total": 2, "activeMonth": 2, "activeHalfyear": 2}, "localPosts": 4},
        "metadata": {"nodeName": "Archives", "nodeDescription": "Les débats."},
    }


def test_nodeinfo_unknown_version() -> None:
    """Only 2.0 and 2.1 exist."""
    with pytest.raises(ValueError, match="version"):
        discovery.nodeinfo("1.0", local_posts=0, name="a", description="")


# resource parsing ---------------------------------------------------------------------------------

@pytest.mark.parametrize(("resource", "role"), [
    ("acct:archive@talks.example.org", ARCHIVE),
    ("acct:assoc@talks.example.org", OWNER),
    ("acct:ARCHIVE@Talks.Example.ORG", ARCHIVE),
    ("ACCT:archive@talks.example.org", ARCHIVE),
    ("archive@talks.example.org", ARCHIVE),          # Mastodon accepts a bare user@host too
    ("acct:archive@talks.example.org:443", ARCHIVE),  # the default port is the same host
    ("acct:archive@talks.example.org.", ARCHIVE),
    ("  acct:archive@talks.example.org ", ARCHIVE),
    ("https://talks.example.org/actors/archive", ARCHIVE),
    ("https://talks.example.org/actors/assoc/", OWNER),
    ("https://TALKS.example.org/actors/assoc", OWNER),
    ("acct:nobody@talks.example.org", None),
    ("acct:archive@elsewhere.example", None),
    ("acct:archive@talks.example.org:8443", None),
    ("@archive@talks.example.org", None),             # as Mastodon: the user part would be '@archive'
    ("acct:arch!ve@talks.example.org", None),
    ("mailto:archive@talks.example.org", None),
    ("https://elsewhere.example/actors/archive", None),
    ("https://talks.example.org/talks/x", None),
    ("https://talks.example.org/actors/archive/inbox", None),
])
def test_parse_resource(resource: str, role: str | None) -> None:
    """acct: or bare user@host on our host, or an actor URL, name a role; other users and hosts none."""
    assert parse_resource(resource, URLS) == role


@pytest.mark.parametrize(("resource", "role"), [
    ("acct:archive@127.0.0.1:8080", ARCHIVE),
    ("acct:archive@127.0.0.1", None),
    ("acct:archive@127.0.0.1:80", None),
    ("http://127.0.0.1:8080/actors/assoc", OWNER),
    ("http://127.0.0.1:9090/actors/assoc", None),
])
def test_parse_resource_with_a_port(resource: str, role: str | None) -> None:
    """With a non-default port the host must carry exactly that port."""
    assert parse_resource(resource, PORTED) == role


@pytest.mark.parametrize("resource", [
    "", "   ", "acct:", "archive", "acct:archive", "archive@", "@talks.example.org", "acct:@talks.example.org",
    "acct:archive @talks.example.org", "acct:archive@talks.\nexample.org", "acct:a\x00@talks.example.org",
    "https://[::1", "https://talks.example.org:port/actors/archive", "x" * 3000 + "@talks.example.org",
])
def test_parse_resource_malformed(resource: str) -> None:
    """What is neither acct:user@host nor a URL is a ResourceError, a ValueError the route turns into 400."""
    with pytest.raises(ResourceError):
        parse_resource(resource, URLS)
    assert issubclass(ResourceError, ValueError)


@given(st.text(max_size=200))
def test_parse_resource_never_fails_otherwise(resource: str) -> None:
    """Any text gives a role, None or a ResourceError, nothing else."""
    try:
        result = parse_resource(resource, URLS)
    except ResourceError:
        return
    assert result in (ARCHIVE, OWNER, None)


@given(st.sampled_from(["archive", "assoc"]), st.sampled_from(["acct:", "ACCT:", ""]), st.booleans())
def test_parse_resource_case_insensitive(user: str, prefix: str, upper: bool) -> None:
    """The user and host match whatever their case."""
    text = f"{prefix}{user}@talks.example.org"
    role = ARCHIVE if user == "archive" else OWNER
    assert parse_resource(text.upper() if upper and prefix else text, URLS) == role


# oEmbed --------------------------------------------------------------------------------------------

def _oembed_talk(**changes: object) -> Talk:
    talk = Talk(slug="t", title='Un "débat" <court>', speakers=("A", "B"),
                recorded=dt.datetime(2010, 1, 1, tzinfo=dt.UTC), recorded_has_time=False, summary="s",
                language="fr", media=(Media("a.webm", "video/webm", 10, 1280, 720),))
    return replace(talk, **changes)  # type: ignore[arg-type]


def _oembed_config() -> config_mod.Config:
    raw = {"server": {"base_url": "https://talks.example.org"}, "actor": {"name": "Archives", "icon": "i.png"},
           "owner": {"username": "assoc", "name": "Asso"}}
    return config_mod.parse(raw, Path("/tmp/x/config.toml"))


def test_oembed_frames_the_embed_page_within_the_consumer_limits() -> None:
    """A `video` answer: the iframe of the embed page (title escaped), sized from the video and scaled down to
    maxwidth/maxheight keeping its proportions, never up."""
    doc = discovery.oembed(_oembed_config(), URLS, _oembed_talk())
    assert (doc["type"], doc["version"], doc["width"], doc["height"]) == ("video", "1.0", 1280, 720)
    assert doc["html"] == ('<iframe src="https://talks.example.org/talks/t/embed" width="1280" height="720" '
                           'title="Un &quot;débat&quot; &lt;court&gt;" frameborder="0" allowfullscreen></iframe>')
    small = discovery.oembed(_oembed_config(), URLS, _oembed_talk(), max_width=2000, max_height=360)
    assert (small["width"], small["height"]) == (640, 360)
    assert 'width="640" height="360"' in small["html"]


def test_oembed_thumbnail_always_has_its_size() -> None:
    """The poster when its size is known; otherwise fedi's own poster (640×360), not the archive's avatar of
    unknown size (oEmbed requires thumbnail_width and thumbnail_height with a thumbnail_url)."""
    with_poster = _oembed_talk(thumbnail="p.jpg", thumbnail_width=800, thumbnail_height=450)
    doc = discovery.oembed(_oembed_config(), URLS, with_poster)
    assert (doc["thumbnail_url"], doc["thumbnail_width"], doc["thumbnail_height"]) == (
        "https://talks.example.org/media/p.jpg", 800, 450)
    doc = discovery.oembed(_oembed_config(), URLS, _oembed_talk(media=()))
    assert (doc["thumbnail_url"], doc["thumbnail_width"], doc["thumbnail_height"]) == (
        "https://talks.example.org/static/poster.jpg", 640, 360)
    assert (doc["width"], doc["height"]) == (640, 360)


def test_default_poster_size_is_the_shipped_files() -> None:
    """The size oEmbed gives for fedi's default poster is the size of the file fedi serves."""
    head = (Path(talk_objects.__file__).parent / "static" / talk_objects.DEFAULT_POSTER).read_bytes()[:65536]
    assert image_size(head) == talk_objects.DEFAULT_POSTER_SIZE
