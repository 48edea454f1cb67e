"""The documentation holds: every relative link and #anchor resolves, every ``fedi`` command shown exists, every
configuration key is documented, the README stays short, and the shipped systemd unit is valid."""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import unicodedata
from pathlib import Path

import pytest

from fedi import cli

ROOT = Path(__file__).resolve().parent.parent
DOCS = [ROOT / "README.md", ROOT / "FEDERATION.md", *sorted((ROOT / "docs").glob("*.md"))]
PAGES = ["configuration", "operations", "moderation", "performance", "reliability", "security"]
README_MAX_CHARS = 15_000
UNIT = ROOT / "contrib" / "fedi.service"

FENCE = re.compile(r"^ {0,3}(```|~~~)")
LINK = re.compile(r"(?<!!)\[(?:[^\]\[]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
CODE_SPAN = re.compile(r"(`+)(.+?)\1")
FEDI_CALL = re.compile(r"(?:^\s*|(?<=/bin/))fedi(?=[ \t])", re.M)  # a line's first word, or a path to the program
PLACEHOLDER = re.compile(r"^[A-Z][A-Z_]*$")


def split_code(text: str) -> tuple[list[str], list[str]]:
    """The page's prose lines (fenced blocks left out) and its code: fenced lines and inline code spans."""
    prose: list[str] = []
    code: list[str] = []
    fenced = indented = False
    previous = ""
    for line in text.splitlines():
        if FENCE.match(line):
            fenced = not fenced
            continue
        # an indented code block: four spaces after a blank line (list continuations here indent by two or three)
        indented = line.startswith("    ") and (indented or not previous.strip())
        previous = line
        if fenced or indented:
            code.append(re.sub(r"(^|\s)#.*$", "", line))  # a shell comment is prose, not a command
        else:
            prose.append(line)
            code.extend(m.group(2) for m in CODE_SPAN.finditer(line))
    return prose, code


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lowercase, markup and punctuation dropped, spaces become hyphens."""
    text = re.sub(r"`|\*\*?|__?", "", heading.strip()).lower()
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text)
    kept = "".join(c for c in text if c in " -_" or unicodedata.category(c)[0] in "LN")
    return kept.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    found: set[str] = set()
    counts: dict[str, int] = {}
    prose, _ = split_code(path.read_text(encoding="utf-8"))
    for line in prose:
        heading = re.match(r"^ {0,3}#{1,6}\s+(.*?)\s*#*\s*$", line)
        if heading:
            base = slug(heading.group(1))
            n = counts.get(base, 0)
            counts[base] = n + 1
            found.add(base if n == 0 else f"{base}-{n}")
    return found


def links(path: Path) -> list[str]:
    prose, _ = split_code(path.read_text(encoding="utf-8"))
    text = "\n".join(CODE_SPAN.sub("", line) for line in prose)
    return [m.group(1) for m in LINK.finditer(text)]


def broken_links(path: Path) -> list[str]:
    """Relative links of one page whose file, or #anchor in a Markdown file, does not exist."""
    broken = []
    for target in links(path):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.I):  # https:, mailto:…: not checked here
            continue
        file_part, _, anchor = target.partition("#")
        dest = (path.parent / file_part).resolve() if file_part else path
        if not dest.exists():
            broken.append(f"{path.name}: {target} (no such file)")
        elif anchor and dest.suffix == ".md" and anchor not in anchors(dest):
            broken.append(f"{path.name}: {target} (no such heading)")
    return broken


def commands_shown(text: str) -> set[tuple[str, ...]]:
    """Every ``fedi COMMAND [ACTION]`` the code of a page shows, options and placeholders skipped."""
    _, code = split_code(text)
    found: set[tuple[str, ...]] = set()
    for snippet in code:
        for match in FEDI_CALL.finditer(snippet):
            words = re.split(r"[\s|`]+", snippet[match.end():].split("\n")[0].strip())
            while words and (words[0].startswith("-") or words[0].startswith("[")):
                option = words.pop(0)
                if option == "--config" and words:
                    words.pop(0)
                while option.startswith("[") and not option.endswith("]") and words:  # [--config PATH]
                    option = words.pop(0)
            if words and not PLACEHOLDER.match(words[0]) and re.match(r"^[a-z][a-z-]*$", words[0]):
                found.add(tuple(words[:2]))
    return found


def subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def command_argv(words: tuple[str, ...]) -> list[str]:
    """The command and, when the command has actions and the second word is one, that action."""
    commands = subcommands(cli.parser())
    argv = [words[0]]
    if words[0] in commands and len(words) > 1 and words[1] in subcommands(commands[words[0]]):
        argv.append(words[1])
    return argv


def help_exit_code(argv: list[str]) -> int:
    try:
        cli.main([*argv, "--help"])
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else 1
    return 0


def all_commands_shown() -> set[tuple[str, ...]]:
    shown: set[tuple[str, ...]] = set()
    for path in DOCS:
        shown |= {tuple(command_argv(words)) for words in commands_shown(path.read_text(encoding="utf-8"))}
    return shown


