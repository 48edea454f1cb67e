"""fedi.sanitize: a hostile corpus (XSS classics, mutation XSS, CSS, bad URLs, huge input) and properties
(hypothesis) of what may come out: only allow-listed tags and attributes, balanced, http(s) links only."""

from __future__ import annotations

import unicodedata
from html.parser import HTMLParser

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from fedi.sanitize import (
    CONTENT_MAX,
    LINK_REL,
    NAME_MAX,
    SPAN_CLASSES,
    TAGS,
    clean_html,
    clean_text,
    is_http_url,
    text_to_html,
)

VOID = {"br"}


class _Check(HTMLParser):
    """Collects every element with its attributes, and whether start and end tags balance."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[tuple[str, dict[str, str | None]]] = []
        self.open: list[str] = []
        self.balanced = True
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):  # type: ignore[no-untyped-def]
        self.elements.append((tag, dict(attrs)))
        if tag not in VOID:
            self.open.append(tag)

    def handle_startendtag(self, tag, attrs):  # type: ignore[no-untyped-def]
        self.elements.append((tag, dict(attrs)))

    def handle_endtag(self, tag):  # type: ignore[no-untyped-def]
        if not self.open or self.open.pop() != tag:
            self.balanced = False

    def handle_data(self, data):  # type: ignore[no-untyped-def]
        self.text.append(data)


def check(out: str) -> _Check:
    """Parse sanitized output and assert everything the allow-list promises."""
    parser = _Check()
    parser.feed(out)
    parser.close()
    assert parser.balanced and not parser.open, out
    for tag, attrs in parser.elements:
        assert tag in TAGS, (tag, out)
        if tag == "a":
            assert set(attrs) <= {"href", "rel"} and attrs.get("rel") == LINK_REL, out
            if "href" in attrs:
                assert is_http_url(attrs["href"]), out
        elif tag == "span":
            assert set(attrs) <= {"class"}, out
            assert set((attrs.get("class") or "").split()) <= SPAN_CLASSES, out
        else:
            assert not attrs, out
    return parser


# the hostile corpus ---------------------------------------------------------------------------------------------

CORPUS = {
    "script": ("<p>a<script>alert(1)</script>b</p>", "<p>ab</p>"),
    "img onerror": ('<img src=x onerror="alert(1)">', ""),
    "img in text": ("x<img src=x>y", "xy"),
    "javascript link": ('<a href="javascript:alert(1)">x</a>', f'<a rel="{LINK_REL}">x</a>'),
    "mixed case scheme": ('<a href="JaVaScRiPt:alert(1)">x</a>', f'<a rel="{LINK_REL}">x</a>'),
    "tab in scheme": ('<a href="java&#x09;script:alert(1)">x</a>', f'<a rel="{LINK_REL}">x</a>'),
    "entity scheme": ('<a href="&#106;avascript:alert(1)">x</a>', f'<a rel="{LINK_REL}">x</a>'),
    "leading space": ('<a href=" javascript:alert(1)">x</a>', f'<a rel="{LINK_REL}">x</a>'),
    "data url": ('<a href="data:text/html;base64,PHNjcmlwdD4=">x</a>', f'<a rel="{LINK_REL}">x</a>'),
    "vbscript": ('<a href="vbscript:msgbox(1)">x</a>', f'<a rel="{LINK_REL}">x</a>'),
    "relative": ('<a href="/admin">x</a>', f'<a rel="{LINK_REL}">x</a>'),
    "protocol relative": ('<a href="//evil.example/x">x</a>', f'<a rel="{LINK_REL}">x</a>'),
    "handler on link": ('<a href="https://ok.example/" onmouseover="alert(1)" target="_top" rel="opener">x</a>',
                        f'<a href="https://ok.example/" rel="{LINK_REL}">x</a>'),
    "style element": ("<style>body{display:none}</style><p>t</p>", "<p>t</p>"),
    "style attribute": ('<p style="background:url(javascript:alert(1))">t</p>', "<p>t</p>"),
    "iframe": ('<iframe src="https://evil.example" srcdoc="<script>alert(1)</script>">t</iframe>', ""),
    "object embed": ('<object data="x.swf"><embed src="x.swf"></object>t', "t"),
    "form": ('<form action="https://evil.example"><input name=a><button formaction=x>go</button></form>', "go"),
    "svg onload": ("<svg onload=alert(1)><circle/></svg>t", "t"),
    "math mxss": ("<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>", ""),
    "noscript mxss": ('<noscript><p title="</noscript><img src=x onerror=alert(1)>">', '"&gt;'),
    "comment": ("<!--<script>alert(1)</script>--><p>t</p>", "<p>t</p>"),
    "cdata": ("<![CDATA[<script>alert(1)</script>]]>t", "alert(1)]]&gt;t"),  # a bogus comment, then text
    "base and meta": ('<base href="https://evil.example/"><meta http-equiv="refresh" content="0;url=x"><p>t</p>',
                      "<p>t</p>"),
    "link element": ('<link rel="stylesheet" href="https://evil.example/x.css"><p>t</p>', "<p>t</p>"),
    "unclosed": ("<p><strong>bold <em>both", "<p><strong>bold <em>both</em></strong></p>"),
    "stray close": ("</p></em>t</strong>", "<p></p>t"),
    "span classes": ('<span class="h-card evil mention" id="x" style="x">m</span>',
                     '<span class="h-card mention">m</span>'),
    "class elsewhere": ('<p class="x" id="y" dir="rtl" title="t" lang="fr">t</p>', "<p>t</p>"),
    "allowed markup": ("<blockquote><ul><li><code>a</code></li></ul><ol><li><pre>b</pre></li></ol></blockquote>",
                       "<blockquote><ul><li><code>a</code></li></ul><ol><li><pre>b</pre></li></ol></blockquote>"),
    "mastodon mention": ('<p><span class="h-card"><a href="https://m.example/@a" class="u-url mention">@<span>a'
                         '</span></a></span> hi</p>',
                         f'<p><span class="h-card"><a href="https://m.example/@a" rel="{LINK_REL}">@<span>a</span>'
                         f'</a></span> hi</p>'),
    "not text": (None, ""),
}


@pytest.mark.parametrize("case", list(CORPUS))
def test_hostile_corpus(case: str) -> None:
    """Each hostile input comes out exactly as expected, and within the allow-list."""
    given_html, expected = CORPUS[case]
    out = clean_html(given_html)
    assert out == expected
    check(out)


def test_a_megabyte_is_capped_and_stays_well_formed() -> None:
    """1 MB of markup is cut near the cap, ends with "…", and every tag is closed."""
    out = clean_html("<p><strong>" + "word " * 200_000 + "<em>" + "x" * 500_000)
    assert len(out) <= CONTENT_MAX + 30
    assert out.endswith("…</strong></p>")
    check(out)


def test_cut_never_leaves_half_a_tag() -> None:
    """A cut that falls inside a tag drops the partial tag rather than leaving ``<a hre`` behind."""
    link = '<a href="https://example.org/' + "p" * 40 + '">l</a>'
    out = clean_html("<p>" + link * 2000 + "</p>", limit=1000)
    assert len(out) < 1100 and out.endswith("…</p>")
    parser = check(out)
    assert all(attrs.get("href", "").startswith("https://example.org/") for _, attrs in parser.elements
               if _ == "a")


def test_plain_text_becomes_paragraphs_and_links() -> None:
    """PeerTube's text/markdown: escaped, blank lines make paragraphs, newlines breaks, URLs links."""
    out = text_to_html("**Merci** <script>x</script>\r\nligne 2\n\n\nhttps://e.example/a). javascript:alert(1)")
    assert out == (f'<p>**Merci** &lt;script&gt;x&lt;/script&gt;<br>ligne 2</p><p><a href="https://e.example/a" '
                   f'rel="{LINK_REL}">https://e.example/a</a>). javascript:alert(1)</p>')
    check(out)
    assert text_to_html(None) == "" and text_to_html("   \n\n ") == ""


