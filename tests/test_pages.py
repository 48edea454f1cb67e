"""fedi.pages: the HTML pages, parsed back with the standard library's html.parser."""

from __future__ import annotations

import datetime as dt
import shutil
from dataclasses import dataclass, field, replace
from html.parser import HTMLParser
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fedi import config as config_mod
from fedi import talks as talks_mod
from fedi.pages import (
    MAX_DEPTH,
    STRINGS,
    Pages,
    Reply,
    excerpt,
    format_date,
    format_duration,
    format_size,
    iso_duration,
    license_name,
    safe_url,
    thread,
)
from fedi.talks import Media, Talk
from fedi.urls import Urls

BASE = "https://talks.example.org"
UTC = dt.UTC
EVIL = '<script>alert(1)</script>"onerror=alert(2) x=\'<img src=x onerror=alert(3)>'
VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}


# a tiny DOM ---------------------------------------------------------------------------------------

@dataclass
class El:
    tag: str
    attrs: dict[str, str | None]
    parent: El | None = None
    children: list[El] = field(default_factory=list)
    text: list[str] = field(default_factory=list)

    def all_text(self) -> str:
        return "".join(self.text) + "".join(c.all_text() for c in self.children)

    def iter(self):
        yield self
        for c in self.children:
            yield from c.iter()

    def find_all(self, tag: str, **attrs: str) -> list[El]:
        return [e for e in self.iter() if e.tag == tag and all(e.attrs.get(k) == v for k, v in attrs.items())]

    def classes(self) -> list[str]:
        return (self.attrs.get("class") or "").split()


class _Builder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = El("#document", {})
        self.cur = self.root

    def handle_starttag(self, tag, attrs):  # type: ignore[no-untyped-def]
        el = El(tag, dict(attrs), self.cur)
        self.cur.children.append(el)
        if tag not in VOID:
            self.cur = el

    def handle_endtag(self, tag):  # type: ignore[no-untyped-def]
        node = self.cur
        while node is not None and node.tag != tag:
            node = node.parent
        if node is not None and node.parent is not None:
            self.cur = node.parent

    def handle_data(self, data):  # type: ignore[no-untyped-def]
        self.cur.text.append(data)


def parse(html: str) -> El:
    builder = _Builder()
    builder.feed(html)
    builder.close()
    return builder.root


def meta(doc: El, key: str) -> str | None:
    """The content of <meta property=key> or <meta name=key>."""
    for el in doc.find_all("meta"):
        if key in (el.attrs.get("property"), el.attrs.get("name")):
            return el.attrs.get("content")
    return None


# fixtures ---------------------------------------------------------------------------------------

def make_config(tmp_path: Path, language: str = "fr", **actor: object) -> config_mod.Config:
    raw = {
        "server": {"base_url": BASE},
        "actor": {"username": "archive", "name": "Archives", "summary": "Des séances.\n\nEt des débats.",
                  "icon": "images/icon.png", "fields": [{"name": "Site", "value": "https://assoc.example"},
                                                       {"name": "Piège", "value": "javascript:alert(1)"}],
                  **actor},
        "owner": {"username": "assoc", "name": "L'association", "url": "https://assoc.example"},
        "archive": {"language": language},
    }
    return config_mod.parse(raw, tmp_path / "config.toml")


def make_pages(cfg: config_mod.Config) -> tuple[Pages, Urls]:
    urls = Urls(cfg.server.base_url, cfg.actor.username, cfg.owner.username)
    return Pages(cfg, urls), urls


def make_talk(slug: str = "stiegler", **changes: object) -> Talk:
    talk = Talk(
        slug=slug, title="Logiciel libre et économie de la contribution", speakers=("Bernard Stiegler",),
        recorded=dt.datetime(2010, 3, 6, 13, 0, tzinfo=UTC), recorded_has_time=True,
        summary="Premier paragraphe,\nsur deux lignes.\n\nSecond paragraphe.", language="fr",
        media=(Media("https://videos.example.org/s.webm", "video/webm", 1_928_472_05, 640, 360, 25),
               Media("images/s.mp4", "video/mp4", 1_500_000, 1280, 720, 25)),
        event="Séance publique", place="La Colline", tags=("logiciellibre", "contribution"),
        license="https://creativecommons.org/licenses/by-nc-sa/3.0/fr/", duration=2472,
        thumbnail="images/stiegler.jpg", thumbnail_type="image/jpeg", thumbnail_width=640, thumbnail_height=360,
    )
    return replace(talk, **changes)


