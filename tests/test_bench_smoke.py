"""bench: `python -m bench.run --smoke` runs every scenario end to end and writes figures (never asserts timings)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

SCENARIOS = ("fanout", "inbox", "reads", "memory", "startup", "scale")  # scale may be {"skipped": why}


def test_smoke_run_writes_every_scenario(tmp_path: Path) -> None:
    """The tiny run exits 0, prints the table and records each scenario's fedi and raw figures."""
    out = tmp_path / "results.json"
    done = subprocess.run([sys.executable, "-m", "bench.run", "--smoke", "--out", str(out)], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    assert "| scenario | figure | fedi | raw | fedi/raw | target |" in done.stdout
    results = json.loads(out.read_text())
    assert all(name in results and "error" not in results[name] for name in SCENARIOS), results

    fanout = results["fanout"]
    for side in ("fedi", "raw"):  # every inbox got exactly one correctly signed POST
        assert fanout[side]["posts"] == fanout["distinct_inboxes"] and fanout[side]["exact"]
        assert fanout[side]["bad_signatures"] == 0 and fanout[side]["deliveries_per_s"] > 0
    assert fanout["distinct_inboxes"] < fanout["followers"]  # shared inboxes were used

    inbox = results["inbox"]
    for side in ("fedi", "raw"):
        assert inbox[side]["accepted"] == inbox["activities"] and inbox[side]["p99_ms"] > 0
    assert inbox["fedi"]["accepts_sent"] == inbox["follows"] and inbox["fedi"]["accepts_bad_signatures"] == 0
    two = inbox["workers_2"]  # fedi serve --workers 2, beside the one-process figures
    assert two["accepted"] == inbox["activities"] and two["accepts_sent"] == inbox["follows"] and two["ratio"]
    assert two["load_cpu_us_per_request"] > 0

    reads = results["reads"]
    for doc in ("actor", "outbox_page", "talk_as2", "talk_html"):
        for side in ("fedi", "raw"):
            figures = reads[doc][side]
            assert figures["requests"] > 0 and figures["ok"] == figures["requests"] and figures["errors"] == 0
        two = reads[doc]["workers_2"]
        assert two["requests"] > 0 and two["ok"] == two["requests"] and two["errors"] == 0 and two["ratio"]

    memory = results["memory"]
    assert memory["idle_sample"]["peak_rss_mb"] > 0 and memory["raw_idle"]["peak_rss_mb"] > 0
    assert set(memory["workers_2"]["rss_mb"]) == {"supervisor", "worker_0", "worker_1"}
    assert 0 < memory["workers_2"]["total_pss_mb"] < memory["workers_2"]["total_rss_mb"]
    assert memory["fanout"]["complete"] and memory["fanout"]["bad_signatures"] == 0

    startup = results["startup"]
    assert startup["fedi"]["seconds"] > 0 and startup["raw"]["seconds"] > 0
    assert startup["talks"] >= 4 and startup["followers"] > 0


def test_the_event_loop_comparison_runs_both_loops_on_both_sides(tmp_path: Path) -> None:
    """``python -m bench.loops`` (uvloop against asyncio's loop, for fedi and raw in the same rounds) runs end to end
    where uvloop and wrk are at hand (FEDI_BENCH_UVLOOP_PATH may point at a folder holding uvloop)."""
    from bench import loops

    why = loops.uvloop_missing()
    if why:
        pytest.skip(f"bench.loops cannot run here: {why}")
    out = tmp_path / "loops.json"
    done = subprocess.run([sys.executable, "-m", "bench.loops", "--rounds", "1", "--seconds", "1", "--out", str(out)],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    figures = json.loads(out.read_text())
    for name in ("talk_as2", "talk_html"):
        for side in ("fedi_asyncio", "fedi_uvloop", "raw_asyncio", "raw_uvloop"):
            assert figures[name][side]["requests"] > 0 and figures[name][side]["ok"] == figures[name][side]["requests"]
        assert figures[name]["ratio_uvloop"] > 0 and figures[name]["fedi_uvloop_gain"] > 0
