"""`make load`: gunicorn with 4 workers on a copy of the seeded database (SQLite, WAL) and,
when reachable, on PostgreSQL; locust (headless, 50 users, 60 s, 127.0.0.1 only) runs a
search mix while a 10,000-row import commits through the CLI. Reports requests, errors
(5xx, connection errors, "database is locked"), p50/p95 per database, and whether the
import committed; writes bench/results/load.md.

Usage: python bench/load.py [--seconds 60] [--users 50] [--postgres URL|none]
"""

from __future__ import annotations

import argparse
import csv
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
GAZETTEER = ROOT / "instance" / "gazetteer.sqlite"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def env_for(database_url: str) -> dict:
    return {**os.environ, "DATABASE_URL": database_url, "GAZETTEER_PATH": str(GAZETTEER),
            "SECRET_KEY": "load-test-only", "SESSION_COOKIE_SECURE": "0",
            "API_RATE_LIMIT": "100000 per minute"}


def flask(database_url: str, *args: str, check=True) -> subprocess.CompletedProcess:
    return subprocess.run([str(VENV_BIN / "flask"), "--app", "directory", *args], cwd=ROOT,
                          env=env_for(database_url), capture_output=True, text=True,
                          check=check)


def import_file(path: Path, rows: int) -> None:
    cities = [("Boston", "MA", "02115"), ("Houston", "TX", "77030"), ("Denver", "CO", "80202"),
              ("Chicago", "IL", "60611"), ("Seattle", "WA", "98101")]
    with open(path, "w", encoding="utf-8") as fh:
        fh.write("external_id,name,city,region,postal_code,country,modalities\n")
        for i in range(rows):
            c, r, z = cities[i % len(cities)]
            fh.write(f"L{i},Load Test Center {i},{c},{r},{z},US,chemotherapy;surgery\n")


def run_one(label: str, database_url: str, seconds: int, users: int, workdir: Path) -> dict:
    port = free_port()
    server = subprocess.Popen(
        [str(VENV_BIN / "gunicorn"), "-w", "4", "-b", f"127.0.0.1:{port}", "--timeout", "60",
         "--log-level", "warning", "directory:create_app()"],
        cwd=ROOT, env=env_for(database_url), stdout=subprocess.DEVNULL,
        stderr=open(workdir / f"{label}-gunicorn.log", "w"))
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.1)
        prefix = workdir / label
        locust = subprocess.Popen(
            [str(VENV_BIN / "locust"), "-f", str(ROOT / "bench" / "locustfile.py"),
             "--headless", "-u", str(users), "-r", str(users), "-t", f"{seconds}s",
             "--host", f"http://127.0.0.1:{port}", "--csv", str(prefix), "--only-summary"],
            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(seconds / 4)
        path = workdir / "import10k.csv"
        import_file(path, 10_000)
        started = time.perf_counter()
        result = flask(database_url, "import-centers", str(path), "--source", f"load-{label}",
                       check=False)
        import_seconds = time.perf_counter() - started
        locust.wait(timeout=seconds + 120)
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
    stats = {}
    with open(f"{prefix}_stats.csv", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            if row["Name"] == "Aggregated":
                stats = row
    failures = 0
    fail_path = Path(f"{prefix}_failures.csv")
    if fail_path.exists():
        with open(fail_path, encoding="utf-8") as fh:
            failures = sum(int(r["Occurrences"]) for r in csv.DictReader(fh))
    log = (workdir / f"{label}-gunicorn.log").read_text(encoding="utf-8", errors="replace")
    return {"label": label, "requests": int(stats.get("Request Count", 0)),
            "failures": failures, "p50": stats.get("50%"), "p95": stats.get("95%"),
            "rps": stats.get("Requests/s"), "locked": log.lower().count("database is locked"),
            "import_rc": result.returncode, "import_s": round(import_seconds, 1),
            "import_out": result.stdout.splitlines()[1:2]}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432/bench_load")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="load-"))
    results = []
    sqlite_db = workdir / "load.sqlite"
    source_db = ROOT / "instance" / "directory.sqlite"
    if source_db.exists():
        shutil.copy(source_db, sqlite_db)
    url = f"sqlite:///{sqlite_db}"
    flask(url, "db", "upgrade")
    flask(url, "seed", "--if-empty")
    results.append(run_one("sqlite", url, args.seconds, args.users, workdir))
    if args.postgres != "none":
        admin = args.postgres.rsplit("/", 1)[0] + "/postgres"
        name = args.postgres.rsplit("/", 1)[1]
        try:
            import psycopg

            with psycopg.connect(admin, autocommit=True, connect_timeout=3) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
                conn.execute(f'CREATE DATABASE "{name}"')
        except Exception as exc:  # noqa: BLE001 - report and skip the PostgreSQL pass
            print(f"PostgreSQL pass skipped: {exc}")
        else:
            flask(args.postgres, "db", "upgrade")
            flask(args.postgres, "seed")
            results.append(run_one("postgresql", args.postgres, args.seconds, args.users,
                                   workdir))
    lines = ["| database | requests | req/s | failures | 'database is locked' | p50 ms | "
             "p95 ms | 10k import during load |", "|---|---|---|---|---|---|---|---|"]
    for r in results:
        lines.append(f"| {r['label']} | {r['requests']} | {float(r['rps'] or 0):.0f} | "
                     f"{r['failures']} | {r['locked']} | {r['p50']} | {r['p95']} | "
                     f"exit {r['import_rc']} in {r['import_s']} s {r['import_out']} |")
    table = "\n".join(lines)
    print(table)
    out = ROOT / "bench" / "results"
    out.mkdir(exist_ok=True)
    (out / "load.md").write_text(
        f"# make load ({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())})\n\n"
        f"gunicorn 4 workers, locust {args.users} users for {args.seconds} s on 127.0.0.1, "
        f"a 10,000-row CLI import committing a quarter of the way in.\n\n{table}\n",
        encoding="utf-8")
    if any(r["failures"] or r["locked"] or r["import_rc"] for r in results):
        sys.exit(1)


if __name__ == "__main__":
    main()