def test_the_pages_exist_and_the_readme_links_each():
    """docs/ has one page per concern, and the README's first screen leads to each of them."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for page in PAGES:
        assert (ROOT / "docs" / f"{page}.md").is_file(), page
        assert f"](docs/{page}.md)" in readme, f"README.md does not link docs/{page}.md"


def test_the_readme_is_short_and_starts_with_the_two_commands():
    """A newcomer reads the README in minutes: under the size limit, `make run` and `make test` on the first screen."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(readme) <= README_MAX_CHARS, f"README.md has {len(readme)} characters (at most {README_MAX_CHARS})"
    first_screen = "\n".join(readme.splitlines()[:15])
    assert "make run" in first_screen and "make test" in first_screen


@pytest.mark.parametrize("path", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_and_anchors_resolve(path):
    """Every relative link of the page names a file that exists, and its #anchor a heading of that file."""
    assert broken_links(path) == []


def test_a_broken_link_or_anchor_is_found(tmp_path):
    """The link check fails on a missing file, a missing heading, and passes a heading with markup and accents."""
    (tmp_path / "other.md").write_text("# Moving an archive: `fedi migrate`\n## Sécurité et clés\n", encoding="utf-8")
    page = tmp_path / "page.md"
    page.write_text("[a](other.md#moving-an-archive-fedi-migrate) [b](other.md#sécurité-et-clés) "
                    "[c](missing.md) [d](other.md#nowhere) [e](#here) [f](https://example.org/x)\n\n## Here\n"
                    "```\n[g](not-a-link.md)\n```\n", encoding="utf-8")
    assert broken_links(page) == ["page.md: missing.md (no such file)", "page.md: other.md#nowhere (no such heading)"]


def test_every_command_shown_exists():
    """Every `fedi …` command the README, FEDERATION.md and docs/ show answers `fedi COMMAND --help` with status 0."""
    shown = all_commands_shown()
    assert {("serve",), ("init",), ("followers", "approve"), ("replies", "pending"), ("migrate",)} <= shown
    missing = [" ".join(argv) for argv in sorted(shown) if help_exit_code(list(argv)) != 0]
    assert missing == []


def test_a_command_that_does_not_exist_is_found(capsys):
    """The command check can fail: an unknown command is extracted from code and refused by `--help`."""
    shown = commands_shown("Run `fedi --config x.toml publsh FILE`, or:\n\n```\nfedi serve   # not fedi process\n```\n")
    assert shown == {("publsh", "FILE"), ("serve",)}
    assert help_exit_code(command_argv(("publsh",))) != 0
    assert help_exit_code(command_argv(("followers", "approve"))) == 0
    capsys.readouterr()


def schema_sections(schema: dict, prefix: str = "") -> dict[str, list[str]]:
    """Each table of the config ("server", "actor.fields"…) and its keys, from the JSON schema."""
    sections: dict[str, list[str]] = {}
    for name, node in schema.get("properties", {}).items():
        if "properties" in node:
            sections.update(schema_sections(node, f"{prefix}{name}."))
    if prefix:
        sections[prefix.rstrip(".")] = list(schema.get("properties", {}))
    for name, node in schema.get("properties", {}).items():
        items = node.get("items", {})
        if node.get("type") == "array" and "properties" in items:
            sections[f"{prefix}{name}"] = list(items["properties"])
    return sections


def documented_keys(text: str) -> dict[str, set[str]]:
    """The keys of each `## [section]` / `### [[section]]` of configuration.md: first cells of its table rows."""
    keys: dict[str, set[str]] = {}
    current = None
    for line in text.splitlines():
        heading = re.match(r"^#+\s+(.*)$", line)
        if heading:
            name = re.fullmatch(r"\[\[?([a-z_.]+)\]\]?", heading.group(1).strip())
            current = name.group(1) if name else None
            if current:
                keys.setdefault(current, set())
        elif current:
            row = re.match(r"^\|\s*`([a-z_]+)`\s*\|", line)
            if row:
                keys[current].add(row.group(1))
    return keys


def test_every_configuration_key_is_documented():
    """docs/configuration.md documents each key of fedi/schemas/config.json in its section, and no key fedi lacks."""
    schema = json.loads((ROOT / "fedi" / "schemas" / "config.json").read_text(encoding="utf-8"))
    expected = {section: set(keys) for section, keys in schema_sections(schema).items()}
    documented = documented_keys((ROOT / "docs" / "configuration.md").read_text(encoding="utf-8"))
    assert "server" in expected and "base_url" in expected["server"] and "name" in expected["actor.fields"]
    assert documented == expected


@pytest.mark.skipif(shutil.which("systemd-analyze") is None,
                    reason="systemd-analyze is not installed (Debian package: systemd)")
def test_the_systemd_unit_is_valid(tmp_path):
    """contrib/fedi.service passes `systemd-analyze verify` (ExecStart pointed at this fedi) and runs `fedi serve`."""
    text = UNIT.read_text(encoding="utf-8")
    start = re.search(r"^ExecStart=(\S+)(.*)$", text, re.M)
    assert start and start.group(1).endswith("/bin/fedi") and start.group(2).split()[-1] == "serve"
    here = Path(sys.executable).parent / "fedi"
    if not here.exists():
        pytest.skip(f"{here} is not installed (pip install -e .)")
    unit = tmp_path / "fedi.service"
    unit.write_text(text.replace(f"ExecStart={start.group(1)}", f"ExecStart={here}"), encoding="utf-8")
    done = subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, timeout=60)
    # a bad setting is only a warning (exit 0): any output at all about the unit is a failure
    assert done.returncode == 0 and "fedi.service" not in done.stdout + done.stderr, done.stdout + done.stderr
