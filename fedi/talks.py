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

from . import schemas
from .errors import EntryError

SLUG_RE = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")
_DURATION_RE = re.compile(r"^PT(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?$")


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
        duration=_duration(raw.get("duration")),
        thumbnail=thumbnail,
        thumbnail_type=thumb_type,
        thumbnail_width=raw.get("thumbnail_width", thumb_w),
        thumbnail_height=raw.get("thumbnail_height", thumb_h),
        pinned=raw.get("pinned", False),
    )


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
