"""Scale: fan-out and inbox on PostgreSQL with 1, 2 and 4 worker processes sharing one database.

Fan-out: N ``fedi deliver`` processes run on the database; ``fedi publish NEW.toml`` (a process of its own) queues
one row per inbox and the N workers share them (``FOR UPDATE SKIP LOCKED`` leases), timed from the publish
command until the simulated servers answered the last POST. Every inbox must get exactly one POST.
Inbox: N ``fedi serve`` processes on the database, a part of the signed Follow/Like/Undo flood each (as a load
balancer would spread it), all at once; activities accepted per second overall.
Raw: the same single-process baselines as the fan-out and inbox scenarios (the one-process limit).

The database: ``FEDI_BENCH_POSTGRES`` (or ``FEDI_TEST_POSTGRES``), a server where a database may be created and
dropped, else a throwaway cluster of Debian's ``postgresql`` binaries (tests/pg.py); without either, the scenario
is skipped and says why.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from . import world
from .common import (
    PYTHON,
    Processes,
    Sizes,
    check_seeded,
    cpu_seconds,
    free_port,
    make_archive,
    publish_all,
    remote_keys,
    run_json,
    seed_followers,
    wait_cpu,
    wait_http,
    write_talk,
)
from .fanout import created_body, fedi_key, figures, start_world
from .inbox import KEYS, activities, cache_actors, sign_all

ENV = "FEDI_BENCH_POSTGRES"


def postgres() -> tuple[Any, str]:
    """(a tests.pg.PgServer, where it is) or (None, why there is none)."""
    from tests.pg import PgServer, Unavailable

    url = os.environ.get(ENV)
    try:
        if url:
            server = PgServer(url, origin=ENV)
            server._admin("SELECT 1")
            return server, ENV
        server = PgServer.start()
        return server, server.origin
    except Unavailable as exc:
        return None, str(exc)
    except Exception as exc:  # noqa: BLE001 - any failure to reach FEDI_BENCH_POSTGRES is a reason to skip
        return None, f"cannot connect to the PostgreSQL server of {ENV}: {exc}"


def wait_log(procs: Processes, name: str, text: str, timeout: float, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + timeout
    while text not in procs.log(name):
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"{name} did not say {text!r} within {timeout:g} s: {procs.log(name)}")
        time.sleep(0.02)


async def run(sizes: Sizes, work: Path, keys: Path, procs: Processes) -> dict[str, Any]:
    server, where = postgres()
    if server is None:
        print(f"bench: scale skipped: {where}", file=sys.stderr, flush=True)
        return {"skipped": where}
    try:
        url = server.create_database()
        return {"postgres": where.split(",")[0], **await measure(sizes, work, keys, procs, url)}
    finally:
        procs.close()  # no process left on the database before it is dropped
        server.close()


async def measure(sizes: Sizes, work: Path, keys: Path, procs: Processes, url: str) -> dict[str, Any]:
    archive = make_archive(work / "scale", keys, sizes, store_url=url)
    await publish_all(archive)
    hosts = world.audience(sizes.scale_followers, sizes.scale_hosts, sizes.scale_no_shared)
    key_files, pems = remote_keys(work, "scale-remote", KEYS)
    actors_at = [world.address(2000 + h) for h in range(min(20, sizes.scale_actors))]
    served = {f"/users/a{i}": pems[i % KEYS] for i in range(sizes.scale_actors)}
    port, control = await start_world(procs, work, [h.address for h in hosts] + actors_at,
                                      {**fedi_key(archive.root, archive.base),
                                       **fedi_key(archive.root, archive.base, "owner", "arsindustrialis")}, served)
    rows = world.follower_rows(hosts, port)
    targets = world.expected_inboxes(hosts, port)
    await seed_followers(archive, rows)
    await check_seeded(archive, len(rows), len(targets))

    # fan-out: N deliver processes share the queue -------------------------------------------------------------
    fanout: dict[str, Any] = {}
    body = b""
    for n in sizes.scale_workers:
        names = [f"deliver-{n}-{i}" for i in range(n)]
        workers = [procs.start(name, archive.fedi("deliver")) for name in names]
        for name, proc in zip(names, workers, strict=True):
            wait_log(procs, name, "delivering as", sizes.deadline, proc)
        cpu = [cpu_seconds(p.pid) for p in workers]
        slug = f"bench-scale-{n}"
        entry = write_talk(archive.outbox, slug, 40 + n)
        await world.reset(control)
        started = time.monotonic()
        publisher = procs.start(f"publish-{n}", archive.fedi("publish", str(entry)))
        code, _ = wait_cpu(publisher, sizes.deadline)
        exited = time.monotonic()
        if code != 0:
            raise RuntimeError(f"fedi publish failed ({code}): {procs.log(f'publish-{n}')}")
        got = await world.wait_posts(control, len(targets), sizes.deadline)
        result = figures(got, targets, started, exited)
        result["workers_cpu_seconds"] = round(sum(cpu_seconds(p.pid) - c for p, c in zip(workers, cpu, strict=True)),
                                              2)
        result["workers_that_sent"] = sum(1 for name in names if "delivery host=" in procs.log(name))
        for proc in workers:
            procs.stop(proc)
        fanout[str(n)] = result
        body = await created_body(archive, slug)
    await world.reset(control)
    spec = work / "scale-raw-fanout.json"
    spec.write_text(json.dumps({"targets": sorted(targets), "body": body.decode(), "concurrency": sizes.concurrency,
                                "per_host": sizes.per_host, "key_path": str(keys / "archive.private.pem"),
                                "key_id": f"{archive.base}/actors/archive#main-key"}))
    started = time.monotonic()
    own = run_json(procs, "raw-fanout", [PYTHON, "-m", "bench.raw", "fanout", str(spec)], sizes.deadline)
    raw_fanout = {**figures(await world.stats(control), targets, started, time.monotonic()),
                  "cpu_seconds": own["cpu_seconds"]}

    # inbox: N serve processes, the flood spread over them ----------------------------------------------------
    actor_ids = [f"http://{actors_at[i % len(actors_at)]}:{port}/users/a{i}" for i in range(sizes.scale_actors)]
    await cache_actors(archive, actor_ids, pems)
    from fedi.config import urls_for

    urls = urls_for(archive.load())
    talk_ids = [urls.talk(slug) for slug in ("aigrain", "giffard", "stiegler", "zimmermann")]
    per_run = sizes.scale_activities
    planned = activities(actor_ids, urls.actor("archive"), talk_ids, per_run * len(sizes.scale_workers))
    items = []
    for i, doc in planned:
        target = "/actors/archive/inbox" if doc["type"] != "Like" else "/inbox"
        items.append((i % KEYS, f"{actor_ids[i]}#main-key", archive.base + target, target, json.dumps(doc).encode()))
    requests = sign_all(items, key_files)
    inbox: dict[str, Any] = {}
    for k, n in enumerate(sizes.scale_workers):
        ports = [archive.port] + [free_port() for _ in range(n - 1)]
        serves = [procs.start(f"serve-{n}-{i}", archive.fedi("serve", "--port", str(p))) for i, p in enumerate(ports)]
        for p, proc in zip(ports, serves, strict=True):
            await wait_http(f"http://127.0.0.1:{p}/.well-known/webfinger?resource=acct:archive@127.0.0.1:"
                            f"{archive.port}", sizes.deadline, proc)
        part = requests[k * per_run:(k + 1) * per_run]
        inbox[str(n)] = flood(procs, work, f"blast-{n}", ports, part, sizes)
        for proc in serves:
            procs.stop(proc)
    spec = work / "scale-raw-inbox.json"
    spec.write_text(json.dumps({"keys": {f"{a}#main-key": pems[i % KEYS] for i, a in enumerate(actor_ids)}}))
    from .common import read_line

    raw_server = procs.start("raw-inbox", [PYTHON, "-m", "bench.raw", "inbox", str(spec)], stdout_pipe=True)
    raw_inbox = flood(procs, work, "blast-raw", [read_line(raw_server, 30)["port"]], requests[:per_run], sizes)
    procs.stop(raw_server)
    return {"followers": len(rows), "hosts": len(hosts), "distinct_inboxes": len(targets),
            "concurrency": sizes.concurrency, "per_host": sizes.per_host, "workers": list(sizes.scale_workers),
            "fanout": {"fedi": fanout, "raw": raw_fanout},
            "inbox": {"activities_per_run": per_run, "actors": len(actor_ids), "connections": sizes.inbox_connections,
                      "fedi": inbox, "raw": raw_inbox}}


def flood(procs: Processes, work: Path, name: str, ports: list[int], requests: list[bytes],
          sizes: Sizes) -> dict[str, Any]:
    """Send ``requests`` spread over the servers on ``ports`` at once (one blast each, the connections shared)."""
    import pickle

    size = -(-len(requests) // len(ports))
    blasts = []
    for i, p in enumerate(ports):
        spec = work / f"{name}-{i}.pickle"
        with open(spec, "wb") as f:
            pickle.dump({"host": "127.0.0.1", "port": p, "connections": max(1, sizes.inbox_connections // len(ports)),
                         "requests": requests[i * size:(i + 1) * size]}, f)
        blasts.append(procs.start(f"{name}-{i}", [PYTHON, "-m", "bench.blast", str(spec)], stdout_pipe=True))
    got = []
    for i, proc in enumerate(blasts):
        out, _ = proc.communicate(timeout=sizes.deadline)
        if proc.returncode != 0:
            raise RuntimeError(f"{name}-{i} failed ({proc.returncode}): {procs.log(f'{name}-{i}')}")
        got.append(json.loads(out.decode().strip().splitlines()[-1]))
    accepted = sum(g["statuses"].get("202", 0) for g in got)
    seconds = max(g["seconds"] for g in got)
    return {"requests": sum(g["requests"] for g in got), "accepted": accepted,
            "errors": sum(g["errors"] for g in got), "seconds": round(seconds, 3),
            "activities_per_s": round(accepted / max(seconds, 1e-9), 1), "p99_ms": max(g["p99_ms"] for g in got)}


def table(result: dict[str, Any]) -> str:
    """Markdown lines: per worker count, deliveries/s and activities/s, against the one-process raw limit."""
    if "skipped" in result or "error" in result:
        return f"scale (PostgreSQL): {result.get('skipped') or result.get('error')}"
    fan, inbox = result["fanout"], result["inbox"]
    lines = [f"scale on PostgreSQL ({result['followers']:,} followers → {result['distinct_inboxes']:,} inboxes; "
             f"{inbox['activities_per_run']:,} inbox activities per run)", "",
             "| workers | fan-out deliveries/s (while sending) | exact | inbox activities/s | inbox p99 ms |",
             "| --- | --- | --- | --- | --- |"]
    for n in result["workers"]:
        f, i = fan["fedi"][str(n)], inbox["fedi"][str(n)]
        lines.append(f"| {n} | {f['deliveries_per_s']:,.0f} ({f['sending_deliveries_per_s']:,.0f}) | "
                     f"{'yes' if f['exact'] else 'NO'} | "
                     f"{i['activities_per_s']:,.0f} | {i['p99_ms']:,.1f} |")
    lines.append(f"| raw (1 process) | {fan['raw']['deliveries_per_s']:,.0f} "
                 f"({fan['raw']['sending_deliveries_per_s']:,.0f}) | "
                 f"{'yes' if fan['raw']['exact'] else 'NO'} | {inbox['raw']['activities_per_s']:,.0f} | "
                 f"{inbox['raw']['p99_ms']:,.1f} |")
    return "\n".join(lines)
