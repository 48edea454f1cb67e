"""What only the SQLite backend has: its file, pragmas, file permissions and a full disk.

The contract shared with PostgreSQL is tested on both backends in test_store.py."""

from __future__ import annotations

import asyncio
import functools
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import threading
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from fedi.errors import StoreError
from fedi.store import PublishCounts, Store, open_store
from fedi.store.sqlite import SqliteStore
from fedi.store.sqlite_schema import MIGRATIONS
from fedi.urls import ARCHIVE
from tests.storedata import NOW, activity, change, delivery, follower, sql

ROOT = Path(__file__).resolve().parents[1]


def url(path: Path) -> str:
    return f"sqlite:///{path}"


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "fedi.sqlite3"


@pytest.fixture
async def store(db: Path):  # type: ignore[no-untyped-def]
    async with open_store(url(db)) as s:
        yield s


async def test_open_creates_schema_with_pragmas(store: Store, db: Path) -> None:
    """A new file gets every migration, WAL, NORMAL sync, foreign keys and a busy timeout of at least 5 s."""
    assert (await sql(store, "PRAGMA user_version"))[0][0] == len(MIGRATIONS)
    assert (await sql(store, "PRAGMA journal_mode"))[0][0] == "wal"
    assert (await sql(store, "PRAGMA synchronous"))[0][0] == 1  # NORMAL
    assert (await sql(store, "PRAGMA foreign_keys"))[0][0] == 1
    assert (await sql(store, "PRAGMA busy_timeout"))[0][0] >= 5000
    assert await store.integrity_check() == "ok"
    tables = {r[0] for r in await sql(store, "SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {"talks", "activities", "deliveries", "followers", "seen", "jobs", "comments", "reactions"} <= tables


def test_sqlite_urls(tmp_path: Path) -> None:
    """Unknown kinds and options are refused; sqlite paths and mode=ro are parsed."""
    with pytest.raises(StoreError, match="unknown kind"):
        open_store("mysql://x")
    with pytest.raises(StoreError, match="unknown option"):
        open_store(url(tmp_path / "f.db") + "?cache=shared")
    store = open_store(url(tmp_path / "f.db") + "?mode=ro")
    assert isinstance(store, SqliteStore) and store.readonly and store.path == tmp_path / "f.db"


async def test_missing_folder_is_a_clear_error(tmp_path: Path) -> None:
    """A store in a folder that does not exist fails with StoreError naming the file."""
    path = tmp_path / "nowhere" / "fedi.sqlite3"
    with pytest.raises(StoreError, match=f"{path}: cannot open it"):
        await open_store(url(path)).open()


_OPEN_SCRIPT = """
import asyncio, sys
sys.path.insert(0, sys.argv[1])
from fedi.errors import StoreError
from fedi.store import open_store
async def main():
    try:
        async with open_store(sys.argv[2]) as s:
            await s.block("x.example")
    except StoreError as exc:
        print(exc); sys.exit(3)
    print("wrote")
asyncio.run(main())
"""

NOBODY = 65534


def _pythons() -> list[str]:
    """This interpreter by each of its names: the venv's may sit in a checkout another user cannot enter, the
    installation it points to may not (the store needs only the standard library)."""
    names = [sys.executable, os.path.realpath(sys.executable), getattr(sys, "_base_executable", sys.executable)]
    return list(dict.fromkeys(names))


def _as_nobody(env: dict[str, str], cwd: Path) -> tuple[list[str], dict[str, Any]] | str:
    """A command prefix (a Python and how to switch user) and Popen options that run Python as the unprivileged
    ``nobody`` user, or why that is impossible here. ``setpriv`` is tried first: Popen(user=) cannot exec a
    Python installed under /root."""
    switches: list[tuple[list[str], dict[str, Any]]] = [
        ([], {"user": NOBODY, "group": NOBODY, "extra_groups": []})]
    if shutil.which("setpriv"):
        switches.insert(0, (["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups"], {}))
    problems = []
    for python in _pythons():
        for switch, options in switches:
            try:
                probe = subprocess.run([*switch, python, "-I", "-c", "import os, sqlite3; print(os.geteuid())"],
                                       env=env, cwd=cwd, capture_output=True, text=True, timeout=60, **options)
            except OSError as exc:
                problems.append(f"{python}: {exc}")
                continue
            if probe.stdout.strip() == str(NOBODY):
                return [*switch, python], options
            problems.append(f"{python}: {probe.stderr.strip()[-200:]}")
    return "; ".join(problems)


def _copy_of_fedi(into: Path) -> Path:
    """The ``fedi`` package copied under ``into`` and owned by ``nobody``: the checkout may sit in a folder that
    user cannot enter (a clone under /root, mode 0700), so the child imports this copy, never the checkout."""
    copy = into / "src"
    shutil.copytree(ROOT / "fedi", copy / "fedi", ignore=shutil.ignore_patterns("__pycache__"))
    for folder, _, files in os.walk(copy):
        os.chown(folder, NOBODY, NOBODY)
        for name in files:
            os.chown(os.path.join(folder, name), NOBODY, NOBODY)
    return copy


@pytest.mark.parametrize("folder_mode", [0o444, 0o555])
async def test_readonly_file_and_folder(tmp_path: Path, folder_mode: int) -> None:
    """With the file 444 and its folder read-only, opening and writing fail with StoreError naming the file.

    Root ignores file modes, so as root the check runs in a child process switched to the ``nobody`` user,
    which owns the files (the modes, not the ownership, are what deny it), on a copy of ``fedi`` it owns.
    """
    root = os.geteuid() == 0
    base = Path(tempfile.mkdtemp(prefix="fedi-ro-", dir="/tmp")) if root else tmp_path
    folder = base / "data"
    folder.mkdir()
    path = folder / "fedi.sqlite3"
    async with open_store(url(path)) as s:
        await s.add_follower(follower(1))
    try:
        if root:
            base.chmod(0o755)
            for p in (folder, path):
                os.chown(p, NOBODY, NOBODY)
            source = _copy_of_fedi(base)
        path.chmod(0o444)
        folder.chmod(folder_mode)
        if root:
            env = {"HOME": str(base), "PYTHONDONTWRITEBYTECODE": "1"}
            way = _as_nobody(env, base)
            if isinstance(way, str):
                pytest.skip(f"running as root, and no way to run Python as 'nobody' here ({way})")
            command, options = way
            run = subprocess.run([*command, "-I", "-c", _OPEN_SCRIPT, str(source), url(path)], env=env, cwd=base,
                                 capture_output=True, text=True, timeout=60, **options)
            assert run.returncode == 3, run.stdout + run.stderr
            message = run.stdout
        else:
            with pytest.raises(StoreError) as info:
                async with open_store(url(path)) as s:
                    await s.block("x.example")
            message = str(info.value)
        assert f"store {path}:" in message
        assert "cannot write" in message or "cannot open" in message
    finally:
        folder.chmod(0o755)
        path.chmod(0o644)
    async with open_store(url(path)) as s:  # usable again once the modes are back
        assert await s.block("x.example")
        assert await s.count_followers(ARCHIVE) == 1
    if root:
        shutil.rmtree(base)


def test_readonly_check_passes_from_a_private_checkout(tmp_path: Path) -> None:
    """The check above passes, or skips saying why, from a checkout in a folder of mode 0700 (a clone under
    /root) that the user it switches to cannot enter.

    The inner run uses the bare interpreter with this environment's libraries on PYTHONPATH: the environment's
    own editable install of fedi points at THIS checkout, which ``nobody`` may well read, and would hide the
    problem."""
    if os.geteuid() != 0:
        pytest.skip("only a run as root switches to another user")
    home = tmp_path / "home"
    home.mkdir()
    home.chmod(0o700)
    clone = home / "fedi"
    clone.mkdir()
    shutil.copy(ROOT / "pyproject.toml", clone)
    for part in ("fedi", "tests"):
        shutil.copytree(ROOT / part, clone / part, ignore=shutil.ignore_patterns("__pycache__", "*.sqlite3*"))
    libraries = dict.fromkeys(sysconfig.get_paths()[k] for k in ("purelib", "platlib"))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(clone), *libraries]), "PYTHONDONTWRITEBYTECODE": "1"}
    run = subprocess.run([os.path.realpath(sys.executable), "-s", "-m", "pytest", "-q", "-p", "no:cacheprovider",
                          "--store=sqlite", "-rs", "tests/test_store_sqlite.py::test_readonly_file_and_folder"],
                         cwd=clone, env=env, capture_output=True, text=True, timeout=240)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    assert "2 passed" in run.stdout or "no way to run Python as 'nobody'" in run.stdout, run.stdout[-3000:]


