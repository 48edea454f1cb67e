"""talks: entries → Talk dataclasses; every bad entry names its file and field and is left out."""

from __future__ import annotations

import contextlib
import datetime as dt
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fedi import talks
from fedi.errors import EntryError
from tests.conftest import ENTRY, ROOT


def test_entry_is_parsed(archive_dir: Path) -> None:
    """Every field of the test entry lands in the dataclass, with local sizes and image size read from disk."""
    outbox = archive_dir / "outbox"
    loaded, problems = talks.load_archive(outbox, "en")
    assert problems == []
    [talk] = loaded
    assert talk.slug == "debat"
    assert talk.speakers == ("Alice Martin", "Bob Durand")
    assert talk.recorded == dt.datetime(2010, 3, 6, 13, 0, tzinfo=dt.UTC)
    assert talk.recorded_has_time
    assert talk.paragraphs == ["Premier paragraphe.", "Second paragraphe."]
    assert talk.language == "en"  # the archive default, since the entry sets none
    assert talk.duration == 3723
    assert talk.tags == ("contribution", "logiciellibre")
    assert talk.thumbnail_type == "image/png"
    assert (talk.thumbnail_width, talk.thumbnail_height) == (2, 1)
    [media] = talk.media
    assert media.local and media.size == 10240 and media.fps == 25


def test_sample_archive_is_valid() -> None:
    """The shipped outbox/ holds the four talks of the 2010 session, all valid, in French."""
    loaded, problems = talks.load_archive(ROOT / "outbox", "fr")
    assert problems == []
    assert sorted(t.slug for t in loaded) == ["aigrain", "giffard", "stiegler", "zimmermann"]
    for talk in loaded:
        assert talk.language == "fr"
        assert talk.recorded.date() == dt.date(2010, 3, 6)
        assert talk.thumbnail and talk.thumbnail_width and talk.thumbnail_height
        assert any(m.type == "video/webm" for m in talk.media)


def test_digest_ignores_formatting_but_not_content(tmp_path: Path) -> None:
    """Reformatting a file keeps its digest; changing a field changes it."""
    a = talks.parse_entry("x", 'title="T"\nspeakers=["A"]\nrecorded="2010-03-06"\nsummary="S"\n'
                               '[[media]]\nurl="https://v.example/a.webm"\ntype="video/webm"\n', tmp_path, "fr")
    b = talks.parse_entry("x", '# comment\ntitle = "T"\nspeakers = [ "A" ]\nrecorded = 2010-03-06\nsummary = "S"\n'
                               '[[media]]\nurl = "https://v.example/a.webm"\ntype = "video/webm"\n', tmp_path, "fr")
    assert a.digest == b.digest
    assert not a.recorded_has_time
    c = talks.parse_entry("x", 'title="T2"\nspeakers=["A"]\nrecorded="2010-03-06"\nsummary="S"\n'
                               '[[media]]\nurl="https://v.example/a.webm"\ntype="video/webm"\n', tmp_path, "fr")
    assert c.digest != a.digest


