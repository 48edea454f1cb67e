"""The SQLite backend's foundation: the worker thread, the connection, migrations and error mapping.

Threading: each store owns ONE worker thread (a single-thread executor) that opens and alone uses the
connection. Calls from the event loop queue up in order; the worker runs what is queued and hands results back
in batches (one loop wake-up per batch, not per call), which keeps the per-call cost low under load.

Transactions: reads of one statement and writes of one statement run in autocommit (each is its own
transaction); anything longer runs inside ``BEGIN IMMEDIATE`` … ``COMMIT``, which takes the write lock up front,
so two processes never deadlock upgrading a read to a write, and claims are atomic across processes.

Group commit: under load, the cost of a write is mostly its COMMIT (taking the WAL write lock, appending and
publishing the frames), not its statements. So when several WRITE calls wait in the
worker's queue one after the other, they run in ONE ``BEGIN IMMEDIATE`` … ``COMMIT``, each inside its own
SAVEPOINT: a call that fails rolls back only its own work and raises to its own caller; the others commit
together. No caller is answered before the COMMIT holding its work succeeded; if that COMMIT fails, every
grouped caller gets the StoreError. A lone write, and every read, runs exactly as before.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Self, TypeVar
from urllib.parse import quote

from ..errors import StoreError
from . import Store
from .records import Document
from .sqlite_schema import MIGRATIONS

BUSY_TIMEOUT = 10.0
"""Seconds a write waits for another process's write transaction (they are all short)."""

T = TypeVar("T")
Op = Callable[[sqlite3.Connection], T]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICRO = timedelta(microseconds=1)


def _ts(when: datetime) -> int:
    """Aware datetime → integer microseconds since the epoch (exact, sortable)."""
    if when.utcoffset() is None:
        raise ValueError(f"naive datetime {when!r}: the store takes aware datetimes (UTC)")
    return (when - _EPOCH) // _MICRO


def _dt(micros: int) -> datetime:
    return _EPOCH + timedelta(microseconds=micros)


def _dt_opt(micros: int | None) -> datetime | None:
    return None if micros is None else _EPOCH + timedelta(microseconds=micros)


def _enc(document: Document) -> bytes:
    return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode()


def _check(value: str, allowed: Sequence[str], what: str) -> str:
    if value not in allowed:
        raise ValueError(f"{what} {value!r}: must be one of {', '.join(allowed)}")
    return value


def _marks(n: int) -> str:
    return ",".join("?" * n)


# the worker thread -------------------------------------------------------------------------------------------------
Outcome = tuple[Any, BaseException | None]
"""A call's (result, exception): exactly one of them is meaningful."""


class _Worker:
    """One thread that runs queued calls in order and hands results back to their event loops in batches.

    A call submitted with ``group=True`` is a write that may share a transaction with the writes queued right
    after it: a run of two or more such calls goes to ``run_group`` (their first arguments: the operations) instead
    of being run one by one. Unlike the event loop's batches (``client.Signer``), calls gather here on the store's
    thread for as long as it is busy, from any loop, so no call waits for a batch to form.
    """

    BATCH = 64

    def __init__(self, run_group: Callable[[list[Any]], list[Outcome]] | None = None) -> None:
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="fedi-store")
        self._lock = threading.Lock()
        self._calls: collections.deque[tuple[asyncio.Future[Any], Callable[..., Any], tuple[Any, ...], bool]] = \
            collections.deque()
        self._draining = False
        self._run_group = run_group

    def submit(self, fn: Callable[..., T], *args: Any, group: bool = False) -> asyncio.Future[T]:
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        with self._lock:
            self._calls.append((future, fn, args, group and self._run_group is not None))
            if self._draining:
                return future
            self._draining = True
        self._executor.submit(self._drain)
        return future

    def shutdown(self) -> None:
        self._executor.shutdown(wait=False)

    def _drain(self) -> None:
        done: list[tuple[asyncio.Future[Any], Any, BaseException | None]] = []
        while True:
            with self._lock:
                if not self._calls:
                    self._draining = False
                    break
                calls = [self._calls.popleft()]
                while calls[0][3] and self._calls and self._calls[0][3] and len(calls) < self.BATCH:
                    calls.append(self._calls.popleft())  # the run of writes queued right behind it
            calls = [c for c in calls if not c[0].cancelled()]  # cancelled before it started: not run at all
            if len(calls) > 1:
                assert self._run_group is not None
                try:
                    outcomes = self._run_group([args[0] for _, _, args, _ in calls])
                except BaseException as exc:  # a bug in the grouping: every caller hears of it, the thread lives on
                    outcomes = [(None, exc)] * len(calls)
                done.extend((c[0], result, exc) for c, (result, exc) in zip(calls, outcomes, strict=True))
            elif calls:
                future, fn, args, _ = calls[0]
                try:
                    done.append((future, fn(*args), None))
                except BaseException as exc:  # handed to the awaiting task, which re-raises it
                    done.append((future, None, exc))
            if len(done) >= self.BATCH:
                self._hand_back(done)
                done = []
        self._hand_back(done)

    @staticmethod
    def _hand_back(done: list[tuple[asyncio.Future[Any], Any, BaseException | None]]) -> None:
        by_loop: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[Any], Any, BaseException | None]]] = {}
        for item in done:
            by_loop.setdefault(item[0].get_loop(), []).append(item)
        for loop, items in by_loop.items():
            with contextlib.suppress(RuntimeError):  # that loop is closed: nobody is waiting any more
                loop.call_soon_threadsafe(_settle, items)


