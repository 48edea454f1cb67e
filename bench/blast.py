"""A lean HTTP/1.1 load client: pre-serialized requests over keep-alive connections, one latency per request.

Runs in its own process (on 2 cores the load client competes with the server, so it must cost little: no
HTTP library, requests written as ready bytes, responses read by Content-Length). The same client loads
fedi and the raw baselines, so their ratio is fair.

    python -m bench.blast SPEC.pickle
    SPEC: {"host", "port", "connections", and either "requests": [bytes, …] (each sent once, in order,
           spread over the connections) or "request": bytes + "seconds": float (repeated until then)}
    → prints one JSON line: requests, ok (2xx), statuses, errors, seconds, per_s, p50_ms, p99_ms, max_ms.
"""

from __future__ import annotations

import asyncio
import json
import pickle
import sys
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

LIMIT = 5_000_000
"""The most requests a duration run sends, whatever the duration (bounded in requests too)."""


class _Connection(asyncio.Protocol):
    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.waiter: asyncio.Future[int] | None = None
        self.closing = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        self._parse()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closing = True
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(ConnectionError(str(exc or "connection closed")))

    def _parse(self) -> None:
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0 or self.waiter is None or self.waiter.done():
            return
        head = bytes(self.buffer[:end]).lower()
        status = int(head[9:12])
        length = 0
        at = head.find(b"\r\ncontent-length:")
        if at >= 0:
            stop = head.find(b"\r\n", at + 2)
            length = int(head[at + 17:stop if stop > 0 else len(head)])
        elif b"\r\ntransfer-encoding: chunked" in head:
            tail = self.buffer.find(b"\r\n0\r\n\r\n", end + 4)
            if tail < 0:
                return
            length = tail + 7 - (end + 4)
        total = end + 4 + length
        if len(self.buffer) < total:
            return
        del self.buffer[:total]
        if b"\r\nconnection: close" in head:
            self.closing = True
        self.waiter.set_result(status)

    async def send(self, request: bytes) -> int:
        assert self.transport is not None
        self.waiter = asyncio.get_running_loop().create_future()
        self.transport.write(request)
        return await self.waiter


async def _connect(host: str, port: int) -> _Connection:
    loop = asyncio.get_running_loop()
    _, conn = await loop.create_connection(_Connection, host, port)
    return conn


async def run(spec: dict[str, Any]) -> dict[str, Any]:
    host, port, connections = spec["host"], spec["port"], spec["connections"]
    loop = asyncio.get_running_loop()
    latencies: list[float] = []
    statuses: Counter[int] = Counter()
    errors: list[str] = []
    if "requests" in spec:
        pending = iter(spec["requests"])

        def take() -> bytes | None:
            return next(pending, None)
    else:
        request, deadline, budget = spec["request"], 0.0, [LIMIT]

        def take() -> bytes | None:
            if loop.time() >= deadline or budget[0] <= 0:
                return None
            budget[0] -= 1
            return request

    async def worker(take: Callable[[], bytes | None]) -> None:
        conn: _Connection | None = None
        while (req := take()) is not None:
            try:
                if conn is None or conn.closing:
                    conn = await _connect(host, port)
                started = time.perf_counter()
                status = await asyncio.wait_for(conn.send(req), 30)
                latencies.append(time.perf_counter() - started)
                statuses[status] += 1
            except (OSError, ConnectionError, TimeoutError, ValueError) as exc:
                errors.append(f"{type(exc).__name__}: {exc}")
                if conn is not None and conn.transport is not None:
                    conn.transport.close()
                conn = None
        if conn is not None and conn.transport is not None:
            conn.transport.close()

    started = time.perf_counter()
    if "seconds" in spec:
        deadline = loop.time() + spec["seconds"]
    await asyncio.gather(*(worker(take) for _ in range(connections)))
    elapsed = time.perf_counter() - started
    done = len(latencies)
    ms = sorted(x * 1000 for x in latencies)

    def pct(p: float) -> float:
        return round(ms[min(len(ms) - 1, int(p / 100 * len(ms)))], 2) if ms else 0.0
    return {"requests": done, "ok": sum(n for s, n in statuses.items() if 200 <= s < 300),
            "statuses": {str(k): v for k, v in sorted(statuses.items())}, "errors": len(errors),
            "first_errors": errors[:3], "seconds": round(elapsed, 3), "per_s": round(done / elapsed, 1),
            "p50_ms": pct(50), "p99_ms": pct(99), "max_ms": round(ms[-1], 2) if ms else 0.0}


def serialize(method: str, path: str, headers: dict[str, str], body: bytes = b"") -> bytes:
    """One HTTP/1.1 request as bytes (keep-alive; Content-Length when there is a body)."""
    lines = [f"{method} {path} HTTP/1.1"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    if body or method == "POST":
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


if __name__ == "__main__":
    with open(sys.argv[1], "rb") as f:
        print(json.dumps(asyncio.run(run(pickle.load(f)))), flush=True)
