"""Making remote text safe to store and to show: reply HTML through an allow-list, names as plain text.

Reply content is the only remote value the talk page does not escape (``pages.Reply.content_html``), so it goes
through nh3, the Python binding of Ammonia, a maintained HTML5 sanitizer written in Rust (a parser of our own
would be the weakest link). The allow-list is the one Mastodon's own strict sanitizer keeps for remote posts,
minus images: paragraphs, line breaks, links (http and https only, marked ``nofollow noopener ugc``), the spans
of Mastodon's mentions, hashtags and shortened links, emphasis, code, quotes and lists. Scripts, styles, event
handlers, frames, images, forms, ``javascript:``/``data:`` and relative URLs never survive; what is left is
well-formed (unclosed tags are closed), and capped in length.

Display names and handles are plain text (the templates escape them): control characters, bidirectional
overrides and isolates (U+202A–U+202E, U+2066–U+2069), zero-width and other invisible format characters are
removed, so a name cannot reverse or hide the text shown after it; runs of combining marks are shortened
("Zalgo" names cannot cover the lines around them); length is capped.
"""

from __future__ import annotations

import html
import re
import unicodedata
from typing import Any
from urllib.parse import urlsplit

import nh3

TAGS = frozenset({"p", "br", "a", "span", "strong", "em", "code", "pre", "blockquote", "ul", "ol", "li"})
SPAN_CLASSES = frozenset({"h-card", "mention", "hashtag", "invisible", "ellipsis"})
"""Mastodon's markup: ``<span class="h-card">`` around mentions, ``invisible``/``ellipsis`` in shortened links."""
LINK_REL = "nofollow noopener ugc"
"""Added to every link: no ranking for spam (``nofollow``, ``ugc``: user-generated), no ``window.opener``."""
DROP_WITH_CONTENT = frozenset({"script", "style", "iframe", "frame", "frameset", "object", "embed", "noscript",
                               "template", "svg", "math", "textarea", "select", "title", "xmp", "noembed"})
"""Removed together with what they contain (their text is code, or would be nonsense once the tag is gone)."""

CONTENT_MAX = 20_000
"""Characters of sanitized HTML kept per reply (PeerTube allows 10,000 characters of text per comment)."""
INPUT_MAX = 256 * 1024
"""Characters of remote HTML read at all: the sanitizer's work stays bounded whatever a server sends."""
NAME_MAX = 100
HANDLE_MAX = 200
COMBINING_RUN = 2
"""Combining marks kept after one character (enough for any script's real diacritics)."""
ELLIPSIS = "…"


def _href(tag: str, attribute: str, value: str) -> str | None:
    """Only absolute http(s) URLs stay in ``href`` (Ammonia lets relative ones through by default)."""
    if attribute == "href":
        return value if is_http_url(value) else None
    return value


_CLEANER = nh3.Cleaner(
    tags=set(TAGS),
    clean_content_tags=set(DROP_WITH_CONTENT),
    attributes={"*": set(), "a": {"href"}},  # "*": no attribute anywhere else (Ammonia keeps lang, title)
    attribute_filter=_href,
    allowed_classes={"span": set(SPAN_CLASSES)},
    url_schemes={"http", "https"},
    link_rel=LINK_REL,
    strip_comments=True,
)


def is_http_url(value: Any) -> bool:
    """An absolute http(s) URL with a host, without spaces or control characters."""
    if not isinstance(value, str) or not value or len(value) > 2048:
        return False
    if any(c.isspace() or unicodedata.category(c) == "Cc" for c in value):
        return False
    try:
        parts = urlsplit(value)
    except ValueError:
        return False
    return parts.scheme.lower() in ("http", "https") and bool(parts.hostname)


def clean_html(value: Any, limit: int = CONTENT_MAX) -> str:
    """Remote HTML reduced to the allow-list, at most about ``limit`` characters ("" for anything but text).

    A cut ends with "…" and is sanitized again, which closes the tags left open; the result may exceed
    ``limit`` by those few closing tags.
    """
    if not isinstance(value, str):
        return ""
    out = _settled(value[:INPUT_MAX]).strip()
    if len(out) <= limit:
        return out
    cut = out[:limit]
    if cut.rfind("<") > cut.rfind(">"):  # never leave half a tag behind
        cut = cut[:cut.rfind("<")]
    return _settled(cut.rstrip() + ELLIPSIS)


def _settled(markup: str, passes: int = 4) -> str:
    """The cleaner's output cleaned again until it no longer changes: the HTML parser can build a tree whose
    serialization parses differently (an ``<a>`` nested in an ``<a>`` through a misplaced ``<table>``), and
    stored content must already be exactly what a second pass would show."""
    out = _CLEANER.clean(markup)
    for _ in range(passes):
        again = _CLEANER.clean(out)
        if again == out:
            break
        out = again
    return out


_URL = re.compile(r"https?://[^\s<>\"'`]+")


def text_to_html(value: Any, limit: int = CONTENT_MAX) -> str:
    """Plain text (PeerTube sends comments as ``text/markdown``, i.e. as typed) as safe HTML paragraphs:
    escaped, blank lines between paragraphs, line breaks kept, http(s) URLs as links. Markdown syntax is not
    interpreted: it shows as typed, which is readable and can never smuggle markup."""
    if not isinstance(value, str):
        return ""
    text = value[:INPUT_MAX].replace("\r\n", "\n").replace("\r", "\n")
    paragraphs = [p.strip("\n") for p in re.split(r"\n[ \t]*\n", text) if p.strip()]
    parts = ["<p>" + "<br>".join(_linkify(line) for line in p.split("\n")) + "</p>" for p in paragraphs]
    return clean_html("".join(parts), limit)


def _linkify(text: str) -> str:
    out, last = [], 0
    for m in _URL.finditer(text):
        url = m.group(0).rstrip(".,;:!?)]}")
        out.append(html.escape(text[last:m.start()]))
        out.append(f'<a href="{html.escape(url)}">{html.escape(url)}</a>' if is_http_url(url) else html.escape(url))
        last = m.start() + len(url)
    out.append(html.escape(text[last:]))
    return "".join(out)


def _invisible(char: str) -> bool:
    """Control (Cc), format (Cf: bidi controls, zero-width characters, tags), surrogates and unassigned."""
    return unicodedata.category(char) in ("Cc", "Cf", "Cs", "Cn")


def clean_text(value: Any, limit: int = NAME_MAX) -> str:
    """A remote name as one line of plain text: invisible and direction-changing characters removed, runs of
    whitespace folded to one space, combining marks limited, at most ``limit`` characters ("…" when cut)."""
    if not isinstance(value, str):
        return ""
    kept: list[str] = []
    marks = 0
    for char in value[:limit * 8]:
        if char.isspace():
            char = " "  # line breaks and tabs included: a name is one line
        elif _invisible(char):
            continue
        if unicodedata.combining(char):
            marks += 1
            if marks > COMBINING_RUN or not kept:
                continue
        else:
            marks = 0
        kept.append(char)
    text = " ".join("".join(kept).split())
    if len(text) > limit:
        text = text[:limit - 1].rstrip() + ELLIPSIS
    return text
