"""webvtt: the reader refuses what players refuse and says on which line; what fedi writes reads back."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fedi import webvtt
from fedi.webvtt import Cue, VttError

GOOD = """\ufeffWEBVTT - sous-titres
Kind: captions

NOTE un commentaire
sur deux lignes

STYLE
::cue { color: yellow }

1
00:00:01.000 --> 00:00:04.500 align:start line:90%
<v Alice>Bonjour &amp; <i>bienvenue</i></v>

00:04.500 --> 00:07.000
deuxième
ligne

intro-2
01:00:00.000 --> 01:00:01.250
fin
"""


def test_a_good_file_gives_its_cues_in_order() -> None:
    """BOM, header text, NOTE and STYLE blocks, identifiers, settings, short and long timings, CRLF."""
    for text in (GOOD, GOOD.replace("\n", "\r\n")):
        cues = webvtt.parse(text)
        assert cues == (Cue(1.0, 4.5, "<v Alice>Bonjour &amp; <i>bienvenue</i></v>"),
                        Cue(4.5, 7.0, "deuxième\nligne"), Cue(3600.0, 3601.25, "fin"))
        assert [c.plain for c in cues] == ["Bonjour & bienvenue", "deuxième ligne", "fin"]


@pytest.mark.parametrize(("text", "message"), [
    ("", "line 1: a WebVTT file starts with the line 'WEBVTT'"),
    ("1\n00:00:01.000 --> 00:00:02.000\nx\n", "line 1: a WebVTT file starts"),
    ("WEBVTTX\n", "line 1"),
    ("WEBVTT\n00:00:01.000 --> 00:00:02.000\nx\n", "line 2: a blank line must separate the 'WEBVTT' header"),
    ("WEBVTT\n\n00:00:01,000 --> 00:00:02,000\nx\n", "line 3: '00:00:01,000 --> 00:00:02,000' is not a cue"),
    ("WEBVTT\n\n00:00:61.000 --> 00:01:02.000\nx\n", "line 3"),
    ("WEBVTT\n\nid\n00:00:05.000 --> 00:00:02.000\nx\n", "line 4: the cue ends before it starts"),
    ("WEBVTT\n\nid\nno timing here\n", "line 4: expected a cue timing"),
    ("WEBVTT\n\n00:00:05.000 --> 00:00:06.000\na\n\n00:00:01.000 --> 00:00:02.000\nb\n",
     "line 6: the cue starts before the one above it"),
    ("WEBVTT\n\n00:00:01.000 --> 00:00:02.000\na\n00:00:02.000 --> 00:00:03.000\n",
     "line 5: a blank line must separate two cues"),
])
def test_bad_files_name_the_line(text: str, message: str) -> None:
    with pytest.raises(VttError) as exc:
        webvtt.parse(text)
    assert str(exc.value).startswith(message), str(exc.value)


@pytest.mark.parametrize(("value", "seconds"), [(0, 0), (75, 75), ("0:00", 0), ("12:34", 754),
                                                 ("1:02:03", 3723), ("10:00:00", 36000), ("7:05", 425),
                                                 ("90", 90)])
def test_clock_reads_the_forms_an_entry_may_use(value: int | str, seconds: int) -> None:
    assert webvtt.clock(value) == seconds


@pytest.mark.parametrize("value", ["", "1:60", "1:2:3:4", "1.5", "-1:00", "1h", -5, "1:02:60", "²"])
def test_clock_refuses_other_forms(value: int | str) -> None:
    with pytest.raises(ValueError):
        webvtt.clock(value)


@given(st.lists(st.tuples(st.integers(0, 10**7), st.integers(1, 10**5),
                          st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=40)),
                max_size=8))
def test_what_fedi_writes_reads_back(items: list[tuple[int, int, str]]) -> None:
    """Chapter tracks fedi writes parse again, with the same times and the same plain text, whatever the titles
    hold (markup, arrows, line breaks)."""
    cues, start = [], 0
    for offset, length, text in items:
        start += offset
        cues.append((start / 1000, (start + length) / 1000, text))
    parsed = webvtt.parse(webvtt.write(cues))
    expected = [(s, e, " ".join(t.split())) for s, e, t in cues if t.split()]
    got = [(c.start, c.end, c.plain) for c in parsed if c.plain]
    assert [g[:2] for g in got] == [x[:2] for x in expected]
    assert [g[2] for g in got] == [x[2] for x in expected]
