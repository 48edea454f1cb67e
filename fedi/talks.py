"""Talk entries: ``<archive>/<slug>.toml`` → ``Talk`` dataclasses, with per-file, per-field errors.

Parsing is pure apart from reading the archive folder (entries, and the size of local media files).
A broken entry is reported and left out; it never stops the others from loading.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
import struct
import tomllib
from dataclasses import asdict, dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from dateutil import parser as dateparser

from . import schemas, webvtt
from .errors import EntryError
from .webvtt import Cue, VttError

SLUG_RE = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")
_DURATION_RE = re.compile(r"^PT(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?$")
CAPTION_MAX_BYTES = 2_000_000
"""An hour of speech is about 100 kB of WebVTT; anything much larger is not a caption file."""
CHAPTER_TITLE_MAX = 100  # PeerTube's limit on a chapter's title

AUTONYMS = {"ar": "العربية", "br": "Brezhoneg", "ca": "Català", "cs": "Čeština", "da": "Dansk", "de": "Deutsch",
            "el": "Ελληνικά", "en": "English", "eo": "Esperanto", "es": "Español", "eu": "Euskara",
            "fi": "Suomi", "fr": "Français", "gl": "Galego", "hu": "Magyar", "it": "Italiano", "ja": "日本語",
            "ko": "한국어", "nl": "Nederlands", "no": "Norsk", "oc": "Occitan", "pl": "Polski",
            "pt": "Português", "ro": "Română", "ru": "Русский", "sv": "Svenska", "tr": "Türkçe",
            "uk": "Українська", "zh": "中文"}
"""A caption track's default label: the language's name in that language."""


@dataclass(frozen=True)
class Media:
    ref: str
    """An http(s) URL, or a POSIX path relative to the archive folder."""
    type: str
    size: int | None = None
    width: int | None = None
    height: int | None = None
    fps: int | None = None

    @property
    def local(self) -> bool:
        return not self.ref.startswith(("http://", "https://"))


@dataclass(frozen=True)
class Caption:
    language: str
    """A BCP 47 tag, like ``fr`` or ``pt-BR``."""
    label: str
    ref: str
    """An http(s) URL, or a POSIX path relative to the archive folder."""
    text: str | None = None
    """The WebVTT file of a local caption, as read and checked; None for a URL (published as is)."""
    cues: tuple[Cue, ...] = ()

    @property
    def local(self) -> bool:
        return self.text is not None

    @property
    def tag(self) -> str:
        """Changes with the file's content: it is part of the caption's URL, so an edit is a change of the
        published object (an Update) and a fresh URL for caches."""
        return hashlib.sha256((self.text or self.ref).encode()).hexdigest()[:12]


@dataclass(frozen=True)
class Chapter:
    start: int
    """Seconds."""
    end: int | None
    """The next chapter's start, else the talk's end (None when its duration is unknown)."""
    title: str


def chapters_tag(chapters: tuple[Chapter, ...]) -> str:
    """Changes with the chapters: part of their URLs, like ``Caption.tag``."""
    blob = json.dumps([asdict(c) for c in chapters], ensure_ascii=False)
    return hashlib.sha256(blob.encode()).hexdigest()[:12]


@dataclass(frozen=True)
class Talk:
    slug: str
    title: str
    speakers: tuple[str, ...]
    recorded: dt.datetime
    """Aware datetime in the zone the entry gives (UTC when it gives none); midnight when only a date is given."""
    recorded_has_time: bool
    summary: str
    language: str
    media: tuple[Media, ...]
    event: str | None = None
    place: str | None = None
    tags: tuple[str, ...] = ()
    license: str | None = None
    duration: int | None = None
    """Seconds."""
    thumbnail: str | None = None
    thumbnail_type: str | None = None
    thumbnail_width: int | None = None
    thumbnail_height: int | None = None
    pinned: bool = False
    """Shown among the archive's pinned posts (its ``featured`` collection)."""
    captions: tuple[Caption, ...] = ()
    chapters: tuple[Chapter, ...] = ()

    @property
    def chapters_tag(self) -> str:
        return chapters_tag(self.chapters)

    @property
    def paragraphs(self) -> list[str]:
        """The summary's paragraphs: blank lines separate them, single newlines are folded."""
        parts = re.split(r"\n\s*\n", self.summary.strip())
        return [" ".join(line.strip() for line in p.splitlines()) for p in parts if p.strip()]

    @property
    def digest(self) -> str:
        """A hash of everything an entry says, so that reformatting a file does not count as a change."""
        data = asdict(self)
        data["recorded"] = self.recorded.isoformat()
        blob = json.dumps(data, sort_keys=True, ensure_ascii=False).encode()
        return hashlib.sha256(blob).hexdigest()