@dataclass
class Record:
    slug: str
    deleted: dt.datetime | None = None
    published: dt.datetime = dt.datetime(2024, 1, 2, tzinfo=UTC)


PUBLISHED = dt.datetime(2024, 1, 2, 10, 0, tzinfo=UTC)


@pytest.fixture
def pages(tmp_path: Path) -> Pages:
    return make_pages(make_config(tmp_path))[0]


@pytest.fixture
def urls(tmp_path: Path) -> Urls:
    return make_pages(make_config(tmp_path))[1]


def reply(n: int, parent: str, **changes: object) -> dict:
    data = dict(id=f"https://m.example/r/{n}", parent_id=parent, author_name=f"Personne {n}",
                author_handle=f"@p{n}@m.example", author_url=f"https://m.example/@p{n}",
                author_avatar=f"https://m.example/a/{n}.png", published=dt.datetime(2024, 1, 3 + n, tzinfo=UTC),
                content_html=f"<p>Réponse numéro {n}</p>", url=f"https://m.example/@p{n}/{n}")
    data.update(changes)
    return data


# the talk page ------------------------------------------------------------------------------------

def test_video_has_every_source_and_the_poster(pages: Pages) -> None:
    """One <video> lists each media file as a <source> with its type, and shows the poster."""
    doc = parse(pages.talk(make_talk(), PUBLISHED, PUBLISHED))
    (video,) = doc.find_all("video")
    assert video.attrs["poster"] == f"{BASE}/media/images/stiegler.jpg"
    assert "controls" in video.attrs and video.attrs["preload"] == "metadata"
    sources = [(s.attrs["src"], s.attrs["type"]) for s in video.find_all("source")]
    assert sources == [("https://videos.example.org/s.webm", "video/webm"), (f"{BASE}/media/images/s.mp4", "video/mp4")]


def test_download_link_for_every_file(pages: Pages) -> None:
    """The files section links every media file, with its format and size in the archive's language."""
    doc = parse(pages.talk(make_talk(), PUBLISHED, PUBLISHED))
    links = [a for a in doc.find_all("a") if "download" in a.attrs]
    assert [a.attrs["href"] for a in links] == ["https://videos.example.org/s.webm", f"{BASE}/media/images/s.mp4"]
    text = doc.all_text()
    assert "WebM, 640×360, 192,8\u00a0Mo" in text and "MP4, 1280×720, 1,5\u00a0Mo" in text


def test_audio_only_talk_uses_an_audio_element(pages: Pages) -> None:
    """A talk whose first file is audio gets <audio> with every source, and no <video>."""
    talk = make_talk(media=(Media("https://a.example/t.ogg", "audio/ogg"), Media("images/t.mp3", "audio/mpeg")))
    doc = parse(pages.talk(talk, PUBLISHED, None))
    assert not doc.find_all("video")
    (audio,) = doc.find_all("audio")
    assert len(audio.find_all("source")) == 2
    assert meta(doc, "og:video") is None and meta(doc, "twitter:card") == "player"  # the embed page plays it


