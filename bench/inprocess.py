"""In-process side of the search benchmark (run by bench/run.py with DATABASE_URL set).

For each search of the mix: ``find_centers`` latency, the whole API request through Flask's
test client (JSON included) and the SQL statements it issues (count, slowest), the raw-SQL
floor (the filter alone, by hand, on the driver connection), EXPLAIN of every statement
the search issued, and a pyinstrument profile of a few iterations.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run import MIX, RADIUS_KM, WORK, pct  # noqa: E402

from directory import create_app  # noqa: E402
from directory.extensions import db  # noqa: E402
from directory.geo import bounding_boxes, grid_cells  # noqa: E402
from directory.search import PG_TSVECTOR, find_centers  # noqa: E402
from directory.search import query as search  # noqa: E402
from directory.web.params import parse_search  # noqa: E402


class StatementLog:
    def __init__(self, engine):
        self.on = False
        self.rows: list[tuple[str, object, float]] = []
        sa.event.listen(engine, "before_cursor_execute", self.before)
        sa.event.listen(engine, "after_cursor_execute", self.after)

    def before(self, conn, cursor, statement, parameters, context, executemany):
        conn.info["t0"] = time.perf_counter()

    def after(self, conn, cursor, statement, parameters, context, executemany):
        if self.on:
            self.rows.append((statement, parameters, time.perf_counter() - conn.info["t0"]))

    def capture(self):
        self.rows = []
        self.on = True
        return self

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.on = False


def floors(pg: bool, mod_ids: dict, place) -> dict[str, tuple[str, tuple]]:
    """The filter of each search alone, by hand: the same conditions find_centers uses
    (modality bits of ``center.modality_mask``), without facets, paging or Python."""
    from directory.vocabulary import load_vocabulary

    (lat0, lat1, lon0, lon1), = bounding_boxes(place.latitude, place.longitude, RADIUS_KM)
    vocabulary = load_vocabulary()
    chemo, radio = vocabulary.bit("chemotherapy"), vocabulary.bit("radiation-therapy")
    offset = (int(MIX["deep_page"]["ours"]["page"]) - 1) * 20
    q = {
        "radius": ("SELECT id, latitude, longitude FROM center WHERE geo_cell IN ("
                   + ", ".join(map(str, grid_cells((lat0, lat1, lon0, lon1))))
                   + ") AND latitude BETWEEN ? AND ? AND longitude BETWEEN ? AND ?",
                   (lat0, lat1, lon0, lon1)),
        "country": ("SELECT id FROM center WHERE country = ? AND status <> 'closed' AND "
                    "(modality_mask & ?) <> 0", ("US", radio)),
        "text": ("SELECT id FROM center WHERE " + (
                     f"{PG_TSVECTOR} @@ to_tsquery('simple', ?)" if pg else
                     "id IN (SELECT rowid FROM center_fts WHERE center_fts MATCH ?)")
                 + " AND status <> 'closed' AND (search_text LIKE ? OR search_text LIKE ?)",
                 ("anderson:*" if pg else '"anderson"*', "anderson%", "% anderson%")),
        "deep_page": ("SELECT id FROM center WHERE status <> 'closed' AND (modality_mask & ?) "
                      f"<> 0 ORDER BY name_folded, id LIMIT 20 OFFSET {offset}", (chemo,)),
    }
    if pg:
        q = {k: (s.replace("?", "%s"), p) for k, (s, p) in q.items()}
    return q


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument("--tag", required=True)
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    app = create_app({"API_RATE_LIMIT": "1000000 per minute"})
    client = app.test_client()
    out: dict = {}
    with app.app_context():
        engine = db.engine
        pg = engine.dialect.name == "postgresql"
        stmts = StatementLog(engine)
        queries = {}
        for name, spec in MIX.items():
            with app.test_request_context("/api/v1/centers", query_string=spec["ours"]):
                from flask import request

                queries[name] = parse_search(request.args).query
        mod_ids = dict(db.session.execute(sa.text("SELECT slug, id FROM modality")).all())
        floor_sql = floors(pg, mod_ids, queries["radius"].near)
        raw = engine.raw_connection()
        explain_lines: list[str] = []
        for name, spec in MIX.items():
            query = queries[name]
            find_centers(db.session, query)  # warm-up
            db.session.rollback()
            times = []
            for _ in range(args.rounds):
                t = time.perf_counter()
                page = find_centers(db.session, query)
                times.append((time.perf_counter() - t) * 1000)
                db.session.rollback()
            cold = []  # a cache miss, as on the first request after a data change
            for _ in range(args.rounds):
                search._TOTALS.clear()
                t = time.perf_counter()
                find_centers(db.session, query)
                cold.append((time.perf_counter() - t) * 1000)
                db.session.rollback()
            search._TOTALS.clear()
            with stmts.capture():
                find_centers(db.session, query)
            db.session.rollback()
            find_stmts = list(stmts.rows)
            api_times = []
            for _ in range(args.rounds):
                t = time.perf_counter()
                with stmts.capture():
                    resp = client.get("/api/v1/centers", query_string=spec["ours"])
                api_times.append((time.perf_counter() - t) * 1000)
                assert resp.status_code == 200, resp.data[:300]
            api_stmts = list(stmts.rows)
            sql, params = floor_sql[name]
            cur = raw.cursor()
            cur.execute(sql, params)
            floor_rows = len(cur.fetchall())
            floor_times = []
            for _ in range(args.rounds):
                t = time.perf_counter()
                cur.execute(sql, params)
                cur.fetchall()
                floor_times.append((time.perf_counter() - t) * 1000)
            slow = max(find_stmts, key=lambda r: r[2])
            out[name] = {
                "total": page.total,
                "find": {"p50": statistics.median(times), "p95": pct(times, 95)},
                "find_cold": {"p50": statistics.median(cold), "p95": pct(cold, 95)},
                "api": {"p50": statistics.median(api_times), "p95": pct(api_times, 95)},
                "floor": {"p50": statistics.median(floor_times), "p95": pct(floor_times, 95),
                          "rows": floor_rows, "sql": sql},
                "find_statements": len(find_stmts),
                "api_statements": len(api_stmts),
                "slowest_statement_ms": slow[2] * 1000,
                "slowest_statement": " ".join(slow[0].split())[:400],
                "statement_ms": [round(r[2] * 1000, 2) for r in find_stmts],
            }
            explain_lines.append(f"===== {name}: {spec['ours']} (total {page.total}) =====")
            for statement, stmt_params, took in find_stmts:
                explain_lines.append(f"--- {took * 1000:.2f} ms: {' '.join(statement.split())}"
                                     [:1500])
                prefix = "EXPLAIN (ANALYZE, BUFFERS) " if pg else "EXPLAIN QUERY PLAN "
                try:
                    cur.execute(prefix + statement, stmt_params)
                    for row in cur.fetchall():
                        explain_lines.append("    " + " | ".join(str(c) for c in row))
                except Exception as exc:  # noqa: BLE001
                    explain_lines.append(f"    (explain failed: {exc})")
                    raw.rollback()
            explain_lines.append(f"--- floor: {sql}")
            cur.execute(("EXPLAIN (ANALYZE, BUFFERS) " if pg else "EXPLAIN QUERY PLAN ") + sql,
                        params)
            explain_lines += ["    " + " | ".join(str(c) for c in row) for row in cur.fetchall()]
            print(f"  {args.tag} {name}: find p50 {out[name]['find']['p50']:.1f} ms (cold "
                  f"{out[name]['find_cold']['p50']:.1f}), api p50 "
                  f"{out[name]['api']['p50']:.1f} ms ({len(api_stmts)} stmts), "
                  f"floor p50 {out[name]['floor']['p50']:.2f} ms", file=sys.stderr)
        raw.close()
        (WORK / f"explain_{args.tag}.txt").write_text("\n".join(explain_lines) + "\n")
        try:
            from pyinstrument import Profiler
        except ImportError:
            Profiler = None
        if Profiler is not None:
            for name in ("radius", "country"):
                prof = Profiler(interval=0.0005)
                prof.start()
                for _ in range(5):
                    client.get("/api/v1/centers", query_string=MIX[name]["ours"])
                prof.stop()
                (WORK / f"profile_{args.tag}_{name}.txt").write_text(
                    prof.output_text(unicode=True, show_all=False))
    args.out.write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
