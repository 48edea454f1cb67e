"""``make bench``: every scenario on this machine, a table of fedi against the raw limit, and bench/results.json.

    python -m bench.run [--smoke] [--only fanout,reads] [--out PATH] [--keep] [--profile DIR [--py-spy PATH]]

Each scenario measures, in the same run, the raw limit it is compared with (these 2-core machines are noisy:
a figure from another run means little), and every load is bounded in requests and in time. ``--smoke`` runs
the same code with tiny numbers in a few seconds (the test suite checks that it works; it asserts no timing).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import platform
import shutil
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

from . import fanout, inbox, memory, reads, scale, startup
from .common import FULL, PROFILE, ROOT, SMOKE, Processes, generate_keys
from .report import table

SCENARIOS = {"fanout": fanout, "inbox": inbox, "reads": reads, "memory": memory, "startup": startup,
             "scale": scale}
DEFAULT_OUT = ROOT / "bench" / "results.json"


def machine() -> dict[str, Any]:
    model = ""
    try:
        with open("/proc/cpuinfo") as f:
            model = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), "")
    except OSError:
        pass
    memory_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    import aiohttp
    import cryptography

    return {"cpus": os.cpu_count(), "cpu": model, "memory_gib": round(memory_gib, 1),
            "os": f"{platform.system()} {platform.release()}", "python": platform.python_version(),
            "aiohttp": aiohttp.__version__, "cryptography": cryptography.__version__,
            "wrk": bool(shutil.which("wrk"))}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.split("\n\n")[0])
    p.add_argument("--smoke", action="store_true", help="tiny numbers: checks that everything runs (seconds)")
    p.add_argument("--only", default="", help="comma-separated scenarios (default: all): " + ",".join(SCENARIOS))
    p.add_argument("--out", type=Path, help="where to write the results (JSON; default bench/results.json, or a "
                   "file in the temporary folder for --smoke, so a smoke run never replaces real figures)")
    p.add_argument("--keep", action="store_true", help="keep the work folder (archives, stores, logs)")
    p.add_argument("--profile", type=Path, metavar="DIR",
                   help="run every fedi process under cProfile and keep the profiles in DIR (slower: figures skew)")
    p.add_argument("--py-spy", metavar="PATH", help="with --profile: sample with this py-spy binary instead")
    args = p.parse_args(argv)
    chosen = [s.strip() for s in args.only.split(",") if s.strip()] or list(SCENARIOS)
    unknown = [s for s in chosen if s not in SCENARIOS]
    if unknown:
        p.error(f"unknown scenario(s) {', '.join(unknown)}; choose among {', '.join(SCENARIOS)}")
    sizes = SMOKE if args.smoke else FULL
    out: Path = args.out or (Path(tempfile.gettempdir()) / "fedi-bench-smoke.json" if args.smoke else DEFAULT_OUT)
    PROFILE.folder = args.profile.resolve() if args.profile else None
    PROFILE.py_spy = args.py_spy
    work = Path(tempfile.mkdtemp(prefix="fedi-bench-"))
    began = time.monotonic()
    results: dict[str, Any] = {}
    try:
        keys = generate_keys(work / "keys")
        for name in chosen:
            print(f"bench: {name} …", file=sys.stderr, flush=True)
            procs = Processes(work / "logs" / name)
            started = time.monotonic()
            try:
                results[name] = asyncio.run(SCENARIOS[name].run(sizes, work, keys, procs))
            except Exception as exc:  # one failed scenario must not hide the others' figures
                traceback.print_exc()
                results[name] = {"error": f"{type(exc).__name__}: {exc}"}
            finally:
                procs.close()
            results[name]["wall_seconds"] = round(time.monotonic() - started, 1)
    finally:
        if args.keep:
            print(f"bench: work folder kept in {work}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)
    results["run"] = {"mode": sizes.name, "command": "make bench" if not args.smoke else "python -m bench.run --smoke",
                      "finished": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                      "seconds": round(time.monotonic() - began, 1), "machine": machine()}
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(table(results))
    if "scale" in results:
        print("\n" + scale.table(results["scale"]))
    print(f"\nwrote {out} ({results['run']['seconds']} s)")
    return 1 if any("error" in results[name] for name in chosen) else 0


if __name__ == "__main__":
    sys.exit(main())
