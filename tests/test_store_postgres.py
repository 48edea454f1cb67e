"""What only the PostgreSQL backend has: its URL and pool, types, migrations racing at start-up, SKIP LOCKED,
and its errors. The contract shared with SQLite is tested on both backends in test_store.py.

Skipped, saying why, when no PostgreSQL server is at hand (see tests/pg.py)."""

from __future__ import annotations

import asyncio
import socket
import sys
from collections.abc import Callable
from typing import Any

import asyncpg
import pytest

from fedi.errors import StoreError
from fedi.store import TABLES, Store, open_store, postgres_base
from fedi.store.postgres import PostgresStore
from fedi.store.postgres_schema import MIGRATIONS
from fedi.store.tables import JSON, TIME
from tests.storedata import NOW, activity, at, change, delivery, sql


@pytest.fixture
def pg_url(new_store_url: Callable[[str], str]) -> str:
    return new_store_url("postgres")


@pytest.fixture
async def pg(pg_url: str):  # type: ignore[no-untyped-def]
    async with open_store(pg_url) as s:
        yield s


def test_postgres_urls() -> None:
    """postgres(ql):// selects PostgreSQL; fedi's options are read, the rest goes to asyncpg, and the password
    never appears in the store's name."""
    s = open_store("postgresql://fedi:s3cret@db.example:5433/archive?sslmode=require&pool_max=4&pool_min=0")
    assert isinstance(s, PostgresStore)
    assert s.name == "postgresql://fedi@db.example:5433/archive?sslmode=require&pool_max=4&pool_min=0"
    assert s.dsn == "postgresql://fedi:s3cret@db.example:5433/archive?sslmode=require"
    assert (s.pool_min, s.pool_max, s.readonly) == (0, 4, False)
    assert s.server_settings == postgres_base.SERVER_SETTINGS
    ro = open_store("postgres://fedi@/archive?host=/run/postgresql&mode=ro&statement_cache_size=0&jit=on")
    assert isinstance(ro, PostgresStore) and ro.readonly and ro.statement_cache_size == 0
    assert ro.server_settings == {"application_name": "fedi", "default_transaction_read_only": "on"}
    assert ro.name == "postgres://fedi@/archive?host=/run/postgresql&mode=ro&statement_cache_size=0&jit=on"
    for bad, message in (("mode=rx", "mode must be ro or rw"), ("pool_max=many", "pool_max must be a whole"),
                         ("pool_min=5&pool_max=2", "pool_min <= pool_max"), ("pool_max=0", "pool_max >= 1")):
        with pytest.raises(StoreError, match=message) as info:
            open_store(f"postgresql://fedi:s3cret@db/archive?{bad}")
        assert "s3cret" not in str(info.value)


def test_missing_asyncpg_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without asyncpg installed, a PostgreSQL URL says which extra to install (and hides the password)."""
    for name in [m for m in sys.modules if m.startswith("fedi.store.postgres")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "asyncpg", None)  # what an absent package looks like to import
    with pytest.raises(StoreError, match=r"pip install 'fedi\[postgres\]'") as info:
        open_store("postgresql://fedi:s3cret@db/archive")
    assert "s3cret" not in str(info.value)


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def test_unreachable_server_and_missing_database(pg_url: str) -> None:
    """A server that does not answer and a database that does not exist are StoreErrors naming the store, not
    its password."""
    with pytest.raises(StoreError, match="cannot reach the database server") as info:
        await open_store(f"postgresql://fedi:s3cret@127.0.0.1:{_closed_port()}/fedi").open()
    assert "s3cret" not in str(info.value) and "fedi@127.0.0.1" in str(info.value)
    missing = pg_url.replace("/fedi_t", "/fedi_missing_t", 1)
    with pytest.raises(StoreError, match="the database does not exist"):
        await open_store(missing).open()


async def test_schema_types(pg: Store) -> None:
    """Times are timestamptz, documents bytea (never jsonb: bytes are served as stored), text sorts bytewise."""
    columns = {(r[0], r[1]): (r[2], r[3]) for r in await sql(
        pg, "SELECT table_name, column_name, data_type, collation_name FROM information_schema.columns "
            "WHERE table_schema = current_schema()")}
    for t in TABLES:
        for column, kind in t.columns.items():
            data_type, collation = columns[(t.name, column)]
            expected = {TIME: "timestamp with time zone", JSON: "bytea"}.get(kind)
            if expected:
                assert data_type == expected, (t.name, column)
            elif data_type == "text":
                assert collation == "C", (t.name, column)
    assert await sql(pg, "SELECT version FROM fedi_schema") == [(len(MIGRATIONS),)]


async def test_concurrent_opens_migrate_once(pg_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Six processes' stores opening a new database at once: one migrates under the advisory lock, the others
    wait and find the schema current; all of them work."""
    slow = (*MIGRATIONS[0], "SELECT pg_sleep(0.3)")  # widen the window in which the others arrive
    monkeypatch.setattr(postgres_base, "MIGRATIONS", (slow,))
    stores = [open_store(pg_url) for _ in range(6)]
    await asyncio.gather(*(s.open() for s in stores))
    try:
        assert await asyncio.gather(*(s.block(f"b{i}.example") for i, s in enumerate(stores))) == [True] * 6
        assert len(await stores[0].blocks()) == 6
        assert await sql(stores[0], "SELECT version FROM fedi_schema") == [(1,)]
    finally:
        for s in stores:
            await s.close()