def test_open_graph_and_twitter_tags_use_absolute_urls(pages: Pages) -> None:
    """OpenGraph and the Twitter player card name the talk, its poster and its video by absolute URLs."""
    doc = parse(pages.talk(make_talk(), PUBLISHED, PUBLISHED))
    page = f"{BASE}/talks/stiegler"
    assert meta(doc, "og:type") == "video.other"
    assert meta(doc, "og:title") == "Logiciel libre et économie de la contribution"
    assert meta(doc, "og:description") == "Premier paragraphe, sur deux lignes."
    assert meta(doc, "og:url") == page
    assert meta(doc, "og:image") == f"{BASE}/media/images/stiegler.jpg"
    assert meta(doc, "og:video") == "https://videos.example.org/s.webm"
    assert meta(doc, "og:video:type") == "video/webm"
    assert (meta(doc, "og:video:width"), meta(doc, "og:video:height")) == ("640", "360")
    assert meta(doc, "twitter:card") == "player"
    assert meta(doc, "twitter:player") == f"{page}/embed"
    assert (meta(doc, "twitter:player:width"), meta(doc, "twitter:player:height")) == ("640", "360")
    assert meta(doc, "twitter:image") == f"{BASE}/media/images/stiegler.jpg"
    for el in doc.find_all("meta"):
        content = el.attrs.get("content") or ""
        if (el.attrs.get("property") or el.attrs.get("name") or "").endswith(("url", "image", "video", "player")):
            assert content.startswith(("https://", "http://")), el.attrs


def test_alternate_link_names_the_activitypub_object(pages: Pages) -> None:
    """The talk page links its AS2 object, so fediverse software can find it from the page."""
    doc = parse(pages.talk(make_talk(), PUBLISHED, PUBLISHED))
    alternates = doc.find_all("link", rel="alternate", type="application/activity+json")
    assert [a.attrs["href"] for a in alternates] == [f"{BASE}/talks/stiegler"]


def test_talk_page_announces_its_oembed_answer_and_creator(pages: Pages) -> None:
    """The head links the page's oEmbed answer (Mastodon's player card) and names the owner as
    fediverse:creator (Mastodon's byline under the card)."""
    doc = parse(pages.talk(make_talk(), PUBLISHED, PUBLISHED))
    [oembed] = doc.find_all("link", rel="alternate", type="application/json+oembed")
    assert oembed.attrs["href"] == f"{BASE}/oembed?url=https%3A%2F%2Ftalks.example.org%2Ftalks%2Fstiegler&format=json"
    assert meta(doc, "fediverse:creator") == "@assoc@talks.example.org"


def test_a_talk_without_media_has_a_summary_card(pages: Pages) -> None:
    """Nothing to play: a summary card, no player; the share image falls back to the archive's avatar."""
    doc = parse(pages.talk(make_talk(media=(), thumbnail=None), PUBLISHED, PUBLISHED))
    assert meta(doc, "twitter:card") == "summary" and meta(doc, "twitter:player") is None
    assert meta(doc, "og:image") == f"{BASE}/media/images/icon.png"


def test_embed_page_is_the_bare_player_linking_back(pages: Pages) -> None:
    """The embed page holds the talk page's player (same sources and poster) and one link to the talk page,
    nothing else of the site."""
    talk = make_talk()
    embed, page = parse(pages.embed(talk)), parse(pages.talk(talk, PUBLISHED, PUBLISHED))
    (video,) = embed.find_all("video")
    (page_video,) = page.find_all("video")
    assert video.attrs == page_video.attrs
    assert [s.attrs for s in video.find_all("source")] == [s.attrs for s in page_video.find_all("source")]
    assert [(a.attrs["href"], a.attrs.get("target")) for a in embed.find_all("a")] == [
        (f"{BASE}/talks/stiegler", "_blank")]
    assert not embed.find_all("header") and not embed.find_all("footer")
    [csp] = [m.attrs["content"] for m in embed.find_all("meta") if m.attrs.get("http-equiv")]
    assert "frame-ancestors" not in csp and "script-src" not in csp


