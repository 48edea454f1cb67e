"""The PostgreSQL backend's foundation: the URL, the connection pool, migrations and error mapping.

Connections: each store (one per process) owns an asyncpg pool, ``pool_min`` to ``pool_max`` connections (1 and
10 unless the URL says otherwise): a small server mostly needs one; bursts of inbox requests and the delivery
worker borrow more, up to the cap, and the pool closes connections idle for five minutes. Several processes on
several machines share one database; their pools together must stay under the server's ``max_connections``.

Transactions: one statement runs on its own (autocommit: it is its own transaction); anything longer runs in one
READ COMMITTED transaction, with row locks (``FOR UPDATE [SKIP LOCKED]``) or an advisory lock where two processes
could race, and ``status`` reads one REPEATABLE READ snapshot. A transaction that loses a serialization or
deadlock race rolled back entirely, so it is run again (three times at most).

Migrations run at ``open()`` in one transaction under an advisory lock: several processes starting at once
apply them once, the others wait and find the schema current.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Awaitable, Callable, Iterable
from datetime import datetime
from typing import Any, Self, TypeAlias, TypeVar
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import asyncpg  # type: ignore[import-untyped]  # asyncpg ships no type information

from ..errors import StoreError
from . import Store
from .postgres_schema import MIGRATIONS
from .records import Document

POOL_MIN, POOL_MAX = 1, 10
"""Connections per store (per process) unless the URL sets ``pool_min`` / ``pool_max``."""
CONNECT_TIMEOUT = 10.0
IDLE_SECONDS = 300.0
"""A pooled connection idle for this long is closed (the pool keeps ``pool_min``)."""
RETRIES = 3
"""Runs of a transaction that keeps losing serialization or deadlock races before giving up."""

LOCKS = 0x66656469
"""First key of fedi's advisory locks ("fedi"); the second says which lock."""
MIGRATION_LOCK, PUBLISH_LOCK, CLAIM_LOCK = 1, 2, 3

SERVER_SETTINGS = {"application_name": "fedi", "jit": "off"}
"""``jit``: fedi's queries are short; compiling them would cost more than it saves. The URL's own settings win."""

_OPTIONS = ("mode", "pool_min", "pool_max", "statement_cache_size")
"""Query parameters of the URL read by fedi itself; every other one goes to asyncpg (host, sslmode, settings)."""

T = TypeVar("T")
Conn: TypeAlias = Any
"""An ``asyncpg.Connection`` (asyncpg has no type information for checkers to read)."""
Record: TypeAlias = Any
"""An ``asyncpg.Record``: a row, indexed by position or column name."""
Op = Callable[[Conn], Awaitable[T]]


def _ts(when: datetime) -> datetime:
    """Refuse naive datetimes before anything is sent (asyncpg would silently read them as UTC)."""
    if when.utcoffset() is None:
        raise ValueError(f"naive datetime {when!r}: the store takes aware datetimes (UTC)")
    return when


def _ts_opt(when: datetime | None) -> datetime | None:
    return None if when is None else _ts(when)


def _enc(document: Document) -> bytes:
    """The same bytes as the SQLite backend stores: compact UTF-8 JSON, keys in the caller's order."""
    return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode()


def _count(status: str) -> int:
    """Rows touched, from a command tag such as ``UPDATE 3`` or ``INSERT 0 1``."""
    return int(status.rpartition(" ")[2] or 0)


