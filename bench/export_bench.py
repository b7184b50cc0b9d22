"""Export cost on one database: each export URL fetched in full through the app's WSGI
client (the whole streamed body read), ``--rounds`` times; prints the median and min wall
time, the rows written and the SQL statements run per export.

    DATABASE_URL=sqlite:////tmp/dev.sqlite .venv/bin/python bench/export_bench.py

To compare with older code, run the same file with ``PYTHONPATH`` pointing at a worktree of
that commit (``git worktree add /tmp/old <commit>``). The export rate limit is lifted for
the run (``EXPORT_RATE_LIMIT``), so only the work is measured.
"""

from __future__ import annotations

import argparse
import csv
import io
import os
import statistics
import time

from sqlalchemy import event

from directory import create_app
from directory.extensions import db

URLS = (
    "/centers.csv",                                        # every center, capped at 10,000
    "/centers.csv?country=US&modality=chemotherapy",
    "/centers.csv?near=Boston,+MA&radius=100&unit=mi",
    "/api/v1/centers?format=ndjson&country=GB",
)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--db", default=os.environ.get("DATABASE_URL"))
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--urls", nargs="+", default=list(URLS))
    args = ap.parse_args()
    app = create_app({"SQLALCHEMY_DATABASE_URI": args.db, "SECRET_KEY": "bench",
                      "EXPORT_RATE_LIMIT": "100000 per minute",
                      "API_RATE_LIMIT": "100000 per minute"})
    statements = [0]
    with app.app_context():
        event.listen(db.engine, "before_cursor_execute",
                     lambda *a, **k: statements.__setitem__(0, statements[0] + 1))
    client = app.test_client()
    for url in args.urls:
        times, cpu, rows, counts = [], [], 0, []
        for _ in range(args.rounds):
            statements[0] = 0
            start, start_cpu = time.perf_counter(), time.process_time()
            response = client.get(url)
            body = response.get_data()
            times.append(time.perf_counter() - start)
            cpu.append(time.process_time() - start_cpu)
            assert response.status_code == 200, (url, response.status_code, body[:200])
            rows = len(list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))) - 1 \
                if "csv" in url else body.count(b"\n")
            counts.append(statements[0])
        print(f"{url}\t{rows} rows\twall median {statistics.median(times):.2f} s, "
              f"min {min(times):.2f} s\tCPU median {statistics.median(cpu):.2f} s\t"
              f"{max(counts)} statements")


if __name__ == "__main__":
    main()
