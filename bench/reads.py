"""Reads: the documents other servers and people fetch most, at 64 connections.

GET of the archive's actor, an outbox page and a talk object as ActivityStreams, and the talk's HTML page, from
``fedi serve`` (the sample archive) in its own process. Raw: a bare aiohttp handler returning the very bytes
fedi returned, with the same content type. The load comes from ``wrk`` (one thread) when it is installed,
else from ``blast`` — the same client for both sides either way.

``workers_2``: the same reads from ``fedi serve --workers 2`` on the same archive, in the same rounds, with its
ratio against the one-process raw baseline. The load generator shares the 2 cores: its own CPU per request is
reported beside each side's (``load_cpu_us_per_request``).
"""

from __future__ import annotations

import asyncio
import base64
import json
import pickle
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import aiohttp

from .blast import serialize
from .common import (
    AS2,
    PYTHON,
    Processes,
    Sizes,
    children_cpu_seconds,
    free_port,
    make_archive,
    paired_ratio,
    publish_all,
    read_line,
    run_json,
    tree_cpu_seconds,
    wait_http,
)

HTML = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"


def documents(talk: str) -> list[tuple[str, str, str]]:
    """(name, path, Accept) of what is read."""
    return [("actor", "/actors/archive", AS2), ("outbox_page", "/actors/archive/outbox?page=1", AS2),
            ("talk_as2", f"/talks/{talk}", AS2), ("talk_html", f"/talks/{talk}", HTML)]


async def run(sizes: Sizes, work: Path, keys: Path, procs: Processes) -> dict[str, Any]:
    archive = make_archive(work / "reads", keys, sizes)
    await publish_all(archive)
    wanted = documents("stiegler")
    serve = procs.start("fedi-serve", archive.fedi("serve"))
    await wait_http(f"{archive.base}/actors/archive", sizes.deadline, serve)
    port_2 = free_port()
    serve_2 = procs.start("fedi-serve-workers-2", archive.fedi("serve", "--workers", "2", "--port", str(port_2)))
    await wait_http(f"http://127.0.0.1:{port_2}/actors/archive", sizes.deadline, serve_2)
    bodies = await fetch_all(archive.base, wanted)
    spec = work / "raw-reads.json"
    spec.write_text(json.dumps({"documents": [
        [path, "html" if accept == HTML else "as2", kind, base64.b64encode(body).decode()]
        for (_, path, accept), (kind, body) in zip(wanted, bodies, strict=True)]}))
    raw_server = procs.start("raw-reads", [PYTHON, "-m", "bench.raw", "bytes", str(spec)], stdout_pipe=True)
    raw_port = read_line(raw_server, 30)["port"]
    tool = "wrk" if shutil.which("wrk") and sizes.reads_seconds >= 1 else "blast"  # wrk counts whole seconds
    out: dict[str, Any] = {"tool": tool, "connections": sizes.reads_connections, "seconds_each": sizes.reads_seconds,
                           "rounds": sizes.reads_rounds}
    sides = {"fedi": (archive.port, serve.pid), "raw": (raw_port, raw_server.pid),
             "workers_2": (port_2, serve_2.pid)}
    for (name, path, accept), (kind, body) in zip(wanted, bodies, strict=True):
        # fedi and raw in turns, a few rounds each: the machine's noise then falls on both sides alike
        runs: dict[str, list[dict[str, Any]]] = {side: [] for side in sides}
        for port, _ in sides.values():
            warm(procs, work, tool, port, path, accept, sizes)
        for _ in range(sizes.reads_rounds):
            for side, (port, pid) in sides.items():
                runs[side].append(load(procs, work, tool, port, path, accept, sizes, pid))
        fedi, raw = median_run(runs["fedi"]), median_run(runs["raw"])
        workers_2 = median_run(runs["workers_2"])
        workers_2["ratio"] = paired_ratio(runs["workers_2"], runs["raw"], "requests_per_s")
        out[name] = {"bytes": len(body), "content_type": kind, "fedi": fedi, "raw": raw,
                     "ratio": paired_ratio(runs["fedi"], runs["raw"], "requests_per_s"),
                     "all_ratios": [round(f["requests_per_s"] / r["requests_per_s"], 3)
                                    for f, r in zip(runs["fedi"], runs["raw"], strict=True) if r["requests_per_s"]],
                     "workers_2": workers_2}
    procs.stop(serve)
    procs.stop(serve_2)
    procs.stop(raw_server)
    ratios = [out[name]["ratio"] for name, _, _ in wanted if out[name]["ratio"] is not None]
    out["ratio"] = round(min(ratios), 3) if ratios else None
    ratios_2 = [out[name]["workers_2"]["ratio"] for name, _, _ in wanted if out[name]["workers_2"]["ratio"]]
    out["workers_2_ratio"] = round(min(ratios_2), 3) if ratios_2 else None
    return out