async def test_disk_full_is_clear_and_recoverable(store: Store, db: Path) -> None:
    """SQLITE_FULL (here: the page limit reached) is a StoreError naming the file; nothing half-written; usable
    again once space is back."""
    await store.publish([change("t1")], [activity("a1")], [delivery("a1", 1)])
    pages = (await sql(store, "PRAGMA page_count"))[0][0]
    await sql(store, f"PRAGMA max_page_count = {pages + 4}")  # room for the talk and activity, not the queue
    batch = ([change("t2")], [activity("a2", "t2")],
             [replace(delivery("a2", n), inbox=f"https://h{n}.example/{'x' * 200}") for n in range(2000)])
    with pytest.raises(StoreError, match=f"store {db}: the disk is full"):
        await store.publish(*batch)
    assert await store.talk("t2") is None
    assert await store.activity("a2") is None
    assert (await store.delivery_counts()).total == 1
    await sql(store, "PRAGMA max_page_count = 1073741823")
    assert await store.publish(*batch) == PublishCounts(1, 1, 2000)


# group commit ----------------------------------------------------------------------------------------------------
async def queued(store: SqliteStore, *calls: Any) -> list[Any]:
    """Make store calls (functions returning awaitables), in this order, while the worker thread is held, so they
    reach it as one run; their outcomes."""
    gate = threading.Event()
    held = store._one(lambda c: gate.wait(10))
    tasks = []
    for call in calls:
        tasks.append(asyncio.ensure_future(call()))
        await asyncio.sleep(0)  # the task runs up to its submit: the queue keeps this order
    gate.set()
    await held
    return await asyncio.gather(*tasks, return_exceptions=True)


