"""The printed table (Markdown, so docs/performance.md takes it as it is)."""

from __future__ import annotations

from typing import Any

Row = tuple[str, str, str, str, str, str]


def _n(value: Any, digits: int = 0) -> str:
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "NO"
    if isinstance(value, (int, float)):
        return f"{value:,.{digits}f}"
    return str(value)


def _ratio(value: Any) -> str:
    return "–" if value is None else f"{value:.2f}"


def rows(results: dict[str, Any]) -> list[Row]:
    out: list[Row] = []
    f = results.get("fanout")
    if f and "error" not in f:
        fe, ra = f["fedi"], f["raw"]
        out += [
            ("fan-out", f"deliveries/s, `fedi publish` → last POST answered ({f['followers']:,} followers, "
                        f"{f['hosts']:,} hosts)", _n(fe["deliveries_per_s"]), _n(ra["deliveries_per_s"]),
             _ratio(f["ratio"]), "≥ 0.8"),
            ("", "seconds, publish → every delivery done", _n(fe["seconds"], 2), _n(ra["seconds"], 2), "", ""),
            ("", "deliveries/s while sending (first → last POST)", _n(fe["sending_deliveries_per_s"]),
             _n(ra["sending_deliveries_per_s"]), _ratio(f["sending_ratio"]), ""),
            ("", "POSTs sent = distinct inboxes, each once, signatures valid",
             f"{fe['posts']:,} = {f['distinct_inboxes']:,}: {_n(fe['exact'] and not fe['bad_signatures'])}",
             f"{ra['posts']:,}", "", "exact"),
        ]
    i = results.get("inbox")
    if i and "error" not in i:
        out += [
            ("inbox", f"activities accepted/s ({i['activities']:,} signed Follow/Like/Undo, {i['actors']} actors, "
                      f"{i['connections']} connections)", _n(i["fedi"]["accepted_per_s"]),
             _n(i["raw"]["accepted_per_s"]), _ratio(i["ratio"]), "≥ 0.5"),
            ("", "p99 latency, ms", _n(i["fedi"]["p99_ms"], 1), _n(i["raw"]["p99_ms"], 1), "", ""),
            ("", "2 workers: activities accepted/s (against the one-process raw)",
             _n(i["workers_2"]["accepted_per_s"]), _n(i["raw"]["accepted_per_s"]), _ratio(i["workers_2"]["ratio"]),
             "≥ 1.0"),
            ("", "CPU µs per request: server (1 worker / 2 workers), load generator",
             f"{_n(i['fedi']['server_cpu_us_per_request'])} / {_n(i['workers_2']['server_cpu_us_per_request'])}, "
             f"{_n(i['fedi']['load_cpu_us_per_request'])}",
             f"{_n(i['raw']['server_cpu_us_per_request'])}, {_n(i['raw']['load_cpu_us_per_request'])}", "", ""),
            ("", "2 workers on one SQLite file: write transactions, seconds waiting for the lock (µs each)",
             f"{_n(i['workers_2']['sqlite_lock']['write_transactions'])}, "
             f"{_n(i['workers_2']['sqlite_lock']['wait_seconds'], 2)} "
             f"({_n(i['workers_2']['sqlite_lock']['wait_us_per_transaction'])})", "", "", ""),
            ("", "activities handled/s (accepted, then every effect stored and Accept sent)",
             _n(i["fedi"]["handled_per_s"]), "", "", ""),
            ("", "Accepts sent back (signed, valid) / Follows", f"{i['fedi']['accepts_sent']:,} / {i['follows']:,}",
             "", "", ""),
        ]
    r = results.get("reads")
    if r and "error" not in r:
        names = {"actor": "actor (AS2)", "outbox_page": "outbox page (AS2)", "talk_as2": "talk object (AS2)",
                 "talk_html": "talk page (HTML)"}
        first = True
        for key, label in names.items():
            doc = r[key]
            out.append(("reads" if first else "", f"{label}: req/s at {r['connections']} connections, p99 ms",
                        f"{_n(doc['fedi']['requests_per_s'])} ({_n(doc['fedi']['p99_ms'], 1)})",
                        f"{_n(doc['raw']['requests_per_s'])} ({_n(doc['raw']['p99_ms'], 1)})",
                        _ratio(doc["ratio"]), "≥ 0.6"))
            if "workers_2" in doc:
                two = doc["workers_2"]
                out.append(("", f"{label}, 2 workers: req/s (p99 ms); CPU µs/req server, load generator",
                            f"{_n(two['requests_per_s'])} ({_n(two['p99_ms'], 1)}); "
                            f"{_n(two['server_cpu_us_per_request'])}, {_n(two['load_cpu_us_per_request'])}",
                            f"{_n(doc['raw']['requests_per_s'])}; {_n(doc['raw']['server_cpu_us_per_request'])}, "
                            f"{_n(doc['raw']['load_cpu_us_per_request'])}", _ratio(two["ratio"]), "≥ 1.0"))
            first = False
    m = results.get("memory")
    if m and "error" not in m:
        out += [
            ("memory", "peak RSS MiB, idle, sample archive", _n(m["idle_sample"]["peak_rss_mb"], 1),
             _n(m["raw_idle"]["peak_rss_mb"], 1), _ratio(m["ratio"]), "≤ 60"),
            ("", "2 workers idle: RSS MiB supervisor + each worker = sum (PSS sum)",
             " + ".join(_n(v, 1) for v in m["workers_2"]["rss_mb"].values())
             + f" = {_n(m['workers_2']['total_rss_mb'], 1)} ({_n(m['workers_2']['total_pss_mb'], 1)})", "", "",
             "≤ 150"),
            ("", f"peak RSS MiB, idle, {m['followers']:,} followers stored", _n(m["idle_followers"]["peak_rss_mb"], 1),
             "", "", ""),
            ("", f"peak RSS MiB, fan-out to {m['followers']:,} followers ({m['distinct_inboxes']:,} inboxes)",
             _n(m["fanout"]["peak_rss_mb"], 1), "", "", "≤ 150"),
        ]
    s = results.get("startup")
    if s and "error" not in s:
        out.append(("start-up", f"seconds to the first WebFinger 200 ({s['talks']:,} talks, {s['followers']:,} "
                                f"followers; median of {s['runs']})", _n(s["fedi"]["seconds"], 2),
                    _n(s["raw"]["seconds"], 2), _ratio(s["ratio"]), "≤ 1 s"))
    for name in ("fanout", "inbox", "reads", "memory", "startup"):
        if name in results and "error" in results[name]:
            out.append((name, "FAILED: " + results[name]["error"][:100], "", "", "", ""))
    return out


def table(results: dict[str, Any]) -> str:
    header: Row = ("scenario", "figure", "fedi", "raw", "fedi/raw", "target")
    lines = [header, ("---",) * 6, *rows(results)]
    return "\n".join("| " + " | ".join(cells) + " |" for cells in lines)