def test_talk_facts_dates_and_licence(pages: Pages) -> None:
    """Date, duration, publication dates and the licence come out in readable French."""
    updated = dt.datetime(2024, 3, 1, tzinfo=UTC)
    doc = parse(pages.talk(make_talk(), PUBLISHED, updated))
    times = {t.attrs["datetime"]: t.all_text() for t in doc.find_all("time")}
    assert times["2010-03-06T13:00:00+00:00"] == "6 mars 2010"
    assert times["PT41M12S"] == "41:12"
    assert times["2024-01-02T10:00:00+00:00"] == "2 janvier 2024"
    assert times["2024-03-01T00:00:00+00:00"] == "1er mars 2024"
    (lic,) = doc.find_all("a", rel="license noopener")
    assert lic.attrs["href"] == "https://creativecommons.org/licenses/by-nc-sa/3.0/fr/"
    assert lic.all_text() == "CC BY-NC-SA 3.0 FR"
    paragraphs = [p.all_text() for p in doc.find_all("div", **{"class": "summary"})[0].find_all("p")]
    assert paragraphs == ["Premier paragraphe, sur deux lignes.", "Second paragraphe."]


def test_same_day_update_is_not_announced(pages: Pages) -> None:
    """An update on the day of publication is not worth a second date."""
    text = parse(pages.talk(make_talk(), PUBLISHED, PUBLISHED.replace(hour=18))).all_text()
    assert "mis à jour" not in text


def test_hostile_entry_renders_inert(pages: Pages) -> None:
    """Markup in every text field of an entry comes out as text: no script, no event handler, no new element."""
    talk = make_talk(title=EVIL, summary=EVIL + "\n\n" + EVIL, speakers=(EVIL,), event=EVIL, place=EVIL,
                     tags=("x<script>",), license="javascript:alert(1)")
    html = pages.talk(talk, PUBLISHED, PUBLISHED)
    doc = parse(html)
    assert doc.find_all("script") == []
    assert [e for e in doc.iter() if any(k.startswith("on") for k in e.attrs)] == []
    assert [e for e in doc.find_all("img") if e.attrs.get("src") == "x"] == []
    assert doc.find_all("h1")[0].all_text() == EVIL
    assert meta(doc, "og:title") == EVIL
    assert "javascript:" not in html


def test_hostile_config_renders_inert(tmp_path: Path) -> None:
    """The profile escapes the config's texts too, and never links a javascript: field value."""
    cfg = make_config(tmp_path, name="<script>alert(1)</script>", summary=EVIL)
    pages, _ = make_pages(cfg)
    html = pages.profile([], 0) + pages.owner() + pages.error(404, EVIL) + pages.removed("x", None)
    doc = parse(html)
    assert doc.find_all("script") == []
    assert [e for e in doc.iter() if any(k.startswith("on") for k in e.attrs)] == []
    assert all(not (a.attrs.get("href") or "").startswith("javascript") for a in doc.find_all("a"))


def test_pages_carry_no_javascript_and_use_the_stylesheet(pages: Pages) -> None:
    """Every page links /static/style.css, has a viewport and a lang, and contains no script at all."""
    for html in (pages.talk(make_talk(), PUBLISHED, None), pages.profile([], 3), pages.owner(),
                 pages.removed("x", PUBLISHED), pages.error(405, "method not allowed")):
        doc = parse(html)
        assert not doc.find_all("script")
        assert [link.attrs["href"] for link in doc.find_all("link", rel="stylesheet")] == [f"{BASE}/static/style.css"]
        assert meta(doc, "viewport") == "width=device-width, initial-scale=1"
        assert doc.find_all("html")[0].attrs["lang"] == "fr"
        assert doc.find_all("main") and doc.find_all("footer") and doc.find_all("nav")
        assert all("alt" in img.attrs for img in doc.find_all("img"))


# replies ----------------------------------------------------------------------------------------