def _settle(items: list[tuple[asyncio.Future[Any], Any, BaseException | None]]) -> None:
    for future, result, exc in items:
        if future.done():
            continue
        if exc is None:
            future.set_result(result)
        else:
            future.set_exception(exc)


def _kept(result: T) -> T:
    """What an operation hands back, minus any cursor: a cursor freed on the event loop resets its statement
    there, while the worker may be running that same cached statement again (SQLITE_MISUSE, seen in a
    fan-out). So it is closed here, on the worker, and None goes back instead."""
    if isinstance(result, sqlite3.Cursor):
        result.close()
        return None  # type: ignore[return-value]
    return result


def _error(path: Path, exc: sqlite3.Error) -> StoreError:
    """One clear line naming the file; the SQLite message stays at the end for searching."""
    message = str(exc)
    low = message.lower()
    if "is full" in low:  # SQLITE_FULL: "database or disk is full"
        hint = "the disk is full; free some space (nothing of this operation was written)"
    elif "readonly" in low or "read-only" in low:
        hint = ("cannot write: the file or its folder is read-only for this user (SQLite also writes "
                "-wal and -shm files next to it)")
    elif "unable to open" in low and _read_only_fs(path):  # said apart: "check this user's rights" would mislead
        hint = "cannot open it for writing: its file system is mounted read-only"
    elif "unable to open" in low:
        hint = "cannot open it: check that its folder exists and that this user may read and write both"
    elif "locked" in low or "busy" in low:
        hint = f"another process held it locked for more than {BUSY_TIMEOUT:g} s; try again"
    elif "not a database" in low or "malformed" in low:
        hint = "it is not a fedi store or it is damaged"
    elif isinstance(exc, sqlite3.IntegrityError):
        hint = "refused by a constraint (nothing of this operation was written)"
    else:
        hint = "the database failed"
    return StoreError(f"store {path}: {hint} ({message})")


def _read_only_fs(path: Path) -> bool:
    try:
        return bool(os.statvfs(path.parent).f_flag & os.ST_RDONLY)
    except OSError:
        return False


