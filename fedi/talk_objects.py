"""Pure builders of a talk's object: a PeerTube-style ``Video`` (default) or a Mastodon-native ``Note``.

One ``Talk`` in, one dict out (no ``@context``: ``objects.document`` adds it when the object is served alone,
``objects.create`` when it is embedded). The two receivers read different fields
(docs/receivers.md, Mastodon: posts, and PeerTube: videos):

- PeerTube re-fetches the Video and validates it strictly: ``uuid`` (v4), ``name`` 3–120, ``duration`` as
  ``PT<seconds>S``, at least one ``icon`` with width and height, ``url`` as an array of Links, a ``Group`` in
  ``attributedTo``; ``content`` becomes the description. It fetches ``likes``/``dislikes``/``shares`` by URL.
- Mastodon shows a Video as its name, ``summary`` and link only (``content`` ignored), so the Video also carries
  a short ``summary`` teaser and ``attachment`` Documents, which Mastodon does show. A Note's ``content`` is the
  whole post; a Note must have no ``summary`` (that would be a content warning).
"""

from __future__ import annotations

import datetime as dt
import html
import re
from collections.abc import Iterable
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import urlsplit

from .config import Config
from .talks import Caption, Media, Talk
from .urls import ARCHIVE, OWNER, Urls

# ActivityStreams basics, shared with ``objects`` (which imports this module, never the reverse) ------------

AS = "https://www.w3.org/ns/activitystreams"
PUBLIC = f"{AS}#Public"

CONTEXT: list[Any] = [AS, {
    "sensitive": "as:sensitive",
    "Hashtag": "as:Hashtag",
    # PeerTube's Video terms (docs/receivers.md, JSON-LD contexts)
    "pt": "https://joinpeertube.org/ns#",
    "sc": "http://schema.org/",
    "uuid": {"@type": "sc:identifier", "@id": "pt:uuid"},
    "views": {"@type": "sc:Number", "@id": "pt:views"},
    "state": {"@type": "sc:Number", "@id": "pt:state"},
    "size": {"@type": "sc:Number", "@id": "pt:size"},
    "fps": {"@type": "sc:Number", "@id": "pt:fps"},
    "commentsEnabled": {"@type": "sc:Boolean", "@id": "pt:commentsEnabled"},
    "commentsPolicy": {"@type": "sc:Number", "@id": "pt:commentsPolicy"},
    "downloadEnabled": {"@type": "sc:Boolean", "@id": "pt:downloadEnabled"},
    "waitTranscoding": {"@type": "sc:Boolean", "@id": "pt:waitTranscoding"},
    "isLiveBroadcast": "sc:isLiveBroadcast",
    "originallyPublishedAt": "sc:datePublished",
    "category": "sc:category",
    "licence": "sc:license",
    "language": "sc:inLanguage",
    "identifier": "sc:identifier",
    "subtitleLanguage": "sc:subtitleLanguage",
    "hasParts": "sc:hasParts",
    "likes": {"@id": "as:likes", "@type": "@id"},
    "dislikes": {"@id": "as:dislikes", "@type": "@id"},
    "shares": {"@id": "as:shares", "@type": "@id"},
    # who may quote a talk (FEP-044f, with GoToSocial's interaction policy terms, as Mastodon declares them)
    "gts": "https://gotosocial.org/ns#",
    "interactionPolicy": {"@id": "gts:interactionPolicy", "@type": "@id"},
    "canQuote": {"@id": "gts:canQuote", "@type": "@id"},
    "automaticApproval": {"@id": "gts:automaticApproval", "@type": "@id"},
}]
"""The context of talk objects and of the activities that carry them."""


IMAGE_TYPES = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".webp": "image/webp",
               ".gif": "image/gif"}


# small pieces ----------------------------------------------------------------------------------------

def iso(when: dt.datetime) -> str:
    """``2010-03-06T13:00:00Z``: UTC, whole seconds, the form Mastodon and PeerTube emit (naive means UTC)."""
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return when.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def split_paragraphs(text: str) -> list[str]:
    """Blank lines separate paragraphs; single newlines are folded (the rule of ``Talk.paragraphs``)."""
    parts = re.split(r"\n\s*\n", text.strip())
    return [" ".join(line.strip() for line in p.splitlines()) for p in parts if p.strip()]


_URL_RE = re.compile(r"https?://[^\s<>\"']+")