def test_replies_rendered_threaded_in_order(pages: Pages, urls: Urls) -> None:
    """Replies keep the given order, answers nest under their parent, and counts are shown."""
    talk_id = urls.talk("stiegler")
    given_replies = [reply(1, talk_id), reply(2, talk_id), reply(3, "https://m.example/r/1"),
                     reply(4, "https://elsewhere.example/unknown")]
    doc = parse(pages.talk(make_talk(), PUBLISHED, None, given_replies, likes=3, shares=1))
    contents = [d.all_text() for d in doc.find_all("div", **{"class": "reply-content"})]
    assert contents == ["Réponse numéro 1", "Réponse numéro 3", "Réponse numéro 2", "Réponse numéro 4"]
    top = doc.find_all("ol", **{"class": "replies"})[0]
    assert len([li for li in top.children if li.tag == "li"]) == 3
    nested = [r for r in doc.iter() if "reply" in r.classes() and r.parent and r.parent.parent is not top]
    assert [r.find_all("div", **{"class": "reply-content"})[0].all_text() for r in nested] == ["Réponse numéro 3"]
    assert "3\u00a0j’aime · 1\u00a0partage" in doc.all_text()
    authors = [a.attrs["href"] for a in doc.find_all("a", rel="nofollow noopener ugc")]
    assert "https://m.example/@p1" in authors and "https://m.example/@p1/1" in authors


def test_reply_content_is_trusted_but_nothing_else(pages: Pages, urls: Urls) -> None:
    """content_html keeps its (sanitized) markup; names and URLs of the reply are escaped or dropped."""
    evil = reply(1, urls.talk("stiegler"), author_name=EVIL, author_handle=EVIL, author_url="javascript:alert(1)",
                 author_avatar="data:image/png;base64,xx", url="javascript:alert(2)",
                 content_html="<p>Bien <em>vu</em></p>")
    html = pages.talk(make_talk(), PUBLISHED, None, [evil])
    doc = parse(html)
    assert not doc.find_all("script")
    assert "javascript:" not in html and "data:image" not in html
    (content,) = doc.find_all("div", **{"class": "reply-content"})
    assert [e.tag for e in content.iter()][1:] == ["p", "em"]
    assert EVIL in doc.all_text()


def test_no_conversation_section_without_interactions(pages: Pages) -> None:
    """Without replies, likes or boosts, the talk page has no Conversation heading."""
    doc = parse(pages.talk(make_talk(), PUBLISHED, None))
    assert not doc.find_all("section", **{"class": "conversation"})


def test_thread_caps_depth_and_tolerates_cycles() -> None:
    """Deep chains stop at MAX_DEPTH, and a reply to an unknown or later reply goes to the top."""
    chain = [Reply(f"r{i}", f"r{i - 1}" if i else "talk", "n", "@n@x", "https://x/n",
                   dt.datetime(2024, 1, 1, tzinfo=UTC), "<p>x</p>") for i in range(8)]
    roots = thread(chain)
    node = roots[0]
    for _ in range(MAX_DEPTH - 2):
        node = node.children[0]
    assert [c.reply.id for c in node.children] == ["r3", "r4", "r5", "r6", "r7"]
    assert all(not c.children for c in node.children)
    cycle = [Reply("a", "b", "n", "@n@x", "u", PUBLISHED, ""), Reply("b", "a", "n", "@n@x", "u", PUBLISHED, "")]
    roots = thread(cycle)
    assert [r.reply.id for r in roots] == ["a"] and [c.reply.id for c in roots[0].children] == ["b"]


@given(st.lists(st.tuples(st.integers(0, 12), st.integers(-1, 12)), max_size=30))
def test_thread_keeps_every_reply_once(pairs: list[tuple[int, int]]) -> None:
    """Whatever the parent links, every reply appears exactly once and no branch is deeper than MAX_DEPTH."""
    replies = [Reply(f"r{i}", f"r{p}", "n", "@n@x", "u", PUBLISHED, "") for i, p in pairs]
    seen: list[int] = []

    def walk(nodes, depth):  # type: ignore[no-untyped-def]
        for n in nodes:
            assert depth <= MAX_DEPTH
            seen.append(id(n.reply))
            walk(n.children, depth + 1)

    walk(thread(replies), 1)
    assert sorted(seen) == sorted(id(r) for r in replies)


# profile, owner, removed, errors ----------------------------------------------------------------------