def redact(url: str) -> str:
    """The URL without its password, for messages and logs."""
    parts = urlsplit(url)
    user, at, host = parts.netloc.rpartition("@")
    netloc = f"{user.partition(':')[0]}@{host}" if at else host
    query = urlencode([(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != "password"],
                      safe="/:")
    return urlunsplit((parts.scheme, netloc, parts.path, query, ""))


def _error(name: str, exc: BaseException) -> StoreError:
    """One clear line naming the store (never its password); the server's message stays at the end."""
    pg = asyncpg.exceptions
    hints: list[tuple[type[BaseException] | tuple[type[BaseException], ...], str]] = [
        (pg.DiskFullError, "the database server's disk is full; free some space (nothing of this operation was "
                           "written)"),
        (pg.ReadOnlySQLTransactionError, "cannot write: the store is read-only (opened with mode=ro, or the "
                                         "server is a read-only standby)"),
        (pg.InsufficientPrivilegeError, "permission denied: grant the database user the rights on fedi's tables"),
        (pg.IntegrityConstraintViolationError, "refused by a constraint (nothing of this operation was written)"),
        (pg.InvalidCatalogNameError, "cannot open it: the database does not exist; create it (createdb) or fix "
                                     "the URL"),
        (pg.InvalidAuthorizationSpecificationError, "cannot connect: the server refused this user or password"),
        (pg.TooManyConnectionsError, "the server has no connection left; lower pool_max or raise the server's "
                                     "max_connections"),
        (pg.CannotConnectNowError, "the server is starting or stopping; try again"),
        ((pg.SerializationError, pg.DeadlockDetectedError, pg.LockNotAvailableError),
         "other processes kept conflicting with this operation; try again (nothing of it was written)"),
        (pg.QueryCanceledError, "the operation was cancelled or took too long (statement_timeout)"),
        ((pg.CharacterNotInRepertoireError, pg.UntranslatableCharacterError),
         "a text holds a character PostgreSQL cannot store (a NUL byte); nothing was written"),
        (pg.UndefinedTableError, "it is not a fedi store or it is damaged (a table is missing)"),
        ((pg.ConnectionDoesNotExistError, pg.ConnectionFailureError, pg.AdminShutdownError, pg.InternalClientError),
         "lost the connection to the database server; try again"),
        (TimeoutError, "the database server did not answer in time"),
        (OSError, "cannot reach the database server: check the host and port in the URL and that it runs"),
        ((asyncpg.DataError, asyncpg.exceptions._base.DataError), "a value does not fit its column"),
    ]
    hint = next((text for kinds, text in hints if isinstance(exc, kinds)), "the database failed")
    return StoreError(f"store {name}: {hint} ({type(exc).__name__}: {exc})")


async def _keep_session(conn: Conn) -> None:
    """What a connection needs before going back to the pool: nothing beyond asyncpg's own rollback of an
    unfinished transaction. fedi sets no session state (its advisory locks end with their transaction; no
    LISTEN, no cursor outside a transaction, no SET), so the default reset, one more round trip per operation,
    is skipped."""


_DEAD = (asyncpg.exceptions.PostgresConnectionError, asyncpg.exceptions.AdminShutdownError,
         asyncpg.exceptions.InternalClientError, asyncpg.exceptions.ConnectionDoesNotExistError, OSError)
"""Errors after which a connection is unusable: it is closed, not handed back to the pool."""


def _positive(url: str, name: str, value: str) -> int:
    if not value.isdigit():
        raise StoreError(f"store url {redact(url)!r}: {name} must be a whole number, not {value!r}")
    return int(value)


class PostgresBase(Store):
    """Opening, closing and running operations on the pool; the operations live in subclasses."""

    def __init__(self, dsn: str, *, name: str | None = None, readonly: bool = False, pool_min: int = POOL_MIN,
                 pool_max: int = POOL_MAX, statement_cache_size: int = 100,
                 server_settings: dict[str, str] | None = None) -> None:
        self.dsn = dsn
        self.name = name or redact(dsn)
        self.readonly = readonly
        self.pool_min, self.pool_max = pool_min, pool_max
        self.statement_cache_size = statement_cache_size
        self.server_settings = dict(server_settings or SERVER_SETTINGS)
        self._pool: Any = None  # an asyncpg.Pool once open

    @classmethod
    def from_url(cls, url: str) -> Self:
        """``postgresql://user:pass@host:port/db`` (or ``postgres://``), any libpq-style query parameters that
        asyncpg understands (``host=/run/postgresql`` for a socket, ``sslmode=…``, server settings), and fedi's
        own: ``mode=ro``, ``pool_min``, ``pool_max``, ``statement_cache_size`` (0 behind PgBouncer in transaction
        mode)."""
        parts = urlsplit(url)
        try:
            query = parse_qsl(parts.query, keep_blank_values=True, strict_parsing=bool(parts.query))
        except ValueError as exc:
            raise StoreError(f"store url {redact(url)!r}: cannot read its query ({exc})") from None
        ours = {k: v for k, v in query if k in _OPTIONS}
        rest = [(k, v) for k, v in query if k not in _OPTIONS]
        if ours.get("mode", "rw") not in ("ro", "rw"):
            raise StoreError(f"store url {redact(url)!r}: mode must be ro or rw, not {ours['mode']!r}")
        pool_min = _positive(url, "pool_min", ours.get("pool_min", str(POOL_MIN)))
        pool_max = _positive(url, "pool_max", ours.get("pool_max", str(POOL_MAX)))
        if pool_max < 1 or pool_min > pool_max:
            raise StoreError(f"store url {redact(url)!r}: need 0 <= pool_min <= pool_max and pool_max >= 1")
        settings = {k: v for k, v in SERVER_SETTINGS.items() if k not in dict(rest)}
        readonly = ours.get("mode") == "ro"
        if readonly:
            settings["default_transaction_read_only"] = "on"
        dsn = urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(rest, safe="/:"), ""))
        return cls(dsn, name=redact(url), readonly=readonly, pool_min=pool_min, pool_max=pool_max,
                   statement_cache_size=_positive(url, "statement_cache_size", ours.get("statement_cache_size",
                                                                                        "100")),
                   server_settings=settings)

    # lifetime ----------------------------------------------------------------------------------------------------
    async def open(self) -> None:
        if self._pool is not None:
            return
        try:
            pool = await asyncpg.create_pool(
                self.dsn, min_size=self.pool_min, max_size=self.pool_max, timeout=CONNECT_TIMEOUT,
                max_inactive_connection_lifetime=IDLE_SECONDS, statement_cache_size=self.statement_cache_size,
                server_settings=self.server_settings, reset=_keep_session)
        except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError) as exc:
            raise _error(self.name, exc) from exc
        except ValueError as exc:  # asyncpg's own reading of the URL
            raise StoreError(f"store url {self.name!r}: {exc}") from exc
        try:
            async with pool.acquire() as conn:
                await self._migrate(conn)
        except BaseException as exc:
            with contextlib.suppress(Exception):
                await pool.close()
            if isinstance(exc, asyncpg.PostgresError | asyncpg.InterfaceError | OSError):
                raise _error(self.name, exc) from exc
            raise
        self._pool = pool

    async def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            await pool.close()

    async def _migrate(self, conn: Conn) -> None:
        """Apply the missing migration steps in one transaction, under an advisory lock (others may be starting
        at the same moment: they wait, then find nothing left to do)."""
        target = len(MIGRATIONS)
        if await self._version(conn, target) == target:
            return
        if self.readonly:
            raise StoreError(f"store {self.name}: schema version {await self._version(conn, target)} must be "
                             f"upgraded to {target}, but the store is opened read-only; open it once read-write")
        async with conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock($1, $2)", LOCKS, MIGRATION_LOCK)
            await conn.execute("CREATE TABLE IF NOT EXISTS fedi_schema (version integer NOT NULL)")
            version = await self._version(conn, target)
            for step in MIGRATIONS[version:]:
                for sql in step:
                    await conn.execute(sql)
            await conn.execute("DELETE FROM fedi_schema")
            await conn.execute("INSERT INTO fedi_schema (version) VALUES ($1)", target)

    async def _version(self, conn: Conn, target: int) -> int:
        if await conn.fetchval("SELECT to_regclass('fedi_schema')") is None:
            return 0
        version: int = await conn.fetchval("SELECT coalesce(max(version), 0) FROM fedi_schema")
        if version > target:
            raise StoreError(f"store {self.name}: schema version {version} was written by a newer fedi (this one "
                             f"knows up to {target}); upgrade fedi")
        return version

    # running operations ----------------------------------------------------------------------------------------
    async def _run(self, op: Op[T], mode: str = "one") -> T:
        """Run ``op`` on a pooled connection: ``one`` statement, a ``tx`` (read committed) or a read-only
        ``snap``shot (repeatable read). Errors of the database become StoreError naming the store."""
        pool = self._pool
        if pool is None:
            raise StoreError(f"store {self.name}: not open (use 'async with open_store(url)')")
        pg = asyncpg.exceptions
        for attempt in range(1, RETRIES + 1):
            try:
                async with pool.acquire() as conn:
                    try:
                        if mode == "one":
                            return await op(conn)
                        isolation = "repeatable_read" if mode == "snap" else "read_committed"
                        async with conn.transaction(isolation=isolation, readonly=mode == "snap"):
                            return await op(conn)
                    except _DEAD:  # the server ended this connection (restart, failover): the pool opens another
                        conn.terminate()
                        raise
            except (pg.SerializationError, pg.DeadlockDetectedError, pg.InternalClientError) as exc:
                # Run again: the transaction rolled back entirely, or (InternalClientError, a connection the
                # server had ended while it sat in the pool) nothing was sent at all.
                if attempt == RETRIES:
                    raise _error(self.name, exc) from exc
            except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError) as exc:
                raise _error(self.name, exc) from exc
        raise AssertionError("unreachable")

    def _one(self, op: Op[T]) -> Awaitable[T]:
        return self._run(op)

    def _tx(self, op: Op[T]) -> Awaitable[T]:
        return self._run(op, "tx")

    def _snap(self, op: Op[T]) -> Awaitable[T]:
        return self._run(op, "snap")

    async def _fetch(self, sql: str, *args: Any) -> list[Record]:
        return await self._run(lambda c: c.fetch(sql, *args))

    async def _fetchrow(self, sql: str, *args: Any) -> Record | None:
        return await self._run(lambda c: c.fetchrow(sql, *args))

    async def _fetchval(self, sql: str, *args: Any) -> Any:
        return await self._run(lambda c: c.fetchval(sql, *args))

    async def _execute(self, sql: str, *args: Any) -> int:
        """Run one statement; returns the rows it touched."""
        return _count(await self._run(lambda c: c.execute(sql, *args)))

    async def integrity_check(self) -> str:
        """The schema is current and complete, and, where the ``amcheck`` extension is installed, every index
        of fedi's tables agrees with its table."""
        from .tables import TABLES

        async def op(c: Conn) -> list[str]:
            problems = []
            version = await self._version(c, len(MIGRATIONS))
            if version != len(MIGRATIONS):
                problems.append(f"schema version {version}, expected {len(MIGRATIONS)}")
            for t in TABLES:
                if await c.fetchval("SELECT to_regclass($1)", t.name) is None:
                    problems.append(f"table {t.name} is missing")
            if await c.fetchval("SELECT 1 FROM pg_extension WHERE extname = 'amcheck'"):
                names = [t.name for t in TABLES]
                for index in await c.fetch(
                        "SELECT i.indexrelid::regclass::text FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid "
                        "JOIN pg_am a ON a.oid = (SELECT relam FROM pg_class WHERE oid = i.indexrelid) "
                        "WHERE c.relname = ANY($1::text[]) AND c.relnamespace = current_schema()::regnamespace "
                        "AND a.amname = 'btree'", names):
                    try:
                        await c.execute("SELECT bt_index_check($1::regclass)", index[0])
                    except asyncpg.PostgresError as exc:
                        problems.append(f"index {index[0]}: {exc}")
            return problems
        problems = await self._one(op)
        return "\n".join(problems) if problems else "ok"


def _texts(values: Iterable[str]) -> list[str]:
    return sorted({v.lower() for v in values})