def linkify(text: str) -> str:
    """Escape plain text for HTML, turning http(s) URLs into links (Mastodon keeps <a href>)."""
    out, last = [], 0
    for m in _URL_RE.finditer(text):
        url = m.group(0).rstrip(".,;:!?)]")
        out.append(html.escape(text[last:m.start()]))
        out.append(link(url))
        last = m.start() + len(url)
    out.append(html.escape(text[last:]))
    return "".join(out)


def link(url: str, label: str | None = None, rel: str = "nofollow noopener") -> str:
    return (f'<a href="{html.escape(url)}" rel="{rel}" target="_blank">'
            f"{html.escape(label if label is not None else url)}</a>")


def paragraphs_html(paragraphs: Iterable[str]) -> str:
    return "".join(f"<p>{linkify(p)}</p>" for p in paragraphs)


def image_type(ref: str) -> str | None:
    """The image MIME type a file name's extension implies, or None."""
    return IMAGE_TYPES.get(PurePosixPath(urlsplit(ref).path).suffix.lower())


def html_link(href: str) -> dict[str, str]:
    """A ``url`` entry PeerTube keeps (it drops plain strings) and Mastodon picks (text/html)."""
    return {"type": "Link", "mediaType": "text/html", "href": href}


# talk objects -----------------------------------------------------------------------------------------


NAME_MIN, NAME_MAX = 3, 120          # PeerTube isVideoNameValid
CONTENT_MAX = 10000                  # PeerTube video description
TEASER_OPENING = 400                 # characters of the abstract in the Video's summary for Mastodon
MASTODON_MEDIA_LIMIT = 99_000_000    # Mastodon 4.2 VIDEO_LIMIT is 99 MB; stay under it whichever MB it means
MASTODON_MAX_ATTACHMENTS = 4
MASTODON_VIDEO = ("video/mp4", "video/webm", "video/quicktime", "video/ogg")
MASTODON_AUDIO = ("audio/mpeg", "audio/mp3", "audio/ogg", "audio/opus", "audio/webm", "audio/flac", "audio/wav",
                  "audio/aac", "audio/mp4", "audio/m4a")
EDUCATION = {"identifier": "13", "name": "Education"}  # PeerTube VIDEO_CATEGORIES
DEFAULT_POSTER = "poster.jpg"        # in fedi/static: the Video's icon when neither talk nor archive has a picture
DEFAULT_POSTER_SIZE = (640, 360)     # its width and height in pixels
PLAYER_SIZE = (640, 360)             # the player's frame when no video file gives its size

# PeerTube VIDEO_LICENCES (numeric ids, understood by every PeerTube version; SPDX ids only map the 4.0 texts)
LICENCES = {"by": ("1", "Attribution"), "by-sa": ("2", "Attribution - Share Alike"),
            "by-nd": ("3", "Attribution - No Derivatives"), "by-nc": ("4", "Attribution - Non Commercial"),
            "by-nc-sa": ("5", "Attribution - Non Commercial - Share Alike"),
            "by-nc-nd": ("6", "Attribution - Non Commercial - No Derivatives"),
            "zero": ("7", "Public Domain Dedication"), "mark": ("7", "Public Domain Dedication")}
_CC_RE = re.compile(r"^https?://(?:www\.)?creativecommons\.org/"
                    r"(?:licen[cs]es/(by(?:-nc)?(?:-sa|-nd)?)|publicdomain/(zero|mark))(?:/|$)", re.IGNORECASE)

LANGUAGES = {"ar": "Arabic", "br": "Breton", "ca": "Catalan", "cs": "Czech", "da": "Danish", "de": "German",
             "el": "Greek", "en": "English", "eo": "Esperanto", "es": "Spanish", "eu": "Basque", "fi": "Finnish",
             "fr": "French", "gl": "Galician", "hu": "Hungarian", "it": "Italian", "ja": "Japanese",
             "ko": "Korean", "nl": "Dutch", "no": "Norwegian", "oc": "Occitan", "pl": "Polish",
             "pt": "Portuguese", "ro": "Romanian", "ru": "Russian", "sv": "Swedish", "tr": "Turkish",
             "uk": "Ukrainian", "zh": "Chinese"}