def load_archive(folder: Path, default_language: str) -> tuple[list[Talk], list[str]]:
    """Every valid talk of the folder, sorted by slug, and one message per broken entry."""
    talks: list[Talk] = []
    problems: list[str] = []
    if not folder.is_dir():
        return [], [f"{folder}: the archive folder does not exist"]
    for path in sorted(folder.glob("*.toml")):
        try:
            talks.append(load_entry(path, folder, default_language))
        except EntryError as exc:
            problems.append(str(exc))
    return talks, problems


def load_entry(path: Path, folder: Path, default_language: str) -> Talk:
    """Read one entry; raises EntryError naming the file and the field."""
    name = _display(path, folder)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise EntryError(f"{name}: cannot read: {exc}") from None
    return parse_entry(path.stem, text, folder, default_language, name)


def parse_entry(slug: str, text: str, folder: Path, default_language: str, name: str | None = None) -> Talk:
    """Parse the TOML text of entry ``slug``; ``folder`` resolves local media paths."""
    name = name or f"{slug}.toml"
    if not SLUG_RE.match(slug):
        raise EntryError(f"{name}: the file name must be a slug of lowercase letters, digits and hyphens "
                         f"(like 'stiegler-2010.toml'), so that the talk's address stays clean")
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise EntryError(f"{name}: not valid TOML: {exc}") from None
    raw = _dates_to_text(raw)
    problem = schemas.first_error("talk", raw)
    if problem:
        raise EntryError(f"{name}: {problem}")
    recorded, has_time = _parse_recorded(raw["recorded"], name)
    media = tuple(_media(m, i, folder, name) for i, m in enumerate(raw["media"]))
    thumbnail = raw.get("thumbnail")
    thumb_type = thumb_w = thumb_h = None
    if thumbnail is not None:
        thumb_type, thumb_w, thumb_h = _thumbnail(thumbnail, folder, name)
    duration = _duration(raw.get("duration"))
    captions = _captions(raw.get("captions", ()), folder, name)
    chapters = _chapters(raw.get("chapters", ()), duration, folder, name)
    return Talk(
        slug=slug,
        title=raw["title"].strip(),
        speakers=tuple(s.strip() for s in raw["speakers"]),
        recorded=recorded,
        recorded_has_time=has_time,
        summary=raw["summary"].strip(),
        language=raw.get("language", default_language),
        media=media,
        event=raw.get("event"),
        place=raw.get("place"),
        tags=tuple(dict.fromkeys(t.lstrip("#") for t in raw.get("tags", ()))),
        license=raw.get("license"),
        duration=duration,
        thumbnail=thumbnail,
        thumbnail_type=thumb_type,
        thumbnail_width=raw.get("thumbnail_width", thumb_w),
        thumbnail_height=raw.get("thumbnail_height", thumb_h),
        pinned=raw.get("pinned", False),
        captions=captions,
        chapters=chapters,
    )


