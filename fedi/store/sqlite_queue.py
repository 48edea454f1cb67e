"""The SQLite backend's queues: durable jobs, the delivery queue and host health.

A claim reads a window of due rows from the queue's covering index, picks them (at most so many per host), and
leases them with one ``UPDATE … RETURNING``, all inside ``BEGIN IMMEDIATE``: two workers, even in two processes,
never get the same row. The lease is the row's new ``due``: a crashed worker's rows become due again by
themselves.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from .records import DeadHost, Delivery, DeliveryInfo, Document, HostState, Job, QueueCounts, block_candidates
from .sqlite_base import SqliteBase, _dt, _dt_opt, _enc, _ts

_DELIVERY = ("id, activity_id, inbox, host, actor_role, state, attempts, due, created, last_status, last_error, "
             "last_attempt, worker")


def _delivery_info(r: tuple[Any, ...]) -> DeliveryInfo:
    return DeliveryInfo(r[0], r[1], r[2], r[3], r[4], r[5], r[6], _dt(r[7]), _dt(r[8]), r[9], r[10],
                        _dt_opt(r[11]), r[12])


def _counts(rows: Iterable[tuple[str, int]]) -> QueueCounts:
    return QueueCounts(**dict(rows))


class QueueOps(SqliteBase):
    """Jobs, deliveries and host health on SQLite."""

    # durable jobs ---------------------------------------------------------------------------------------------------
    async def add_job(self, kind: str, payload: Document, due: datetime) -> int:
        values = (kind, _enc(payload), _ts(due), _ts(due))
        return await self._write(lambda c: c.execute(
            "INSERT INTO jobs (kind, payload, due, created) VALUES (?, ?, ?, ?)", values).lastrowid or 0)

    async def add_jobs_of(self, kind: str, items: Sequence[tuple[str, Document]], due: datetime) -> list[bool]:
        at = _ts(due)
        checks = [(block_candidates(actor), _enc(payload)) for actor, payload in items]

        def op(c: sqlite3.Connection) -> list[bool]:
            added = []
            for candidates, payload in checks:
                marks = ", ".join("?" * len(candidates))
                blocked = bool(candidates) and c.execute(
                    f"SELECT 1 FROM blocks WHERE value IN ({marks}) LIMIT 1", candidates).fetchone() is not None
                if not blocked:
                    c.execute("INSERT INTO jobs (kind, payload, due, created) VALUES (?, ?, ?, ?)",
                              (kind, payload, at, at))
                added.append(not blocked)
            return added
        return await self._tx(op)

    async def claim_jobs(self, now: datetime, limit: int, lease_seconds: float, worker: str) -> list[Job]:
        at, until = _ts(now), _ts(now + timedelta(seconds=lease_seconds))

        def op(c: sqlite3.Connection) -> list[Job]:
            rows = c.execute(
                "UPDATE jobs SET due = ?, worker = ?, attempts = attempts + 1 WHERE id IN ("
                "  SELECT id FROM jobs WHERE state = 'pending' AND due <= ? ORDER BY due, id LIMIT ?) "
                "RETURNING id, kind, payload, attempts, due, created, last_error", (until, worker, at, limit)
            ).fetchall()
            return [Job(r[0], r[1], json.loads(r[2]), r[3], _dt(r[4]), _dt(r[5]), r[6]) for r in sorted(rows)]
        return await self._write(op)

    async def finish_job(self, job_id: int) -> None:
        await self._write(lambda c: c.execute("DELETE FROM jobs WHERE id = ?", (job_id,)))

    async def retry_job(self, job_id: int, due: datetime, error: str) -> None:
        at = _ts(due)
        await self._write(lambda c: c.execute(
            "UPDATE jobs SET due = ?, worker = NULL, last_error = ? WHERE id = ?", (at, error, job_id)))

    async def fail_job(self, job_id: int, error: str) -> None:
        await self._write(lambda c: c.execute(
            "UPDATE jobs SET state = 'failed', worker = NULL, last_error = ? WHERE id = ?", (error, job_id)))

    async def next_job_due(self, now: datetime) -> datetime | None:
        due = await self._one(lambda c: c.execute("SELECT min(due) FROM jobs WHERE state = 'pending'").fetchone()[0])
        return None if due is None else max(_dt(due), now)

    # delivery queue ---------------------------------------------------------------------------------------------
    async def claim_deliveries(self, now: datetime, limit: int, lease_seconds: float, worker: str,
                               skip_hosts: Iterable[str] = (), *, hosts: Iterable[str] | None = None,
                               per_host: int | None = None, busy: Mapping[str, int] | None = None
                               ) -> list[Delivery]:
        at, until = _ts(now), _ts(now + timedelta(seconds=lease_seconds))
        skip = json.dumps(sorted({h.lower() for h in skip_hosts}))
        where = "state IN ('pending', 'retrying') AND due <= ? AND host NOT IN (SELECT value FROM json_each(?))"
        params: list[Any] = [at, skip]
        if hosts is not None:
            where += " AND host IN (SELECT value FROM json_each(?))"
            params.append(json.dumps(sorted({h.lower() for h in hosts})))
        # With a cap per host, a bounded window of the oldest due rows is read (so the cost stays flat however long
        # the queue) and the rows are picked here, at most `room` per host: the worker sends what it claims at once,
        # and a row never waits out its lease behind its host's other rows.
        window = limit if per_host is None else max(limit * 16, 512)
        room = {h.lower(): per_host - n for h, n in (busy or {}).items()} if per_host is not None else {}
        pick = f"SELECT id, host FROM deliveries WHERE {where} ORDER BY due, id LIMIT ?"

        def op(c: sqlite3.Connection) -> list[Delivery]:
            # inside BEGIN IMMEDIATE: nobody else writes between the pick and the lease, even in another process
            ids: list[int] = []
            # fetchall: a cursor left half-read would keep its statement busy inside the transaction
            for row_id, host in c.execute(pick, (*params, window)).fetchall():
                if per_host is not None:
                    left = room.get(host, per_host)
                    if left <= 0:
                        continue
                    room[host] = left - 1
                ids.append(row_id)
                if len(ids) >= limit:
                    break
            if not ids:
                return []
            rows = c.execute(
                "UPDATE deliveries SET due = ?, worker = ?, attempts = attempts + 1 "
                "WHERE id IN (SELECT value FROM json_each(?)) "
                "RETURNING id, activity_id, inbox, host, actor_role, attempts, created",
                (until, worker, json.dumps(ids))).fetchall()
            activity_ids = json.dumps(sorted({r[1] for r in rows}))
            bodies = dict(c.execute("SELECT id, json FROM activities WHERE id IN (SELECT value FROM json_each(?))",
                                    (activity_ids,)).fetchall())
            return [Delivery(r[0], r[1], r[2], r[3], r[4], r[5], _dt(r[6]), bodies[r[1]]) for r in sorted(rows)]
        return await self._tx(op)

    async def deliveries_done(self, done: Sequence[tuple[int, int]], now: datetime) -> None:
        at = _ts(now)
        values = [(status, at, delivery_id) for delivery_id, status in done]
        await self._write(lambda c: c.executemany(
            "UPDATE deliveries SET state = 'done', worker = NULL, last_status = ?, last_error = NULL, "
            "last_attempt = ? WHERE id = ?", values))

    async def delivery_retry(self, delivery_id: int, due: datetime, status: int | None, error: str,
                             now: datetime) -> None:
        values = (_ts(due), status, error, _ts(now), delivery_id)
        await self._write(lambda c: c.execute(
            "UPDATE deliveries SET state = 'retrying', due = ?, worker = NULL, last_status = ?, last_error = ?, "
            "last_attempt = ? WHERE id = ?", values))

    async def delivery_dead(self, delivery_id: int, status: int | None, error: str, now: datetime) -> None:
        values = (status, error, _ts(now), delivery_id)
        await self._write(lambda c: c.execute(
            "UPDATE deliveries SET state = 'dead', worker = NULL, last_status = ?, last_error = ?, last_attempt = ? "
            "WHERE id = ?", values))

    async def delivery_counts(self, activity_id: str | None = None) -> QueueCounts:
        if activity_id is None:
            return await self._one(lambda c: _counts(c.execute(
                "SELECT state, count(*) FROM deliveries GROUP BY state")))
        return await self._one(lambda c: _counts(c.execute(
            "SELECT state, count(*) FROM deliveries WHERE activity_id = ? GROUP BY state", (activity_id,))))

    async def deliveries(self, failed_only: bool = False, activity_id: str | None = None,
                         limit: int = 100) -> list[DeliveryInfo]:
        where, params = ["1"], []
        if failed_only:
            where.append("state IN ('retrying', 'dead')")
        if activity_id is not None:
            where.append("activity_id = ?")
            params.append(activity_id)
        sql = (f"SELECT {_DELIVERY} FROM deliveries WHERE {' AND '.join(where)} "
               "ORDER BY last_attempt IS NULL, last_attempt DESC, id LIMIT ?")
        return await self._one(lambda c: [_delivery_info(r) for r in c.execute(sql, (*params, limit))])

    async def retry_dead(self, now: datetime, activity_id: str | None = None, inbox: str | None = None) -> int:
        at = _ts(now)
        where, params = ["state = 'dead'"], list[Any]([at, at])
        for column, value in (("activity_id", activity_id), ("inbox", inbox)):
            if value is not None:
                where.append(f"{column} = ?")
                params.append(value)
        sql = (f"UPDATE deliveries SET state = 'pending', due = ?, created = ?, attempts = 0, worker = NULL "
               f"WHERE {' AND '.join(where)}")
        return await self._write(lambda c: c.execute(sql, params).rowcount)

    async def expire_deliveries(self, now: datetime, created_before: datetime, hosts: Iterable[str],
                                error: str) -> int:
        names = json.dumps(sorted({h.lower() for h in hosts}))
        values = (error, _ts(created_before), _ts(now), names)
        return await self._write(lambda c: c.execute(
            "UPDATE deliveries SET state = 'dead', worker = NULL, last_error = ? "
            "WHERE state IN ('pending', 'retrying') AND created < ? AND due <= ? "
            "AND host IN (SELECT value FROM json_each(?))", values).rowcount)

    async def next_due(self, now: datetime) -> datetime | None:
        due = await self._one(lambda c: c.execute(
            "SELECT min(due) FROM deliveries WHERE state IN ('pending', 'retrying')").fetchone()[0])
        return None if due is None else max(_dt(due), now)

    async def prune_deliveries(self, before: datetime) -> int:
        at = _ts(before)
        return await self._write(lambda c: c.execute(
            "DELETE FROM deliveries WHERE state IN ('done', 'dead') AND last_attempt < ?", (at,)).rowcount)

    # host health ---------------------------------------------------------------------------------------------------
    async def host_failed(self, host: str, now: datetime) -> HostState:
        at, host = _ts(now), host.lower()

        def op(c: sqlite3.Connection) -> HostState:
            r = c.execute("INSERT INTO hosts (host, failing_since, last_failure, failures) VALUES (?, ?, ?, 1) "
                          "ON CONFLICT (host) DO UPDATE SET last_failure = excluded.last_failure, "
                          "failures = failures + 1 RETURNING host, failing_since, last_failure, failures",
                          (host, at, at)).fetchall()[0]
            return HostState(r[0], _dt(r[1]), _dt(r[2]), r[3])
        return await self._write(op)

    async def host_ok(self, host: str) -> bool:
        host = host.lower()
        return await self._write(lambda c: c.execute("DELETE FROM hosts WHERE host = ?", (host,)).rowcount > 0)

    async def host_state(self, host: str) -> HostState | None:
        host = host.lower()

        def op(c: sqlite3.Connection) -> HostState | None:
            r = c.execute("SELECT host, failing_since, last_failure, failures FROM hosts WHERE host = ?",
                          (host,)).fetchone()
            return HostState(r[0], _dt(r[1]), _dt(r[2]), r[3]) if r else None
        return await self._one(op)

    async def dead_hosts(self, now: datetime, days: float) -> list[DeadHost]:
        return await self._one(lambda c: self._dead_hosts(c, now, days))

    @staticmethod
    def _dead_hosts(c: sqlite3.Connection, now: datetime, days: float) -> list[DeadHost]:
        limit = _ts(now - timedelta(days=days))
        return [DeadHost(r[0], _dt(r[1])) for r in c.execute(
            "SELECT host, failing_since FROM hosts WHERE failing_since <= ? ORDER BY failing_since, host", (limit,))]
