"""The SQLite backend's bulk copy for ``fedi migrate``: export in key order, upsert, delete, count.

Times are stored as integer microseconds and cross as aware datetimes; JSON documents cross as the stored bytes.
Table and column names come only from ``tables.TABLES``.
"""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator, Sequence
from typing import Any

from . import tables
from .sqlite_base import SqliteBase, _dt_opt, _marks, _ts
from .tables import JSON, TIME, Row, Table, check_rows


def _out(t: Table, row: sqlite3.Row | tuple[Any, ...]) -> Row:
    out: Row = {}
    for (column, kind), value in zip(t.columns.items(), row, strict=True):
        if kind == TIME:
            value = _dt_opt(value)
        elif kind == JSON and isinstance(value, str):
            value = value.encode()
        out[column] = value
    return out


def _in(t: Table, row: Row) -> tuple[Any, ...]:
    return tuple(_ts(row[c]) if kind == TIME and row[c] is not None else row[c] for c, kind in t.columns.items())


class SqliteRowOps(SqliteBase):
    """``export_rows``, ``import_rows``, ``delete_rows`` and ``count_rows`` on SQLite."""

    async def export_rows(self, table: str, batch: int = 1000) -> AsyncIterator[list[Row]]:
        t = tables.table(table)
        columns, key = ", ".join(t.columns), ", ".join(t.key)
        first = f"SELECT {columns} FROM {t.name} ORDER BY {key} LIMIT ?"
        after = f"SELECT {columns} FROM {t.name} WHERE ({key}) > ({_marks(len(t.key))}) ORDER BY {key} LIMIT ?"
        last: tuple[Any, ...] | None = None
        while True:
            query, params = (first, (batch,)) if last is None else (after, (*last, batch))

            def page(c: sqlite3.Connection, query: str = query, params: tuple[Any, ...] = params) -> list[Row]:
                return [_out(t, r) for r in c.execute(query, params)]
            rows = await self._one(page)
            if rows:
                yield rows
            if len(rows) < batch:
                return
            last = tuple(rows[-1][k] for k in t.key)  # keys are text or integers, the same in both forms

    async def import_rows(self, table: str, rows: Sequence[Row]) -> int:
        t = tables.table(table)
        check_rows(t, rows)
        values = [_in(t, row) for row in rows]
        updates = ", ".join(f"{c} = excluded.{c}" for c in t.columns if c not in t.key)
        sql = (f"INSERT INTO {t.name} ({', '.join(t.columns)}) VALUES ({_marks(len(t.columns))}) "
               f"ON CONFLICT ({', '.join(t.key)}) DO " + (f"UPDATE SET {updates}" if updates else "NOTHING"))
        if not values:
            return 0
        await self._tx(lambda c: c.executemany(sql, values))
        return len(values)

    async def delete_rows(self, table: str, keys: Sequence[tuple[object, ...]]) -> int:
        t = tables.table(table)
        sql = f"DELETE FROM {t.name} WHERE " + " AND ".join(f"{k} = ?" for k in t.key)
        if not keys:
            return 0
        return await self._tx(lambda c: c.executemany(sql, [tuple(k) for k in keys]).rowcount)

    async def count_rows(self, table: str) -> int:
        name = tables.table(table).name
        return await self._one(lambda c: c.execute(f"SELECT count(*) FROM {name}").fetchone()[0])
