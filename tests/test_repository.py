"""The repository stands alone: nothing in it points outside it, and every citation of the project's own
receiver notes (docs/receivers.md) names one of its sections."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from tests.conftest import ROOT

# spelled in pieces, so that this file does not cite them itself
FORBIDDEN = {
    "interop" + ".md": "a document outside the repository (cite docs/receivers.md instead)",
    "shared" + "/docs": "a folder outside the repository (cite docs/ instead)",
    "/wo" + "rk/": "an absolute path of one machine",
}
RECEIVERS = ROOT / "docs" / "receivers.md"
CITATION = re.compile(r"docs/receivers\.md, (.{0,80})")


def tracked_files() -> list[Path]:
    """The files git tracks, or, in a copy without git, every file outside hidden and generated folders."""
    try:
        listed = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True, timeout=60)
        names = [n for n in listed.stdout.decode().split("\0") if n]
        if names:
            return [ROOT / n for n in names if (ROOT / n).is_file()]
    except (OSError, subprocess.SubprocessError):
        pass
    skip = {".venv", "__pycache__", "node_modules"}
    return [p for p in ROOT.rglob("*") if p.is_file()
            and not any(part.startswith(".") or part in skip or part.endswith(".egg-info")
                        for part in p.relative_to(ROOT).parts)]


def test_tracked_files_are_listed() -> None:
    """The walk sees the code, the tests and the docs (so the next tests cannot pass on an empty list)."""
    names = {str(p.relative_to(ROOT)) for p in tracked_files()}
    assert {"fedi/app.py", "tests/test_repository.py", "docs/receivers.md", "FEDERATION.md"} <= names


def test_nothing_points_outside_the_repository() -> None:
    """No tracked file cites the third-party notes, the shared docs folder or an absolute machine path."""
    found = []
    for path in tracked_files():
        data = path.read_bytes()
        for needle, what in FORBIDDEN.items():
            if needle.encode() in data:
                line = data[:data.index(needle.encode())].count(b"\n") + 1
                found.append(f"{path.relative_to(ROOT)}:{line}: {needle!r}, {what}")
    assert not found, "\n".join(found)


def headings() -> set[str]:
    return {line[3:].strip() for line in RECEIVERS.read_text(encoding="utf-8").splitlines()
            if line.startswith("## ")}


def test_every_citation_of_the_receiver_notes_names_a_section() -> None:
    """"docs/receivers.md, Mastodon: posts" must be followed by a heading of that page, so a reader finds it
    (citations may wrap across lines, in comments too)."""
    sections = headings()
    assert {"Mastodon: signatures", "PeerTube: videos", "Common failures"} <= sections
    cited, wrong = 0, []
    for path in tracked_files():
        if path.suffix not in (".py", ".md", ".json", ".toml", ".html", ".txt"):
            continue
        text = re.sub(r"\s*\n\s*(#\s*)?", " ", path.read_text(encoding="utf-8"))
        for match in CITATION.finditer(text):
            cited += 1
            if not any(match.group(1).startswith(name) for name in sections):
                wrong.append(f"{path.relative_to(ROOT)}: {match.group(0)[:60]}…")
    assert cited >= 30, cited
    assert not wrong, "no such section in docs/receivers.md:\n" + "\n".join(wrong)
