"""In-process A/B of the place-search orders on one database: ``find_centers`` for the
mix's radius search (near New York, 100 km, chemotherapy), each order in turn, ``--rounds``
timed calls each, repeated ``--repeat`` times (alternating, so drift hits both).

    .venv/bin/python bench/sort_ab.py --db postgresql://postgres@127.0.0.1:5432/bench_1m
    .venv/bin/python bench/sort_ab.py --sorts distance   # code from before sort=best

To compare with older code, run the same file with ``PYTHONPATH`` pointing at a worktree of
that commit (``git worktree add /tmp/old <commit>``; ``--sorts distance``, its only order).
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import time

from directory import create_app
from directory.extensions import db
from directory.search import SearchQuery, find_centers
from directory.web.params import get_geocoder


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--db", default="postgresql://postgres@127.0.0.1:5432/bench_1m")
    ap.add_argument("--sorts", nargs="+", default=["distance", "best"])
    ap.add_argument("--rounds", type=int, default=40)
    ap.add_argument("--repeat", type=int, default=2)
    args = ap.parse_args()
    app = create_app({"SQLALCHEMY_DATABASE_URI": args.db, "SECRET_KEY": "bench"})
    with app.app_context():
        place = get_geocoder().resolve("New York, NY").place
        base = SearchQuery(near=place, radius_km=100, modalities=("chemotherapy",))
        for _ in range(args.repeat):
            for sort in args.sorts:
                query = dataclasses.replace(base, sort=sort)
                find_centers(db.session, query)  # warm-up, not counted
                times = []
                for _ in range(args.rounds):
                    start = time.perf_counter()
                    find_centers(db.session, query)
                    times.append((time.perf_counter() - start) * 1000)
                    db.session.rollback()
                times.sort()
                print(f"{sort:8} p50 {statistics.median(times):6.1f} ms  "
                      f"p95 {times[int(0.95 * len(times)) - 1]:6.1f} ms")


if __name__ == "__main__":
    main()