def local_files(text: str) -> tuple[str, ...]:
    """The files inside the archive folder that an entry's TOML ``text`` names, present or not: every string
    value (media URLs, the poster, any other path field) that is a relative path with a file suffix and no
    space. What the folder watcher looks at besides the entries; lenient, so that an entry left out for a
    missing file is still watched for it (text that is not TOML names none)."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError:
        return ()
    found: dict[str, None] = {}

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            for item in value.values():
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)
        elif isinstance(value, str) and not value.startswith(("http://", "https://")) \
                and not any(c.isspace() for c in value) and PurePosixPath(value).suffix:
            rel = safe_relpath(value)
            if rel is not None:
                found[rel] = None
    walk(raw)
    return tuple(found)


def safe_relpath(ref: str) -> str | None:
    """A clean POSIX path inside the archive folder, or None when ``ref`` would leave it."""
    if "\\" in ref or "\x00" in ref:
        return None
    path = PurePosixPath(ref)
    if path.is_absolute() or any(part in ("..", "") for part in path.parts) or not path.parts:
        return None
    return str(path)


def _display(path: Path, folder: Path) -> str:
    # name files as the user sees them in the config folder: "outbox/stiegler.toml"
    try:
        return str(path.relative_to(folder.parent))
    except ValueError:
        return str(path)


def _dates_to_text(raw: dict[str, Any]) -> dict[str, Any]:
    value = raw.get("recorded")
    if isinstance(value, (dt.date, dt.time)):
        raw = {**raw, "recorded": value.isoformat()}
    return raw


def _parse_recorded(text: str, name: str) -> tuple[dt.datetime, bool]:
    try:
        when = dateparser.parse(text, default=dt.datetime(2000, 1, 1))
    except (ValueError, OverflowError):
        raise EntryError(f"{name}: recorded {text!r} is not a date (write it like 2010-03-06)") from None
    has_time = bool(re.search(r"\d:\d", text))
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return when, has_time


def _duration(value: int | str | None) -> int | None:
    if value is None or isinstance(value, int):
        return value
    m = _DURATION_RE.match(value)
    assert m  # the schema already checked the form
    hours, minutes, seconds = (float(g) if g else 0.0 for g in m.groups())
    return round(hours * 3600 + minutes * 60 + seconds)


def _local_file(ref: str, folder: Path, name: str, field: str) -> Path | None:
    if ref.startswith(("http://", "https://")):
        return None
    rel = safe_relpath(ref)
    if rel is None:
        raise EntryError(f"{name}: {field} must be a URL or a path inside the archive folder, not {ref!r}")
    path = folder / rel
    try:
        inside = path.resolve().is_relative_to(folder.resolve())
    except OSError:
        inside = False
    if not inside:
        raise EntryError(f"{name}: {field} {ref!r} leads outside the archive folder")
    if not path.is_file():
        raise EntryError(f"{name}: {field} {ref!r}: no such file in {folder}")
    return path


def _media(raw: dict[str, Any], index: int, folder: Path, name: str) -> Media:
    field = f"media[{index}].url"
    path = _local_file(raw["url"], folder, name, field)
    size = raw.get("size")
    if path is not None and size is None:
        size = path.stat().st_size
    return Media(ref=raw["url"], type=raw["type"], size=size, width=raw.get("width"), height=raw.get("height"),
                 fps=raw.get("fps"))


def _read_vtt(ref: str, folder: Path, name: str, field: str) -> tuple[str, tuple[Cue, ...]] | None:
    """A local WebVTT file's text and cues (None for a URL); every problem names the file and the field."""
    path = _local_file(ref, folder, name, field)
    if path is None:
        if PurePosixPath(ref.split("?")[0]).suffix.lower() != ".vtt":
            raise EntryError(f"{name}: {field} {ref!r} must be a WebVTT file (its name ends in .vtt)")
        return None
    try:
        if path.stat().st_size > CAPTION_MAX_BYTES:
            raise EntryError(f"{name}: {field} {ref!r} is larger than {CAPTION_MAX_BYTES // 1_000_000} MB: "
                             "not a caption file")
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise EntryError(f"{name}: {field} {ref!r} cannot be read as UTF-8 text: {exc}") from None
    try:
        return text, webvtt.parse(text)
    except VttError as exc:
        raise EntryError(f"{name}: {field} {ref!r} is not valid WebVTT: {exc}") from None


def _captions(raw: list[dict[str, Any]], folder: Path, name: str) -> tuple[Caption, ...]:
    out: list[Caption] = []
    seen: set[str] = set()
    for i, item in enumerate(raw):
        language = item["language"]
        if language.lower() in seen:
            raise EntryError(f"{name}: captions[{i}].language {language!r} is given twice (one file per language)")
        seen.add(language.lower())
        read = _read_vtt(item["url"], folder, name, f"captions[{i}].url")
        label = (item.get("label") or "").strip() or AUTONYMS.get(language.split("-")[0].lower(), language)
        text, cues = read if read is not None else (None, ())
        out.append(Caption(language=language, label=label, ref=item["url"], text=text, cues=cues))
    return tuple(out)