def talk_object(config: Config, urls: Urls, talk: Talk, *, uuid: str, published: dt.datetime,
                updated: dt.datetime, replies_count: int = 0, likes: int = 0, shares: int = 0) -> dict[str, Any]:
    """The talk as ``config.archive.object_type`` says: ``published`` is when fedi first published it."""
    if config.archive.object_type == "Note":
        return note(config, urls, talk, published=published, updated=updated, replies_count=replies_count,
                    likes=likes, shares=shares)
    return video(config, urls, talk, uuid=uuid, published=published, updated=updated,
                 replies_count=replies_count)


def video(config: Config, urls: Urls, talk: Talk, *, uuid: str, published: dt.datetime, updated: dt.datetime,
          replies_count: int = 0) -> dict[str, Any]:
    """A Video PeerTube's validator accepts, with a teaser and attachments for Mastodon."""
    lang = talk.language
    name = video_name(talk)
    content = description(talk)
    doc: dict[str, Any] = {
        "id": urls.talk(talk.slug),
        "type": "Video",
        "uuid": uuid,
        "name": name,
        "nameMap": {lang: name},
        "duration": f"PT{talk.duration or 0}S",  # PeerTube reads only PT<int>S; 0 when unknown
        "views": 0,
        "published": iso(published),
        "updated": iso(updated),
        "originallyPublishedAt": iso(talk.recorded),
        # PeerTube finds the channel by type (older versions only in objects), Group first for Mastodon,
        # which attributes a fetched object to the first entry
        "attributedTo": [{"type": "Group", "id": urls.actor(ARCHIVE)}, {"type": "Person", "id": urls.actor(OWNER)}],
        "to": [PUBLIC],
        "cc": [urls.followers(ARCHIVE)],
        # the text/html page first: Mastodon takes the first Link of `url` as the post's link
        "url": [html_link(urls.talk(talk.slug)),
                *(file_link(m, href) for m, href in zip(talk.media, media_urls(urls, talk), strict=True))],
        "icon": [video_icon(config, urls, talk)],
        "summary": teaser(talk),
        "content": content,
        "contentMap": {lang: content},
        "mediaType": "text/html",
        **attachment(urls, talk),
        # PeerTube stores a Hashtag name as is, so no '#' here; Mastodon strips it either way
        "tag": [{"type": "Hashtag", "name": t, "href": urls.hashtag(t)} for t in talk.tags],
        "category": dict(EDUCATION),
        "language": language(lang),
        "sensitive": False,
        "commentsEnabled": True,  # read by PeerTube before commentsPolicy existed
        "commentsPolicy": comments_policy(config),  # missing means DISABLED
        "downloadEnabled": True,
        "waitTranscoding": False,
        "state": 1,
        "isLiveBroadcast": False,
        "replies": replies(urls, talk.slug, replies_count),
        "interactionPolicy": quotable(),
        # PeerTube fetches these by URL for its counts and fails on an embedded object
        "likes": urls.likes(talk.slug),
        "dislikes": urls.dislikes(talk.slug),
        "shares": urls.shares(talk.slug),
    }
    lic = licence(talk.license)
    if lic:
        doc["licence"] = lic
    # only when there are some: an always-present empty list would change every published Video at once
    if talk.captions:
        doc["subtitleLanguage"] = [subtitle(urls, talk.slug, c) for c in talk.captions]
    if talk.chapters:
        doc["hasParts"] = urls.chapters(talk.slug, talk.chapters_tag)  # a URL: PeerTube ignores an inline list
    return doc


def note(config: Config, urls: Urls, talk: Talk, *, published: dt.datetime, updated: dt.datetime,
         replies_count: int = 0, likes: int = 0, shares: int = 0) -> dict[str, Any]:
    """A Note Mastodon shows in full, and edits when an Update arrives."""
    page = urls.talk(talk.slug)
    # the talk page's link before the abstract: Mastodon makes its link card (poster, player) from the first
    # link of a post, and an abstract may hold links of its own
    parts = [f"<p><strong>{html.escape(talk.title)}</strong></p>", f"<p>{byline(talk)}</p>",
             f"<p>{link(page)}</p>", paragraphs_html(talk.paragraphs), *chapters_html(urls, talk)]
    if talk.tags:
        parts.append("<p>" + " ".join(hashtag_link(urls, t) for t in talk.tags) + "</p>")
    content = "".join(parts)
    doc: dict[str, Any] = {
        "id": page,
        "type": "Note",
        "attributedTo": urls.actor(ARCHIVE),
        "to": [PUBLIC],
        "cc": [urls.followers(ARCHIVE)],
        "published": iso(published),
        "url": page,
        "content": content,
        "contentMap": {talk.language: content},
        **attachment(urls, talk),
        "tag": [{"type": "Hashtag", "name": f"#{t}", "href": urls.hashtag(t)} for t in talk.tags],
        "sensitive": False,
        "replies": replies(urls, talk.slug, replies_count),
        "likes": {"id": urls.likes(talk.slug), "type": "Collection", "totalItems": likes},
        "shares": {"id": urls.shares(talk.slug), "type": "Collection", "totalItems": shares},
        "interactionPolicy": quotable(),
    }
    if iso(updated) != iso(published):
        doc["updated"] = iso(updated)  # Mastodon marks a status "edited" whenever `updated` is present
    return doc


