"""The PostgreSQL backend's queues: durable jobs, the delivery queue and host health.

A claim is ONE statement: a ``SELECT … FOR UPDATE SKIP LOCKED`` picks due rows that no other transaction holds,
and the ``UPDATE`` around it leases them. Any number of workers, in any number of processes on any number of
machines, never get the same row. The lease is the row's new ``due``: the rows of a worker killed mid-work
become due again by themselves when it expires. (Claims capped per host take turns on an advisory lock: see
``claim_deliveries``.)
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from .postgres_base import CLAIM_LOCK, LOCKS, Conn, PostgresBase, Record, _enc, _texts, _ts
from .records import DeadHost, Delivery, DeliveryInfo, Document, HostState, Job, QueueCounts, block_candidates

_DELIVERY = ("id, activity_id, inbox, host, actor_role, state, attempts, due, created, last_status, last_error, "
             "last_attempt, worker")
_DUE = "state IN ('pending', 'retrying')"


def _delivery_info(r: Record) -> DeliveryInfo:
    return DeliveryInfo(*r)


def _counts(rows: Iterable[Record]) -> QueueCounts:
    return QueueCounts(**{r[0]: r[1] for r in rows})


class PgQueueOps(PostgresBase):
    """Jobs, deliveries and host health on PostgreSQL."""

    # durable jobs ---------------------------------------------------------------------------------------------------
    async def add_job(self, kind: str, payload: Document, due: datetime) -> int:
        return int(await self._fetchval("INSERT INTO jobs (kind, payload, due, created) VALUES ($1, $2, $3, $3) "
                                        "RETURNING id", kind, _enc(payload), _ts(due)))

    async def add_jobs_of(self, kind: str, items: Sequence[tuple[str, Document]], due: datetime) -> list[bool]:
        at = _ts(due)
        checks = [(block_candidates(actor), _enc(payload)) for actor, payload in items]

        async def op(c: Conn) -> list[bool]:
            added = []
            for candidates, payload in checks:
                blocked = bool(candidates) and await c.fetchval(
                    "SELECT true FROM blocks WHERE value = ANY($1::text[]) LIMIT 1", candidates) is not None
                if not blocked:
                    await c.execute("INSERT INTO jobs (kind, payload, due, created) VALUES ($1, $2, $3, $3)",
                                    kind, payload, at)
                added.append(not blocked)
            return added
        return await self._tx(op)

    async def claim_jobs(self, now: datetime, limit: int, lease_seconds: float, worker: str) -> list[Job]:
        until = _ts(now) + timedelta(seconds=lease_seconds)
        rows = await self._fetch(
            "UPDATE jobs j SET due = $1, worker = $2, attempts = j.attempts + 1 FROM ("
            "  SELECT id FROM jobs WHERE state = 'pending' AND due <= $3 ORDER BY due, id LIMIT $4 "
            "  FOR UPDATE SKIP LOCKED) AS picked WHERE j.id = picked.id "
            "RETURNING j.id, j.kind, j.payload, j.attempts, j.due, j.created, j.last_error", until, worker, now, limit)
        return [Job(r[0], r[1], json.loads(r[2]), r[3], r[4], r[5], r[6]) for r in sorted(rows)]

    async def finish_job(self, job_id: int) -> None:
        await self._execute("DELETE FROM jobs WHERE id = $1", job_id)

    async def retry_job(self, job_id: int, due: datetime, error: str) -> None:
        await self._execute("UPDATE jobs SET due = $1, worker = NULL, last_error = $2 WHERE id = $3",
                            _ts(due), error, job_id)

    async def fail_job(self, job_id: int, error: str) -> None:
        await self._execute("UPDATE jobs SET state = 'failed', worker = NULL, last_error = $1 WHERE id = $2",
                            error, job_id)

    async def next_job_due(self, now: datetime) -> datetime | None:
        due = await self._fetchval("SELECT min(due) FROM jobs WHERE state = 'pending'")
        return None if due is None else max(due, _ts(now))

    # delivery queue ---------------------------------------------------------------------------------------------
    async def claim_deliveries(self, now: datetime, limit: int, lease_seconds: float, worker: str,
                               skip_hosts: Iterable[str] = (), *, hosts: Iterable[str] | None = None,
                               per_host: int | None = None, busy: Mapping[str, int] | None = None
                               ) -> list[Delivery]:
        until = _ts(now) + timedelta(seconds=lease_seconds)
        params: list[Any] = [until, worker, now, _texts(skip_hosts)]
        where = f"{_DUE} AND due <= $3 AND NOT (host = ANY($4::text[]))"
        if hosts is not None:
            params.append(_texts(hosts))
            where += f" AND host = ANY(${len(params)}::text[])"
        n = len(params)
        if per_host is None:
            pick = f"SELECT id FROM deliveries WHERE {where} ORDER BY due, id LIMIT ${n + 1} FOR UPDATE SKIP LOCKED"
            params.append(limit)
        else:
            # Cap rows per host among the oldest due ones (a bounded window, so the cost stays flat however long
            # the queue): the worker sends what it claims at once, and a row never waits out its lease. Rows of
            # the window beyond the cap stay locked only until this statement commits.
            room = {h.lower(): max(per_host - k, 0) for h, k in (busy or {}).items()}
            pick = (f"WITH cand AS (SELECT id, host, due FROM deliveries WHERE {where} ORDER BY due, id "
                    f"  LIMIT ${n + 1} FOR UPDATE SKIP LOCKED), "
                    "ranked AS (SELECT id, host, due, row_number() OVER (PARTITION BY host ORDER BY due, id) AS n "
                    "  FROM cand) "
                    f"SELECT ranked.id FROM ranked LEFT JOIN unnest(${n + 2}::text[], ${n + 3}::int[]) "
                    "  AS r(host, room) ON r.host = ranked.host "
                    f"WHERE ranked.n <= coalesce(r.room, ${n + 4}) ORDER BY ranked.due, ranked.id LIMIT ${n + 5}")
            params += [max(limit * 16, 512), list(room), list(room.values()), per_host, limit]
        sql = (f"UPDATE deliveries d SET due = $1, worker = $2, attempts = d.attempts + 1 FROM ({pick}) AS picked "
               "WHERE d.id = picked.id RETURNING d.id, d.activity_id, d.inbox, d.host, d.actor_role, d.attempts, "
               "d.created")

        async def op(c: Conn) -> list[Delivery]:
            if per_host is not None:
                # The capped claim locks its whole window to rank it, and keeps only some rows: claims of this
                # kind take turns (each a millisecond or so), so that the next one sees those leases instead of
                # skipping the window and coming back empty. SKIP LOCKED still passes over rows another
                # transaction holds.
                await c.execute("SELECT pg_advisory_xact_lock($1, $2)", LOCKS, CLAIM_LOCK)
            rows = await c.fetch(sql, *params)
            if not rows:
                return []
            ids = sorted({r[1] for r in rows})
            bodies = {r[0]: r[1] for r in await c.fetch("SELECT id, json FROM activities WHERE id = ANY($1::text[])",
                                                        ids)}
            return [Delivery(r[0], r[1], r[2], r[3], r[4], r[5], r[6], bodies[r[1]]) for r in sorted(rows)]
        return await self._tx(op)

    async def deliveries_done(self, done: Sequence[tuple[int, int]], now: datetime) -> None:
        at = _ts(now)
        await self._run(lambda c: c.executemany(
            "UPDATE deliveries SET state = 'done', worker = NULL, last_status = $1, last_error = NULL, "
            "last_attempt = $2 WHERE id = $3", [(status, at, delivery_id) for delivery_id, status in done]))

    async def delivery_retry(self, delivery_id: int, due: datetime, status: int | None, error: str,
                             now: datetime) -> None:
        await self._execute("UPDATE deliveries SET state = 'retrying', due = $1, worker = NULL, last_status = $2, "
                            "last_error = $3, last_attempt = $4 WHERE id = $5",
                            _ts(due), status, error, _ts(now), delivery_id)

    async def delivery_dead(self, delivery_id: int, status: int | None, error: str, now: datetime) -> None:
        await self._execute("UPDATE deliveries SET state = 'dead', worker = NULL, last_status = $1, last_error = $2, "
                            "last_attempt = $3 WHERE id = $4", status, error, _ts(now), delivery_id)

    async def delivery_counts(self, activity_id: str | None = None) -> QueueCounts:
        if activity_id is None:
            return _counts(await self._fetch("SELECT state, count(*) FROM deliveries GROUP BY state"))
        return _counts(await self._fetch(
            "SELECT state, count(*) FROM deliveries WHERE activity_id = $1 GROUP BY state", activity_id))

    async def deliveries(self, failed_only: bool = False, activity_id: str | None = None,
                         limit: int = 100) -> list[DeliveryInfo]:
        where, params = ["true"], list[Any]()
        if failed_only:
            where.append("state IN ('retrying', 'dead')")
        if activity_id is not None:
            params.append(activity_id)
            where.append(f"activity_id = ${len(params)}")
        params.append(limit)
        sql = (f"SELECT {_DELIVERY} FROM deliveries WHERE {' AND '.join(where)} "
               f"ORDER BY last_attempt DESC NULLS LAST, id LIMIT ${len(params)}")
        return [_delivery_info(r) for r in await self._fetch(sql, *params)]

    async def retry_dead(self, now: datetime, activity_id: str | None = None, inbox: str | None = None) -> int:
        where, params = ["state = 'dead'"], list[Any]([_ts(now)])
        for column, value in (("activity_id", activity_id), ("inbox", inbox)):
            if value is not None:
                params.append(value)
                where.append(f"{column} = ${len(params)}")
        return await self._execute(
            "UPDATE deliveries SET state = 'pending', due = $1, created = $1, attempts = 0, worker = NULL "
            f"WHERE {' AND '.join(where)}", *params)

    async def expire_deliveries(self, now: datetime, created_before: datetime, hosts: Iterable[str],
                                error: str) -> int:
        return await self._execute(
            f"UPDATE deliveries SET state = 'dead', worker = NULL, last_error = $1 WHERE {_DUE} AND created < $2 "
            "AND due <= $3 AND host = ANY($4::text[])", error, _ts(created_before), _ts(now), _texts(hosts))

    async def next_due(self, now: datetime) -> datetime | None:
        due = await self._fetchval(f"SELECT min(due) FROM deliveries WHERE {_DUE}")
        return None if due is None else max(due, _ts(now))

    async def prune_deliveries(self, before: datetime) -> int:
        return await self._execute("DELETE FROM deliveries WHERE state IN ('done', 'dead') AND last_attempt < $1",
                                   _ts(before))

    # host health ---------------------------------------------------------------------------------------------------
    async def host_failed(self, host: str, now: datetime) -> HostState:
        r = await self._fetchrow(
            "INSERT INTO hosts (host, failing_since, last_failure, failures) VALUES ($1, $2, $2, 1) "
            "ON CONFLICT (host) DO UPDATE SET last_failure = excluded.last_failure, failures = hosts.failures + 1 "
            "RETURNING host, failing_since, last_failure, failures", host.lower(), _ts(now))
        assert r is not None
        return HostState(*r)

    async def host_ok(self, host: str) -> bool:
        return await self._execute("DELETE FROM hosts WHERE host = $1", host.lower()) > 0

    async def host_state(self, host: str) -> HostState | None:
        r = await self._fetchrow("SELECT host, failing_since, last_failure, failures FROM hosts WHERE host = $1",
                                 host.lower())
        return HostState(*r) if r else None

    async def dead_hosts(self, now: datetime, days: float) -> list[DeadHost]:
        return await self._one(lambda c: self._dead_hosts(c, now, days))

    @staticmethod
    async def _dead_hosts(c: Conn, now: datetime, days: float) -> list[DeadHost]:
        limit = _ts(now) - timedelta(days=days)
        return [DeadHost(r[0], r[1]) for r in await c.fetch(
            "SELECT host, failing_since FROM hosts WHERE failing_since <= $1 ORDER BY failing_since, host", limit)]