# names ----------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("raw", "expected"), [
    ("Alice", "Alice"),
    ("\u202egnp.exe", "gnp.exe"),                                # right-to-left override
    ("a\u2066b\u2067c\u2068d\u2069", "abcd"),                     # isolates
    ("a\u202a\u202b\u202c\u202db", "ab"),                         # embeddings and pop
    ("ad\u200bmin\u200c\u200d\u2060\ufeff", "admin"),             # zero-width characters
    ("line\nbreak\ttab\u2028sep", "line break tab sep"),
    ("  lots   of    space ", "lots of space"),
    ("bell\x07 esc\x1b[31m red", "bell esc[31m red"),             # terminal escapes lose their ESC
    ("e\u0301\u0301\u0301\u0301\u0301", "e\u0301\u0301"),         # "Zalgo" shortened
    ("\u0301starts with a mark", "starts with a mark"),
    ("עברית and العربية", "עברית and العربية"),                  # real right-to-left text stays
    ("👩\u200d💻", "👩💻"),
    (None, ""), (42, ""),
])
def test_clean_text(raw: object, expected: str) -> None:
    """Names lose invisible and direction-changing characters, keep real text."""
    assert clean_text(raw) == expected


def test_clean_text_caps_length() -> None:
    """A long name is cut to the limit, ending with "…"."""
    out = clean_text("x" * 10_000)
    assert len(out) == NAME_MAX and out.endswith("…")