def test_profile_lists_live_talks_newest_first(pages: Pages) -> None:
    """Talks appear newest recording first; deleted records and vanished entries are left out."""
    old = make_talk("giffard", title="Ancienne", recorded=dt.datetime(2009, 1, 1, tzinfo=UTC))
    new = make_talk("zimmermann", title="Récente", recorded=dt.datetime(2011, 5, 1, tzinfo=UTC))
    gone = make_talk("aigrain", title="Retirée")
    rows = [(old, Record("giffard")), (new, Record("zimmermann")), (gone, Record("aigrain", deleted=PUBLISHED)),
            (None, Record("fantome"))]
    doc = parse(pages.profile(rows, 12))
    titles = [h.all_text() for h in doc.find_all("h3")]
    assert titles == ["Récente", "Ancienne"]
    links = [a.attrs["href"] for h in doc.find_all("h3") for a in h.find_all("a")]
    assert links == [f"{BASE}/talks/zimmermann", f"{BASE}/talks/giffard"]
    text = doc.all_text()
    assert "12\u00a0abonnés · 2\u00a0interventions" in text
    assert "1er mai 2011" in text and "1er janvier 2009" in text


def test_profile_shows_the_handle_and_how_to_follow(pages: Pages) -> None:
    """The handle sits in a labelled, read-only field, with Mastodon and PeerTube instructions."""
    doc = parse(pages.profile([], 0))
    (field_,) = doc.find_all("input", id="handle")
    assert field_.attrs["value"] == "@archive@talks.example.org" and "readonly" in field_.attrs
    assert doc.find_all("label", **{"for": "handle"})
    text = doc.all_text()
    assert "Mastodon" in text and "PeerTube" in text
    alternates = doc.find_all("link", rel="alternate", type="application/activity+json")
    assert [a.attrs["href"] for a in alternates] == [f"{BASE}/actors/archive"]
    assert [i.attrs["src"] for i in doc.find_all("img", **{"class": "avatar"})] == [f"{BASE}/media/images/icon.png"]


def test_profile_fields_link_only_web_urls(pages: Pages) -> None:
    """A field whose value is an http(s) URL is a link; a javascript: value stays text."""
    doc = parse(pages.profile([], 0))
    (fields,) = doc.find_all("dl", **{"class": "fields"})
    assert [a.attrs["href"] for a in fields.find_all("a")] == ["https://assoc.example"]
    assert "javascript:alert(1)" in fields.all_text()


def test_talk_page_shows_the_handle(pages: Pages) -> None:
    """The talk page says whom to follow and which address to search to reply."""
    doc = parse(pages.talk(make_talk(), PUBLISHED, None))
    assert "@archive@talks.example.org" in doc.all_text()
    assert doc.find_all("input", id="talk-address")[0].attrs["value"] == f"{BASE}/talks/stiegler"


def test_owner_page_points_to_the_archive(pages: Pages) -> None:
    """The association's page names it, links its website and the archive, and links its AS2 actor."""
    doc = parse(pages.owner())
    assert doc.find_all("h1")[0].all_text() == "L'association"
    hrefs = [a.attrs["href"] for a in doc.find_all("a")]
    assert "https://assoc.example" in hrefs and f"{BASE}/actors/archive" in hrefs
    alternates = doc.find_all("link", rel="alternate")
    assert [a.attrs["href"] for a in alternates] == [f"{BASE}/actors/assoc"]


def test_removed_and_error_pages(pages: Pages) -> None:
    """The 410 page dates the removal; error pages name the status and escape the message."""
    doc = parse(pages.removed("stiegler", dt.datetime(2024, 2, 1, tzinfo=UTC)))
    assert "1er février 2024" in doc.all_text()
    assert doc.find_all("a", href=f"{BASE}/actors/archive")
    for status, title in ((400, "Requête incorrecte"), (404, "Page introuvable"), (405, "Méthode non autorisée"),
                          (418, "Erreur")):
        doc = parse(pages.error(status, "<b>nope</b>"))
        assert title in doc.find_all("h1")[0].all_text() and str(status) in doc.find_all("h1")[0].all_text()
        assert "<b>nope</b>" in doc.all_text() and not doc.find_all("b")


