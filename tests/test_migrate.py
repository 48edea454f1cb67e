"""``fedi migrate``: SQLite → PostgreSQL → SQLite with data in every table, exact bytes, safe re-runs, pruning,
counts verified, and the progress display. Needs a PostgreSQL server (skipped, saying why, without one)."""

from __future__ import annotations

import asyncio
import io
from collections.abc import Callable
from itertools import count

import pytest

from fedi import cli
from fedi.commands.migrate import Progress
from fedi.store import TABLES, Row, open_store
from fedi.urls import ARCHIVE
from tests.storedata import NOW, fill, follower


async def _dump(url: str) -> dict[str, list[Row]]:
    async with open_store(url) as s:
        return {t.name: [r async for rows in s.export_rows(t.name, 7) for r in rows] for t in TABLES}


def dump(url: str) -> dict[str, list[Row]]:
    return asyncio.run(_dump(url))


def run(coro_fn: Callable, url: str) -> object:  # type: ignore[type-arg]
    async def go() -> object:
        async with open_store(url) as s:
            return await coro_fn(s)
    return asyncio.run(go())


@pytest.fixture
def urls(new_store_url: Callable[[str], str]) -> tuple[str, str, str]:
    """A filled SQLite store, an empty PostgreSQL database and an empty second SQLite file."""
    source = new_store_url("sqlite")
    run(fill, source)
    return source, new_store_url("postgres"), new_store_url("sqlite")


def test_round_trip(urls: tuple[str, str, str], capsys: pytest.CaptureFixture[str]) -> None:
    """Every table goes SQLite → PostgreSQL → SQLite unchanged: same rows, same ids, same bytes, same status."""
    sqlite1, pg, sqlite2 = urls
    assert cli.main(["migrate", "--from", sqlite1, "--to", pg, "--batch", "5"]) == 0
    out = capsys.readouterr()
    assert "every table's count matches" in out.out and "followers" in out.out and "DIFFERS" not in out.out
    assert "100%" in out.err  # the progress display went to stderr
    assert cli.main(["migrate", "--from", pg, "--to", sqlite2]) == 0
    original, on_pg, back = dump(sqlite1), dump(pg), dump(sqlite2)
    assert all(original[t.name] for t in TABLES), [t.name for t in TABLES if not original[t.name]]
    assert on_pg == original
    assert back == original
    statuses = [run(lambda s: s.status(NOW), u) for u in urls]
    assert statuses[0] == statuses[1] == statuses[2]
    bodies = [run(lambda s: s.talk_json("t1"), u) for u in urls]
    assert bodies[0] == bodies[1] == bodies[2] and "Débat « ouvert »".encode() in bodies[0].body
    # the copied queue works on PostgreSQL: due rows are claimable, and new ids follow the copied ones
    claimed = run(lambda s: s.claim_deliveries(NOW, 100, 60, "after-migrate"), pg)
    assert len(claimed) == 12  # 13 queued and 2 Accepts of quotes, 3 were resolved before the copy
    new_job = run(lambda s: s.add_job("x", {}, NOW), pg)
    assert new_job > max(r["id"] for r in original["jobs"])


def test_rerun_is_safe_and_prune_removes_leftovers(urls: tuple[str, str, str],
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    """A second run writes nothing new; rows the source gained are added; rows it lost are reported, and
    removed with --prune."""
    source, pg, _ = urls
    assert cli.main(["migrate", "--from", source, "--to", pg]) == 0
    assert cli.main(["migrate", "--from", source, "--to", pg]) == 0
    assert dump(pg) == dump(source)
    run(lambda s: s.add_follower(follower("new", since=NOW)), source)
    run(lambda s: s.remove_follower(ARCHIVE, follower(1).actor_id), source)
    run(lambda s: s.unblock("spam.example"), source)
    capsys.readouterr()
    assert cli.main(["migrate", "--from", source, "--to", pg]) == 1
    out = capsys.readouterr()
    assert "followers" in out.out and "DIFFERS" in out.out
    assert "run again with --prune" in out.err and "blocks" in out.err
    assert run(lambda s: s.follower(ARCHIVE, follower("new").actor_id), pg) is not None
    assert cli.main(["migrate", "--from", source, "--to", pg, "--prune", "--batch", "2"]) == 0
    assert dump(pg) == dump(source)


def test_refusals(new_store_url: Callable[[str], str], capsys: pytest.CaptureFixture[str]) -> None:
    """The same store twice, a batch below one, an unreachable target: one line on stderr, status 1."""
    source = new_store_url("sqlite")
    assert cli.main(["migrate", "--from", source, "--to", source]) == 1
    assert "same store" in capsys.readouterr().err
    assert cli.main(["migrate", "--from", source, "--to", new_store_url("sqlite"), "--batch", "0"]) == 1
    assert "--batch 0" in capsys.readouterr().err
    missing = source.replace("fedi.sqlite3", "missing.sqlite3")
    assert cli.main(["migrate", "--from", missing, "--to", new_store_url("sqlite")]) == 1
    assert "cannot open it" in capsys.readouterr().err  # opened read-only: not created empty and "copied"
    run(lambda s: s.block("x.example"), source)
    assert cli.main(["migrate", "--from", source, "--to", "postgresql://fedi:s3cret@127.0.0.1:1/fedi"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("fedi: store postgresql://fedi@127.0.0.1:1/fedi: cannot reach") and "s3cret" not in err


def test_progress_on_a_terminal_and_in_a_log() -> None:
    """A terminal gets one line redrawn with \\r (at most ten times a second); a log a line per table and tenth."""
    ticks = count(step=0.01)
    tty = io.StringIO()
    p = Progress(tty, total=1000, tty=True, clock=lambda: next(ticks))
    p.start("talks")
    for _ in range(100):
        p.advance(10)
    p.finish()
    text = tty.getvalue()
    assert "\n" not in text[:-1] and text.endswith("\n")
    frames = text.split("\r")[1:]
    assert 10 <= len(frames) < 30
    assert "100%" in frames[-1] and "1,000/1,000 rows" in frames[-1] and f"table 1/{len(TABLES)} talks" in frames[-1]
    log = io.StringIO()
    p = Progress(log, total=1000, tty=False)
    p.start("talks")
    for _ in range(100):
        p.advance(10)
    p.start("seen")
    p.finish()
    lines = log.getvalue().splitlines()
    assert "\r" not in log.getvalue()
    assert len(lines) == 1 + 10 + 1 + 1
    assert lines[0].startswith("[........................]   0%") and "100%" in lines[-1]
