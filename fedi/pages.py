"""HTML pages for people (the archive's profile, the owner, each talk, removed talks, errors).

Pure rendering: data in, ``str`` out. The Jinja2 environment is built once per process and escapes
everything by default, so titles, summaries and remote names can never inject markup; the one exception
is a reply's ``content_html``, which the inbox sanitizes before it is stored (see ``Reply``).
The only script is fedi's own ``static/player.js`` on talk pages with chapters or captions: it makes chapter
links and ``#t=`` anchors seek the player in place (without it, chapter links open the recording at that
moment). Interface strings exist in French and English (others fall back to English).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from jinja2 import Environment, PackageLoader, StrictUndefined

from .config import Config
from .talk_objects import format_duration, player_size, share_image, transcript_caption
from .talks import Caption, Chapter, Media, Talk
from .urls import ARCHIVE, OWNER, Urls
from .webvtt import Cue

MAX_DEPTH = 4
"""Replies nest at most this deep on the page; deeper ones are shown at this depth (phones stay readable)."""


@dataclass(frozen=True)
class Reply:
    """One approved reply to a talk, as the talk page shows it.

    ``parent_id`` is the id of the object it answers: the talk itself or another reply. ``content_html``
    MUST already be sanitized (allow-listed tags, no scripts or event handlers): it is the only value the
    templates do not escape. Every URL is checked again when rendered and dropped unless it is http(s).
    """

    id: str
    parent_id: str | None
    author_name: str
    author_handle: str
    author_url: str
    published: dt.datetime
    content_html: str
    author_avatar: str | None = None
    url: str | None = None


@dataclass
class _Node:
    reply: Reply
    depth: int = 1
    parent: _Node | None = None
    children: list[_Node] = field(default_factory=list)


def thread(replies: Iterable[Reply | Mapping[str, Any]]) -> list[_Node]:
    """Replies as a tree, in the order given (oldest first is the caller's choice).

    A reply whose parent has not appeared earlier in the list (the talk, a reply not approved, a cycle)
    is shown at the top level, so nothing is lost and no input can loop. Replies deeper than MAX_DEPTH
    join their parent's siblings.
    """
    roots: list[_Node] = []
    placed: dict[str, _Node] = {}
    for item in replies:
        reply = item if isinstance(item, Reply) else Reply(**item)
        parent = placed.get(reply.parent_id or "")
        while parent is not None and parent.depth >= MAX_DEPTH:
            parent = parent.parent
        if parent is None:
            node = _Node(reply)
            roots.append(node)
        else:
            node = _Node(reply, parent.depth + 1, parent)
            parent.children.append(node)
        placed.setdefault(reply.id, node)
    return roots


# dates, sizes and other small formats -----------------------------------------------

_MONTHS = {
    "fr": ("janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août", "septembre", "octobre",
           "novembre", "décembre"),
    "en": ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
           "November", "December"),
}


def base_language(language: str) -> str:
    """``fr-CA`` → ``fr``; languages without interface strings fall back to ``en``."""
    code = language.split("-")[0].lower()
    return code if code in _MONTHS else "en"


def format_date(when: dt.date | dt.datetime, language: str) -> str:
    """``6 mars 2010`` / ``1er mars 2010`` / ``6 March 2010`` — no locale module, so no process-wide state."""
    lang = base_language(language)
    day = "1er" if lang == "fr" and when.day == 1 else str(when.day)
    return f"{day} {_MONTHS[lang][when.month - 1]} {when.year}"


def iso_duration(seconds: int) -> str:
    """The ``datetime`` attribute of a ``<time>`` holding a duration (HTML: ``PT41M12S``)."""
    hours, rest = divmod(int(seconds), 3600)
    minutes, secs = divmod(rest, 60)
    return "PT" + (f"{hours}H" if hours else "") + (f"{minutes}M" if minutes else "") + f"{secs}S"


def format_size(size: int, language: str) -> str:
    """``192,8 Mo`` (fr) / ``192.8 MB`` (en): decimal units, one decimal."""
    lang = base_language(language)
    units = ("o", "ko", "Mo", "Go", "To") if lang == "fr" else ("B", "kB", "MB", "GB", "TB")
    value, unit = float(size), 0
    while value >= 1000 and unit < len(units) - 1:
        value /= 1000
        unit += 1
    text = f"{value:.0f}" if unit == 0 else f"{value:.1f}"
    if lang == "fr":
        text = text.replace(".", ",")
    return f"{text}\u00a0{units[unit]}"


def safe_url(value: str | None) -> str:
    """The URL when it is http(s), else ``""``: escaping alone would let ``javascript:`` links through."""
    if value and urlsplit(value.strip()).scheme.lower() in ("http", "https"):
        return value.strip()
    return ""


_CC = re.compile(r"^https?://creativecommons\.org/(licenses|publicdomain)/([a-z-]+)/(\d\.\d)/?([a-z]{2})?/?$")


def license_name(url: str) -> str:
    """A readable name for Creative Commons URLs (``CC BY-NC-SA 3.0 FR``); other licences show their URL."""
    m = _CC.match(url)
    if not m:
        return url
    kind, code, version, port = m.groups()
    if kind == "publicdomain":
        return f"CC0 {version}" if code == "zero" else url
    return f"CC {code.upper()} {version}" + (f" {port.upper()}" if port else "")


def media_label(media: Media, language: str) -> str:
    """``WebM, 640×360, 192,8 Mo`` for a download link."""
    sub = media.type.split("/", 1)[1]
    parts = [{"webm": "WebM", "mp4": "MP4", "ogg": "Ogg", "mpeg": "MP3"}.get(sub, sub.upper())]
    if media.width and media.height:
        parts.append(f"{media.width}×{media.height}")
    if media.size:
        parts.append(format_size(media.size, language))
    return ", ".join(parts)


def excerpt(text: str, limit: int = 200) -> str:
    """The first paragraph, cut at a word boundary: previews show a line or two."""
    first = re.split(r"\n\s*\n", text.strip(), maxsplit=1)[0]
    first = " ".join(first.split())
    if len(first) <= limit:
        return first
    return first[:limit].rsplit(" ", 1)[0].rstrip(",;:") + "…"


def paragraphs(text: str) -> list[str]:
    """Blank lines separate paragraphs; single newlines fold (like ``Talk.paragraphs``)."""
    parts = re.split(r"\n\s*\n", text.strip())
    return [" ".join(line.strip() for line in p.splitlines()) for p in parts if p.strip()]


def _plural(n: int, one: str, many: str, language: str) -> str:
    # French uses the singular for 0 and 1, English only for 1
    singular = n <= 1 if base_language(language) == "fr" else n == 1
    return f"{n}\u00a0{one if singular else many}"


# transcripts --------------------------------------------------------------------------

PARAGRAPH_GAP = 2.0
"""A pause of this many seconds between two cues starts a new paragraph."""
PARAGRAPH_SECONDS = 60.0
"""A paragraph is closed once it spans this long, so timestamps stay close to the words they lead to."""


@dataclass(frozen=True)
class Paragraph:
    start: int
    """Seconds: where the paragraph's link sends the player."""
    text: str


@dataclass(frozen=True)
class Section:
    title: str | None
    """The chapter the paragraphs belong to (None before the first chapter, or without chapters)."""
    paragraphs: tuple[Paragraph, ...]


def transcript_sections(cues: Sequence[Cue], chapters: Sequence[Chapter] = ()) -> list[Section]:
    """Cues as readable paragraphs, grouped under the chapters they fall in."""
    sections: list[Section] = []
    bounds = [c.start for c in chapters]
    current: list[Cue] = []
    paragraphs: list[Paragraph] = []
    chapter = -1 if not bounds or bounds[0] > 0 else 0

    def close_paragraph() -> None:
        if current:
            text = " ".join(c.plain for c in current if c.plain)
            if text:
                paragraphs.append(Paragraph(int(current[0].start), text))
            current.clear()

    def close_section() -> None:
        close_paragraph()
        if paragraphs:
            sections.append(Section(chapters[chapter].title if chapter >= 0 else None, tuple(paragraphs)))
            paragraphs.clear()

    for cue in cues:
        entered = chapter
        while entered + 1 < len(bounds) and cue.start >= bounds[entered + 1]:
            entered += 1
        if entered != chapter:
            close_section()
            chapter = entered
        elif current and (cue.start - current[-1].end >= PARAGRAPH_GAP
                          or cue.start - current[0].start >= PARAGRAPH_SECONDS):
            close_paragraph()
        current.append(cue)
    close_section()
    return sections


@dataclass(frozen=True)
class Track:
    """A ``<track kind="captions">`` of the player."""

    src: str
    language: str
    label: str
    default: bool


# interface strings --------------------------------------------------------------------

STRINGS: dict[str, dict[str, str]] = {
    "en": {
        "skip": "Skip to content", "archive": "Archive", "follow_title": "How to follow",
        "follow_intro": "Follow the archive from your fediverse account (Mastodon, PeerTube, Misskey, …) "
                        "to receive every new talk.",
        "handle_label": "Address of the archive",
        "mastodon": "Mastodon: paste the address into the search box, open the profile, then choose “Follow”.",
        "peertube": "PeerTube: paste the address into the search bar, then choose “Subscribe”.",
        "other": "Other servers: search for the address the same way.",
        "talks": "Talks", "no_talks": "No talk has been published yet.", "owned_by": "Archive kept by",
        "website": "Website", "speakers": "Speakers", "event": "Event", "place": "Place", "date": "Date",
        "duration": "Duration", "licence": "Licence", "tags": "Tags", "files": "Files", "download": "Download",
        "published": "Published on", "updated": "updated on",
        "no_video": "Your browser cannot play this video; download it below.",
        "no_media": "No file is available for this talk.",
        "follow_talk": "Receive the next talks: follow", "conversation": "Conversation",
        "reply_howto": "To reply from your fediverse account, search for this address there:",
        "no_replies": "No reply yet.", "back": "Back to the archive", "removed_title": "Talk removed",
        "removed_text": "This talk was removed from the archive on", "avatar": "Avatar:",
        "footer": "Published on the fediverse with fedi.",
        "error": "Error", "error_400": "Bad request", "error_404": "Page not found",
        "error_405": "Method not allowed", "error_410": "Gone", "error_500": "Server error",
        "one_follower": "follower", "followers": "followers", "one_talk": "talk", "many_talks": "talks",
        "one_like": "like", "likes": "likes", "one_share": "boost", "shares": "boosts",
        "speaker": "Speaker", "keeps": "Keeps the archive", "talk_address": "Address of this talk", "colon": ":",
        "removed_nodate": "This talk was removed from the archive.",
        "chapters": "Chapters", "transcript": "Transcript", "transcripts": "Transcripts",
        "transcript_of": "Transcript of", "other_languages": "Other languages",
    },
    "fr": {
        "skip": "Aller au contenu", "archive": "Archives", "follow_title": "Comment s’abonner",
        "follow_intro": "Abonnez-vous aux archives depuis votre compte du fédivers (Mastodon, PeerTube, "
                        "Misskey…) pour recevoir chaque nouvelle intervention.",
        "handle_label": "Adresse des archives",
        "mastodon": "Mastodon\u00a0: collez l’adresse dans la recherche, ouvrez le profil, puis choisissez "
                    "«\u00a0Suivre\u00a0».",
        "peertube": "PeerTube\u00a0: collez l’adresse dans la barre de recherche, puis choisissez "
                    "«\u00a0S’abonner\u00a0».",
        "other": "Autres serveurs\u00a0: cherchez l’adresse de la même façon.",
        "talks": "Interventions", "no_talks": "Aucune intervention n’a encore été publiée.",
        "owned_by": "Archives tenues par", "website": "Site web", "speakers": "Intervenants",
        "event": "Événement", "place": "Lieu", "date": "Date", "duration": "Durée", "licence": "Licence",
        "tags": "Mots-clés", "files": "Fichiers", "download": "Télécharger", "published": "Publié le",
        "updated": "mis à jour le",
        "no_video": "Votre navigateur ne peut pas lire cette vidéo\u00a0: téléchargez-la ci-dessous.",
        "no_media": "Aucun fichier n’est disponible pour cette intervention.",
        "follow_talk": "Recevoir les prochaines interventions\u00a0: suivez", "conversation": "Conversation",
        "reply_howto": "Pour répondre depuis votre compte du fédivers, cherchez-y cette adresse\u00a0:",
        "no_replies": "Aucune réponse pour l’instant.", "back": "Retour aux archives",
        "removed_title": "Intervention retirée", "removed_text": "Cette intervention a été retirée des archives le",
        "avatar": "Avatar\u00a0:", "footer": "Publié sur le fédivers avec fedi.",
        "error": "Erreur", "error_400": "Requête incorrecte", "error_404": "Page introuvable",
        "error_405": "Méthode non autorisée", "error_410": "Page supprimée", "error_500": "Erreur du serveur",
        "one_follower": "abonné", "followers": "abonnés", "one_talk": "intervention", "many_talks": "interventions",
        "one_like": "j’aime", "likes": "j’aime", "one_share": "partage", "shares": "partages",
        "speaker": "Intervenant", "keeps": "Tient les archives", "talk_address": "Adresse de cette intervention",
        "colon": "\u00a0:", "removed_nodate": "Cette intervention a été retirée des archives.",
        "chapters": "Chapitres", "transcript": "Transcription", "transcripts": "Transcriptions",
        "transcript_of": "Transcription de", "other_languages": "Autres langues",
    },
}


class Pages:
    """Renders every HTML page; built once per process with the config and the url minter."""

    def __init__(self, config: Config, urls: Urls) -> None:
        self.config = config
        self.urls = urls
        self.language = config.archive.language
        self.t = STRINGS[base_language(self.language)]
        env = Environment(loader=PackageLoader("fedi", "templates"), autoescape=True, undefined=StrictUndefined,
                          trim_blocks=True, lstrip_blocks=True)
        lang = self.language
        env.filters.update(
            date=lambda d: format_date(d, lang), iso=lambda d: d.isoformat(), duration=format_duration,
            iso_duration=iso_duration, safe_url=safe_url, license_name=license_name,
            media_label=lambda m: media_label(m, lang), resolve=self._resolve,
        )
        env.globals.update(
            t=self.t, urls=self.urls, config=config, lang=lang, handle="@" + urls.handle(ARCHIVE),
            archive_url=urls.actor(ARCHIVE), owner_url=urls.actor(OWNER), stylesheet=urls.static("style.css"),
            plural=lambda n, one, many: _plural(n, self.t[one], self.t[many], lang),
            paragraphs=paragraphs,
        )
        self.env = env
        self._templates: dict[str, Any] = {}
        """Compiled on first use: compiling all of them costs ~130 ms, which `fedi serve` should not wait for."""

    def _resolve(self, ref: str | None) -> str:
        return self.urls.resolve(ref) if ref else ""

    def _render(self, name: str, **data: Any) -> str:
        template = self._templates.get(name)
        if template is None:
            template = self._templates[name] = self.env.get_template(f"{name}.html")
        return str(template.render(**data))

    def profile(self, talks: Sequence[tuple[Talk | None, Any]], follower_count: int) -> str:
        """The archive's page: who it is, how to follow it, and its live talks, newest recording first.

        ``talks`` pairs the current entry (None when its file is gone) with the store's record; rows whose
        entry is gone or whose record has a ``deleted`` date are left out.
        """
        live = [t for t, rec in talks if t is not None and getattr(rec, "deleted", None) is None]
        live.sort(key=lambda t: (t.recorded, t.slug), reverse=True)
        return self._render("profile", talks=live, follower_count=follower_count)

    def owner(self) -> str:
        """The association's page: a short card pointing to the archive it keeps."""
        return self._render("owner")

    def talk(self, talk: Talk, published: dt.datetime | None, updated: dt.datetime | None,
             replies: Iterable[Reply | Mapping[str, Any]] = (), likes: int = 0, shares: int = 0) -> str:
        """One talk: player, facts, files, and the conversation (approved replies, oldest first).

        The head announces the talk's oEmbed answer, its embed page (``twitter:player``) and the owner as its
        ``fediverse:creator``, which make Mastodon's link card with an inline player and byline."""
        files = self._files(talk)
        video = next(((m, href) for m, href in files if m.type.startswith("video/")), None)
        changed = updated is not None and published is not None and updated.date() != published.date()
        image, width, height = share_image(self.config, self.urls, talk)
        page = self.urls.talk(talk.slug)
        return self._render(
            "talk", talk=talk, published=published, updated=updated if changed else None, files=files,
            video=video[0] if video else None, video_url=video[1] if video else "",
            description=excerpt(talk.summary), replies=thread(replies), likes=likes, shares=shares,
            page_url=page, share_image=image, share_width=width, share_height=height,
            oembed_url=self.urls.oembed(page), embed_url=self.urls.embed(talk.slug), frame=player_size(talk),
            creator="@" + self.urls.handle(OWNER), **self.player(talk, files),
        )

    def embed(self, talk: Talk) -> str:
        """The bare player of a talk for other sites' frames, with a link back to the talk page."""
        files = self._files(talk)
        return self._render("embed", talk=talk, files=files, page_url=self.urls.talk(talk.slug),
                            **self.player(talk, files))

    def _files(self, talk: Talk) -> list[tuple[Media, str]]:
        """Each file of the talk with its direct URL: visitors' players skip the redirect that the published
        uuid-named URL of a file hosted elsewhere costs (the files are the same)."""
        return [(m, self.urls.resolve(m.ref)) for m in talk.media]

    def player(self, talk: Talk, files: list[tuple[Media, str]]) -> dict[str, Any]:
        """What a talk's player shows besides its sources: caption and chapter tracks, the chapter list's
        links and the transcripts. Shared by every page that carries the player."""
        local = [c for c in talk.captions if c.local]
        default = transcript_caption(talk) if local else None
        archive = base_language(self.language)
        preferred = next((c for c in local if c.language.split("-")[0].lower() == archive), default)
        tracks = [Track(self.urls.caption(talk.slug, c.language, c.tag), c.language, c.label, c is preferred)
                  for c in local]
        return {
            "tracks": tracks,
            "chapters_track": self.urls.chapters_track(talk.slug, talk.chapters_tag) if talk.chapters else None,
            # a media fragment: without the script, the link opens the recording itself at that moment
            "seek_base": files[0][1] if files else None,
            "transcripts": [(c, self.urls.transcript(talk.slug, c.language)) for c in local],
            "player_script": self.urls.static("player.js") if (local or talk.chapters) else None,
        }

    def transcript(self, talk: Talk, caption: Caption) -> str:
        """A caption file as paragraphs, each opening with a link to its moment in the talk page's player."""
        others = [(c, self.urls.transcript(talk.slug, c.language)) for c in talk.captions
                  if c.local and c.language != caption.language]
        return self._render("transcript", talk=talk, caption=caption, page_url=self.urls.talk(talk.slug),
                            url=self.urls.transcript(talk.slug, caption.language), others=others,
                            sections=transcript_sections(caption.cues, talk.chapters))

    def removed(self, slug: str, deleted_at: dt.datetime | None) -> str:
        """The 410 page of a talk taken out of the archive."""
        return self._render("removed", slug=slug, deleted_at=deleted_at)

    def error(self, status: int, message: str) -> str:
        """A plain error page (400, 404, 405, 500 …) with a way back to the archive."""
        title = self.t.get(f"error_{status}", self.t["error"])
        return self._render("error", status=status, title=title, message=message)
