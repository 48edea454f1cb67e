"""Captions and chapters: the entry contract."""

from __future__ import annotations

import datetime as dt
import os
import re
from pathlib import Path
from typing import Any

import pytest

from fedi.errors import EntryError
from fedi.talks import Chapter, load_archive, parse_entry
from tests.conftest import ENTRY

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
