"""``fedi migrate --from URL --to URL``: copy an archive's whole state from one store to another.

The way from one SQLite file to PostgreSQL when one machine is no longer enough (or back): followers,
published talks and activities, the delivery queue, replies and reactions, blocks, the remote actor and key
cache, jobs and host health. Stop the fedi processes that use either store first, so that nothing changes
during the copy; then point ``[store] url`` at the target.

The source is opened read-only. The copy goes table by table, each after the tables its rows refer to, in
batches through the store interface (``export_rows`` / ``import_rows``: no SQL here, and documents keep their
exact bytes). Rows are upserted by key, so running it again is safe: an interrupted copy resumes, a finished
one changes nothing. With ``--prune`` the target also loses the rows the source does not have (the source was
used again since the first copy). At the end the rows of every table are counted on both sides; any difference
is reported, with status 1.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Callable
from typing import NamedTuple, TextIO

from ..errors import FediError
from ..store import TABLES, Store, open_store


class Count(NamedTuple):
    table: str
    source: int
    target: int


class Progress:
    """One line rewritten in place (``\\r``) on a terminal; elsewhere (a log, CI) a line per table and at every
    tenth of the rows, so the output stays short."""

    WIDTH = 24

    def __init__(self, stream: TextIO, total: int, tty: bool | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.stream, self.total, self.clock = stream, max(total, 1), clock
        self.tty = stream.isatty() if tty is None else tty
        self.done, self.tables, self.table, self._tenth, self._drawn = 0, 0, "", 0, 0.0

    def start(self, table: str) -> None:
        self.table, self.tables = table, self.tables + 1
        self._draw(force=True)

    def advance(self, rows: int) -> None:
        self.done += rows
        tenth = self.done * 10 // self.total
        if self.tty or tenth > self._tenth:
            self._tenth = tenth
            self._draw(force=not self.tty)

    def finish(self) -> None:
        self._draw(force=True)
        if self.tty:
            self.stream.write("\n")
        self.stream.flush()

    def _draw(self, force: bool) -> None:
        now = self.clock()
        if self.tty and not force and now - self._drawn < 0.1:  # a terminal needs no more than 10 frames a second
            return
        self._drawn = now
        filled = self.done * self.WIDTH // self.total
        line = (f"[{'#' * filled}{'.' * (self.WIDTH - filled)}] {self.done * 100 // self.total:3d}%  "
                f"{self.done:,}/{self.total:,} rows  table {self.tables}/{len(TABLES)} {self.table}")
        self.stream.write(f"\r{line:<100}" if self.tty else line + "\n")
        self.stream.flush()


async def migrate(source: Store, target: Store, batch: int = 1000, prune: bool = False,
                  progress_stream: TextIO | None = None) -> list[Count]:
    """Copy every table of ``source`` into ``target`` (upserting), optionally prune, and count both sides."""
    totals = {t.name: await source.count_rows(t.name) for t in TABLES}
    progress = Progress(progress_stream or sys.stderr, sum(totals.values()))
    kept: dict[str, set[tuple[object, ...]]] = {}
    for t in TABLES:
        progress.start(t.name)
        keys = kept.setdefault(t.name, set())
        async for rows in source.export_rows(t.name, batch):
            await target.import_rows(t.name, rows)
            if prune:
                keys.update(tuple(row[k] for k in t.key) for row in rows)
            progress.advance(len(rows))
    progress.finish()
    if prune:
        for t in reversed(TABLES):  # rows that refer to others go first
            extra = [key async for rows in target.export_rows(t.name, batch)
                     for key in (tuple(row[k] for k in t.key) for row in rows) if key not in kept[t.name]]
            for i in range(0, len(extra), batch):
                await target.delete_rows(t.name, extra[i:i + batch])
    return [Count(t.name, await source.count_rows(t.name), await target.count_rows(t.name)) for t in TABLES]


def add_parsers(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    s = sub.add_parser("migrate", help="copy the whole store to another one (SQLite → PostgreSQL, or back), then "
                                       "verify the counts; safe to run again")
    s.add_argument("--from", dest="source", required=True, metavar="URL",
                   help="the store to copy, e.g. sqlite:///fedi.sqlite3 (a relative path is from here)")
    s.add_argument("--to", dest="target", required=True, metavar="URL",
                   help="the store to fill (its tables are created), e.g. "
                        "postgresql://fedi:PASSWORD@db.example/fedi")
    s.add_argument("--batch", type=int, default=1000, metavar="N", help="rows per statement (default 1000)")
    s.add_argument("--prune", action="store_true",
                   help="also delete the target's rows that the source does not have")


def cmd_migrate(args: argparse.Namespace) -> int:
    if args.batch < 1:
        raise FediError(f"--batch {args.batch}: give a number of rows of at least 1")
    if args.source == args.target:
        raise FediError("--from and --to name the same store; give the store to fill as --to")

    async def run() -> list[Count]:
        async with open_store(_read_only(args.source)) as source, open_store(args.target) as target:
            return await migrate(source, target, args.batch, args.prune)
    counts = asyncio.run(run())
    width = max(len(c.table) for c in counts)
    print(f"{'TABLE':{width}}  {'SOURCE':>10}  {'TARGET':>10}")
    for c in counts:
        print(f"{c.table:{width}}  {c.source:>10,}  {c.target:>10,}{'' if c.source == c.target else '  DIFFERS'}")
    differ = [c for c in counts if c.source != c.target]
    if differ:
        more = [c.table for c in differ if c.target > c.source]
        hint = (f" The target has rows the source lacks in {', '.join(more)}: run again with --prune to delete "
                "them." if more else " Was a fedi process still writing to the source? Stop it and run again.")
        print(f"fedi: the counts differ in {len(differ)} table(s).{hint}", file=sys.stderr)
        return 1
    print(f"Copied {sum(c.source for c in counts):,} rows; every table's count matches. Now set [store] url = "
          f"{_shown(args.target)!r} in config.toml.")
    return 0


def _read_only(url: str) -> str:
    """The source is only read: opened with ``mode=ro`` (a missing SQLite file is then an error, not a new empty
    store, and nothing can change it by mistake)."""
    query = url.partition("?")[2]
    if any(part.startswith("mode=") for part in query.split("&")):
        return url
    return url + ("&" if query else "?") + "mode=ro"


def _shown(url: str) -> str:
    """The URL without its password (it is typed into the config by hand, and outputs end up in logs)."""
    scheme, sep, rest = url.partition("://")
    userinfo, at, host = rest.partition("/")[0].rpartition("@")
    if not at or ":" not in userinfo:
        return url
    return f"{scheme}{sep}{userinfo.partition(':')[0]}:PASSWORD@{rest[len(userinfo) + 1:]}"


COMMANDS = {"migrate": cmd_migrate}
