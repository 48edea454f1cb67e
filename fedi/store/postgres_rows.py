"""The PostgreSQL backend's bulk copy for ``fedi migrate``: export in key order, upsert, delete, count.

Rows go in as one ``INSERT … SELECT FROM unnest(arrays)`` per batch: a single statement whatever the batch size,
which loads tens of thousands of rows a second. Table and column names come only from ``tables.TABLES``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence

from . import tables
from .postgres_base import Conn, PostgresBase, _ts
from .postgres_schema import PG_TYPES
from .tables import TIME, Row, Table, check_rows


def _arrays(t: Table, columns: Sequence[str]) -> str:
    return ", ".join(f"${i}::{PG_TYPES[t.columns[c]]}[]" for i, c in enumerate(columns, 1))


class PgRowOps(PostgresBase):
    """``export_rows``, ``import_rows``, ``delete_rows`` and ``count_rows`` on PostgreSQL."""

    async def export_rows(self, table: str, batch: int = 1000) -> AsyncIterator[list[Row]]:
        t = tables.table(table)
        columns, key = ", ".join(t.columns), ", ".join(t.key)
        first = f"SELECT {columns} FROM {t.name} ORDER BY {key} LIMIT $1"
        marks = ", ".join(f"${i}" for i in range(2, len(t.key) + 2))
        after = f"SELECT {columns} FROM {t.name} WHERE ({key}) > ({marks}) ORDER BY {key} LIMIT $1"
        last: tuple[object, ...] | None = None
        while True:
            records = await (self._fetch(first, batch) if last is None else self._fetch(after, batch, *last))
            rows = [dict(r) for r in records]
            if rows:
                yield rows
            if len(rows) < batch:
                return
            last = tuple(rows[-1][k] for k in t.key)

    async def import_rows(self, table: str, rows: Sequence[Row]) -> int:
        t = tables.table(table)
        check_rows(t, rows)
        if not rows:
            return 0
        columns = list(t.columns)
        for c in columns:
            if t.columns[c] == TIME:
                for row in rows:
                    if row[c] is not None:
                        _ts(row[c])
        arrays = [[row[c] for row in rows] for c in columns]
        updates = ", ".join(f"{c} = excluded.{c}" for c in columns if c not in t.key)
        sql = (f"INSERT INTO {t.name} ({', '.join(columns)}) SELECT * FROM unnest({_arrays(t, columns)}) "
               f"ON CONFLICT ({', '.join(t.key)}) DO " + (f"UPDATE SET {updates}" if updates else "NOTHING"))

        async def op(c: Conn) -> int:
            await c.execute(sql, *arrays)
            if t.serial:  # the next id the store assigns must be past every copied one
                await c.execute(
                    f"SELECT setval(pg_get_serial_sequence('{t.name}', 'id'), greatest(1, "
                    f"(SELECT max(id) FROM {t.name}), "
                    f"pg_sequence_last_value(pg_get_serial_sequence('{t.name}', 'id')::regclass)))")
            return len(rows)
        return await self._tx(op)

    async def delete_rows(self, table: str, keys: Sequence[tuple[object, ...]]) -> int:
        t = tables.table(table)
        if not keys:
            return 0
        arrays = [[k[i] for k in keys] for i in range(len(t.key))]
        sql = (f"DELETE FROM {t.name} WHERE ({', '.join(t.key)}) IN "
               f"(SELECT * FROM unnest({_arrays(t, t.key)}))")
        return await self._execute(sql, *arrays)  # one statement: one transaction

    async def count_rows(self, table: str) -> int:
        return int(await self._fetchval(f"SELECT count(*) FROM {tables.table(table).name}"))
