"""`make load`: gunicorn (4 workers, directory.gunicorn_conf: its job consumer too) on a copy
of the seeded database (SQLite, WAL) and, when reachable, on PostgreSQL; an admin uploads a
200,000-row CSV through the web (login, CSRF, upload, preview job, confirm job) and, while
that import runs, locust (headless, 50 users, 60 s, 127.0.0.1 only) runs a search mix.
Reports requests, errors (5xx, connection errors, "database is locked"), p50/p95 per
database, the import's outcome and times, and whether it ran during the whole load window;
writes bench/results/load.md.

Usage: python bench/load.py [--seconds 60] [--users 50] [--import-rows 200000]
                            [--postgres URL|none]
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


ADMIN = ("load-admin@example.org", "load test password 1")


def web_import(base: str, data: bytes, state: dict) -> None:
    """Log in, upload ``data``, follow the preview job, confirm, follow the import job;
    records times and the outcome in ``state`` (``running`` while a job runs)."""
    import re

    import requests

    def csrf(html: str) -> str:
        return re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html).group(1)

    def follow(path: str, phase: str) -> dict:
        while True:
            try:
                job = web.get(base + path + ".json", timeout=30).json()
            except (requests.RequestException, ValueError):
                job = {"status": "?"}
            if job["status"] in ("done", "failed"):
                return job
            if job["status"] == "running":
                state.setdefault(phase, time.time())
            time.sleep(1)

    web = requests.Session()
    started = time.time()
    try:
        page = web.get(base + "/admin/login").text
        web.post(base + "/admin/login", data={"email": ADMIN[0], "password": ADMIN[1],
                                              "csrf_token": csrf(page)})
        form = web.get(base + "/admin/imports/new").text
        upload = web.post(base + "/admin/imports/new", allow_redirects=False, timeout=300,
                          data={"csrf_token": csrf(form), "format": "auto"},
                          files={"file": ("load.csv", data, "text/csv")})
        state["upload_s"] = round(time.time() - started, 1)
        job = follow(upload.headers["Location"], "preview")
        state["preview_s"] = round(time.time() - started, 1)
        if job["status"] != "done":
            state["outcome"] = f"preview {job['status']}: {job.get('message')}"
            return
        preview = web.get(base + job["next"]).text
        confirm = web.post(base + job["next"], allow_redirects=False,
                           data={"csrf_token": csrf(preview), "action": "confirm"})
        job = follow(confirm.headers["Location"], "confirm")
        state["outcome"] = job.get("message") or job["status"]
        state["ok"] = job["status"] == "done"
    except Exception as exc:  # noqa: BLE001 - reported in the table
        state["outcome"] = f"error: {exc!r}"
    finally:
        state["finished"] = time.time()
        state["total_s"] = round(time.time() - started, 1)


def run_one(label: str, database_url: str, seconds: int, users: int, rows: int,
            workdir: Path) -> dict:
    import threading

    sys.path.insert(0, str(ROOT))
    from tests.test_jobs_gunicorn import big_csv

    data = big_csv(rows, GAZETTEER)
    flask(database_url, "create-admin", ADMIN[0], "--password", ADMIN[1])
    port = free_port()
    instance = workdir / f"instance-{label}"
    instance.mkdir()
    env = {**env_for(database_url), "INSTANCE_PATH": str(instance)}
    server = subprocess.Popen(
        [str(VENV_BIN / "gunicorn"), "-c", "python:directory.gunicorn_conf", "-w", "4",
         "-b", f"127.0.0.1:{port}", "--log-level", "warning", "directory:create_app()"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
        stderr=open(workdir / f"{label}-gunicorn.log", "w"))
    state: dict = {}
    try:
        for _ in range(300):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.1)
        base = f"http://127.0.0.1:{port}"
        importer = threading.Thread(target=web_import, args=(base, data, state))
        importer.start()
        while "confirm" not in state and importer.is_alive():
            time.sleep(0.5)  # the load starts once the import is being written
        prefix = workdir / label
        load_start = time.time()
        locust = subprocess.Popen(
            [str(VENV_BIN / "locust"), "-f", str(ROOT / "bench" / "locustfile.py"),
             "--headless", "-u", str(users), "-r", str(users), "-t", f"{seconds}s",
             "--host", base, "--csv", str(prefix), "--only-summary"],
            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        locust.wait(timeout=seconds + 120)
        load_end = time.time()
        importer.join(timeout=3600)
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=300)
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
            "timeouts": log.count("WORKER TIMEOUT"), "import_ok": bool(state.get("ok")),
            "import": state.get("outcome"), "preview_s": state.get("preview_s"),
            "total_s": state.get("total_s"),
            "overlap": state.get("finished", 0) >= load_end and load_start > 0}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--import-rows", type=int, default=200_000)
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
    results.append(run_one("sqlite", url, args.seconds, args.users, args.import_rows,
                           workdir))
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
                                   args.import_rows, workdir))
    lines = ["| database | requests | req/s | failures | 'database is locked' | worker "
             "timeouts | p50 ms | p95 ms | web import during load |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        lines.append(f"| {r['label']} | {r['requests']} | {float(r['rps'] or 0):.0f} | "
                     f"{r['failures']} | {r['locked']} | {r['timeouts']} | {r['p50']} | "
                     f"{r['p95']} | {args.import_rows:,} rows: {r['import']} (preview done "
                     f"at {r['preview_s']} s, committed at {r['total_s']} s; running during "
                     f"the whole load: {'yes' if r['overlap'] else 'no'}) |")
    table = "\n".join(lines)
    print(table)
    out = ROOT / "bench" / "results"
    out.mkdir(exist_ok=True)
    (out / "load.md").write_text(
        f"# make load ({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())})\n\n"
        f"gunicorn 4 workers (directory.gunicorn_conf, its job consumer), locust "
        f"{args.users} users for {args.seconds} s on 127.0.0.1, started once the confirm "
        f"job of a {args.import_rows:,}-row import uploaded through the web runs (the "
        f"import writing).\n\n{table}\n",
        encoding="utf-8")
    if any(r["failures"] or r["locked"] or r["timeouts"] or not r["import_ok"]
           for r in results):
        sys.exit(1)


if __name__ == "__main__":
    main()
