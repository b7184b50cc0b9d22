"""`make faults`: PostgreSQL is stopped and started again while gunicorn serves searches.

Every response during the outage must be a 503 (HTML or JSON) or a 200, never a 500 or a
hung request, and the app must answer 200 again after PostgreSQL is back, without a restart
(SQLAlchemy's pool pre-ping replaces dead connections). Needs `pg_ctlcluster` and the right to
stop the local cluster: run it on a development machine or CI, never against a shared server.
Writes bench/results/faults.md.
"""

from __future__ import annotations

import collections
import glob
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
URL = os.environ.get("FAULT_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/bench_faults")


def cluster() -> list[str]:
    version = sorted(Path(p).name for p in glob.glob("/etc/postgresql/*"))[-1]
    return ["pg_ctlcluster", "--skip-systemctl-redirect", version, "main"]


def get(port: int, path: str) -> int:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=15) as r:
            return r.status
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return -1  # connection error or timeout


def main() -> None:
    import psycopg

    admin, name = URL.rsplit("/", 1)
    with psycopg.connect(admin + "/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')
    env = {**os.environ, "DATABASE_URL": URL, "SECRET_KEY": "faults-only",
           "API_RATE_LIMIT": "100000 per minute",
           "GAZETTEER_PATH": str(ROOT / "instance" / "gazetteer.sqlite")}
    flask = [str(BIN / "flask"), "--app", "directory"]
    subprocess.run([*flask, "db", "upgrade"], cwd=ROOT, env=env, check=True,
                   capture_output=True)
    subprocess.run([*flask, "seed"], cwd=ROOT, env=env, check=True, capture_output=True)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen([str(BIN / "gunicorn"), "-w", "2", "-b", f"127.0.0.1:{port}",
                               "--timeout", "30", "directory:create_app()"], cwd=ROOT, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    phases: dict[str, collections.Counter] = {p: collections.Counter()
                                              for p in ("before", "outage", "after")}
    paths = ["/centers?near=Boston&modality=chemotherapy", "/api/v1/centers?country=US"]
    try:
        time.sleep(3)
        for i in range(20):
            phases["before"][get(port, paths[i % 2])] += 1
        subprocess.run([*cluster(), "stop", "-m", "fast"], check=True)
        outage_end = time.time() + 8
        i = 0
        while time.time() < outage_end:
            phases["outage"][get(port, paths[i % 2])] += 1
            i += 1
        subprocess.run([*cluster(), "start"], check=True)
        time.sleep(2)
        recovered_after = None
        started = time.time()
        for i in range(60):
            status = get(port, paths[i % 2])
            phases["after"][status] += 1
            if status == 200 and recovered_after is None:
                recovered_after = time.time() - started
    finally:
        server.terminate()
        server.wait(timeout=30)
        subprocess.run([*cluster(), "start"], capture_output=True)
    ok = (set(phases["before"]) == {200} and set(phases["outage"]) <= {200, 503}
          and phases["after"][200] >= 55)
    table = "\n".join(f"| {p} | " + ", ".join(f"{k}: {v}" for k, v in sorted(c.items()))
                      + " |" for p, c in phases.items())
    text = (f"# make faults: PostgreSQL stopped for 8 s under load\n\n| phase | statuses |\n"
            f"|---|---|\n{table}\n\nFirst 200 after restart: {recovered_after or 0:.2f} s. "
            f"Result: {'pass' if ok else 'FAIL'}.\n")
    print(text)
    (ROOT / "bench" / "results").mkdir(exist_ok=True)
    (ROOT / "bench" / "results" / "faults.md").write_text(text, encoding="utf-8")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