def _write(outbox: Path, name: str, text: str) -> None:
    (outbox / name).write_text(text, encoding="utf-8")


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda t: t.replace('url = "media/talk.webm"\n', ""), "outbox/bad.toml: media[0].url is missing"),
        (lambda t: t.replace('title = "Un débat"\n', ""), "outbox/bad.toml: title is missing"),
        (lambda t: t.replace('speakers = ["Alice Martin", "Bob Durand"]', 'speakers = "Alice"'),
         "outbox/bad.toml: speakers must be a list"),
        (lambda t: t.replace("recorded = 2010-03-06T14:00:00+01:00", 'recorded = "the day before"'),
         "outbox/bad.toml: recorded 'the day before' is not a date"),
        (lambda t: t.replace('duration = "PT1H2M3S"', 'duration = "an hour"'), "outbox/bad.toml: duration must be"),
        (lambda t: t.replace('type = "video/webm"', 'type = "webm"'), "outbox/bad.toml: media[0].type"),
        (lambda t: t.replace("fps = 25", "fps = 25\ncolour = 1"), "outbox/bad.toml: unknown key media[0].colour"),
        (lambda t: t.replace('"media/talk.webm"', '"../secret.webm"'), "media[0].url must be a URL or a path inside"),
        (lambda t: t.replace('"media/talk.webm"', '"media/gone.webm"'), "media[0].url 'media/gone.webm': no such"),
        (lambda t: t.replace('"media/poster.png"', '"/etc/passwd.png"'), "thumbnail must be a URL or a path inside"),
        (lambda t: t.replace('"media/poster.png"', '"media/poster.bmp"'), "thumbnail 'media/poster.bmp' must be"),
        (lambda t: t + "\n[oops", "outbox/bad.toml: not valid TOML"),
        (lambda t: t.replace("width = 640", "width = -1"), "outbox/bad.toml: media[0].width"),
    ],
)
def test_bad_entries_name_file_and_field(archive_dir: Path, change, expected: str) -> None:
    """Each kind of broken entry is reported with its file and field, and the good entry still loads."""
    outbox = archive_dir / "outbox"
    _write(outbox, "bad.toml", change(ENTRY))
    loaded, problems = talks.load_archive(outbox, "fr")
    assert [t.slug for t in loaded] == ["debat"]
    assert len(problems) == 1
    assert expected in problems[0], problems[0]


@pytest.mark.parametrize("name", ["Bad_Name.toml", "UPPER.toml", "a b.toml", "-x.toml"])
def test_bad_slugs_are_refused(archive_dir: Path, name: str) -> None:
    """A file name that is not a slug is an error naming the file."""
    outbox = archive_dir / "outbox"
    _write(outbox, name, ENTRY)
    loaded, problems = talks.load_archive(outbox, "fr")
    assert [t.slug for t in loaded] == ["debat"]
    assert problems and name in problems[0] and "slug" in problems[0]


def test_symlink_escape_is_refused(archive_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    """A media path that is a symlink out of the archive folder is refused."""
    outside = tmp_path_factory.mktemp("outside") / "secret.webm"
    outside.write_bytes(b"secret")
    outbox = archive_dir / "outbox"
    (outbox / "media" / "link.webm").symlink_to(outside)
    _write(outbox, "bad.toml", ENTRY.replace("media/talk.webm", "media/link.webm"))
    _, problems = talks.load_archive(outbox, "fr")
    assert problems and "leads outside the archive folder" in problems[0]


@given(st.text(max_size=200))
def test_safe_relpath_never_escapes(ref: str) -> None:
    """Whatever the text, an accepted path has no parent steps and is relative."""
    rel = talks.safe_relpath(ref)
    if rel is not None:
        assert not rel.startswith("/") and ".." not in rel.split("/")


@given(st.text(max_size=300))
def test_arbitrary_text_gives_entry_error_only(text: str) -> None:
    """Any file content either parses or raises EntryError, never another exception."""
    with contextlib.suppress(EntryError):
        talks.parse_entry("x", text, Path("/nonexistent"), "fr")


def test_image_size_reads_jpeg_and_gif() -> None:
    """Image dimensions come from JPEG SOF and GIF headers too."""
    gif = b"GIF89a" + (300).to_bytes(2, "little") + (200).to_bytes(2, "little") + b"\x00" * 10
    assert talks.image_size(gif) == (300, 200)
    jpeg = b"\xff\xd8" + b"\xff\xe0\x00\x04\x00\x00" + b"\xff\xc0\x00\x11\x08" + (360).to_bytes(2, "big") \
        + (640).to_bytes(2, "big") + b"\x03" + b"\x00" * 12
    assert talks.image_size(jpeg) == (640, 360)
    assert talks.image_size(b"nope") == (None, None)
