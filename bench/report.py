"""Write bench/RESULTS.md from bench/results/{quick,full}.json (run by bench/run.py)."""

from __future__ import annotations

import json
from pathlib import Path

BENCH = Path(__file__).resolve().parent
TARGETS = {"radius": 4, "country": 10}


def ok(flag: bool | None) -> str:
    return "n/a" if flag is None else ("PASS" if flag else "**FAIL**")


def f(x, digits=1) -> str:
    return "–" if x is None else f"{x:,.{digits}f}"


def cold_note(s: dict) -> str:
    return "; cold: cache miss p50 / p95" if "find_cold" in s else ""


def cold(s: dict) -> str:
    c = s.get("find_cold")
    return f"; cold {f(c['p50'])} / {f(c['p95'])}" if c else ""


def section(res: dict) -> list[str]:
    m = res["machine"]
    out = [f"## Profile `{res['profile']}` — {res['started']}", "",
           f"Machine: {m['cpu']}, {m['cpus']} CPUs, {m['ram_mb']:,} MB RAM, {m['os']}, "
           f"Python {m['python']}, SQLite {m['sqlite']}"
           + (f", PostgreSQL {m['postgresql']}" if m.get("postgresql") else "")
           + f". Run took {res.get('elapsed_s', 0):.0f} s (last part run). Load average "
           f"(1/5/15 min) at start {m.get('loadavg_at_start')}, at end {m.get('loadavg_at_end')}"
           " — other jobs shared the machine when it is above the CPU count.", ""]
    out += ["| measure | ours | reference | ratio | target | |", "|---|---|---|---|---|---|"]
    imp = res.get("import")
    if imp:
        ratio = imp["ours_rows_per_s"] / imp["su_rows_per_s"]
        out.append(f"| import {imp['rows']:,} rows, rows/s (median of {imp['rounds']}, "
                   f"alternating) | {f(imp['ours_rows_per_s'], 0)} | sqlite-utils insert --csv "
                   f"{f(imp['su_rows_per_s'], 0)} | {ratio:.2f}× | ≥ 2× | {ok(ratio >= 2)} |")
        floor = imp.get("write_floor")
        if floor:
            su_wall = imp["rows"] / imp["su_rows_per_s"]
            out.append(
                f"| import: the database writes alone (`write_floor.py`: the same rows copied "
                f"by SQL into a fresh database, indexes, full-text, triggers, audit, ANALYZE), "
                f"s | {f(floor['total'], 2)} | sqlite-utils' whole insert "
                f"{f(su_wall, 2)} s | at most {su_wall / floor['total']:.2f}× with zero "
                f"Python time | | |")
        again = imp.get("reimport")
        if again:
            out.append(f"| re-import of the same file (every row matched and unchanged), s / "
                       f"peak RSS MB | {f(again['wall'], 1)} / {f(again['rss_mb'], 0)} | | | | |")
        out.append(f"| import peak RSS, MB | {f(imp['ours_rss_mb'], 0)} | sqlite-utils "
                   f"{f(imp['su_rss_mb'], 0)} | | < 300 | {ok(imp['ours_rss_mb'] < 300)} |")
    http = res.get("http_sqlite")
    n = res.get("search_rows", 0)
    if http:
        for name, s in http["ours"].items():
            ds = http.get("datasette", {}).get(name)
            ratio = ds["p50"] / s["p50"] if ds else None
            target = TARGETS.get(name)
            out.append(
                f"| HTTP {name} @ {n // 1000}k, p50 / p95 ms (n={s['n']}) | {f(s['p50'])} / "
                f"{f(s['p95'])} | Datasette {f(ds and ds['p50'])} / {f(ds and ds['p95'])} | "
                f"{f(ratio, 2)}× faster | {f'≥ {target}×' if target else '–'} | "
                f"{ok(ratio >= target) if target and ratio else ''} |")
    inp = res.get("inprocess_sqlite")
    if inp:
        for name, s in inp.items():
            ratio = s["find"]["p50"] / s["floor"]["p50"]
            out.append(
                f"| in-process find_centers {name} @ {n // 1000}k, p50 / p95 ms"
                f"{cold_note(s)} | "
                f"{f(s['find']['p50'])} / {f(s['find']['p95'])}{cold(s)} | raw SQL floor "
                f"{f(s['floor']['p50'], 2)} | {ratio:.1f}× slower | ≤ 10× | "
                f"{ok(ratio <= 10)} |")
    if http:
        workers = http["rss_workers_mb"]
        out.append(f"| cold start to first answered search (gunicorn -w 2), s | "
                   f"{f(http['cold_start_s'], 2)} | | | < 1 s | "
                   f"{ok(http['cold_start_s'] < 1)} |")
        pss = http.get("pss_total_mb")
        out.append(f"| server memory @ {n // 1000}k after the mix, MB: RSS per worker (sum of "
                   f"RSS with the master{'; PSS of all, shared pages once' if pss else ''}) | "
                   f"{' + '.join(f(w, 0) for w in workers)} ({f(http['rss_total_mb'], 0)}"
                   f"{f'; PSS {pss:,.0f}' if pss else ''}) | | | < 150 | "
                   f"{ok(max(workers or [0]) < 150)} per worker, "
                   + (f"{ok(pss < 150)} PSS total |" if pss else
                      f"{ok(http['rss_total_mb'] < 150)} total |"))
    pg = res.get("http_pg")
    ipg = res.get("inprocess_pg")
    if pg and ipg:
        rows = res["pg_rows"]
        for name, s in pg["ours"].items():
            i = ipg[name]
            out.append(f"| PostgreSQL {rows // 1000}k {name}: HTTP p50 / p95 ms (in-process "
                       f"p50 / p95{cold_note(i)}; floor p50) | {f(s['p50'])} / {f(s['p95'])} "
                       f"({f(i['find']['p50'])} / {f(i['find']['p95'])}{cold(i)}; "
                       f"{f(i['floor']['p50'], 2)}) | | | p95 < 50 | {ok(s['p95'] < 50)} |")
    out.append("")
    if inp:
        out += ["In-process detail (SQLite): statements per API request, slowest statement, "
                "result total:", ""]
        for name, s in inp.items():
            out.append(f"- `{name}` total {s['total']:,}: {s['api_statements']} statements "
                       f"per request, per-statement ms {s['statement_ms']}; slowest: "
                       f"`{s['slowest_statement'][:160]}…`")
        out.append("")
    if ipg:
        out += ["In-process detail (PostgreSQL):", ""]
        for name, s in ipg.items():
            out.append(f"- `{name}` total {s['total']:,}: {s['api_statements']} statements, "
                       f"per-statement ms {s['statement_ms']}")
        out.append("")
    if http and http.get("ds_total"):
        out.append("Result sizes, ours vs Datasette's nearest equivalent: "
                   + ", ".join(f"{k} {http['ours_total'].get(k)} vs {v}"
                               for k, v in http["ds_total"].items()) + ".")
        out.append("")
    return out


def main() -> None:
    lines = ["# Benchmark results", "",
             "Written by `bench/report.py` from `bench/results/*.json`; re-run with `make bench`"
             " (quick) or `make bench FULL=1`. Method and caveats: bench/README.md. EXPLAIN "
             "output and pyinstrument profiles of the last run are in `bench/work/`.", ""]
    for profile in ("full", "quick"):
        # the profile's runs, complete or partial (run.py --only ...), newest on top
        # ordered by when each run started (file times change with a git checkout)
        runs = sorted((json.loads(p.read_text()) for p in
                       (BENCH / "results").glob(f"{profile}*.json")),
                      key=lambda r: r.get("started", ""))
        if not runs:
            continue
        res: dict = {}
        for run in runs:
            res.update(run)
        lines += section(res)
    notes = BENCH / "NOTES.md"
    if notes.exists():
        lines += [notes.read_text()]
    (BENCH / "RESULTS.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
