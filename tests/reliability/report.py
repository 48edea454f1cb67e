"""The Reliability table from the figures the tests wrote (``FEDI_RELIABILITY_OUT``), as Markdown.

    python -m tests.reliability.report ci.json [soak.json]     # one column per run
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

STATUS = {"valid": "202", "replay": "202, no effect", "bad signature": "401", "oversize": "413"}


def _get(data: dict[str, Any], section: str, key: str, default: Any = "–") -> Any:
    return data.get(section, {}).get(key, default)


def rows(data: dict[str, Any]) -> list[tuple[str, str]]:
    """(what, figure) for one run."""
    out: list[tuple[str, str]] = []
    f = data.get("faults", {})
    if f:
        out.append(("Broken inboxes beside healthy ones (timeout, reset, 500 for a while, 1 byte/s, redirect loop, "
                    "50 MB body, never answers)",
                    f"{f['broken_servers']} kinds survived; {f['broken_deliveries']} deliveries to them took "
                    f"{f['broken_attempts']} attempts by the retry rules, a never-healing one given up at max_age "
                    f"after {f['never_healing_attempts']} attempts"))
        out.append(("Healthy servers' delivery rate, alone → beside the broken ones",
                    f"{f['healthy_rate_alone']}/s → {f['healthy_rate_beside_faults']}/s "
                    f"({f['healthy_deliveries']} deliveries)"))
    k = data.get("key_fetch_faults", {})
    if k:
        out.append(("Keys on broken servers (same 7 faults)",
                    f"{k['faults']} survived: 401 within {k['slowest_refusal_seconds']} s, no second fetch"))
    c = data.get("crash_fan_out", {})
    if c:
        out.append(("`kill -9` of `fedi serve` during fan-outs, then a normal run",
                    f"{c['kills']} kills survived: {c['delivered']}/{c['deliveries']} deliveries done, "
                    f"{c['repeated_after_kill']} sent again (in flight at a kill), followers unchanged, "
                    f"integrity_check {c['integrity']}"))
    i = data.get("crash_inbox", {})
    if i:
        out.append(("`kill -9` during inbox bursts, unanswered requests resent",
                    f"{i['kills']} kills survived: {i['accepted']}/{i['activities']} activities in effect once, "
                    f"{i['resent']} resends, {i['lost']} lost, integrity_check {i['integrity']}"))
    w = data.get("crash_inbox_workers_2", {})
    if w:
        out.append(("`kill -9` of one of `fedi serve --workers 2` (a worker, or the supervisor) during inbox bursts",
                    f"{w['kills']} kills ({', '.join(w['killed'])}) survived: {w['accepted']}/{w['activities']} "
                    f"activities in effect once, {w['resent']} resends, {w['lost']} lost, integrity_check "
                    f"{w['integrity']}"))
    d = data.get("disk", {})
    if d:
        out.append(("Full disk (4 MiB tmpfs), then read-only store",
                    f"HTTP {d['full_disk_status']} + Retry-After and `fedi sync` exit 1 saying why; read-only: "
                    f"{d['read_only']}; recovered; integrity_check {d['integrity']}"))
    fl = data.get("flood", {})
    if fl:
        out.append(("Flood of signed activities from 50 actors",
                    f"{fl['activities']} in {fl['seconds']} s ({fl['per_second']}/s)"))
        for name, v in sorted(fl["by_category"].items(), key=lambda kv: -kv[1]["sent"]):
            answered = v["answered 202"] if STATUS[name].startswith("202") else v["refused"]
            out.append((f"… {name} (answer {STATUS[name]}): sent / so answered / took effect",
                        f"{v['sent']} / {answered} / {v['took effect']}"))
        out.append(("GET of the actor during the flood",
                    f"{fl['actor_gets']} answered, p50 {fl['actor_get_p50_ms']} ms, p99 {fl['actor_get_p99_ms']} ms"))
    df = data.get("delete_flood", {})
    if df:
        out.append(("Flood of Delete{actor} for unknown actors",
                    f"{df['deletes']} answered 202 ({df['per_second']}/s), {df['key_fetches']} key fetches"))
    h = data.get("hostile", {})
    if h:
        parts = ", ".join(f"{v} {k}" for k, v in h.items() if k != "total")
        out.append(("Hostile input, each the right 4xx, never a 500 or a hang, no state changed",
                    f"{h['total']} requests: {parts}"))
    s = data.get("secrets", {})
    if s:
        out.append(("Private key material in logs, errors, answers, requests sent, the store, command output",
                    f"{s['leaks']} found in {s['scanned_bytes']:,} bytes; world- or group-readable key refused"))
    lost = sum(x for x in (_get(data, "faults", "deliveries_lost", 0), _get(data, "crash_fan_out", "lost", 0),
                           _get(data, "crash_inbox", "lost", 0)) if isinstance(x, int))
    out.append(("**Deliveries or accepted activities lost**", f"**{lost}**"))
    return out


def table(runs: list[dict[str, Any]], names: list[str]) -> str:
    columns = [dict(rows(r)) for r in runs]
    order = [what for what, _ in rows(runs[-1])]
    for r in runs:
        order += [what for what, _ in rows(r) if what not in order]
    lines = ["| what | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
    for what in order:
        lines.append(f"| {what} | " + " | ".join(c.get(what, "–") for c in columns) + " |")
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    if not argv:
        print(__doc__, file=sys.stderr)
        return 2
    runs = [json.loads(Path(p).read_text()) for p in argv]
    names = [f"{'soak' if r.get('_size') == 'soak' else 'CI'} run" for r in runs]
    print(table(runs, names))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
