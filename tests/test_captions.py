"""Captions, chapters and transcripts: the entry contract, the Video and Note, the files, pages and Updates."""

from __future__ import annotations

import datetime as dt
import os
import re
from pathlib import Path
from typing import Any

import pytest

from fedi import config as config_mod
from fedi import objects, preview, publish, schemas, webvtt
from fedi.app import snapshot, sync_archive
from fedi.config import urls_for
from fedi.errors import EntryError
from fedi.pages import Pages, transcript_sections
from fedi.store import open_store
from fedi.talks import Chapter, load_archive, parse_entry
from fedi.webvtt import Cue
from tests.conftest import ENTRY, write_config
from tests.remote import AS2, RemoteServer

T0 = dt.datetime(2026, 3, 1, 10, 0, tzinfo=dt.UTC)
T1 = T0 + dt.timedelta(hours=1)
T2 = T0 + dt.timedelta(hours=2)
UUID = "6d2f2b4e-3c1a-4f5e-9b7d-2a1c3e4f5a6b"

CAPTIONS_FR = """WEBVTT

NOTE échantillon

1
00:00:00.000 --> 00:00:04.000
Premier <i>passage</i>.

2
00:00:04.000 --> 00:00:08.000
Suite du passage &amp; fin.

3
00:00:20.000 --> 00:00:24.000
Après une pause.

4
00:01:10.000 --> 00:01:14.000
Deuxième chapitre.
"""
CAPTIONS_EN = "WEBVTT\n\n00:00:01.000 --> 00:00:03.000\nFirst words.\n"
CHAPTERS_VTT = """WEBVTT

00:00:00.000 --> 00:01:00.000
Ouverture

00:01:00.000 --> 00:30:00.000
Le débat
"""
WITH_ALL = ENTRY + """
[[captions]]
language = "fr"
url = "media/debat.fr.vtt"

[[captions]]
language = "en"
url = "media/debat.en.vtt"
label = "English (translation)"

[[chapters]]
start = "0:00"
title = "Ouverture"

[[chapters]]
start = "1:00"
title = "Le débat"

[[chapters]]
start = 3000
title = "Questions de la salle"
"""


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    (tmp_path / "media").mkdir()
    (tmp_path / "media" / "poster.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(16))
    (tmp_path / "media" / "talk.webm").write_bytes(b"x")
    (tmp_path / "media" / "debat.fr.vtt").write_text(CAPTIONS_FR, encoding="utf-8")
    (tmp_path / "media" / "debat.en.vtt").write_text(CAPTIONS_EN, encoding="utf-8")
    (tmp_path / "media" / "chapters.vtt").write_text(CHAPTERS_VTT, encoding="utf-8")
    return tmp_path


def parse(text: str, folder: Path) -> Any:
    return parse_entry("debat", text, folder, "fr", "outbox/debat.toml")


# the entry contract ------------------------------------------------------------------------------------------------

def test_captions_and_chapters_are_read(folder: Path) -> None:
    """Captions keep their file and cues, labels default to the language's own name; each chapter ends where
    the next begins and the last at the end of the talk."""
    talk = parse(WITH_ALL, folder)
    fr, en = talk.captions
    assert (fr.language, fr.label, fr.ref, fr.local) == ("fr", "Français", "media/debat.fr.vtt", True)
    assert fr.text == CAPTIONS_FR and [c.plain for c in fr.cues][:2] == ["Premier passage.", "Suite du passage & fin."]
    assert en.label == "English (translation)"
    assert talk.chapters == (Chapter(0, 60, "Ouverture"), Chapter(60, 3000, "Le débat"),
                             Chapter(3000, 3723, "Questions de la salle"))


def test_chapters_from_a_webvtt_file_and_captions_by_url(folder: Path) -> None:
    """``chapters = "file.vtt"`` reads the cues as chapters; a caption URL is kept as it is, unread."""
    text = 'chapters = "media/chapters.vtt"\n' + ENTRY.replace('duration = "PT1H2M3S"\n', "") + """
[[captions]]
language = "pt-BR"
url = "https://cdn.example/legendas.vtt"
"""
    talk = parse(text, folder)
    assert talk.chapters == (Chapter(0, 60, "Ouverture"), Chapter(60, 1800, "Le débat"))
    (caption,) = talk.captions
    assert (caption.local, caption.ref, caption.label, caption.cues) == (False, "https://cdn.example/legendas.vtt",
                                                                          "Português", ())


def captions(url: str, language: str = "fr") -> str:
    return ENTRY + f'\n[[captions]]\nlanguage = "{language}"\nurl = "{url}"\n'


def chapters(*items: tuple[Any, str]) -> str:
    out = ENTRY
    for start, title in items:
        value = start if isinstance(start, int) else f'"{start}"'
        out += f'\n[[chapters]]\nstart = {value}\ntitle = "{title}"\n'
    return out


BAD_VTT = {
    "no-header.vtt": "1\n00:00:01.000 --> 00:00:02.000\nx\n",
    "srt.vtt": "WEBVTT\n\n1\n00:00:01,000 --> 00:00:02,000\nx\n",
    "reversed.vtt": "WEBVTT\n\n00:00:05.000 --> 00:00:02.000\nx\n",
    "overlap.vtt": "WEBVTT\n\n00:00:00.000 --> 00:02:00.000\nUn\n\n00:01:00.000 --> 00:03:00.000\nDeux\n",
    "long.vtt": "WEBVTT\n\n00:00:00.000 --> 00:02:00.000\n" + "x" * 101 + "\n",
    "empty-title.vtt": "WEBVTT\n\n00:00:00.000 --> 00:02:00.000\n<b></b>\n",
    "past-end.vtt": "WEBVTT\n\n00:00:00.000 --> 01:10:00.000\nTrop long\n",
}


@pytest.mark.parametrize(("text", "expected"), [
    (captions("media/no-header.vtt"), "captions[0].url 'media/no-header.vtt' is not valid WebVTT: line 1"),
    (captions("media/srt.vtt"), "captions[0].url 'media/srt.vtt' is not valid WebVTT: line 4"),
    (captions("media/reversed.vtt"), "is not valid WebVTT: line 3: the cue ends before it starts"),
    (captions("media/latin1.vtt"), "captions[0].url 'media/latin1.vtt' cannot be read as UTF-8 text"),
    (captions("media/absent.vtt"), "captions[0].url 'media/absent.vtt': no such file"),
    (captions("../secret.vtt"), "captions[0].url must be a URL or a path inside the archive folder"),
    (captions("/etc/passwd"), "captions[0].url must be a URL or a path inside the archive folder"),
    (captions("media/escape.vtt"), "captions[0].url 'media/escape.vtt' leads outside the archive folder"),
    (captions("https://cdn.example/captions.srt"), "captions[0].url 'https://cdn.example/captions.srt' must be a "
                                                   "WebVTT file"),
    (captions("media/debat.fr.vtt", "French"), "captions[0].language"),
    (captions("media/debat.fr.vtt") + '\n[[captions]]\nlanguage = "fr"\nurl = "media/debat.en.vtt"\n',
     "captions[1].language 'fr' is given twice"),
    (ENTRY + '\n[[captions]]\nlanguage = "fr"\n', "captions[0]"),
    (chapters(("1:75", "A")), "chapters[0].start: '1:75' is not a time"),
    (chapters((0, "A"), ("2:3", "B")), "chapters[1].start: '2:3' is not a time"),
    (chapters((0, "  ")), "chapters[0]: the title is empty"),
    (chapters((0, "x" * 101)), "chapters[0]: the title has 101 characters; at most 100"),
    (chapters((0, "A"), ("5:00", "B"), ("5:00", "C")), "chapters[2]: starts at 00:05:00, before the chapter above "
                                                       "ends"),
    (chapters((0, "A"), ("5:00", "B"), ("4:00", "C")), "chapters[2]: starts at 00:04:00"),
    (chapters((0, "A"), ("1:02:03", "B")), "chapters[1]: goes past the end of the talk (duration 01:02:03)"),
    (chapters((0, "A"), (99999, "B")), "chapters[1]: goes past the end"),
    ('chapters = "media/overlap.vtt"\n' + ENTRY, "chapters 'media/overlap.vtt' (cue at 00:01:00.000): starts at "
                                                 "00:01:00, before the chapter above ends"),
    ('chapters = "media/long.vtt"\n' + ENTRY, "chapters 'media/long.vtt' (cue at 00:00:00.000): the title has 101"),
    ('chapters = "media/empty-title.vtt"\n' + ENTRY, "(cue at 00:00:00.000): the title is empty"),
    ('chapters = "media/past-end.vtt"\n' + ENTRY, "goes past the end of the talk"),
    ('chapters = "media/no-header.vtt"\n' + ENTRY, "chapters 'media/no-header.vtt' is not valid WebVTT: line 1"),
    ('chapters = "https://cdn.example/chapters.vtt"\n' + ENTRY, "chapters must be a path inside the archive folder"),
    ("chapters = 3\n" + ENTRY, "chapters"),
])
def test_each_kind_of_bad_entry_names_the_file_and_the_field(folder: Path, tmp_path_factory, text: str,
                                                              expected: str) -> None:
    for name, body in BAD_VTT.items():
        (folder / "media" / name).write_text(body, encoding="utf-8")
    (folder / "media" / "latin1.vtt").write_bytes("WEBVTT\n\n00:00.000 --> 00:01.000\nété\n".encode("latin-1"))
    outside = tmp_path_factory.mktemp("elsewhere") / "captions.vtt"
    outside.write_text(CAPTIONS_EN, encoding="utf-8")
    if not (folder / "media" / "escape.vtt").exists():
        os.symlink(outside, folder / "media" / "escape.vtt")
    with pytest.raises(EntryError) as exc:
        parse(text, folder)
    message = str(exc.value)
    assert message.startswith("outbox/debat.toml: "), message
    assert expected in message, message


def test_a_broken_caption_leaves_the_talk_out_and_the_others_in(archive_dir: Path) -> None:
    outbox = archive_dir / "outbox"
    (outbox / "other.toml").write_text(captions("media/missing.vtt"), encoding="utf-8")
    talks, problems = load_archive(outbox, "fr")
    assert [t.slug for t in talks] == ["debat"]
    assert problems == ["outbox/other.toml: captions[0].url 'media/missing.vtt': no such file in " + str(outbox)]


def test_the_sample_archive_has_marked_sample_captions_and_chapters_for_a_whole_talk() -> None:
    from tests.conftest import ROOT

    talks, problems = load_archive(ROOT / "outbox", "fr")
    assert problems == []
    with_captions = [t for t in talks if t.captions]
    assert with_captions
    for talk in with_captions:
        text = talk.captions[0].text
        assert re.search(r"^NOTE\n.*ÉCHANTILLON", text, re.MULTILINE | re.DOTALL)
        assert talk.captions[0].language == "fr" and talk.captions[0].cues[-1].end >= 120
        assert talk.chapters and talk.chapters[0].start == 0 and talk.chapters[-1].end == talk.duration


# the Video and the Note ----------------------------------------------------------------------------------------------

@pytest.fixture
def talk_dir(archive_dir: Path) -> Path:
    media = archive_dir / "outbox" / "media"
    (media / "debat.fr.vtt").write_text(CAPTIONS_FR, encoding="utf-8")
    (media / "debat.en.vtt").write_text(CAPTIONS_EN, encoding="utf-8")
    (archive_dir / "outbox" / "debat.toml").write_text(WITH_ALL, encoding="utf-8")
    return archive_dir


def loaded(config: config_mod.Config) -> Any:
    talks, problems = load_archive(config.archive.dir, config.archive.language)
    assert problems == []
    return talks


def test_the_video_carries_captions_and_a_chapters_url_as_peertube_validates_them(talk_dir: Path) -> None:
    config = config_mod.load(talk_dir / "config.toml")
    urls = urls_for(config)
    (talk,) = loaded(config)
    video = objects.talk_object(config, urls, talk, uuid=UUID, published=T0, updated=T0)
    fr, en = talk.captions
    assert video["subtitleLanguage"] == [
        {"identifier": "fr", "name": "French", "url": f"{urls.talk('debat')}/captions/fr.{fr.tag}.vtt"},
        {"identifier": "en", "name": "English", "url": f"{urls.talk('debat')}/captions/en.{en.tag}.vtt"}]
    assert video["hasParts"] == f"{urls.talk('debat')}/chapters/{talk.chapters_tag}"
    assert schemas.all_errors("peertube_video", objects.document(video)) == []
    doc = objects.chapters_document(urls, talk)
    assert doc["id"] == video["hasParts"]
    assert doc["hasPart"] == [{"name": "Ouverture", "startOffset": 0, "endOffset": 60},
                              {"name": "Le débat", "startOffset": 60, "endOffset": 3000},
                              {"name": "Questions de la salle", "startOffset": 3000, "endOffset": 3723}]
    assert schemas.all_errors("peertube_chapters", doc) == []
    assert "sc:subtitleLanguage" in str(objects.CONTEXT) and "sc:hasParts" in str(objects.CONTEXT)


@pytest.mark.parametrize(("change", "field"), [
    (lambda v: v.update(hasParts=[{"name": "x", "startOffset": 0}]), "hasParts"),
    (lambda v: v["subtitleLanguage"][0].update(url=None), "subtitleLanguage[0].url"),
    (lambda v: v["subtitleLanguage"][0].update(url="https://a.example/fr.srt"), "subtitleLanguage[0].url"),
    (lambda v: v["subtitleLanguage"][0].pop("identifier"), "subtitleLanguage[0]"),
])
def test_the_peertube_profile_refuses_what_peertube_drops(talk_dir: Path, change: Any, field: str) -> None:
    config = config_mod.load(talk_dir / "config.toml")
    (talk,) = loaded(config)
    video = objects.talk_object(config, urls_for(config), talk, uuid=UUID, published=T0, updated=T0)
    change(video)
    problems = schemas.all_errors("peertube_video", video)
    assert problems and problems[0].startswith(field), problems


@pytest.mark.parametrize(("part", "value"), [("name", ""), ("name", "x" * 101), ("startOffset", 1.5),
                                             ("startOffset", -1), ("startOffset", "12")])
def test_the_chapters_profile_refuses_what_peertube_refuses(talk_dir: Path, part: str, value: Any) -> None:
    config = config_mod.load(talk_dir / "config.toml")
    (talk,) = loaded(config)
    doc = objects.chapters_document(urls_for(config), talk)
    doc["hasPart"][1][part] = value
    assert schemas.all_errors("peertube_chapters", doc) != []


def test_a_talk_without_captions_or_chapters_keeps_its_video_unchanged(archive_dir: Path) -> None:
    """No empty ``subtitleLanguage``: adding the field to every Video would send an Update for every talk."""
    config = config_mod.load(archive_dir / "config.toml")
    (talk,) = loaded(config)
    video = objects.talk_object(config, urls_for(config), talk, uuid=UUID, published=T0, updated=T0)
    assert "subtitleLanguage" not in video and "hasParts" not in video


def test_note_mode_lists_the_chapters_and_links_the_transcript(talk_dir: Path) -> None:
    write_config(talk_dir, archive={"object_type": "Note"})
    config = config_mod.load(talk_dir / "config.toml")
    urls = urls_for(config)
    (talk,) = loaded(config)
    note = objects.talk_object(config, urls, talk, uuid=UUID, published=T0, updated=T0)
    transcript = urls.transcript("debat", "fr")
    assert ("<p>Chapitres\u00a0:<br>0:00 Ouverture<br>1:00 Le débat<br>50:00 Questions de la salle</p>"
            f'<p>Transcription\u00a0: <a href="{transcript}" rel="nofollow noopener" target="_blank">{transcript}</a>'
            "</p>") in note["content"]
    # the talk page stays the post's first link: Mastodon makes its link card from it
    assert re.search(r'href="([^"]+)"', note["content"]).group(1) == urls.talk("debat")
    assert schemas.all_errors("mastodon_note", objects.document(note)) == []


def test_preview_shows_captions_and_chapters_and_warns_of_unchecked_captions(talk_dir: Path) -> None:
    config = config_mod.load(talk_dir / "config.toml")
    urls = urls_for(config)
    text = WITH_ALL + '\n[[captions]]\nlanguage = "de"\nurl = "https://cdn.example/de.vtt"\n'
    talk = parse_entry("debat", text, config.archive.dir, "fr")
    obj = publish.build_object(config, urls, talk, uuid=UUID, published=T0, updated=T0)
    out = preview.render(objects.document(obj), talk, config)
    peertube = out.split("── PeerTube")[1].split("── warnings")[0]
    assert "captions: French (fr), English (en), German (de)" in peertube
    assert f"chapters: fetched from {urls.chapters('debat', talk.chapters_tag)}" in peertube
    warnings = out.split("── warnings")[1]
    assert "the de captions are a URL, published as they are" in warnings and "the fr captions" not in warnings


# Updates ----------------------------------------------------------------------------------------------------------

async def test_adding_and_editing_captions_or_chapters_sends_an_update(archive_dir: Path) -> None:
    """Captions and chapters are part of the published object: adding them, editing a caption file (its URL
    follows its content) or a chapter title each sends an Update; saving the same files again does not."""
    config = config_mod.load(archive_dir / "config.toml")
    urls = urls_for(config)
    async with open_store(config.store.url) as store:
        await publish.sync(config, urls, store, loaded(config), T0)
        media = archive_dir / "outbox" / "media"
        (media / "debat.fr.vtt").write_text(CAPTIONS_FR, encoding="utf-8")
        (media / "debat.en.vtt").write_text(CAPTIONS_EN, encoding="utf-8")
        (archive_dir / "outbox" / "debat.toml").write_text(WITH_ALL, encoding="utf-8")
        added = await publish.sync(config, urls, store, loaded(config), T1)
        assert [a["type"] for a in added.steps[0].activities] == ["Update"]
        first = (await store.talk("debat")).object
        assert len(first["subtitleLanguage"]) == 2 and "hasParts" in first
        assert not (await publish.sync(config, urls, store, loaded(config), T1)).changed

        (media / "debat.fr.vtt").write_text(CAPTIONS_FR.replace("Premier", "Tout premier"), encoding="utf-8")
        edited = await publish.sync(config, urls, store, loaded(config), T2)
        update = edited.steps[0].activities[0]
        assert update["type"] == "Update"
        assert update["object"]["subtitleLanguage"][0]["url"] != first["subtitleLanguage"][0]["url"]
        assert update["object"]["subtitleLanguage"][1] == first["subtitleLanguage"][1]

        (archive_dir / "outbox" / "debat.toml").write_text(WITH_ALL.replace("Le débat", "La discussion"),
                                                          encoding="utf-8")
        renamed = await publish.sync(config, urls, store, loaded(config), T2 + dt.timedelta(hours=1))
        assert renamed.steps[0].activities[0]["object"]["hasParts"] != first["hasParts"]


def test_the_watcher_sees_an_edited_caption_file(talk_dir: Path) -> None:
    """``fedi serve`` re-reads the folder when an entry or a WebVTT file in it changes."""
    outbox = talk_dir / "outbox"
    before = snapshot(outbox)
    assert any(name == "media/debat.fr.vtt" for name, *_ in before)
    (outbox / "media" / "debat.fr.vtt").write_text(CAPTIONS_FR + "\n", encoding="utf-8")
    assert snapshot(outbox) != before


# files and pages over HTTP --------------------------------------------------------------------------------------------

@pytest.fixture
async def served(talk_dir: Path, fedi):  # type: ignore[no-untyped-def]
    async def start(**security: Any) -> Any:
        app = await fedi(security=security)
        return app

    return start


async def fetch(remote: RemoteServer, url: str, headers: dict[str, str] | None = None) -> Any:
    return await remote.send("GET", url, None, headers or {})


@pytest.mark.usefixtures("loopback_only")
async def test_caption_and_chapter_files_are_served_for_players_anywhere(served, remote_server) -> None:
    """``text/vtt; charset=utf-8``, CORS, a day of caching (the URL changes with the content), ETag and 304;
    an older URL still gets the current file, cached briefly."""
    app = await served()
    talk = (await app.ctx.entries())["debat"]
    urls = urls_for(app.config)
    fr = talk.captions[0]
    answer = await fetch(remote_server, urls.caption("debat", "fr", fr.tag), {"Origin": "https://player.example"})
    assert answer.status == 200
    assert answer.headers["Content-Type"] == "text/vtt; charset=utf-8"
    assert answer.headers["Access-Control-Allow-Origin"] == "*"
    assert answer.headers["Cache-Control"] == "public, max-age=86400"
    assert answer.headers["X-Content-Type-Options"] == "nosniff"
    assert answer.body.decode() == CAPTIONS_FR
    again = await fetch(remote_server, urls.caption("debat", "fr", fr.tag), {"If-None-Match": answer.headers["ETag"]})
    assert again.status == 304 and again.body == b""
    old = await fetch(remote_server, urls.caption("debat", "fr", "0123456789ab"))
    assert old.status == 200 and old.body.decode() == CAPTIONS_FR
    assert old.headers["Cache-Control"] == "public, max-age=300"
    for missing in (urls.caption("debat", "de", fr.tag), urls.caption("nope", "fr", fr.tag)):
        assert (await fetch(remote_server, missing)).status == 404

    track = await fetch(remote_server, urls.chapters_track("debat", talk.chapters_tag))
    assert track.status == 200 and track.headers["Content-Type"] == "text/vtt; charset=utf-8"
    assert track.headers["Access-Control-Allow-Origin"] == "*"
    assert [(c.start, c.end, c.text) for c in webvtt.parse(track.body.decode())] == [
        (0, 60, "Ouverture"), (60, 3000, "Le débat"), (3000, 3723, "Questions de la salle")]

    under_media = await fetch(remote_server, urls.media("media/debat.fr.vtt"))
    assert under_media.headers["Content-Type"] == "text/vtt; charset=utf-8"
    assert under_media.headers["Access-Control-Allow-Origin"] == "*"


@pytest.mark.usefixtures("loopback_only")
async def test_the_chapters_document_takes_signed_gets_and_respects_authorized_fetch(served, peertube) -> None:
    """PeerTube fetches ``hasParts`` with a signed GET: it passes; under authorized fetch an unsigned GET gets 401,
    while caption files, chapter tracks and transcripts stay open to players and readers."""
    app = await served(authorized_fetch=True)
    talk = (await app.ctx.entries())["debat"]
    urls = urls_for(app.config)
    url = urls.chapters("debat", talk.chapters_tag)
    unsigned = await fetch(peertube, url, {"Accept": AS2})
    assert unsigned.status == 401 and unsigned.json == {"error": "signature required"}
    signed = await peertube.signed_get(url, headers={"Accept": AS2})
    assert signed.status == 200 and signed.headers["Content-Type"].startswith(AS2)
    assert signed.json == objects.chapters_document(urls, talk)
    video = await peertube.signed_get(urls.talk("debat"), headers={"Accept": AS2})
    assert video.json["hasParts"] == url and schemas.all_errors("peertube_video", video.json) == []
    for open_url in (urls.caption("debat", "fr", talk.captions[0].tag), urls.chapters_track("debat", talk.chapters_tag),
                     urls.transcript("debat", "fr")):
        assert (await fetch(peertube, open_url)).status == 200, open_url


@pytest.mark.usefixtures("loopback_only")
async def test_the_transcript_page_reads_as_paragraphs_linked_to_their_moment(served, remote_server) -> None:
    app = await served()
    urls = urls_for(app.config)
    answer = await fetch(remote_server, urls.transcript("debat", "fr"), {"Accept": "text/html"})
    assert answer.status == 200 and answer.headers["Content-Type"] == "text/html; charset=utf-8"
    page = answer.body.decode()
    assert f'<link rel="canonical" href="{urls.transcript("debat", "fr")}">' in page
    assert '<div class="transcript-text" lang="fr">' in page
    assert "<h2 lang=\"fr\">Ouverture</h2>" in page and "<h2 lang=\"fr\">Le débat</h2>" in page
    paragraphs = re.findall(r'<p><a class="timestamp" href="([^"]+)"><time datetime="[^"]+">([^<]+)</time></a> '
                            r"([^<]+)</p>", page)
    assert paragraphs == [(urls.moment("debat", 0), "0:00", "Premier passage. Suite du passage &amp; fin."),
                          (urls.moment("debat", 20), "0:20", "Après une pause."),
                          (urls.moment("debat", 70), "1:10", "Deuxième chapitre.")]
    assert f'hreflang="en" href="{urls.transcript("debat", "en")}"' in page
    assert "noindex" not in page
    assert (await fetch(remote_server, urls.transcript("debat", "de"))).status == 404
    assert (await fetch(remote_server, urls.transcript("nope", "fr"))).status == 404


@pytest.mark.usefixtures("loopback_only")
async def test_an_edited_caption_file_reaches_its_transcript_after_a_sync(served, remote_server) -> None:
    """The transcript page is kept between requests, and rebuilt once a sync has read the edited file."""
    app = await served()
    url = urls_for(app.config).transcript("debat", "fr")
    assert "Premier passage." in (await fetch(remote_server, url)).body.decode()
    caption = app.config.archive.dir / "media" / "debat.fr.vtt"
    caption.write_text(CAPTIONS_FR.replace("Premier", "Tout premier"), encoding="utf-8")
    assert "Premier passage." in (await fetch(remote_server, url)).body.decode()
    await sync_archive(app.ctx)
    assert "Tout premier passage." in (await fetch(remote_server, url)).body.decode()


@pytest.mark.usefixtures("loopback_only")
async def test_the_talk_page_has_tracks_a_chapter_list_and_transcript_links(served, remote_server) -> None:
    app = await served()
    urls = urls_for(app.config)
    talk = (await app.ctx.entries())["debat"]
    page = (await fetch(remote_server, urls.talk("debat"), {"Accept": "text/html"})).body.decode()
    fr, en = talk.captions
    assert (f'<track kind="captions" src="{urls.caption("debat", "fr", fr.tag)}" srclang="fr" label="Français" '
            "default>") in page
    assert f'<track kind="captions" src="{urls.caption("debat", "en", en.tag)}" srclang="en" label="English ' \
           '(translation)">' in page
    assert (f'<track kind="chapters" src="{urls.chapters_track("debat", talk.chapters_tag)}" srclang="fr" '
            'label="Chapitres">') in page
    video = urls.media("media/talk.webm")
    assert (f'<a href="{video}#t=60" data-start="60"><time datetime="PT1M0S">1:00</time> '
            '<span lang="fr">Le débat</span></a>') in page
    assert f'<a href="{urls.transcript("debat", "fr")}" hreflang="fr" lang="fr">Français</a>' in page
    script = urls.static("player.js")
    assert f'<script src="{script}" defer></script>' in page and f"script-src {script};" in page
    js = await fetch(remote_server, script)
    assert js.status == 200 and js.headers["Content-Type"].startswith("text/javascript")


@pytest.mark.usefixtures("loopback_only")
async def test_the_embed_page_carries_the_same_tracks_and_no_script(served, remote_server) -> None:
    app = await served()
    urls = urls_for(app.config)
    talk = (await app.ctx.entries())["debat"]
    page = (await fetch(remote_server, urls.embed("debat"))).body.decode()
    tracks = re.findall(r"<track [^>]*>", page)
    assert tracks == re.findall(r"<track [^>]*>", (await fetch(remote_server, urls.talk("debat"))).body.decode())
    assert len(tracks) == 3 and urls.caption("debat", "fr", talk.captions[0].tag) in tracks[0]
    assert "<script" not in page and "script-src" not in page


def test_a_talk_page_without_captions_or_chapters_has_no_script(config: config_mod.Config) -> None:
    (talk,) = loaded(config)
    page = Pages(config, urls_for(config)).talk(talk, T0, T0)
    assert "<script" not in page and "script-src" not in page and "<track" not in page
    assert 'class="chapters"' not in page


def test_transcript_sections_follow_pauses_length_and_chapters() -> None:
    cues = [Cue(0, 2, "a"), Cue(2, 4, "<i>b</i>"), Cue(10, 12, "c"), Cue(12, 14, ""), Cue(60, 62, "d"),
            Cue(62, 64, "e"), *(Cue(70 + 3 * i, 72 + 3 * i, f"w{i}") for i in range(25))]
    sections = transcript_sections(cues, [Chapter(5, 60, "Un"), Chapter(60, None, "Deux")])
    assert [s.title for s in sections] == [None, "Un", "Deux"]
    assert [(p.start, p.text) for p in sections[0].paragraphs] == [(0, "a b")]
    assert [(p.start, p.text) for p in sections[1].paragraphs] == [(10, "c")]
    # a pause of 6 s starts a paragraph at 70; a minute of unbroken speech is cut at 130
    assert [p.start for p in sections[2].paragraphs] == [60, 70, 130]
    assert transcript_sections([]) == []