def in_group(c: Any) -> bool:
    """A one-statement write sees an open transaction only when it runs inside a group."""
    return bool(c.in_transaction)


async def test_lone_write_runs_alone(store: SqliteStore) -> None:
    """A write with nothing queued behind it runs in autocommit, as before group commit."""
    assert await store._write(in_group) is False


async def test_failing_call_in_a_group_undoes_only_its_own_work(store: SqliteStore) -> None:
    """In a group, a call failing (SQLite or Python error) rolls back its own statements and raises to its own
    caller; the calls around it commit."""
    def clash(c: Any) -> None:
        c.execute("INSERT INTO blocks (value) VALUES ('b.example')")
        c.execute("INSERT INTO blocks (value) VALUES ('a.example')")  # already there: refused

    def broken(c: Any) -> None:
        c.execute("INSERT INTO blocks (value) VALUES ('d.example')")
        raise ValueError("a bug in the operation")

    grouped, added, refused, buggy, last = await queued(
        store, lambda: store._write(in_group), lambda: store.block("a.example"), lambda: store._tx(clash),
        lambda: store._tx(broken), lambda: store.block("c.example"))
    assert grouped is True and added is True and last is True
    assert isinstance(refused, StoreError) and "refused by a constraint" in str(refused)
    assert isinstance(buggy, ValueError)
    assert await store.blocks() == ["a.example", "c.example"]


