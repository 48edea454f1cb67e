"""Memory: the resident set of ``fedi serve`` idle on the sample archive, idle with 100,000 followers stored, and
at its peak while it publishes a new talk to those 100,000 followers (its folder watcher picks the entry up,
publishes it and its own delivery worker sends every POST to the simulated servers).

Figures are the kernel's: VmRSS (now) and VmHWM (the peak since the process started), in MiB. Raw: the same
for an idle aiohttp server with cryptography loaded (what any Python fediverse server starts from).

``workers_2``: ``fedi serve --workers 2`` idle on the sample archive: the RSS of the supervisor and of each
worker, their sum, and the sum of their PSS. The supervisor loads only the config and the store; each worker
imports the server after its fork. The libraries' code pages are shared, so the PSS sum (what the three really
take from the machine's memory, each shared page counted once in all) is below the RSS sum.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

from . import world
from .common import (
    PYTHON,
    Processes,
    Sizes,
    check_seeded,
    children,
    free_port,
    make_archive,
    pss_mb,
    publish_all,
    read_line,
    rss_mb,
    seed_followers,
    wait_http,
    write_talk,
)
from .common import ratio as ratio_of
from .fanout import fedi_key, start_world

SETTLE = 1.0
"""Seconds a server is left alone before its idle figure is read (start-up garbage collected, caches settled)."""
WATCH = 0.5
"""The folder watcher's period in this scenario (seconds)."""


async def idle(url: str, proc: Any, sizes: Sizes) -> dict[str, float]:
    """RSS of a server that has answered its first requests and then sat idle."""
    await wait_http(url, sizes.deadline, proc)
    for _ in range(20):  # a few reads, as a server just found by others gets
        await wait_http(url, sizes.deadline, proc)
    await asyncio.sleep(SETTLE if sizes.name == "full" else 0.2)
    now, peak = rss_mb(proc.pid)
    return {"rss_mb": now, "peak_rss_mb": peak}


def idle_tree(supervisor: int) -> dict[str, Any]:
    """RSS of a supervisor and of each of its workers, their sum, and the sum of their PSS (MiB)."""
    pids = {"supervisor": supervisor, **{f"worker_{i}": pid for i, pid in enumerate(children(supervisor))}}
    rss = {name: rss_mb(pid)[0] for name, pid in pids.items()}
    return {"rss_mb": rss, "total_rss_mb": round(sum(rss.values()), 1),
            "total_pss_mb": round(sum(pss_mb(pid) for pid in pids.values()), 1)}


async def run(sizes: Sizes, work: Path, keys: Path, procs: Processes) -> dict[str, Any]:
    # 1. the sample archive, no followers
    sample = make_archive(work / "memory-sample", keys, sizes)
    await publish_all(sample)
    serve = procs.start("fedi-serve-sample", sample.fedi("serve"))
    webfinger = "/.well-known/webfinger?resource=acct:archive@127.0.0.1:{port}"
    fedi_idle = await idle(sample.base + webfinger.format(port=sample.port), serve, sizes)
    procs.stop(serve)
    port_2 = free_port()
    serve = procs.start("fedi-serve-sample-workers-2", sample.fedi("serve", "--workers", "2", "--port", str(port_2)))
    await idle(f"http://127.0.0.1:{port_2}" + webfinger.format(port=sample.port), serve, sizes)
    workers_2 = idle_tree(serve.pid)
    procs.stop(serve)

    # 2. 100,000 followers on 1,000 simulated servers, idle
    hosts = world.audience(sizes.memory_followers, sizes.memory_hosts, sizes.memory_no_shared)
    archive = make_archive(work / "memory-followers", keys, sizes, watch_seconds=WATCH)
    await publish_all(archive)
    port, control = await start_world(procs, work, [h.address for h in hosts], fedi_key(archive.root, archive.base))
    rows = world.follower_rows(hosts, port)
    targets = world.expected_inboxes(hosts, port)
    await seed_followers(archive, rows)
    await check_seeded(archive, len(rows), len(targets))
    serve = procs.start("fedi-serve-followers", archive.fedi("serve"))
    fedi_followers = await idle(archive.base + webfinger.format(port=archive.port), serve, sizes)

    # 3. a new talk while it runs: its watcher publishes it to every follower, its worker delivers
    write_talk(archive.outbox, "bench-memory", 11)
    started = time.monotonic()
    deadline = started + sizes.deadline
    peak_now = 0.0
    got: dict[str, Any] = {"posts": 0}
    while time.monotonic() < deadline:
        now, _ = rss_mb(serve.pid)
        peak_now = max(peak_now, now)
        got = await world.stats(control)
        if got["posts"] >= len(targets):
            break
        await asyncio.sleep(0.05)
    _, peak = rss_mb(serve.pid)
    fanout = {"peak_rss_mb": peak, "highest_rss_sampled_mb": peak_now, "posts": got["posts"],
              "distinct_inboxes": len(targets), "complete": got["posts"] == len(targets),
              "bad_signatures": got.get("bad", 0),
              "seconds": round(got.get("last", started) - started, 2) if got["posts"] else None}
    procs.stop(serve)

    raw_proc = procs.start("raw-idle", [PYTHON, "-m", "bench.raw", "idle"], stdout_pipe=True)
    raw_port = read_line(raw_proc, 30)["port"]
    raw_idle = await idle(f"http://127.0.0.1:{raw_port}" + webfinger.format(port=raw_port), raw_proc, sizes)
    procs.stop(raw_proc)
    return {"followers": len(rows), "distinct_inboxes": len(targets),
            "idle_sample": fedi_idle, "workers_2": workers_2,
            "idle_followers": fedi_followers, "fanout": fanout, "raw_idle": raw_idle,
            "ratio": ratio_of(fedi_idle["peak_rss_mb"], raw_idle["peak_rss_mb"]),
            "fedi_over_raw_idle_mb": round(fedi_idle["peak_rss_mb"] - raw_idle["peak_rss_mb"], 1)}
