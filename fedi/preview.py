"""``fedi preview``: how Mastodon and PeerTube will show a talk, in plain text, and where their rules bite.

Pure: an object (as ``publish.build_object`` makes it) and its ``Talk`` in, text out. The renderings follow what each
receiver reads (docs/receivers.md, Mastodon: posts, and PeerTube: videos): Mastodon shows a Video as its name,
``summary`` and link (the ``content`` is ignored) with the ``attachment`` it can play, or else the talk page's card,
and a Note as its ``content``; PeerTube shows a Video (name, duration, files, description from ``content``) and nothing
of a Note.
"""

from __future__ import annotations

import html
import json
import re
from html.parser import HTMLParser
from typing import Any

from . import talk_objects as to
from .config import Config
from .talks import Media, Talk

PEERTUBE_FILES = ("video/mp4", "video/ogg", "video/webm", "audio/mp4")
"""Media types PeerTube accepts as a video file Link (docs/receivers.md, PeerTube: videos)."""
TAG_MIN, TAG_MAX = 2, 30
"""PeerTube keeps a Hashtag only with a name of 2 to 30 characters."""


class _Text(HTMLParser):
    """HTML → plain text: paragraphs and headings become blocks, ``<br>`` a line break, links their text."""

    BLOCKS = ("p", "h1", "h2", "h3", "div", "li")

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "br":
            self.parts.append("\n")
        elif tag in self.BLOCKS:
            self.parts.append("\n\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in self.BLOCKS:
            self.parts.append("\n\n")

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def html_to_text(markup: str) -> str:
    parser = _Text()
    parser.feed(markup)
    parser.close()
    text = "".join(parser.parts)
    text = re.sub(r"[ \t]*\n[ \t]*", "\n", text)
    return re.sub(r"\n{3,}", "\n\n", text).strip()


def size_text(size: int | None) -> str:
    if not size:
        return "size unknown"
    for unit, scale in (("GB", 10**9), ("MB", 10**6), ("KB", 10**3)):
        if size >= scale:
            return f"{size / scale:.1f} {unit}"
    return f"{size} bytes"


def _indent(text: str) -> str:
    return "\n".join(f"  {line}" if line else "" for line in text.splitlines())


def _link_of(obj: dict[str, Any]) -> str:
    url = obj.get("url")
    if isinstance(url, list):  # Mastodon takes the text/html Link (or one without a media type)
        for entry in url:
            if isinstance(entry, dict) and entry.get("mediaType", "text/html") == "text/html":
                return str(entry.get("href"))
    return str(url if isinstance(url, str) else obj["id"])


def _attachment_lines(obj: dict[str, Any]) -> list[str]:
    lines = []
    for item in obj.get("attachment", [])[:to.MASTODON_MAX_ATTACHMENTS]:
        kind = str(item.get("mediaType", ""))
        what = "video player" if kind.startswith("video/") else "audio player" if kind.startswith("audio/") \
            else "picture"
        poster = " with its poster" if isinstance(item.get("icon"), dict) else ""
        lines.append(f"[{what}{poster}: {item.get('url')} ({kind})]")
    return lines


def mastodon(obj: dict[str, Any]) -> str:
    """The status a Mastodon user sees in their home timeline."""
    if obj["type"] == "Note":
        body = html_to_text(obj.get("content", ""))
        head = "Shown as a post (Note): the whole text, edits shown as edits."
    else:
        body = "\n\n".join(x for x in (obj.get("name", ""), html_to_text(obj.get("summary", "")), _link_of(obj)) if x)
        head = (f"Shown as a converted {obj['type']}: title, summary and link only (the description is not shown; "
                "Mastodon 4.5 and later apply edits).")
    lines = [head, "", _indent(body)]
    media = _attachment_lines(obj)
    lines += ["", *(f"  {m}" for m in media)] if media else [
        "", "  (no media attached: the talk page's card shows, with its poster and a player for the whole talk)"]
    return "\n".join(lines)


def peertube(obj: dict[str, Any], config: Config) -> str:
    """The video page a PeerTube subscriber reaches from their subscriptions."""
    if obj["type"] != "Video":
        return ("Not shown: PeerTube only shows Videos (a Note without a video thread to reply to is dropped).\n"
                "  Set archive.object_type = \"Video\" to reach PeerTube subscribers.")
    seconds = int(re.sub(r"\D", "", obj.get("duration", "")) or 0)
    facts = [to.format_duration(seconds), obj.get("category", {}).get("name"), obj.get("licence", {}).get("name"),
             obj.get("language", {}).get("name")]
    icon = obj["icon"][0]
    files = [f"{u['mediaType']} {u.get('height') or '?'}p, {size_text(u.get('size'))}: {u['href']}"
             for u in obj["url"] if isinstance(u, dict) and u.get("mediaType") in PEERTUBE_FILES]
    tags = [t["name"] for t in obj.get("tag", []) if TAG_MIN <= len(t.get("name", "")) <= TAG_MAX]
    lines = [f"Video: {obj['name']}", f"  {' · '.join(str(f) for f in facts if f)}",
             f"  channel: {config.actor.name} — account: {config.owner.name}",
             f"  thumbnail: {icon['url']}" + (f" ({icon['width']}×{icon['height']})" if icon.get("width") else ""),
             *(f"  file: {f}" for f in files or ["(none PeerTube can play)"])]
    if tags:
        lines.append(f"  tags: {', '.join(tags)}")
    captions = [f"{c['name']} ({c['identifier']})" for c in obj.get("subtitleLanguage", [])]
    if captions:
        lines.append(f"  captions: {', '.join(captions)}")
    if obj.get("hasParts"):
        lines.append(f"  chapters: fetched from {obj['hasParts']}")
    lines += ["  description:", _indent(_indent(html_to_text(obj.get("content", ""))))]
    return "\n".join(lines)


def warnings(obj: dict[str, Any], talk: Talk, config: Config) -> list[str]:
    """Where a receiver's rules are not met, each as one sentence saying what happens and what to do."""
    out: list[str] = []
    title = talk.title.strip()
    if not any(to.attachable(m) for m in talk.media):
        out.append("Mastodon: no file fits as an attachment (" + "; ".join(_unfit(m) for m in talk.media) + "); "
                   "it shows the talk page's card instead, whose player plays the whole talk")
    if any(m.type.startswith("video/") for m in talk.media) and not any(m.type == "video/mp4" for m in talk.media):
        out.append("Safari and Mastodon: no video/mp4 rendition; Safari cannot play WebM, and Mastodon re-encodes "
                   "any other video and keeps at most 36,000 frames of it (add an h264/aac MP4, at another height "
                   "than the WebM: PeerTube keeps one file per height and frame rate)")
    if config.archive.object_type == "Note":
        out.append("PeerTube: Notes are not shown; PeerTube subscribers will not see this talk")
        return out
    if len(title) > to.NAME_MAX:
        out.append(f"PeerTube: the title is {len(title)} characters, over its {to.NAME_MAX}; it is shortened to "
                   f"{obj['name']!r}")
    elif len(title) < to.NAME_MIN:
        out.append(f"PeerTube: the title is shorter than {to.NAME_MIN} characters; it is shown as {obj['name']!r}")
    if not any(m.type in PEERTUBE_FILES for m in talk.media):
        out.append(f"PeerTube: no file of a type it plays ({', '.join(PEERTUBE_FILES)}); the video has no player")
    if talk.duration is None:
        out.append("PeerTube: no duration given; it shows 0:00 (add `duration`, e.g. \"PT1H2M3S\")")
    if not talk.thumbnail:
        out.append("PeerTube: no thumbnail given; it shows the archive's avatar or fedi's default poster")
    icon = obj["icon"][0]
    if icon.get("mediaType") != "image/jpeg":
        what = f"the poster {talk.thumbnail}" if talk.thumbnail else "the archive's avatar, used as the poster,"
        out.append(f"PeerTube 7.0: {what} is {icon.get('mediaType') or 'of an unknown type'}, and it takes only "
                   "JPEG thumbnails (image/jpeg); give a .jpg poster")
    if talk.license and to.licence(talk.license) is None:
        out.append(f"PeerTube: licence {talk.license!r} is not a Creative Commons licence URL, the only ones it "
                   "maps; none is shown")
    dropped = [t for t in talk.tags if not TAG_MIN <= len(t) <= TAG_MAX]
    if dropped:
        out.append(f"PeerTube: tags must have {TAG_MIN} to {TAG_MAX} characters; it drops {', '.join(dropped)}")
    for caption in talk.captions:
        if not caption.local:
            out.append(f"fedi: the {caption.language} captions are a URL, published as they are: fedi does not check "
                       "them, and the talk page has no track nor transcript for them (keep the file in the archive "
                       "folder for both)")
    if talk.paragraphs and to.linkify(talk.paragraphs[-1]) not in obj.get("content", ""):
        out.append(f"PeerTube: the description is cut to fit its {to.CONTENT_MAX} characters")
    return out


def _unfit(media: Media) -> str:
    """Why Mastodon does not attach this file, in a few words."""
    if media.type not in to.MASTODON_VIDEO + to.MASTODON_AUDIO:
        return f"{media.ref} is {media.type}, a type it does not play"
    if media.size is None:
        return f"the size of {media.ref} is unknown; give `size` (bytes) in the entry"
    return (f"{media.ref} is {size_text(media.size)}, over the {size_text(to.MASTODON_MEDIA_LIMIT)} it plays "
            "inline")


def render(obj: dict[str, Any], talk: Talk, config: Config) -> str:
    """The whole preview: the object as served, then each receiver's view, then the warnings."""
    problems = warnings(obj, talk, config)
    parts = ["── the object, as served at its id " + "─" * 40, json.dumps(obj, indent=2, ensure_ascii=False), "",
             "── Mastodon " + "─" * 63, mastodon(obj), "", "── PeerTube " + "─" * 63, peertube(obj, config), "",
             "── warnings " + "─" * 63]
    parts += [f"! {html.unescape(p)}" for p in problems] or ["none: both receivers take it as it is"]
    return "\n".join(parts) + "\n"