def median_run(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The run of median throughput, with every run's throughput beside it."""
    ordered = sorted(runs, key=lambda r: r["requests_per_s"])
    return {**ordered[len(ordered) // 2], "all_requests_per_s": [r["requests_per_s"] for r in runs]}


async def fetch_all(base: str, wanted: list[tuple[str, str, str]]) -> list[tuple[str, bytes]]:
    """(Content-Type, body) of each document as fedi serves it; each must be a 200."""
    found = []
    async with aiohttp.ClientSession() as session:
        for name, path, accept in wanted:
            async with session.get(base + path, headers={"Accept": accept}, allow_redirects=False) as resp:
                body = await resp.read()
                if resp.status != 200:
                    raise RuntimeError(f"GET {path} ({name}): HTTP {resp.status}: {body[:200]!r}")
                found.append((resp.headers["Content-Type"], body))
    return found


def warm(procs: Processes, work: Path, tool: str, port: int, path: str, accept: str, sizes: Sizes) -> None:
    """Load the URL a moment, unmeasured: lazy caches fill and connections open."""
    if sizes.reads_warmup:
        if tool == "wrk":
            wrk(f"http://127.0.0.1:{port}{path}", accept, sizes.reads_warmup, sizes.reads_connections, sizes.deadline)
        else:
            blast_get(procs, work, port, path, accept, sizes.reads_warmup, sizes)


def load(procs: Processes, work: Path, tool: str, port: int, path: str, accept: str, sizes: Sizes,
         server: int) -> dict[str, Any]:
    """Load one URL for ``reads_seconds``; the figures and the CPU the server (all its workers) and the load
    generator used meanwhile."""
    cpu, load_cpu = tree_cpu_seconds(server), children_cpu_seconds()
    if tool == "wrk":
        got = wrk(f"http://127.0.0.1:{port}{path}", accept, sizes.reads_seconds, sizes.reads_connections,
                  sizes.deadline)
    else:
        got = blast_get(procs, work, port, path, accept, sizes.reads_seconds, sizes)
    cpu, load_cpu = tree_cpu_seconds(server) - cpu, children_cpu_seconds() - load_cpu
    got["server_cpu_us_per_request"] = round(cpu / max(got["requests"], 1) * 1e6)
    got["load_cpu_us_per_request"] = round(load_cpu / max(got["requests"], 1) * 1e6)
    return got


def blast_get(procs: Processes, work: Path, port: int, path: str, accept: str, seconds: float,
              sizes: Sizes) -> dict[str, Any]:
    spec = work / "blast-reads.pickle"
    request = serialize("GET", path, {"Host": f"127.0.0.1:{port}", "Accept": accept, "User-Agent": "bench"})
    with open(spec, "wb") as f:
        pickle.dump({"host": "127.0.0.1", "port": port, "connections": sizes.reads_connections, "request": request,
                     "seconds": seconds}, f)
    got = run_json(procs, "blast-reads", [PYTHON, "-m", "bench.blast", str(spec)], sizes.deadline)
    return {"requests": got["requests"], "ok": got["ok"], "errors": got["errors"], "seconds": got["seconds"],
            "requests_per_s": got["per_s"], "p50_ms": got["p50_ms"], "p99_ms": got["p99_ms"]}


def wrk(url: str, accept: str, seconds: float, connections: int, deadline: float) -> dict[str, Any]:
    """One wrk run (one thread: the server has the other core); its figures."""
    args = ["wrk", "-t1", f"-c{connections}", f"-d{max(round(seconds), 1)}s", "--latency", "-H", f"Accept: {accept}",
            "-H", "User-Agent: bench", url]
    done = subprocess.run(args, capture_output=True, text=True, timeout=min(deadline, seconds + 30))
    if done.returncode != 0:
        raise RuntimeError(f"wrk failed: {done.stderr.strip()[:300]}")
    return parse_wrk(done.stdout)


def parse_wrk(text: str) -> dict[str, Any]:
    requests = re.search(r"(\d+) requests in ([\d.]+)(\w+)", text)
    per_s = re.search(r"Requests/sec:\s+([\d.]+)", text)
    if not requests or not per_s:
        raise RuntimeError(f"cannot read wrk's output: {text[:300]}")
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    count = int(requests.group(1))
    bad = int(non_2xx.group(1)) if non_2xx else 0
    return {"requests": count, "ok": count - bad, "errors": sum(map(int, errors.groups())) if errors else 0,
            "seconds": _seconds(requests.group(2) + requests.group(3)), "requests_per_s": float(per_s.group(1)),
            "p50_ms": _latency(text, "50%"), "p99_ms": _latency(text, "99%")}


def _latency(text: str, label: str) -> float:
    found = re.search(rf"^\s+{re.escape(label)}\s+([\d.]+)(us|ms|s)\s*$", text, re.M)
    return round(_seconds(found.group(1) + found.group(2)) * 1000, 3) if found else 0.0


def _seconds(text: str) -> float:
    value, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text).groups()  # type: ignore[union-attr]
    return float(value) * {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0}[unit]


if __name__ == "__main__":  # pragma: no cover - a quick look at one URL
    import sys

    print(asyncio.run(fetch_all(sys.argv[1], documents(sys.argv[2]))))