# pieces ------------------------------------------------------------------------------------------------

CHAPTERS_CONTEXT: list[Any] = [AS, {"sc": "http://schema.org/", "hasPart": "sc:hasPart",
                                    "startOffset": "sc:startOffset", "endOffset": "sc:endOffset"}]
NOTE_WORDS = {"fr": ("Chapitres\u00a0:", "Transcription\u00a0:"), "en": ("Chapters:", "Transcript:")}
"""The two headings a Note adds, in the talk's language (English for others)."""


def subtitle(urls: Urls, slug: str, caption: Caption) -> dict[str, str]:
    """PeerTube's ``subtitleLanguage`` entry: ``url`` a plain string to the .vtt file."""
    url = urls.caption(slug, caption.language, caption.tag) if caption.local else caption.ref
    primary = caption.language.split("-")[0].lower()
    return {"identifier": caption.language, "name": LANGUAGES.get(primary, caption.label), "url": url}


def chapters_document(urls: Urls, talk: Talk) -> dict[str, Any]:
    """What ``hasParts`` points to, as PeerTube serves and reads it: names of 1–100 characters and integer
    offsets in seconds (PeerTube reads ``name`` and ``startOffset``; the end is the next start)."""
    parts = []
    for chapter in talk.chapters:
        part: dict[str, Any] = {"name": chapter.title, "startOffset": chapter.start}
        if chapter.end is not None:
            part["endOffset"] = chapter.end
        parts.append(part)
    return {"@context": CHAPTERS_CONTEXT, "id": urls.chapters(talk.slug, talk.chapters_tag), "hasPart": parts}


def transcript_caption(talk: Talk) -> Caption | None:
    """The caption whose transcript a talk links first: in the talk's language, else the first local one."""
    local = [c for c in talk.captions if c.local]
    same = [c for c in local if c.language.split("-")[0].lower() == talk.language.split("-")[0].lower()]
    return (same or local or [None])[0]


