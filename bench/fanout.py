"""Fan-out: one new talk published to 10,000 followers on 1,000 simulated servers.

fedi: ``fedi publish outbox/NEW.toml --wait`` in its own process (it writes the activity and one delivery row
per inbox in one transaction, then its delivery worker sends them), timed from the moment the command is
started until the simulated servers have answered the last POST. Every inbox must receive exactly one POST
(the shared inbox of a server once, however many followers stand behind it), correctly signed.

Raw: a bare aiohttp client loop in its own process signs and POSTs the same body to the same inboxes, with the
same concurrency limits (overall and per host), timed the same way.
"""

from __future__ import annotations

import json
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
    paired_ratio,
    publish_all,
    read_line,
    run_json,
    seed_followers,
    wait_cpu,
    write_talk,
)

SLUG = "bench-fanout"


async def start_world(procs: Processes, work: Path, addresses: list[str], keys: dict[str, str],
                      actors: dict[str, str] | None = None) -> tuple[int, int]:
    """The simulated servers' process; (port of every host, control port)."""
    spec = work / "world.json"
    spec.write_text(json.dumps({"addresses": addresses, "keys": keys, "actors": actors or {}}))
    proc = procs.start("world", [PYTHON, "-m", "bench.world", str(spec)], stdout_pipe=True)
    info = read_line(proc, 60)
    return info["port"], info["control"]


def fedi_key(archive_root: Path, base: str, role: str = "archive", username: str = "archive") -> dict[str, str]:
    """The public key of one of fedi's actors, by key id, for the simulated servers to verify."""
    pem = (archive_root / "keys" / f"{role}.public.pem").read_text()
    return {f"{base}/actors/{username}#main-key": pem}


async def run(sizes: Sizes, work: Path, keys: Path, procs: Processes) -> dict[str, Any]:
    hosts = world.audience(sizes.fanout_followers, sizes.fanout_hosts, sizes.fanout_no_shared)
    archive = make_archive(work / "fanout", keys, sizes)
    await publish_all(archive)
    port, control = await start_world(procs, work, [h.address for h in hosts], fedi_key(archive.root, archive.base))
    rows = world.follower_rows(hosts, port)
    targets = world.expected_inboxes(hosts, port)
    await seed_followers(archive, rows)
    await check_seeded(archive, len(rows), len(targets))

    fedi_runs, raw_runs = [], []
    body = b""
    for round_ in range(sizes.fanout_rounds):  # fedi and raw in turns: the machine's noise falls on both alike
        slug = f"{SLUG}-{round_}"
        entry = write_talk(archive.outbox, slug, 7 + round_)
        await world.reset(control)
        started = time.monotonic()
        proc = procs.start(f"fedi-publish-{round_}", archive.fedi("publish", str(entry), "--wait"))
        code, cpu = wait_cpu(proc, sizes.deadline)
        exited = time.monotonic()
        if code != 0:
            raise RuntimeError(f"fedi publish --wait failed ({code}): {procs.log(f'fedi-publish-{round_}')}")
        fedi_runs.append({**figures(await world.stats(control), targets, started, exited),
                          "cpu_seconds": round(cpu, 2)})
        body = await created_body(archive, slug)

        await world.reset(control)
        spec = work / "raw-fanout.json"
        spec.write_text(json.dumps({"targets": sorted(targets), "body": body.decode(),
                                    "concurrency": sizes.concurrency, "per_host": sizes.per_host,
                                    "key_path": str(keys / "archive.private.pem"),
                                    "key_id": f"{archive.base}/actors/archive#main-key"}))
        started = time.monotonic()
        own = run_json(procs, f"raw-fanout-{round_}", [PYTHON, "-m", "bench.raw", "fanout", str(spec)],
                       sizes.deadline)
        exited = time.monotonic()
        raw_runs.append({**figures(await world.stats(control), targets, started, exited),
                         "cpu_seconds": own["cpu_seconds"]})
    fedi, raw = median_run(fedi_runs), median_run(raw_runs)
    return {
        "followers": len(rows), "hosts": len(hosts), "hosts_without_shared_inbox": sizes.fanout_no_shared,
        "distinct_inboxes": len(targets), "concurrency": sizes.concurrency, "per_host": sizes.per_host,
        "body_bytes": len(body), "rounds": sizes.fanout_rounds, "fedi": fedi, "raw": raw,
        "ratio": paired_ratio(fedi_runs, raw_runs, "deliveries_per_s"),
        "sending_ratio": paired_ratio(fedi_runs, raw_runs, "sending_deliveries_per_s"),
    }


def median_run(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The run of median rate; every run must have been exact (the worst one's counts are kept)."""
    ordered = sorted(runs, key=lambda r: r["deliveries_per_s"])
    chosen = dict(ordered[len(ordered) // 2])
    chosen["exact"] = all(r["exact"] for r in runs)
    chosen["bad_signatures"] = sum(r["bad_signatures"] for r in runs)
    chosen["all_deliveries_per_s"] = [r["deliveries_per_s"] for r in runs]
    return chosen


def figures(got: dict[str, Any], targets: set[str], started: float, exited: float) -> dict[str, Any]:
    """What the simulated servers saw: POSTs, whether each inbox got exactly one, and the rates."""
    inboxes: dict[str, int] = got["inboxes"]
    seconds = max(got["last"] - started, 1e-9)
    sending = max(got["last"] - got["first"], 1e-9)
    return {
        "posts": got["posts"],
        "exact": set(inboxes) == targets and all(n == 1 for n in inboxes.values()),
        "missing_inboxes": len(targets - set(inboxes)),
        "duplicate_posts": sum(n - 1 for n in inboxes.values()),
        "bad_signatures": got["bad"],
        "first_errors": got["errors"],
        "seconds": round(seconds, 3),
        "command_seconds": round(exited - started, 3),
        "first_post_after_seconds": round(got["first"] - started, 3),
        "deliveries_per_s": round(got["posts"] / seconds, 1),
        "sending_deliveries_per_s": round(got["posts"] / sending, 1),
    }


async def created_body(archive: Any, slug: str) -> bytes:
    """The Create fedi sent, as stored: the raw loop posts the very same bytes."""
    from fedi.config import urls_for
    from fedi.store import open_store

    config = archive.load()
    async with open_store(config.store.url) as store:
        body = await store.activity_json(urls_for(config).create(slug))
    if body is None:
        raise RuntimeError("fedi publish stored no Create")
    return body
