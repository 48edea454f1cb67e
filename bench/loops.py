"""Event loops: asyncio's own against uvloop, for fedi and for raw alike, in the same rounds.

    python -m bench.loops [--rounds N] [--seconds S] [--out PATH]

uvloop is not a dependency of fedi: this measures whether it should become one. It needs ``uvloop`` importable by
the interpreter that runs it (``pip install uvloop`` in a scratch environment; the path of a folder holding it can
be given in ``FEDI_BENCH_UVLOOP_PATH``) and ``wrk``. Four servers run side by side: ``fedi serve`` (one process) and
the raw bytes server of ``bench.reads``, each once on asyncio's loop and once on uvloop (installed before the server
starts, nothing else changed). Each round loads the talk object and the talk page on every server in turn, so the
machine's drifts fall on all four; the figures are the median rounds. fedi/raw is taken per loop: raw uses the
same loop as the fedi it is compared with.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import dataclasses
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from .common import FULL, PYTHON, Processes, free_port, generate_keys, make_archive, publish_all, read_line, wait_http
from .reads import HTML, fetch_all, load, median_run, warm

LAUNCH = ("import os, runpy, sys; sys.path[:0] = [p for p in os.environ.get('FEDI_BENCH_UVLOOP_PATH', '').split("
          "os.pathsep) if p]; import uvloop; uvloop.install(); module = sys.argv.pop(1); sys.argv[0] = module; "
          "runpy.run_module(module, run_name='__main__', alter_sys=True)")
"""A command line prefix running a module with uvloop as the event loop policy (what ``uvloop.install`` does)."""
AS2 = "application/activity+json"


def on(loop: str, module: str, *args: str) -> list[str]:
    """The command line of ``python -m module args`` on ``loop`` ("asyncio" or "uvloop")."""
    return [PYTHON, "-m", module, *args] if loop == "asyncio" else [PYTHON, "-c", LAUNCH, module, *args]


def uvloop_missing() -> str | None:
    """Why this cannot run here, or None."""
    if not shutil.which("wrk"):
        return "wrk is not installed"
    probe = LAUNCH.split("import uvloop")[0] + "import uvloop"
    if subprocess.run([PYTHON, "-c", probe], capture_output=True).returncode != 0:
        return "uvloop is not importable (pip install uvloop, or FEDI_BENCH_UVLOOP_PATH)"
    return None


async def run(rounds: int, seconds: float, work: Path) -> dict[str, Any]:
    sizes = dataclasses.replace(FULL, reads_seconds=seconds, reads_rounds=rounds)
    keys = generate_keys(work / "keys")
    archive = make_archive(work / "loops", keys, sizes)
    await publish_all(archive)
    procs = Processes(work / "logs")
    try:
        ports: dict[str, tuple[int, int]] = {}
        for loop in ("asyncio", "uvloop"):
            port = free_port()
            proc = procs.start(f"fedi-{loop}", on(loop, "fedi.cli", "--config", str(archive.config_path), "serve",
                                                  "--port", str(port)))
            await wait_http(f"http://127.0.0.1:{port}/actors/archive", sizes.deadline, proc)
            ports[f"fedi_{loop}"] = (port, proc.pid)
        wanted = [("talk_as2", "/talks/stiegler", AS2), ("talk_html", "/talks/stiegler", HTML)]
        bodies = await fetch_all(f"http://127.0.0.1:{ports['fedi_asyncio'][0]}", wanted)
        spec = work / "raw-reads.json"
        spec.write_text(json.dumps({"documents": [
            [path, "html" if accept == HTML else "as2", kind, base64.b64encode(body).decode()]
            for (_, path, accept), (kind, body) in zip(wanted, bodies, strict=True)]}))
        for loop in ("asyncio", "uvloop"):
            proc = procs.start(f"raw-{loop}", on(loop, "bench.raw", "bytes", str(spec)), stdout_pipe=True)
            ports[f"raw_{loop}"] = (read_line(proc, 30)["port"], proc.pid)
        out: dict[str, Any] = {"rounds": rounds, "seconds_each": seconds}
        for name, path, accept in wanted:
            runs: dict[str, list[dict[str, Any]]] = {side: [] for side in ports}
            for port, _ in ports.values():
                warm(procs, work, "wrk", port, path, accept, sizes)
            for _ in range(rounds):
                for side, (port, pid) in ports.items():
                    runs[side].append(load(procs, work, "wrk", port, path, accept, sizes, pid))
            figures = {side: median_run(r) for side, r in runs.items()}
            for loop in ("asyncio", "uvloop"):
                pairs = zip(runs[f"fedi_{loop}"], runs[f"raw_{loop}"], strict=True)
                figures[f"ratio_{loop}"] = sorted(f["requests_per_s"] / r["requests_per_s"] for f, r in pairs)[
                    rounds // 2]
            gains = sorted(u["requests_per_s"] / a["requests_per_s"]
                           for u, a in zip(runs["fedi_uvloop"], runs["fedi_asyncio"], strict=True))
            figures["fedi_uvloop_gain"] = gains[rounds // 2]
            out[name] = figures
        return out
    finally:
        procs.close()


def report(out: dict[str, Any]) -> str:
    lines = ["| document | loop | fedi req/s (server CPU µs/read) | raw req/s (µs) | fedi/raw |",
             "| --- | --- | --- | --- | --- |"]
    for name in ("talk_as2", "talk_html"):
        f = out[name]
        for loop in ("asyncio", "uvloop"):
            a, r = f[f"fedi_{loop}"], f[f"raw_{loop}"]
            lines.append(f"| {name} | {loop} | {a['requests_per_s']:,.0f} ({a['server_cpu_us_per_request']}) | "
                         f"{r['requests_per_s']:,.0f} ({r['server_cpu_us_per_request']}) | {f[f'ratio_{loop}']:.2f} |")
        lines.append(f"| {name} | fedi on uvloop / on asyncio | {f['fedi_uvloop_gain']:.2f} | | |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.loops", description=__doc__.split("\n\n")[0])
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--seconds", type=float, default=3.0)
    p.add_argument("--out", type=Path, help="write the figures there too (JSON)")
    args = p.parse_args(argv)
    why = uvloop_missing()
    if why:
        print(f"bench.loops: {why}", file=sys.stderr)
        return 2
    work = Path(tempfile.mkdtemp(prefix="fedi-bench-loops-"))
    try:
        out = asyncio.run(run(args.rounds, args.seconds, work))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if args.out:
        args.out.write_text(json.dumps(out, indent=2) + "\n", encoding="utf-8")
    print(report(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