# properties -----------------------------------------------------------------------------------------------------

_PIECES = st.sampled_from([
    "<p>", "</p>", "<a href=\"https://ok.example/x\">", "<a href='javascript:alert(1)'>", "</a>", "<script>",
    "</script>", "<img src=x onerror=alert(1)>", "<span class=\"mention h-card x\">", "</span>", "<br>", "<br/>",
    "<em>", "</em>", "<strong>", "<style>", "</style>", "<svg onload=1>", "<math>", "<!--", "-->", "<iframe>",
    "<ul><li>", "</li>", "<pre>", "<code>", "<blockquote>", "&lt;", "&amp;", "&#x3c;script&#x3e;", "\"", "'", "=",
    " onclick=\"x\"", "<", ">", "<a", " href=", "data:text/html,x", "<noscript>", "<textarea>", "<table><td>",
])
_MARKUP = st.lists(st.one_of(_PIECES, st.text(max_size=8)), max_size=40).map("".join)


@settings(max_examples=400, deadline=None)
@given(_MARKUP)
def test_any_markup_comes_out_within_the_allow_list(raw: str) -> None:
    """Whatever goes in, only allow-listed, balanced markup with http(s) links comes out."""
    check(clean_html(raw))


@settings(max_examples=300, deadline=None)
@given(_MARKUP)
# a misplaced table makes the parser nest a link in a link, which a second parse takes apart
@example('<a href="https://ok.example/x"><table><td><a href="https://ok.example/x">')
def test_sanitizing_twice_changes_nothing(raw: str) -> None:
    """The output is a fixed point: stored content is already what would be shown."""
    once = clean_html(raw)
    assert clean_html(once) == once


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=300))
def test_any_text_is_shown_as_text(raw: str) -> None:
    """Plain text never turns into markup other than paragraphs, breaks and http(s) links."""
    parser = check(text_to_html(raw))
    assert {tag for tag, _ in parser.elements} <= {"p", "br", "a"}


@settings(max_examples=400, deadline=None)
@given(st.text(max_size=400), st.integers(min_value=2, max_value=120))
def test_clean_text_properties(raw: str, limit: int) -> None:
    """One line, no invisible or control character, trimmed, within the limit, and stable."""
    out = clean_text(raw, limit)
    assert len(out) <= limit
    assert out == out.strip() and "  " not in out
    assert not any(unicodedata.category(c) in ("Cc", "Cf", "Cs", "Cn") for c in out)
    assert clean_text(out, limit) == out or out.endswith("…")
