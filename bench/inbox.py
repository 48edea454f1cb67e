"""Inbox: a flood of signed Follow / Like / Undo from 200 remote actors whose keys fedi has already cached.

The activities are signed beforehand (signing is the sender's cost, not the server's: done in a process pool,
outside the timing) and replayed by ``blast`` over 64 keep-alive connections as fast as the server answers.
Every activity has its own id (a replay would be a cheap 202). fedi: ``fedi serve`` in its own process. Under
the flood it stores each verified POST and handles it once the flood is over (``jobs.Pressure``): its job
worker then records the effects and answers each Follow with a signed Accept to the simulated server of the
follower, as in production. ``handled_per_s`` counts that too: the activities over the time from the first
POST of a round until its last job is done. Raw: an aiohttp handler that checks the Digest, verifies the one
RSA-2048 signature with a parsed key, parses the JSON and answers 202 — the same requests, the same client.

``workers_2``: ``fedi serve --workers 2`` on a copy of the archive (its own store, so the requests are new to
it), given the same part of the flood in each round right after raw; its ratio is against the one-process raw.
The load generator shares the 2 cores: its CPU per request is reported beside each side's.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import pickle
import re
import shutil
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

from . import world
from .blast import serialize
from .common import (
    PYTHON,
    Archive,
    Processes,
    Sizes,
    cavage_headers,
    children_cpu_seconds,
    free_port,
    load_private_key,
    make_archive,
    paired_ratio,
    publish_all,
    read_line,
    remote_keys,
    run_json,
    tree_cpu_seconds,
    wait_http,
)
from .fanout import fedi_key, start_world

AS = "https://www.w3.org/ns/activitystreams"
KEYS = 4
"""Distinct RSA keys among the remote actors (generating one costs ~100 ms; key ids stay one per actor)."""
HOSTS = 20
"""Simulated servers the remote actors live on."""


def activities(actor_ids: list[str], archive_actor: str, talks: list[str], count: int) -> list[tuple[int, dict]]:
    """(actor index, activity): Follow, Like, Undo of that Follow, in turns, actors interleaved; unique ids."""
    out: list[tuple[int, dict]] = []
    round_ = 0
    while len(out) < count:
        for i, actor in enumerate(actor_ids):
            n, step = divmod(round_, 3)
            follow = {"@context": AS, "id": f"{actor}#follows/{n}", "type": "Follow", "actor": actor,
                      "object": archive_actor}
            if step == 0:
                doc = follow
            elif step == 1:
                doc = {"@context": AS, "id": f"{actor}#likes/{n}", "type": "Like", "actor": actor,
                       "object": talks[(i + n) % len(talks)]}
            else:
                doc = {"@context": AS, "id": f"{actor}#follows/{n}/undo", "type": "Undo", "actor": actor,
                       "object": {k: v for k, v in follow.items() if k != "@context"}}
            out.append((i, doc))
            if len(out) == count:
                break
        round_ += 1
    return out


_SIGNER: dict[str, Any] = {}


def _init_signer(key_files: list[str]) -> None:
    _SIGNER["keys"] = [load_private_key(Path(p)) for p in key_files]


def _sign_chunk(chunk: list[tuple[int, str, str, str, bytes]]) -> list[bytes]:
    """Serialized signed POSTs: (key index, key id, url, path, body) each."""
    out = []
    for key_index, key_id, url, path, body in chunk:
        headers = cavage_headers(_SIGNER["keys"][key_index], key_id, "POST", url, body)
        headers["User-Agent"] = "bench (Mastodon-shaped)"
        out.append(serialize("POST", path, headers, body))
    return out


def sign_all(items: list[tuple[int, str, str, str, bytes]], key_files: list[str]) -> list[bytes]:
    """Sign in a pool of two processes (one per core): 12,000 RSA signatures take ~5 s on one core."""
    size = max(1, len(items) // 16)
    chunks = [items[i:i + size] for i in range(0, len(items), size)]
    if len(items) < 400:
        _init_signer(key_files)
        return [r for chunk in chunks for r in _sign_chunk(chunk)]
    with ProcessPoolExecutor(2, initializer=_init_signer, initargs=(key_files,)) as pool:
        return [r for part in pool.map(_sign_chunk, chunks) for r in part]


async def run(sizes: Sizes, work: Path, keys: Path, procs: Processes) -> dict[str, Any]:
    archive = make_archive(work / "inbox", keys, sizes)
    await publish_all(archive)
    key_files, pems = remote_keys(work, "remote", KEYS)
    addresses = [world.address(2000 + h) for h in range(min(HOSTS, sizes.inbox_actors))]
    served = {f"/users/a{i}": pems[i % KEYS] for i in range(sizes.inbox_actors)}  # in case fedi fetches one
    port, control = await start_world(procs, work, addresses, {**fedi_key(archive.root, archive.base),
                                                               **fedi_key(archive.root, archive.base, "owner",
                                                                          "arsindustrialis")}, served)
    actor_ids = [f"http://{addresses[i % len(addresses)]}:{port}/users/a{i}" for i in range(sizes.inbox_actors)]
    await cache_actors(archive, actor_ids, pems)
    archive_2 = Archive(work / "inbox-workers-2", archive.port)  # same base URL and keys, its own store
    shutil.copytree(archive.root, archive_2.root)
    port_2 = free_port()

    config = archive.load()
    from fedi.config import urls_for

    urls = urls_for(config)
    talks = [urls.talk(slug) for slug in ("aigrain", "giffard", "stiegler", "zimmermann")]
    planned = activities(actor_ids, urls.actor("archive"), talks, sizes.inbox_activities)
    items = []
    for i, doc in planned:
        path = "/actors/archive/inbox" if doc["type"] != "Like" else "/inbox"
        body = json.dumps(doc).encode()
        items.append((i % KEYS, f"{actor_ids[i]}#main-key", archive.base + path, path, body))
    signing = time.monotonic()
    requests = sign_all(items, key_files)
    signing = time.monotonic() - signing

    spec = work / "raw-inbox.json"
    spec.write_text(json.dumps({"keys": {f"{a}#main-key": pems[i % KEYS] for i, a in enumerate(actor_ids)}}))
    raw_server = procs.start("raw-inbox", [PYTHON, "-m", "bench.raw", "inbox", str(spec)], stdout_pipe=True)
    raw_port = read_line(raw_server, 30)["port"]
    serve = procs.start("fedi-serve", archive.fedi("serve"))
    await wait_http(f"{archive.base}/.well-known/webfinger?resource=acct:archive@127.0.0.1:{archive.port}",
                    sizes.deadline, serve)
    serve_2 = procs.start("fedi-serve-workers-2", archive_2.fedi("serve", "--workers", "2", "--port", str(port_2)))
    await wait_http(f"http://127.0.0.1:{port_2}/.well-known/webfinger?resource=acct:archive@127.0.0.1:"
                    f"{archive.port}", sizes.deadline, serve_2)
    # in turns, a part of the flood each: fedi, then (once fedi's background work is done) raw, then 2 workers
    fedi_runs, raw_runs, runs_2, follows = [], [], [], 0
    accepts = {"fedi": 0, "workers_2": 0, "during_fedi": 0, "during_workers_2": 0}
    drained: dict[str, Any] = {}
    size = -(-len(requests) // sizes.inbox_rounds)
    for round_ in range(sizes.inbox_rounds):
        part = slice(round_ * size, (round_ + 1) * size)
        new_follows = sum(1 for _, doc in planned[part] if doc["type"] == "Follow")
        follows += new_follows
        for side, store, port, pid, runs in (("fedi", archive, archive.port, serve.pid, fedi_runs),
                                             ("workers_2", archive_2, port_2, serve_2.pid, runs_2)):
            if side == "workers_2":
                raw_runs.append(blast(procs, work, f"blast-raw-{round_}", raw_port, requests[part], sizes,
                                      raw_server.pid))
            before = (await world.stats(control))["posts"]
            run = blast(procs, work, f"blast-{side}-{round_}", port, requests[part], sizes, pid)
            after = time.monotonic()
            accepts[f"during_{side}"] += (await world.stats(control))["posts"] - before
            drained = await world.wait_posts(control, before + new_follows, min(15.0, sizes.deadline))
            accepts[side] += drained["posts"] - before
            await jobs_done(store, min(15.0, sizes.deadline))
            run["handled_seconds"] = round(run["seconds"] + time.monotonic() - after, 3)
            runs.append(run)
    procs.stop(serve)
    procs.stop(serve_2)
    procs.stop(raw_server)
    fedi, raw, workers_2 = combine(fedi_runs), combine(raw_runs), combine(runs_2)
    for side, runs, figures in (("fedi", fedi_runs, fedi), ("workers_2", runs_2, workers_2)):
        figures["handled_per_s"] = round(figures["accepted"] / max(sum(r["handled_seconds"] for r in runs), 1e-9), 1)
        figures.update(accepts_sent_during=accepts[f"during_{side}"], accepts_sent=accepts[side],
                       accepts_bad_signatures=drained.get("bad", 0))
    workers_2["ratio"] = paired_ratio(runs_2, raw_runs, "accepted_per_s")
    workers_2["sqlite_lock"] = lock_waits(procs.log("fedi-serve-workers-2"))
    return {"activities": len(requests), "actors": len(actor_ids), "connections": sizes.inbox_connections,
            "rounds": sizes.inbox_rounds, "follows": follows, "signing_seconds_outside_timing": round(signing, 2),
            "fedi": fedi, "raw": raw, "ratio": paired_ratio(fedi_runs, raw_runs, "accepted_per_s"),
            "workers_2": workers_2}


def lock_waits(log: str) -> dict[str, Any]:
    """What the two workers' write transactions waited for each other on the SQLite file (each logs it as it
    stops): transactions, seconds in all, µs each on average."""
    found = [(int(n), float(s)) for n, s in re.findall(r"worker \d+: (\d+) write transactions waited ([\d.]+) s", log)]
    count, seconds = sum(n for n, _ in found), sum(s for _, s in found)
    return {"workers_reporting": len(found), "write_transactions": count, "wait_seconds": round(seconds, 3),
            "wait_us_per_transaction": round(seconds / count * 1e6) if count else None}


def combine(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The rounds' sums (requests, time, CPU), the overall rate, and the round of median p99."""
    seconds = sum(r["seconds"] for r in runs)
    accepted = sum(r["accepted"] for r in runs)
    statuses: dict[str, int] = {}
    for r in runs:
        for status, n in r["statuses"].items():
            statuses[status] = statuses.get(status, 0) + n
    cpu = sum(r["server_cpu_seconds"] for r in runs)
    load_cpu = sum(r["load_cpu_seconds"] for r in runs)
    requests = sum(r["requests"] for r in runs)
    by_p99 = sorted(runs, key=lambda r: r["p99_ms"])[len(runs) // 2]
    return {"accepted": accepted, "requests": requests, "statuses": statuses,
            "errors": sum(r["errors"] for r in runs), "seconds": round(seconds, 3),
            "accepted_per_s": round(accepted / max(seconds, 1e-9), 1),
            "all_accepted_per_s": [r["accepted_per_s"] for r in runs],
            "p50_ms": by_p99["p50_ms"], "p99_ms": by_p99["p99_ms"], "max_ms": max(r["max_ms"] for r in runs),
            "server_cpu_us_per_request": round(cpu / max(requests, 1) * 1e6),
            "load_cpu_us_per_request": round(load_cpu / max(requests, 1) * 1e6)}


def blast(procs: Processes, work: Path, name: str, port: int, requests: list[bytes], sizes: Sizes,
          server: int) -> dict[str, Any]:
    """Replay the requests at the server (process ``server``); its figures, and the CPU the server used."""
    spec = work / f"{name}.pickle"
    with open(spec, "wb") as f:
        pickle.dump({"host": "127.0.0.1", "port": port, "connections": sizes.inbox_connections,
                     "requests": requests}, f)
    cpu, load_cpu = tree_cpu_seconds(server), children_cpu_seconds()
    got = run_json(procs, name, [PYTHON, "-m", "bench.blast", str(spec)], sizes.deadline)
    cpu, load_cpu = tree_cpu_seconds(server) - cpu, children_cpu_seconds() - load_cpu
    accepted = got["statuses"].get("202", 0)
    return {"accepted": accepted, "requests": got["requests"], "statuses": got["statuses"], "errors": got["errors"],
            "seconds": got["seconds"], "accepted_per_s": round(accepted / max(got["seconds"], 1e-9), 1),
            "p50_ms": got["p50_ms"], "p99_ms": got["p99_ms"], "max_ms": got["max_ms"],
            "server_cpu_seconds": round(cpu, 3), "load_cpu_seconds": round(load_cpu, 3)}


async def jobs_done(archive: Any, timeout: float) -> None:
    """Wait until fedi's job queue is empty: every activity of the flood handled (``jobs.Pressure`` defers them
    under a flood), every Follow answered."""
    from fedi.store import open_store

    deadline = time.monotonic() + timeout
    async with open_store(archive.load().store.url) as store:
        while time.monotonic() < deadline:
            if (await store.status(dt.datetime.now(dt.UTC))).jobs.get("pending", 0) == 0:
                return
            await asyncio.sleep(0.05)


async def cache_actors(archive: Any, actor_ids: list[str], pems: list[str]) -> None:
    """The remote actors and their keys as fedi keeps them after a first fetch (``store.cache_actor``)."""
    from fedi.store import open_store

    now = dt.datetime.now(dt.UTC)
    async with open_store(archive.load().store.url) as store:
        await asyncio.gather(*(store.cache_actor(a, world.actor_document(a, pems[i % KEYS]),
                                                 [(f"{a}#main-key", pems[i % KEYS], "pem")], now)
                               for i, a in enumerate(actor_ids)))