def _chapters(raw: str | list[dict[str, Any]], duration: int | None, folder: Path,
              name: str) -> tuple[Chapter, ...]:
    """Chapters from ``[[chapters]]`` tables or a WebVTT chapters file: in order, not overlapping, each
    within the talk's duration when it is known, titled in 1–100 characters."""
    if isinstance(raw, str):
        read = _read_vtt(raw, folder, name, "chapters")
        if read is None:
            raise EntryError(f"{name}: chapters must be a path inside the archive folder (fedi reads the file), "
                             f"not a URL")
        items = [(f"chapters {raw!r} (cue at {webvtt.timestamp(c.start)})", int(c.start), c.end, c.plain)
                 for c in read[1]]
    else:
        items = []
        for i, item in enumerate(raw):
            try:
                start = webvtt.clock(item["start"])
            except ValueError as exc:
                raise EntryError(f"{name}: chapters[{i}].start: {exc}") from None
            items.append((f"chapters[{i}]", start, None, item["title"].strip()))
    out: list[Chapter] = []
    previous_end: float = 0
    for n, (where, start, end, title) in enumerate(items):
        if not title:
            raise EntryError(f"{name}: {where}: the title is empty")
        if len(title) > CHAPTER_TITLE_MAX:
            raise EntryError(f"{name}: {where}: the title has {len(title)} characters; "
                             f"at most {CHAPTER_TITLE_MAX}")
        if n and (start <= out[-1].start or start < previous_end):
            raise EntryError(f"{name}: {where}: starts at {webvtt.timestamp(start)[:8]}, before the chapter above "
                             "ends: chapters must be in order and must not overlap")
        if duration is not None and (start >= duration or (end is not None and end > duration + 1)):
            raise EntryError(f"{name}: {where}: goes past the end of the talk (duration "
                             f"{webvtt.timestamp(duration)[:8]})")
        previous_end = end if end is not None else start
        out.append(Chapter(start=start, end=None, title=title))
    if not out:
        return ()
    # each chapter ends where the next begins, the last one at the end of the talk
    last = duration if duration is not None else (round(items[-1][2]) if items and items[-1][2] else None)
    ends = [c.start for c in out[1:]] + [last]
    return tuple(Chapter(c.start, e, c.title) for c, e in zip(out, ends, strict=True))


_IMAGE_TYPES = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".webp": "image/webp",
                ".gif": "image/gif"}


def _thumbnail(ref: str, folder: Path, name: str) -> tuple[str, int | None, int | None]:
    suffix = PurePosixPath(ref.split("?")[0]).suffix.lower()
    mime = _IMAGE_TYPES.get(suffix)
    if mime is None:
        raise EntryError(f"{name}: thumbnail {ref!r} must be a .png, .jpg, .webp or .gif image")
    path = _local_file(ref, folder, name, "thumbnail")
    width = height = None
    if path is not None:
        width, height = image_size(path.read_bytes()[:65536])
    return mime, width, height


def image_size(head: bytes) -> tuple[int | None, int | None]:
    """Width and height from the first bytes of a PNG, GIF or baseline/progressive JPEG."""
    if head.startswith(b"\x89PNG\r\n\x1a\n") and len(head) >= 24:
        w, h = struct.unpack(">II", head[16:24])
        return w, h
    if head[:6] in (b"GIF87a", b"GIF89a") and len(head) >= 10:
        w, h = struct.unpack("<HH", head[6:10])
        return w, h
    if head.startswith(b"\xff\xd8"):
        i = 2
        while i + 9 < len(head):
            if head[i] != 0xFF:
                i += 1
                continue
            marker = head[i + 1]
            length = struct.unpack(">H", head[i + 2:i + 4])[0]
            if marker in (0xC0, 0xC1, 0xC2):
                h, w = struct.unpack(">HH", head[i + 5:i + 9])
                return w, h
            i += 2 + length
    return None, None
