"""Bounded memory: a stream of distinct, client-chosen requests does not grow a running ``fedi serve``.

The server is a real child process; its resident set (VmRSS in /proc/PID/status, what the kernel charges it) is
read after a warm-up and again after the measured requests. Every request names something new: an outbox page
past the end, a query string, a talk that does not exist, a WebFinger account, an inbox POST signed with a key id
never seen (fetched, failing, remembered). The suite sends 10,000 of them and bounds the growth per request;
the full-size check runs by hand (about 5 minutes on a busy 2-core machine):

    FEDI_MEMORY_REQUESTS=100000 .venv/bin/python -m pytest -s --timeout=1800 tests/test_memory.py
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import sys
from pathlib import Path

import aiohttp
import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519

from fedi import signatures
from tests.conftest import write_config
from tests.fedi_app import free_port
from tests.fedi_process import FediProcess

pytestmark = [pytest.mark.usefixtures("loopback_only"),
              pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/PID/status")]

REQUESTS = int(os.environ.get("FEDI_MEMORY_REQUESTS", "10000"))
WARM_UP = 5000
CACHE_ENTRIES = 256
"""Small, so that the warm-up fills every bounded cache and what follows measures only unbounded growth."""
CONCURRENCY = 16
LIMIT_MB = 5.0
"""Growth allowed whatever the count ("a few MB"): the allocator's arenas, the buffers and the fixed-size memos
settle by a few MB after the warm-up (100,000 requests: +4.2 MB, most of it in the first 20,000)."""
PER_REQUEST_BYTES = 300
"""Growth allowed per measured request (2.9 MB over the suite's 10,000). Before the caches were bounded, each
distinct outbox page kept ~900 bytes (60,000 pages: +56 MB), and this mix grew by ~700 bytes a request."""
AS2 = "application/activity+json"


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise AssertionError(f"no VmRSS for process {pid}")


class Load:
    """Distinct requests of every client-chosen kind against the server at ``base``."""

    def __init__(self, base: str, closed_port: int) -> None:
        self.base, self.closed_port = base, closed_port
        self.key = ed25519.Ed25519PrivateKey.generate()
        self.statuses: dict[int, int] = {}

    def request(self, n: int) -> tuple[str, str, dict[str, str], bytes | None]:
        kind = n % 8
        if kind < 4:  # half of them: what the probe that found the leak sent
            return "GET", f"/actors/archive/outbox?page={n + 2}", {"Accept": AS2}, None
        if kind == 4:
            return "GET", f"/actors/archive?v={n}", {"Accept": AS2}, None
        if kind == 5:
            if n % 16 < 8:
                return "GET", f"/talks/debat?v={n}", {"Accept": "text/html"}, None
            return "GET", f"/talks/no-such-talk-{n}", {"Accept": AS2}, None
        if kind == 6:
            host = self.base.split("//")[1]
            return "GET", f"/.well-known/webfinger?resource=acct:nobody{n}@{host}", {}, None
        # a key id never seen, on a loopback port where nothing listens: fetched, refused, remembered. The
        # documents are 64 (the per-URL memo of hosts, 4,096 entries, fills too slowly for a short run), the
        # key ids all new: the verifier's own caches see a new key at every such request.
        actor = f"http://127.0.0.1:{self.closed_port}/users/u{n % 64}"
        body = json.dumps({"@context": "https://www.w3.org/ns/activitystreams", "id": f"{actor}#follow",
                           "type": "Follow", "actor": actor, "object": f"{self.base}/actors/archive"}).encode()
        unsigned = signatures.prepare_request("POST", f"{self.base}/inbox", {"Content-Type": AS2}, body,
                                              f"{actor}#key-{n}", self.key, signatures.CAVAGE,
                                              dt.datetime.now(dt.UTC))
        return "POST", "/inbox", unsigned.signed(b"\0" * 64), body

    async def send(self, session: aiohttp.ClientSession, first: int, count: int) -> None:
        queue = iter(range(first, first + count))

        async def worker() -> None:
            for n in queue:
                method, path, headers, body = self.request(n)
                async with session.request(method, self.base + path, headers=headers, data=body) as resp:
                    await resp.read()
                    self.statuses[resp.status] = self.statuses.get(resp.status, 0) + 1
        await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))


async def ready(session: aiohttp.ClientSession, base: str, fedi: FediProcess) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 30
    while loop.time() < deadline:
        assert fedi.alive(), f"fedi serve exited\n{fedi.log()[-3000:]}"
        try:
            async with session.get(base + "/actors/archive", headers={"Accept": AS2}) as resp:
                if resp.status == 200:
                    return
        except aiohttp.ClientError:
            pass
        await asyncio.sleep(0.1)
    raise AssertionError(f"fedi serve did not answer within 30 s\n{fedi.log()[-3000:]}")


async def test_distinct_requests_leave_memory_where_it_was(archive_dir: Path) -> None:
    """10,000 distinct client-chosen requests (100,000 by hand) grow a fedi serve's RSS by at most a few MB."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    write_config(archive_dir, server={"port": port, "base_url": base, "cache_entries": CACHE_ENTRIES},
                 archive={"watch_seconds": 0})
    fedi = await FediProcess(archive_dir, "serve").start("serve")
    load = Load(base, free_port())
    try:
        connector = aiohttp.TCPConnector(limit=CONCURRENCY)
        async with aiohttp.ClientSession(connector=connector) as session:
            await ready(session, base, fedi)
            await load.send(session, 0, WARM_UP)
            assert fedi.proc is not None
            before = rss_mb(fedi.proc.pid)
            checkpoints = []
            for step in range(5):  # the curve, for the report: bounded memory flattens out
                await load.send(session, WARM_UP + step * REQUESTS // 5, REQUESTS // 5)
                checkpoints.append(round(rss_mb(fedi.proc.pid), 1))
            after = checkpoints[-1]
    finally:
        await fedi.stop()
    growth = after - before
    per_request = growth * 1024 * 1024 / REQUESTS
    print(f"\n{REQUESTS} distinct requests: RSS {before:.1f} MB -> {after:.1f} MB "
          f"({growth:+.2f} MB, {per_request:.0f} bytes per request); every fifth: {checkpoints}; "
          f"statuses {sorted(load.statuses.items())}")
    assert per_request <= PER_REQUEST_BYTES and growth <= LIMIT_MB, \
        f"{REQUESTS} distinct requests grew fedi serve from {before:.1f} to {after:.1f} MB"
    assert set(load.statuses) <= {200, 401, 404}, load.statuses
    assert load.statuses.get(404, 0) >= (REQUESTS + WARM_UP) // 2  # past the end, no such talk, no such account