class SqliteBase(Store):
    """Opening, closing and running operations on the worker thread; the operations live in subclasses."""

    def __init__(self, path: str | Path, readonly: bool = False) -> None:
        self.path = Path(path)
        self.readonly = readonly
        self._worker: _Worker | None = None
        self._conn: sqlite3.Connection | None = None  # touched only on the worker thread
        self._probe: sqlite3.Connection | None = None
        """A second, read-only connection used on the event loop for ``data_version`` alone."""
        self._turn_version: int | None = None
        """``data_version`` as read in this turn of the event loop."""
        self.lock_waits = 0
        self.lock_wait_seconds = 0.0
        """Write transactions begun, and the time their ``BEGIN IMMEDIATE`` waited for another process's write
        lock (worker processes sharing one file: ``workers`` logs them when it stops)."""

    @classmethod
    def from_url(cls, url: str) -> Self:
        """``sqlite:///PATH`` (``sqlite:////abs/path`` is absolute) with an optional ``?mode=ro``."""
        path, _, query = url[len("sqlite:///"):].partition("?")
        if query not in ("", "mode=ro", "mode=rw"):
            raise StoreError(f"store url {url!r}: unknown option {query!r} (only mode=ro is understood)")
        if not path:
            raise StoreError(f"store url {url!r}: no file path after sqlite:///")
        return cls(path, readonly=query == "mode=ro")

    # lifetime ----------------------------------------------------------------------------------------------------
    async def open(self) -> None:
        if self._worker is not None:
            return
        worker = _Worker(None if self.readonly else self._run_group)
        try:
            await worker.submit(self._connect)
        except BaseException:
            worker.shutdown()
            raise
        self._worker = worker
        try:
            self._probe = sqlite3.connect(f"file:{quote(str(self.path))}?mode=ro", uri=True, timeout=0,
                                          isolation_level=None, check_same_thread=False)
        except sqlite3.Error:
            self._probe = None  # data_version then answers None: callers read the store every time

    async def close(self) -> None:
        probe, self._probe = self._probe, None
        if probe is not None:
            probe.close()
        worker, self._worker = self._worker, None
        if worker is None:
            return
        try:
            await worker.submit(self._disconnect)
        finally:
            worker.shutdown()

    def _connect(self) -> None:
        conn = None
        try:
            if self.readonly:
                conn = sqlite3.connect(f"file:{quote(str(self.path))}?mode=ro", uri=True, timeout=BUSY_TIMEOUT,
                                       isolation_level=None, cached_statements=256)
            else:
                conn = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT, isolation_level=None, cached_statements=256)
            conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT * 1000)}")
            conn.execute("PRAGMA foreign_keys = ON")
            if not self.readonly:
                mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
                if mode.lower() != "wal":
                    raise StoreError(f"store {self.path}: cannot use WAL mode on this file system (got {mode})")
                conn.execute("PRAGMA synchronous = NORMAL")
            self._migrate(conn)
        except BaseException as exc:
            if conn is not None:
                conn.close()
            if isinstance(exc, sqlite3.Error):
                raise _error(self.path, exc) from exc
            raise
        self._conn = conn

    def _migrate(self, conn: sqlite3.Connection) -> None:
        """Apply the missing migration steps in one transaction (another process may be migrating too)."""
        target = len(MIGRATIONS)
        version = self._version(conn, target)
        if version == target:
            return
        if self.readonly:
            raise StoreError(f"store {self.path}: schema version {version} must be upgraded to {target}, but the "
                             "store is opened read-only; open it once read-write")
        conn.execute("BEGIN IMMEDIATE")
        try:
            for step in MIGRATIONS[self._version(conn, target):]:
                for sql in step:
                    conn.execute(sql)
            conn.execute(f"PRAGMA user_version = {target}")
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise

    def _version(self, conn: sqlite3.Connection, target: int) -> int:
        version: int = conn.execute("PRAGMA user_version").fetchone()[0]
        if version > target:
            raise StoreError(f"store {self.path}: schema version {version} was written by a newer fedi (this one "
                             f"knows up to {target}); upgrade fedi")
        return version

    def _disconnect(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    async def data_version(self) -> int | None:
        # SQLite's own counter (PRAGMA data_version): it moves whenever another connection — the worker's, or
        # another process's — commits. ~4 µs on the event loop, no thread hop; a WAL reader never waits for a
        # lock, and busy_timeout 0 turns the rare busy moment into "unknown" rather than a wait.
        #
        # Read once per turn of the event loop (under load, one turn handles the requests of many connections,
        # the pragma cost ~10 % of a cached read): a commit made meanwhile is seen at the next turn, the one where
        # its writer hears that it is done, so no request that comes after a write, from anyone, misses it.
        known = self._turn_version
        if known is not None:
            return known
        probe = self._probe
        if probe is None:
            return None
        try:
            row = probe.execute("PRAGMA data_version").fetchone()
        except sqlite3.Error:
            return None
        self._turn_version = version = int(row[0])
        asyncio.get_running_loop().call_soon(self._forget_version)
        return version

    def _forget_version(self) -> None:
        self._turn_version = None

    # running operations on the worker ----------------------------------------------------------------------------
    def _submit(self, runner: Callable[[Op[T]], T], op: Op[T], group: bool = False) -> asyncio.Future[T]:
        worker = self._worker
        if worker is None:
            raise StoreError(f"store {self.path}: not open (use 'async with open_store(url)')")
        return worker.submit(runner, op, group=group)

    def _one(self, op: Op[T]) -> asyncio.Future[T]:
        """One statement reading: autocommit makes it its own transaction."""
        return self._submit(self._run_one, op)

    def _write(self, op: Op[T]) -> asyncio.Future[T]:
        """One statement writing: alone, autocommit; queued behind other writes, it joins their group commit."""
        return self._submit(self._run_one, op, group=True)

    def _tx(self, op: Op[T]) -> asyncio.Future[T]:
        """Several statements writing: all or nothing, write lock taken up front (or a savepoint in a group)."""
        return self._submit(self._run_tx, op, group=True)

    def _snap(self, op: Op[T]) -> asyncio.Future[T]:
        """Several statements reading one consistent snapshot."""
        return self._submit(self._run_snap, op)

    def _run_one(self, op: Op[T]) -> T:
        assert self._conn is not None
        try:
            return _kept(op(self._conn))
        except sqlite3.Error as exc:
            raise _error(self.path, exc) from exc

    def _run_tx(self, op: Op[T], begin: str = "BEGIN IMMEDIATE") -> T:
        conn = self._conn
        assert conn is not None
        try:
            self._begin(conn, begin)
            try:
                result = _kept(op(conn))
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    with contextlib.suppress(sqlite3.Error):  # SQLite may have rolled back already (SQLITE_FULL)
                        conn.execute("ROLLBACK")
                raise
            return result
        except sqlite3.Error as exc:
            raise _error(self.path, exc) from exc

    def _begin(self, conn: sqlite3.Connection, begin: str) -> None:
        if begin != "BEGIN IMMEDIATE":
            conn.execute(begin)
            return
        started = time.perf_counter()
        conn.execute(begin)
        self.lock_waits += 1
        self.lock_wait_seconds += time.perf_counter() - started

    def _run_group(self, ops: list[Op[Any]]) -> list[Outcome]:
        """Several writes queued together: one transaction, one savepoint per operation, one COMMIT.

        Outcomes are returned (never raised) so that each caller gets its own; callers are answered only after
        this returns, that is after the COMMIT (or the failure that undid their work).
        """
        conn = self._conn
        assert conn is not None
        outcomes: list[Outcome] = []
        try:
            self._begin(conn, "BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            return [(None, _error(self.path, exc))] * len(ops)
        for i, op in enumerate(ops):
            try:
                conn.execute("SAVEPOINT call")
                result = _kept(op(conn))
                conn.execute("RELEASE call")
                outcomes.append((result, None))
                continue
            except BaseException as exc:  # handed to this operation's own caller
                error = _error(self.path, exc) if isinstance(exc, sqlite3.Error) else exc
            outcomes.append((None, error))
            try:
                if conn.in_transaction:  # undo this operation's work only
                    conn.execute("ROLLBACK TO call")
                    conn.execute("RELEASE call")
            except sqlite3.Error:
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
            if not conn.in_transaction:
                # SQLite rolled back the whole transaction (SQLITE_FULL, IOERR…): the earlier operations' work is
                # gone too, so they fail with this error (none was answered yet); the rest make a group of their own.
                lost = error if isinstance(error, StoreError) else StoreError(f"store {self.path}: {error}")
                outcomes = [(None, e if e is not None else lost) for _, e in outcomes]
                return outcomes + (self._run_group(ops[i + 1:]) if i + 1 < len(ops) else [])
        try:
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            with contextlib.suppress(sqlite3.Error):  # SQLite may have rolled back already
                conn.execute("ROLLBACK")
            error = _error(self.path, exc)
            return [(None, e if e is not None else error) for _, e in outcomes]
        return outcomes

    def _run_snap(self, op: Op[T]) -> T:
        return self._run_tx(op, "BEGIN")

    async def integrity_check(self) -> str:
        rows = await self._one(lambda c: c.execute("PRAGMA integrity_check").fetchall())
        return "\n".join(str(r[0]) for r in rows)
