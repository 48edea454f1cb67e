"""Start-up: from starting ``fedi serve`` to its first 200 on WebFinger, with 100,000 followers and 1,000 talks.

The archive folder holds the 1,000 entries, all already published (so the comparison ``fedi serve`` makes at
start finds nothing to send), and the store the 100,000 followers. The clock starts when the process is
spawned and stops at the first 200 answer to a WebFinger query polled every 5 ms; the median of a few starts
is kept. Raw: the same for an aiohttp server with cryptography loaded that answers WebFinger.
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path
from typing import Any

from . import world
from .common import (
    PYTHON,
    Processes,
    Sizes,
    check_seeded,
    make_archive,
    publish_all,
    read_line,
    seed_followers,
    wait_http,
)
from .common import ratio as ratio_of


async def time_to_webfinger(procs: Processes, name: str, args: list[str], url: str | None, sizes: Sizes) -> float:
    """Seconds from spawning ``args`` to a 200 on ``url`` (None: the port is read from the child's first line)."""
    started = time.monotonic()
    proc = procs.start(name, args, stdout_pipe=url is None)
    if url is None:
        port = read_line(proc, sizes.deadline)["port"]
        url = f"http://127.0.0.1:{port}/.well-known/webfinger?resource=acct:archive@127.0.0.1"
    answered = await wait_http(url, sizes.deadline, proc)
    procs.stop(proc)
    return answered - started


async def run(sizes: Sizes, work: Path, keys: Path, procs: Processes) -> dict[str, Any]:
    archive = make_archive(work / "startup", keys, sizes, talks=sizes.startup_talks - 4)
    talks = await publish_all(archive)
    hosts = world.audience(sizes.startup_followers, max(1, sizes.startup_followers // 100),
                           sizes.startup_followers // 500)
    rows = world.follower_rows(hosts, 9)  # never contacted: nothing is published at start
    await seed_followers(archive, rows)
    await check_seeded(archive, len(rows), len(world.expected_inboxes(hosts, 9)))
    url = f"{archive.base}/.well-known/webfinger?resource=acct:archive@127.0.0.1:{archive.port}"
    fedi = [await time_to_webfinger(procs, f"fedi-serve-{i}", archive.fedi("serve"), url, sizes)
            for i in range(sizes.startup_runs)]
    raw = [await time_to_webfinger(procs, f"raw-{i}", [PYTHON, "-m", "bench.raw", "idle"], None, sizes)
           for i in range(sizes.startup_runs)]
    fedi_s, raw_s = statistics.median(fedi), statistics.median(raw)
    return {"talks": talks, "followers": len(rows), "runs": sizes.startup_runs,
            "fedi": {"seconds": round(fedi_s, 3), "all_seconds": [round(x, 3) for x in fedi]},
            "raw": {"seconds": round(raw_s, 3), "all_seconds": [round(x, 3) for x in raw]},
            "ratio": ratio_of(fedi_s, raw_s)}
