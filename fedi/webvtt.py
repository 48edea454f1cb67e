"""WebVTT: read caption and chapter files, write chapter tracks. Pure functions, no I/O.

The reader follows the WebVTT file structure closely enough to refuse what players and PeerTube would refuse
(no ``WEBVTT`` signature, a malformed or reversed cue timing, cues out of order), and says on which line.
``NOTE``, ``STYLE`` and ``REGION`` blocks are skipped; cue settings are accepted and ignored.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable
from dataclasses import dataclass

_SIGNATURE = re.compile(r"^WEBVTT(?:[ \t].*)?$")
_TIME = r"(?:(\d{2,}):)?([0-5]\d):([0-5]\d)\.(\d{3})"
_TIMING = re.compile(rf"^{_TIME}[ \t]+-->[ \t]+{_TIME}(?:[ \t].*)?$")
_TAG = re.compile(r"<[^>]*>")
_CLOCK = re.compile(r"^(?:(\d+):)?([0-5]?\d):([0-5]\d)$")


class VttError(ValueError):
    """A file that is not valid WebVTT; the message names the line."""


@dataclass(frozen=True)
class Cue:
    start: float
    """Seconds from the start of the recording."""
    end: float
    text: str
    """The cue's payload as written (may hold ``<v Name>``, ``<i>``… tags and entities)."""

    @property
    def plain(self) -> str:
        return plain(self.text)


def parse(text: str) -> tuple[Cue, ...]:
    """The cues of a WebVTT file, in order; raises VttError naming the line of the first problem."""
    lines = text.removeprefix("\ufeff").replace("\r\n", "\n").replace("\r", "\n").split("\n")
    if not _SIGNATURE.match(lines[0]):
        raise VttError("line 1: a WebVTT file starts with the line 'WEBVTT'")
    i = 1
    while i < len(lines) and lines[i].strip():  # the header ends at the first blank line
        if "-->" in lines[i]:
            raise VttError(f"line {i + 1}: a blank line must separate the 'WEBVTT' header from the first cue")
        i += 1
    cues: list[Cue] = []
    while i < len(lines):
        if not lines[i].strip():
            i += 1
            continue
        block_start = i
        while i < len(lines) and lines[i].strip():
            i += 1
        block = lines[block_start:i]
        if re.match(r"^(NOTE|STYLE|REGION)(?:[ \t]|$)", block[0]):
            continue
        cues.append(_cue(block, block_start + 1, cues[-1] if cues else None))
    return tuple(cues)


def _cue(block: list[str], line: int, previous: Cue | None) -> Cue:
    timing_at = 0 if "-->" in block[0] else 1
    if timing_at >= len(block) or "-->" not in block[timing_at]:
        raise VttError(f"line {line + timing_at}: expected a cue timing like '00:01.000 --> 00:04.000'")
    m = _TIMING.match(block[timing_at].strip())
    if not m:
        raise VttError(f"line {line + timing_at}: {block[timing_at].strip()!r} is not a cue timing "
                       "(write it like '00:01:02.000 --> 00:01:05.500')")
    start, end = _seconds(*m.groups()[:4]), _seconds(*m.groups()[4:])
    if end <= start:
        raise VttError(f"line {line + timing_at}: the cue ends before it starts")
    if previous is not None and start < previous.start:
        raise VttError(f"line {line + timing_at}: the cue starts before the one above it (cues must be in order)")
    payload = block[timing_at + 1:]
    for n, text in enumerate(payload):
        if "-->" in text:
            raise VttError(f"line {line + timing_at + 1 + n}: a blank line must separate two cues")
    return Cue(start, end, "\n".join(payload))


def _seconds(hours: str | None, minutes: str, seconds: str, millis: str) -> float:
    return (int(hours or 0) * 3_600_000 + int(minutes) * 60_000 + int(seconds) * 1000 + int(millis)) / 1000


def plain(text: str) -> str:
    """A cue's words without tags, entities decoded, lines joined by spaces."""
    return " ".join(html.unescape(_TAG.sub("", text)).split())


def clock(value: int | str) -> int:
    """Seconds from ``H:MM:SS``, ``MM:SS`` or a number of seconds; raises ValueError otherwise."""
    if isinstance(value, int) and not isinstance(value, bool):
        if value < 0:
            raise ValueError("a time cannot be negative")
        return value
    if isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():
        return int(value)
    m = _CLOCK.match(str(value).strip())
    if not m:
        raise ValueError(f"{value!r} is not a time (write it like \"1:02:03\", \"12:34\" or a number of seconds)")
    hours, minutes, seconds = (int(g) if g else 0 for g in m.groups())
    return hours * 3600 + minutes * 60 + seconds


def timestamp(seconds: float) -> str:
    """``01:02:03.000``, the cue timing form."""
    millis = round(seconds * 1000)
    hours, rest = divmod(millis, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    secs, ms = divmod(rest, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}.{ms:03d}"


def write(cues: Iterable[tuple[float, float, str]]) -> str:
    """A WebVTT file of plain-text cues (``start``, ``end``, ``text``), as served for a chapters track."""
    out = ["WEBVTT", ""]
    for start, end, text in cues:
        # the text is plain: escape what WebVTT would read as markup, and keep it on one line
        safe = " ".join(text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").split())
        out += [f"{timestamp(start)} --> {timestamp(end)}", safe, ""]
    return "\n".join(out)