async def test_claims_skip_locked_rows_without_waiting(pg: Store, pg_url: str) -> None:
    """A row locked by another transaction (a worker mid-claim) is skipped at once, not waited for."""
    await pg.publish([change("t1")], [activity("a1")], [delivery("a1", n) for n in range(3)])
    job = await pg.add_job("accept", {}, NOW)
    conn = await asyncpg.connect(PostgresStore.from_url(pg_url).dsn)
    try:
        async with conn.transaction():
            locked = await conn.fetchval("SELECT id FROM deliveries ORDER BY id LIMIT 1 FOR UPDATE")
            await conn.execute("SELECT 1 FROM jobs WHERE id = $1 FOR UPDATE", job)
            got = await asyncio.wait_for(pg.claim_deliveries(NOW, 10, 60, "w"), timeout=5)
            assert len(got) == 2 and locked not in {d.id for d in got}
            assert await asyncio.wait_for(pg.claim_jobs(NOW, 10, 60, "w"), timeout=5) == []
        assert [d.id for d in await pg.claim_deliveries(NOW, 10, 60, "w")] == [locked]
        assert [j.id for j in await pg.claim_jobs(NOW, 10, 60, "w")] == [job]
    finally:
        await conn.close()


@pytest.mark.parametrize("existing", [True, False])
async def test_concurrent_publishes_are_serialized(pg: Store, pg_url: str, existing: bool) -> None:
    """Two processes publishing different contents of one talk at once (an update, or a first creation): one
    wins, the other is told another publish ran meanwhile, and nothing of it is written."""
    from dataclasses import replace

    version = 1 if existing else 0
    if existing:
        await pg.publish([change("t1")], [], [])
    mine = replace(change("t1", version, when=at(1)), object_hash="mine")
    theirs = replace(change("t1", version, when=at(2)), object_hash="theirs")
    async with open_store(pg_url) as other:
        results = await asyncio.gather(pg.publish([mine], [activity("m")], []),
                                       other.publish([theirs], [activity("t")], []), return_exceptions=True)
    errors = [r for r in results if isinstance(r, BaseException)]
    assert len(errors) == 1 and isinstance(errors[0], StoreError) and "another publish" in str(errors[0])
    winner = (await pg.talk("t1")).object_hash
    assert winner in ("mine", "theirs")
    assert await pg.activity("m" if winner == "mine" else "t") is not None
    assert await pg.activity("t" if winner == "mine" else "m") is None


async def test_nul_in_text_is_a_clear_error(pg: Store) -> None:
    """PostgreSQL cannot keep a NUL character in text: a StoreError that says so, and nothing written."""
    with pytest.raises(StoreError, match="NUL"):
        await pg.record_received("https://x.example/a\x00", "Accept", "https://x.example/u", {}, NOW)
    assert await pg.received("https://x.example/a") is None
    assert await pg.seen("https://x.example/ok", NOW) is False


async def test_lost_connections_come_back(pg: Store, pg_url: str) -> None:
    """When the server drops every connection (a restart, a failover), the store works again at once: at most
    one call fails, with a StoreError."""
    await pg.block("a.example")
    conn = await asyncpg.connect(PostgresStore.from_url(pg_url).dsn)
    try:
        ended = await conn.fetchval("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                                    "WHERE datname = current_database() AND application_name = 'fedi'")
        assert ended >= 1
    finally:
        await conn.close()
    failures: list[Any] = []
    for _ in range(3):
        try:
            assert await pg.blocks() == ["a.example"]
            break
        except StoreError as exc:
            failures.append(exc)
    assert len(failures) <= 1 and all("connection" in str(f) for f in failures)
    assert await pg.blocks() == ["a.example"]


async def test_pool_is_bounded(pg_url: str) -> None:
    """pool_max caps the connections of one store; many concurrent calls queue for them."""
    async with open_store(pg_url + "&pool_max=2&pool_min=1") as s:
        assert isinstance(s, PostgresStore)
        results = await asyncio.gather(*(s.seen(f"https://x/{i}", NOW) for i in range(200)))
        assert results == [False] * 200
        assert await sql(s, "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                            "AND application_name = 'fedi'") <= [(2,)]