def test_english_archive(tmp_path: Path, urls: Urls) -> None:
    """An English archive gets English strings and dates on every page."""
    pages, _ = make_pages(make_config(tmp_path, language="en"))
    doc = parse(pages.talk(make_talk(language="en"), PUBLISHED, None, [reply(1, urls.talk("stiegler"))], 1, 2))
    assert doc.find_all("html")[0].attrs["lang"] == "en"
    text = doc.all_text()
    assert "6 March 2010" in text and "Download" in text and "192.8\u00a0MB" in text
    assert "1\u00a0like · 2\u00a0boosts" in text
    text = parse(pages.profile([(make_talk(), Record("stiegler"))], 1)).all_text()
    assert "1\u00a0follower · 1\u00a0talk" in text and "How to follow" in text
    assert "removed from the archive" in parse(pages.removed("x", None)).all_text()
    assert "Page not found" in parse(pages.error(404, "")).all_text()


def test_both_languages_have_every_string() -> None:
    """French and English interface strings have the same keys, so no page misses a label."""
    assert set(STRINGS["fr"]) == set(STRINGS["en"])


# small formats ----------------------------------------------------------------------------------

def test_small_formats() -> None:
    """Dates, durations, sizes, licences and excerpts come out as people write them."""
    assert format_date(dt.date(2010, 3, 6), "fr") == "6 mars 2010"
    assert format_date(dt.date(2010, 8, 1), "fr-CA") == "1er août 2010"
    assert format_date(dt.date(2010, 3, 1), "de") == "1 March 2010"
    assert format_duration(59) == "0:59" and format_duration(3723) == "1:02:03"
    assert iso_duration(3723) == "PT1H2M3S" and iso_duration(60) == "PT1M0S"
    assert format_size(999, "en") == "999\u00a0B" and format_size(1_234_567, "fr") == "1,2\u00a0Mo"
    assert license_name("https://creativecommons.org/licenses/by-sa/4.0/") == "CC BY-SA 4.0"
    assert license_name("https://creativecommons.org/publicdomain/zero/1.0/") == "CC0 1.0"
    assert license_name("https://example.org/licence") == "https://example.org/licence"
    assert safe_url(" https://a.example/x ") == "https://a.example/x"
    assert safe_url("JavaScript:alert(1)") == "" and safe_url("//evil.example") == "" and safe_url(None) == ""
    assert excerpt("mot " * 100, 20) == "mot mot mot mot mot…"


# the shipped sample ------------------------------------------------------------------------------

def test_sample_archive_renders(tmp_path: Path) -> None:
    """config.example.toml and outbox/ load without problems and render four talks with their posters."""
    root = Path(__file__).resolve().parent.parent
    shutil.copy(root / "config.example.toml", tmp_path / "config.toml")
    shutil.copytree(root / "outbox", tmp_path / "outbox")
    cfg = config_mod.load(tmp_path / "config.toml")
    entries, problems = talks_mod.load_archive(cfg.archive.dir, cfg.archive.language)
    assert problems == []
    assert sorted(t.slug for t in entries) == ["aigrain", "giffard", "stiegler", "zimmermann"]
    for talk in entries:
        assert talk.language == "fr" and len(talk.title) <= 120 and len(talk.paragraphs) == 2
        assert (talk.thumbnail_width, talk.thumbnail_height) == (640, 360)
        assert (cfg.archive.dir / talk.thumbnail).stat().st_size < 40_000
    pages, urls = make_pages(cfg)
    doc = parse(pages.profile([(t, Record(t.slug)) for t in entries], 0))
    thumbs = [a for a in doc.find_all("a") if "card-thumb" in a.classes()]
    posters = sorted(img.attrs["src"] or "" for a in thumbs for img in a.find_all("img"))
    assert posters == [urls.media(f"images/{slug}.jpg") for slug in ("aigrain", "giffard", "stiegler", "zimmermann")]
    for talk in entries:
        doc = parse(pages.talk(talk, PUBLISHED, None))
        assert doc.find_all("video")[0].attrs["poster"] == urls.resolve(talk.thumbnail)
