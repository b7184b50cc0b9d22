"""The benchmark harness (issue 5). ``make bench`` runs the quick profile, ``make bench FULL=1``
the full one; see bench/README.md. Everything listens on 127.0.0.1 only, every load is
bounded by a request count, and results go to bench/results/<profile>.json and
bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import platform
import socket
import sqlite3
import statistics
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
VENV_BIN = Path(sys.executable).parent
DATA = BENCH / "data"
WORK = BENCH / "work"
RESULTS = BENCH / "results"
GAZETTEER = Path(os.environ.get("GAZETTEER_PATH", ROOT / "instance" / "gazetteer.sqlite"))
PG_URL = os.environ.get("BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432")

PROFILES = {
    # ~2 minutes: import measured on 10k rows, searches at 100k, no PostgreSQL.
    "quick": dict(import_rows=10_000, import_rounds=2, search_rows=100_000, http_rounds=12,
                  inproc_rounds=10, pg_rows=0),
    # the numbers: import on 100k rows, 1M centers on PostgreSQL.
    "full": dict(import_rows=100_000, import_rounds=3, search_rows=100_000, http_rounds=60,
                 inproc_rounds=60, pg_rows=1_000_000, pg_rounds=30),
}
SIZE_NAME = {10_000: "10k", 100_000: "100k", 1_000_000: "1m"}

# The fixed mix. Each entry: our API query string, the Datasette equivalent (built later
# from the resolved place), and the raw-SQL floor.
NEAR = "New York, NY"
RADIUS_KM = 100
MIX = {
    "radius": dict(ours={"near": NEAR, "radius": str(RADIUS_KM), "modality": "chemotherapy"}),
    "country": dict(ours={"country": "US", "modality": "radiation-therapy"}),
    "text": dict(ours={"q": "anderson"}),
    "deep_page": dict(ours={"modality": "chemotherapy", "page": "400"}),
}


def log(*args) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}]", *args, file=sys.stderr, flush=True)


def pct(values: list[float], p: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, max(0, round(p / 100 * len(s) + 0.5) - 1))]


def summary(values: list[float]) -> dict:
    return {"p50": statistics.median(values), "p95": pct(values, 95), "n": len(values)}


def run(cmd: list[str], env: dict | None = None, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, env={**os.environ, **(env or {})}, cwd=ROOT, **kw)


def measured(cmd: list[str], env: dict | None = None) -> tuple[float, float, int]:
    """Run ``cmd`` via bench/measure.py: (wall seconds, peak RSS MB of the command, rc)."""
    out = run([sys.executable, str(BENCH / "measure.py"), *cmd], env=env,
              capture_output=True, text=True)
    last = out.stdout.strip().splitlines()[-1]
    wall, rss, rc = last.split()
    return float(wall), float(rss), int(rc)


# ---------------------------------------------------------------- data and databases

def csv_path(rows: int) -> Path:
    path = DATA / f"centers_{SIZE_NAME[rows]}.csv"
    if not path.exists():
        log(f"generating {path.name}")
        run([sys.executable, str(BENCH / "generate.py"), str(rows), str(path)], check=True)
    return path


def sqlite_url(path: Path) -> str:
    return f"sqlite:///{path}"


def fresh_sqlite(path: Path) -> str:
    for suffix in ("", "-wal", "-shm"):
        Path(str(path) + suffix).unlink(missing_ok=True)
    url = sqlite_url(path)
    run([sys.executable, str(BENCH / "dbsetup.py")], env=app_env(url), check=True,
        capture_output=True)
    return url


def fresh_pg(name: str) -> str:
    import psycopg

    assert name.startswith("bench_"), name
    with psycopg.connect(f"{PG_URL}/postgres", autocommit=True) as con:
        con.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        con.execute(f"CREATE DATABASE {name}")
    url = f"{PG_URL}/{name}"
    run([sys.executable, str(BENCH / "dbsetup.py")], env=app_env(url), check=True,
        capture_output=True)
    return url


def reused_pg(name: str, rows: int) -> str | None:
    """The URL of bench database ``name`` migrated to the current schema when it exists
    and holds the ``rows`` centers of a load; else ``None``."""
    import psycopg

    url = f"{PG_URL}/{name}"
    try:
        with psycopg.connect(url, connect_timeout=3) as con:
            count = con.execute("SELECT count(*) FROM center").fetchone()[0]
    except psycopg.Error:
        return None
    if not 0.99 * rows <= count <= rows:  # fastload rejects the odd invalid row
        return None
    log(f"pg: reusing {name} ({rows:,} centers), migrating it to the current schema")
    run([sys.executable, str(BENCH / "dbsetup.py")], env=app_env(url), check=True)
    return url


def vacuum_analyze(url: str) -> None:
    """VACUUM ANALYZE: planner statistics and the visibility map (index-only scans)."""
    import psycopg

    started = time.perf_counter()
    with psycopg.connect(url, autocommit=True) as con:
        con.execute("VACUUM ANALYZE")
    log(f"pg: VACUUM ANALYZE in {time.perf_counter() - started:.1f} s")


def app_env(url: str) -> dict:
    return {"DATABASE_URL": url, "GAZETTEER_PATH": str(GAZETTEER), "FLASK_DEBUG": "0",
            "SECRET_KEY": "bench"}


def fastload(url: str, csv: Path) -> float:
    started = time.perf_counter()
    run([sys.executable, str(BENCH / "fastload.py"), str(csv)], env=app_env(url), check=True)
    return time.perf_counter() - started


def datasette_db(csv: Path, path: Path) -> None:
    """What the ten-minute admin does: sqlite-utils insert --csv --detect-types, then turn
    the ';' list into a JSON array so Datasette can facet on it (_facet_array)."""
    path.unlink(missing_ok=True)
    su = str(VENV_BIN / "sqlite-utils")
    run([su, "insert", str(path), "centers", str(csv), "--csv"], check=True)
    con = sqlite3.connect(path)
    con.execute("UPDATE centers SET modalities = CASE WHEN modalities = '' THEN '[]' ELSE "
                "'[\"' || replace(modalities, ';', '\",\"') || '\"]' END")
    con.commit()
    con.close()


# ---------------------------------------------------------------- import benchmark

def bench_import(rows: int, rounds: int) -> dict:
    csv = csv_path(rows)
    ours, theirs = [], []
    for i in range(rounds):
        url = fresh_sqlite(WORK / "import_ours.sqlite")
        wall, rss, rc = measured([str(VENV_BIN / "flask"), "--app", "directory",
                                  "import-centers", str(csv)], env=app_env(url))
        log(f"import round {i + 1}: ours {rows / wall:,.0f} rows/s, {rss:.0f} MB (rc {rc})")
        ours.append({"wall": wall, "rss_mb": rss, "rows_per_s": rows / wall, "rc": rc})
        target = WORK / "import_sqlite_utils.db"
        target.unlink(missing_ok=True)
        wall, rss, rc = measured([str(VENV_BIN / "sqlite-utils"), "insert", str(target),
                                  "centers", str(csv), "--csv"])
        log(f"import round {i + 1}: sqlite-utils {rows / wall:,.0f} rows/s, {rss:.0f} MB")
        theirs.append({"wall": wall, "rss_mb": rss, "rows_per_s": rows / wall, "rc": rc})
    # The database side alone (bench/write_floor.py): the last import's rows copied by SQL
    # into a fresh database, as the bulk path writes them; the best of 2 (a floor).
    floors = []
    for _ in range(2):
        dest = WORK / "import_floor.sqlite"
        fresh_sqlite(dest)
        out = run([sys.executable, str(BENCH / "write_floor.py"),
                   str(WORK / "import_ours.sqlite"), str(dest)], capture_output=True,
                  text=True, check=True)
        floors.append(json.loads(out.stdout.strip().splitlines()[-1]))
    floor = min(floors, key=lambda r: r["total"])
    log(f"import: database write floor {floor['total']:.2f} s")
    # A re-import of the same file into the last import's database: every row matched,
    # compared and found unchanged (the upsert path an admin runs on each new list).
    wall, rss, rc = measured([str(VENV_BIN / "flask"), "--app", "directory",
                              "import-centers", str(csv)],
                             env=app_env(sqlite_url(WORK / "import_ours.sqlite")))
    reimport = {"wall": wall, "rss_mb": rss, "rc": rc}
    log(f"import: re-import of the same file {wall:.1f} s, {rss:.0f} MB (rc {rc})")
    med = lambda runs, k: statistics.median(r[k] for r in runs)  # noqa: E731
    return {"rows": rows, "rounds": rounds, "ours": ours, "sqlite_utils": theirs,
            "write_floor": floor, "write_floors": floors, "reimport": reimport,
            "ours_rows_per_s": med(ours, "rows_per_s"), "ours_rss_mb": max(
                r["rss_mb"] for r in ours),
            "su_rows_per_s": med(theirs, "rows_per_s"),
            "su_rss_mb": max(r["rss_mb"] for r in theirs)}


# ---------------------------------------------------------------- servers

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(url: str, timeout: float = 30) -> tuple[int, bytes, float]:
    started = time.perf_counter()
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            body = resp.read()
            status = resp.status
    except urllib.error.HTTPError as exc:
        body, status = exc.read(), exc.code
    return status, body, time.perf_counter() - started


def proc_mb(pid: int, file: str, key: str) -> float:
    """The ``key:`` line of /proc/PID/``file`` (kB there), in MB; 0 if the process is gone."""
    try:
        for line in Path(f"/proc/{pid}/{file}").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def children_of(pid: int) -> list[int]:
    children = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            children.append(int(stat.parent.name))
    return children


def pss_tree_mb(pid: int) -> float:
    """Sum of the proportional set size (``Pss`` of /proc/PID/smaps_rollup) of ``pid`` and
    its children, MB: the memory the server takes from the machine, pages shared between
    the preloaded master and its forked workers counted once (RSS counts them per process)."""
    return sum(proc_mb(p, "smaps_rollup", "Pss") for p in (pid, *children_of(pid)))


def rss_tree_mb(pid: int) -> tuple[float, list[float]]:
    """(sum of VmRSS over ``pid`` and its children, [each child's VmRSS]) in MB."""
    kids = [proc_mb(c, "status", "VmRSS") for c in children_of(pid)]
    return proc_mb(pid, "status", "VmRSS") + sum(kids), kids


@contextlib.contextmanager
def server(cmd: list[str], env: dict, probe: str, timeout: float = 60):
    """Start a server, wait until ``probe`` answers 200; yields (proc, seconds to first
    answered request)."""
    log_path = WORK / f"server-{Path(cmd[0]).name}.log"
    with open(log_path, "w") as fh:
        started = time.perf_counter()
        proc = subprocess.Popen(cmd, env={**os.environ, **env}, cwd=ROOT, stdout=fh,
                                stderr=subprocess.STDOUT)
        try:
            while True:
                if proc.poll() is not None:
                    raise RuntimeError(f"{cmd[0]} exited; see {log_path}")
                try:
                    status, _, _ = get(probe, timeout=10)
                    if status == 200:
                        break
                except OSError:
                    pass
                if time.perf_counter() - started > timeout:
                    raise RuntimeError(f"{cmd[0]} did not answer within {timeout} s")
                time.sleep(0.01)
            yield proc, time.perf_counter() - started
        finally:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()


def gunicorn_cmd(port: int) -> list[str]:
    # The rate limit is lifted for the benchmark client (otherwise 600/min gives 429s).
    factory = "directory:create_app({'API_RATE_LIMIT': '1000000 per minute'})"
    # The deployment settings README recommends: the app imported once in the master and
    # its objects frozen before each fork, so the workers share its pages.
    return [str(VENV_BIN / "gunicorn"), "-c", "python:directory.gunicorn_conf", "-w", "2",
            "-b", f"127.0.0.1:{port}", factory]


def ours_url(port: int, params: dict) -> str:
    return f"http://127.0.0.1:{port}/api/v1/centers?" + urllib.parse.urlencode(params)


# ---------------------------------------------------------------- the mix, per backend

def resolve_near():
    from directory.geo import OfflineGeocoder

    return OfflineGeocoder(GAZETTEER).resolve(NEAR).place


def datasette_mix(ds_db: Path) -> dict[str, dict | None]:
    from datasette.utils import tilde_encode

    from directory.geo import bounding_boxes

    place = resolve_near()
    (lat0, lat1, lon0, lon1), = bounding_boxes(place.latitude, place.longitude, RADIUS_KM)
    facets = {"_facet": "country", "_facet_array": "modalities", "_size": "20",
              "_shape": "objects"}
    # Datasette pages by keyset (_next), not offset: give it the token for the same page.
    con = sqlite3.connect(ds_db)
    offset = (int(MIX["deep_page"]["ours"]["page"]) - 1) * 20
    name, rowid = con.execute(
        "SELECT name, rowid FROM centers WHERE EXISTS (SELECT 1 FROM json_each(modalities) "
        "WHERE value = 'chemotherapy') ORDER BY name, rowid LIMIT 1 OFFSET ?",
        (offset - 1,)).fetchone()
    con.close()
    return {
        "radius": {**facets, "latitude__gte": lat0, "latitude__lte": lat1,
                   "longitude__gte": lon0, "longitude__lte": lon1,
                   "modalities__arraycontains": "chemotherapy"},
        "country": {**facets, "country__exact": "US",
                    "modalities__arraycontains": "radiation-therapy"},
        "text": {**facets, "name__contains": "anderson"},
        "deep_page": {**facets, "modalities__arraycontains": "chemotherapy", "_sort": "name",
                      "_next": f"{tilde_encode(name)},{rowid}"},
    }


def bench_http(db_url: str, rounds: int, ds_db: Path | None) -> dict:
    """Alternate our gunicorn and Datasette, request by request, over the fixed mix."""
    port = free_port()
    probe = ours_url(port, MIX["radius"]["ours"])
    out: dict = {"ours": {}, "datasette": {}}
    ds_cm = contextlib.nullcontext((None, None))
    ds_port = free_port()
    if ds_db is not None:
        ds_cmd = [str(VENV_BIN / "datasette"), "serve", str(ds_db), "-h", "127.0.0.1", "-p",
                  str(ds_port), "--setting", "suggest_facets", "off", "--setting",
                  "facet_time_limit_ms", "10000", "--setting", "sql_time_limit_ms", "10000",
                  "--setting", "num_sql_threads", "3"]
        ds_cm = server(ds_cmd, {}, f"http://127.0.0.1:{ds_port}/-/versions.json")
        ds_mix = datasette_mix(ds_db)
    # The web server alone: no background-job consumer (directory/gunicorn_conf.py starts
    # one as a separate, non-forked process; the search mix never queues a job, and its
    # ~120 MB are not the web workers' memory that the target reads).
    web_env = {**app_env(db_url), "JOBS_CONSUMER": "external"}
    with server(gunicorn_cmd(port), web_env, probe) as (proc, cold), ds_cm as (ds, _):
        out["cold_start_s"] = cold
        out["rss_after_start_mb"] = rss_tree_mb(proc.pid)[0]
        lat = {k: [] for k in MIX}
        ds_lat = {k: [] for k in MIX}
        table = ds_db.stem if ds_db else None
        for name, spec in MIX.items():  # warm-up: one of each, not counted
            get(ours_url(port, spec["ours"]))
            if ds is not None:
                get(f"http://127.0.0.1:{ds_port}/{table}/centers.json?"
                    + urllib.parse.urlencode(ds_mix[name]))
        for r in range(rounds):
            for name, spec in MIX.items():
                order = ("ours", "ds") if r % 2 == 0 else ("ds", "ours")
                for who in order:
                    if who == "ours":
                        status, body, t = get(ours_url(port, spec["ours"]))
                        assert status == 200, (status, body[:300])
                        lat[name].append(t * 1000)
                        if r == 0:
                            out.setdefault("ours_total", {})[name] = json.loads(body)["total"]
                    elif ds is not None:
                        status, body, t = get(f"http://127.0.0.1:{ds_port}/{table}/"
                                              "centers.json?"
                                              + urllib.parse.urlencode(ds_mix[name]))
                        assert status == 200, (status, body[:300])
                        ds_lat[name].append(t * 1000)
                        if r == 0:
                            doc = json.loads(body)
                            out.setdefault("ds_total", {})[name] = doc.get(
                                "filtered_table_rows_count")
                            out.setdefault("ds_facets_timed_out", {})[name] = doc.get(
                                "facets_timed_out")
        total, workers = rss_tree_mb(proc.pid)
        out["rss_total_mb"], out["rss_workers_mb"] = total, workers
        out["pss_total_mb"] = pss_tree_mb(proc.pid)
        out["ours"] = {k: summary(v) for k, v in lat.items()}
        if ds is not None:
            out["datasette"] = {k: summary(v) for k, v in ds_lat.items()}
    return out


def bench_inprocess(db_url: str, rounds: int, tag: str) -> dict:
    """find_centers in-process (per search: latency, SQL statements, slowest statement),
    the raw-SQL floor, EXPLAIN for every statement, and a pyinstrument profile."""
    run([sys.executable, str(BENCH / "inprocess.py"), "--rounds", str(rounds), "--tag", tag,
         "--out", str(WORK / f"inprocess_{tag}.json")], env=app_env(db_url), check=True)
    return json.loads((WORK / f"inprocess_{tag}.json").read_text())


# ---------------------------------------------------------------- machine and report

def machine() -> dict:
    cpu = next((line.split(":", 1)[1].strip() for line in
                Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    mem = next(int(line.split()[1]) // 1024 for line in
               Path("/proc/meminfo").read_text().splitlines() if line.startswith("MemTotal"))
    info = {"cpu": cpu, "cpus": os.cpu_count(), "ram_mb": mem,
            "os": f"{platform.system()} {platform.release()}",
            "python": platform.python_version(), "sqlite": sqlite3.sqlite_version,
            "loadavg_at_start": [round(x, 1) for x in os.getloadavg()]}
    with contextlib.suppress(Exception):
        import psycopg

        with psycopg.connect(f"{PG_URL}/postgres", connect_timeout=3) as con:
            info["postgresql"] = con.execute("SHOW server_version").fetchone()[0]
    return info


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--profile", choices=PROFILES, default="quick")
    ap.add_argument("--only", nargs="*", default=None,
                    help="parts to run: import search pg (default: all of the profile)")
    ap.add_argument("--reuse-pg", action="store_true",
                    help="keep the PostgreSQL bench database when it already holds the "
                         "profile's rows (migrated to the current schema), instead of reloading")
    ap.add_argument("--import-rounds", type=int, default=None,
                    help="override the profile's number of alternating import rounds")
    args = ap.parse_args()
    cfg = dict(PROFILES[args.profile])
    if args.import_rounds:
        cfg["import_rounds"] = args.import_rounds
    parts = set(args.only or ["import", "search", "pg"])
    for d in (DATA, WORK, RESULTS):
        d.mkdir(exist_ok=True)
    res_path = RESULTS / f"{args.profile}.json"
    # a partial run (--only A B) writes results/<profile>-A-B.json; report.py merges them
    if args.only:
        res_path = RESULTS / f"{args.profile}-{'-'.join(sorted(parts))}.json"
    res = {}
    res.update(profile=args.profile, started=dt.datetime.now().isoformat(timespec="seconds"),
               machine=machine(), config=cfg)
    t0 = time.perf_counter()
    if "import" in parts:
        log(f"import: {cfg['import_rows']:,} rows x {cfg['import_rounds']} alternating rounds")
        res["import"] = bench_import(cfg["import_rows"], cfg["import_rounds"])
    if "search" in parts:
        n = cfg["search_rows"]
        csv = csv_path(n)
        db = WORK / f"search_{SIZE_NAME[n]}.sqlite"
        log(f"search: loading {n:,} centers (bench/fastload.py) and the Datasette copy")
        url = fresh_sqlite(db)
        load_s = fastload(url, csv)
        ds_db = WORK / f"ds_{SIZE_NAME[n]}.db"
        datasette_db(csv, ds_db)
        log("search: in-process")
        res["inprocess_sqlite"] = bench_inprocess(url, cfg["inproc_rounds"],
                                                  f"sqlite_{SIZE_NAME[n]}")
        log("search: HTTP, ours vs Datasette, alternating")
        res["http_sqlite"] = bench_http(url, cfg["http_rounds"], ds_db)
        res["search_rows"] = n
        res["fastload_s"] = load_s
    if "pg" in parts and cfg["pg_rows"]:
        n = cfg["pg_rows"]
        csv = csv_path(n)
        url = reused_pg(f"bench_{SIZE_NAME[n]}", n) if args.reuse_pg else None
        if url is None:
            log(f"pg: loading {n:,} centers into bench_{SIZE_NAME[n]}")
            url = fresh_pg(f"bench_{SIZE_NAME[n]}")
            res["pg_load_s"] = fastload(url, csv)
        vacuum_analyze(url)
        log("pg: in-process")
        res["inprocess_pg"] = bench_inprocess(url, cfg["pg_rounds"], f"pg_{SIZE_NAME[n]}")
        log("pg: HTTP")
        res["http_pg"] = bench_http(url, cfg["pg_rounds"], None)
        res["pg_rows"] = n
    res["elapsed_s"] = time.perf_counter() - t0
    res["machine"]["loadavg_at_end"] = [round(x, 1) for x in os.getloadavg()]
    res_path.write_text(json.dumps(res, indent=1))
    run([sys.executable, str(BENCH / "report.py")], check=True)
    log(f"done in {res['elapsed_s']:.0f} s; see bench/RESULTS.md")


if __name__ == "__main__":
    main()