def format_duration(seconds: int) -> str:
    """``41:12`` or ``1:02:03`` (as video players show a time or a length)."""
    hours, rest = divmod(int(seconds), 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def chapters_html(urls: Urls, talk: Talk) -> list[str]:
    """A Note's chapter list (times and titles, one line each: Mastodon keeps ``<br>``) and transcript link."""
    words = NOTE_WORDS.get(talk.language.split("-")[0].lower(), NOTE_WORDS["en"])
    out = []
    if talk.chapters:
        lines = "<br>".join(f"{format_duration(c.start)} {html.escape(c.title)}" for c in talk.chapters)
        out.append(f"<p>{words[0]}<br>{lines}</p>")
    caption = transcript_caption(talk)
    if caption is not None:
        out.append(f"<p>{words[1]} {link(urls.transcript(talk.slug, caption.language))}</p>")
    return out

COMMENTS_ENABLED, COMMENTS_REQUIRE_APPROVAL = 1, 3  # PeerTube VideoCommentPolicy (2 is DISABLED)


def comments_policy(config: Config) -> int:
    """PeerTube's ``commentsPolicy`` (docs/receivers.md, PeerTube: videos): replies are welcome, and with
    ``moderation = "all"`` each waits for approval. ``followers`` approves some at once, so PeerTube is told they
    are enabled."""
    return COMMENTS_REQUIRE_APPROVAL if config.interactions.moderation == "all" else COMMENTS_ENABLED


def quotable() -> dict[str, Any]:
    """Anyone may quote a talk, approved at once: Mastodon (4.5+) lets no one quote a post without
    ``interactionPolicy.canQuote``; fedi answers each QuoteRequest with an Accept (``quotes``)."""
    return {"canQuote": {"automaticApproval": [PUBLIC]}}


def with_counts(obj: dict[str, Any], replies_count: int, likes: int, shares: int) -> dict[str, Any]:
    """A stored talk object with live counts: ``replies.totalItems`` and, where they are embedded collections
    (a Note's), ``likes``/``shares`` ``totalItems``; a Video's are URLs PeerTube fetches for its counts. The
    stored object keeps the counts of its publication (they never trigger an Update); ``obj`` is not changed."""
    out = dict(obj)
    for key, total in (("replies", replies_count), ("likes", likes), ("shares", shares)):
        if isinstance(out.get(key), dict):
            out[key] = {**out[key], "totalItems": total}
    return out


def replies(urls: Urls, slug: str, total: int) -> dict[str, Any]:
    return {"id": urls.replies(slug), "type": "Collection", "totalItems": total,
            "first": urls.replies_page(slug, 1)}


def shorten(text: str, limit: int) -> str:
    """At most ``limit`` characters, cut at a word when one is near, ending with '…' when cut."""
    if len(text) <= limit:
        return text
    cut = text[:limit - 1]
    space = cut.rfind(" ")
    if space > limit // 2:
        cut = cut[:space]
    return cut.rstrip() + "…"


def video_name(talk: Talk) -> str:
    """The title fitted to PeerTube's 3–120 characters (a too-short title gets its speakers appended)."""
    name = talk.title.strip()
    if len(name) < NAME_MIN:
        name = f"{name} — {', '.join(talk.speakers)}".strip(" —")
    return shorten(name.ljust(NAME_MIN, "…"), NAME_MAX)


def facts(talk: Talk) -> list[str]:
    """Event, place and recording date (ISO, so no language is assumed)."""
    return [x for x in (talk.event, talk.place, talk.recorded.date().isoformat()) if x]


def byline(talk: Talk) -> str:
    return f"{html.escape(', '.join(talk.speakers))}<br>{html.escape(' · '.join(facts(talk)))}"


def description(talk: Talk) -> str:
    """PeerTube's description: who, where and when, then the abstract, within its 10,000 characters."""
    out = f"<p>{byline(talk)}</p>"
    for paragraph in talk.paragraphs:
        room = CONTENT_MAX - len(out) - len("<p></p>")
        piece = linkify(paragraph)
        if len(piece) <= room:
            out += f"<p>{piece}</p>"
            continue
        limit = room  # escaping and links lengthen the text: shorten until the HTML fits
        while limit > 1 and len(piece := linkify(shorten(paragraph, limit))) > room:
            limit = int(limit * 0.9)
        if limit > 1:
            out += f"<p>{piece}</p>"
        break
    return out


def teaser(talk: Talk) -> str:
    """The Video's ``summary``: Mastodon shows it under the title, as body text, not as a content warning."""
    head = " · ".join([", ".join(talk.speakers), *facts(talk)])
    opening = talk.paragraphs[0] if talk.paragraphs else ""
    return f"<p>{html.escape(head)}</p><p>{html.escape(shorten(opening, TEASER_OPENING))}</p>"


def hashtag_link(urls: Urls, tag: str) -> str:
    return (f'<a href="{html.escape(urls.hashtag(tag))}" class="mention hashtag" rel="tag">'
            f"#<span>{html.escape(tag)}</span></a>")


def media_urls(urls: Urls, talk: Talk) -> list[str]:
    """Where each of the talk's files is published: a uuid-named URL of ours (see ``Urls.talk_files``)."""
    return urls.talk_files(talk.slug, [m.ref for m in talk.media])


def file_link(media: Media, href: str) -> dict[str, Any]:
    """A media file as PeerTube's ``url`` entry: height and size are required integers (0 when unknown)."""
    doc: dict[str, Any] = {"type": "Link", "mediaType": media.type, "href": href,
                           "height": media.height or 0, "size": media.size or 0}
    if media.width is not None:
        doc["width"] = media.width
    if media.fps is not None:
        doc["fps"] = media.fps
    return doc


def poster(urls: Urls, talk: Talk) -> dict[str, Any] | None:
    """The talk's own picture, or None."""
    if not talk.thumbnail:
        return None
    doc: dict[str, Any] = {"type": "Image", "url": urls.resolve(talk.thumbnail)}
    kind = talk.thumbnail_type or image_type(talk.thumbnail)
    if kind:
        doc["mediaType"] = kind
    if talk.thumbnail_width:
        doc["width"] = talk.thumbnail_width
    if talk.thumbnail_height:
        doc["height"] = talk.thumbnail_height
    return doc


def video_icon(config: Config, urls: Urls, talk: Talk) -> dict[str, Any]:
    """PeerTube rejects a Video without an icon: the talk's poster, else the archive's avatar, else fedi's.

    Width and height are required integers; 0 (unknown) makes PeerTube take the picture as is.
    """
    icon = poster(urls, talk)
    if icon is None or "mediaType" not in icon:
        ref = config.actor.icon
        if ref and image_type(ref):
            icon = {"type": "Image", "url": urls.resolve(ref), "mediaType": image_type(ref)}
        else:
            icon = {"type": "Image", "url": urls.static(DEFAULT_POSTER), "mediaType": "image/jpeg"}
    return {**icon, "width": icon.get("width", 0), "height": icon.get("height", 0)}


def share_image(config: Config, urls: Urls, talk: Talk) -> tuple[str, int | None, int | None]:
    """The picture of the talk's card (URL, width, height): its poster, else the archive's avatar, else fedi's
    default poster; sizes None when unknown."""
    if talk.thumbnail:
        return urls.resolve(talk.thumbnail), talk.thumbnail_width, talk.thumbnail_height
    if config.actor.icon:
        return urls.resolve(config.actor.icon), None, None
    return (urls.static(DEFAULT_POSTER), *DEFAULT_POSTER_SIZE)


def sized_image(config: Config, urls: Urls, talk: Talk) -> tuple[str, int, int]:
    """``share_image`` when its size is known, else fedi's default poster (oEmbed needs a thumbnail's size)."""
    url, width, height = share_image(config, urls, talk)
    if width and height:
        return url, width, height
    return (urls.static(DEFAULT_POSTER), *DEFAULT_POSTER_SIZE)


def player_size(talk: Talk) -> tuple[int, int]:
    """The player's natural size: the first video file's width and height when the entry gives them."""
    video = next((m for m in talk.media if m.type.startswith("video/")), None)
    if video is not None and video.width and video.height:
        return video.width, video.height
    return PLAYER_SIZE


def attachable(media: Media) -> bool:
    """Whether Mastodon plays this file as an attachment: a type it knows and a known size within 99 MB."""
    return (media.type in MASTODON_VIDEO + MASTODON_AUDIO and media.size is not None
            and media.size <= MASTODON_MEDIA_LIMIT)


def attachments(urls: Urls, talk: Talk) -> list[dict[str, Any]]:
    """What Mastodon shows as media: one file it plays (with the poster as its preview), else nothing.

    A status with an attachment gets no link card on Mastodon; without one, Mastodon shows the talk page's card
    with its poster and an inline player (the page's oEmbed), which plays any length from our server. So a
    file too big or of a type Mastodon does not play is not attached, nor is the poster alone. One file only: the
    entries are renditions of the same talk.
    """
    playable = [(m, href) for m, href in zip(talk.media, media_urls(urls, talk), strict=True)
                if attachable(m)]
    playable.sort(key=lambda pair: (not pair[0].type.startswith("video/"), pair[0].type != "video/mp4"))
    if not playable:
        return []
    media, href = playable[0]
    doc: dict[str, Any] = {"type": "Document", "mediaType": media.type, "url": href, "name": talk.title}
    if media.width:
        doc["width"] = media.width
    if media.height:
        doc["height"] = media.height
    picture = poster(urls, talk)
    if picture:
        doc["icon"] = {k: v for k, v in picture.items() if k in ("type", "url", "mediaType")}
    return [doc][:MASTODON_MAX_ATTACHMENTS]


def attachment(urls: Urls, talk: Talk) -> dict[str, Any]:
    """``{"attachment": [...]}`` when a file fits, else ``{}``: no media at all, so Mastodon shows the card."""
    found = attachments(urls, talk)
    return {"attachment": found} if found else {}


def licence(url: str | None) -> dict[str, str] | None:
    """PeerTube's licence for a Creative Commons URL (any version or port), or None when it has none."""
    m = _CC_RE.match(url or "")
    if not m:
        return None
    identifier, name = LICENCES[(m.group(1) or m.group(2)).lower()]
    return {"identifier": identifier, "name": name}


def language(tag: str) -> dict[str, str]:
    """PeerTube's ``{identifier, name}``: the primary language subtag (``fr-CA`` → ``fr``)."""
    primary = tag.split("-")[0].lower()
    return {"identifier": primary, "name": LANGUAGES.get(primary, primary)}