async def test_concurrent_writes_all_land(store: SqliteStore) -> None:
    """Hundreds of writes issued at once all commit, each caller getting its own result."""
    jobs = await queued(store, *(functools.partial(store.add_job, "k", {"n": n}, NOW) for n in range(100)))
    news = await asyncio.gather(*(store.block(f"h{n}.example") for n in range(200)))
    again = await asyncio.gather(*(store.block(f"h{n}.example") for n in range(0, 200, 2)))
    assert len(set(jobs)) == 100 and jobs == sorted(jobs) and all(isinstance(j, int) and j > 0 for j in jobs)
    assert all(news) and not any(again)
    assert len(await store.blocks()) == 200
    assert (await sql(store, "SELECT count(*) FROM jobs"))[0][0] == 100


async def test_commit_failure_reaches_every_caller(store: SqliteStore) -> None:
    """When the group's COMMIT fails (here a deferred foreign key), every grouped caller gets the StoreError and
    nothing of theirs is written."""
    def orphan(c: Any) -> None:
        c.execute("PRAGMA defer_foreign_keys = ON")  # checked at COMMIT only
        c.execute("INSERT INTO deliveries (activity_id, inbox, host, actor_role, due, created) "
                  "VALUES ('no-such-activity', 'https://x.example/inbox', 'x.example', 'archive', 0, 0)")

    outcomes = await queued(store, lambda: store.block("a.example"), lambda: store._tx(orphan),
                            lambda: store.add_job("k", {}, NOW))
    assert all(isinstance(o, StoreError) and f"store {store.path}:" in str(o) for o in outcomes), outcomes
    assert await store.blocks() == []
    assert (await sql(store, "SELECT count(*) FROM jobs"))[0][0] == 0
    assert await store.block("a.example")  # usable again at once


async def test_disk_full_in_a_group(store: SqliteStore, db: Path) -> None:
    """SQLITE_FULL undoes the whole transaction: the calls before the full one fail with it too (none was
    answered before the COMMIT), the calls after it still commit in a group of their own."""
    pages = (await sql(store, "PRAGMA page_count"))[0][0]
    await sql(store, f"PRAGMA max_page_count = {pages + 4}")
    batch = ([change("t2")], [activity("a2", "t2")],
             [replace(delivery("a2", n), inbox=f"https://h{n}.example/{'x' * 200}") for n in range(2000)])
    before, full, after = await queued(store, lambda: store.block("a.example"), lambda: store.publish(*batch),
                                       lambda: store.block("c.example"))
    for error in (before, full):
        assert isinstance(error, StoreError) and f"store {db}: the disk is full" in str(error)
    assert after is True
    assert await store.blocks() == ["c.example"]
    assert await store.talk("t2") is None


async def test_no_cursor_leaves_the_worker_thread(store: SqliteStore) -> None:
    """An operation's cursor is closed on the worker; the event loop gets None. A cursor freed on the loop
    reset its cached statement there while the worker ran it again: SQLITE_MISUSE during a fan-out."""
    got = await store._write(lambda c: c.execute("CREATE TABLE t (x INTEGER)"))
    assert got is None
    assert await store._tx(lambda c: c.executemany("INSERT INTO t VALUES (?)", [(1,), (2,)])) is None
    assert await store._one(lambda c: c.execute("SELECT count(*) FROM t").fetchone()[0]) == 2


async def test_the_queue_claims_from_its_index_alone(store: SqliteStore) -> None:
    """The claim's window of due rows is read from the covering index: no lookup of each row in the table."""
    plan = await store._one(lambda c: c.execute(
        "EXPLAIN QUERY PLAN SELECT id, host FROM deliveries WHERE state IN ('pending', 'retrying') AND due <= 0 "
        "AND host NOT IN (SELECT value FROM json_each('[]')) ORDER BY due, id LIMIT 8").fetchall())
    assert any("COVERING INDEX deliveries_due" in row[3] for row in plan), plan
