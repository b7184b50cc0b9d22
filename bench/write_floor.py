"""The database side of an import alone: copy what ``import-centers`` wrote (``SOURCE``)
into a freshly migrated database (``DEST``) with plain SQL, no Python per row, the way the
importer's bulk path writes (``directory.importer.bulk.SqliteBulkLoad``): the center
table's non-unique indexes and known insert triggers dropped, the rows inserted (centers,
claims, designations, audit records), the full-text index and data version replayed, the
indexes rebuilt, one transaction, then ANALYZE as the CLI does.

No validation, geocoding, CSV parsing or process start: the least time any importer that
keeps this schema (10 secondary indexes, FTS5, triggers, an audit record per center) can
take for these rows on this machine. Prints one JSON object of phase times in seconds.

    python bench/write_floor.py SOURCE.sqlite DEST.sqlite
"""

from __future__ import annotations

import json
import re
import sqlite3
import sys
import time

PARENTS = ("data_source", "organization", "import_run")
CHILDREN = ("center_modality", "center_designation", "change_record")


def columns(con: sqlite3.Connection, table: str) -> str:
    """The stored columns of ``table`` (generated ones left out), comma-separated."""
    return ", ".join(r[1] for r in con.execute(f"PRAGMA main.table_xinfo({table})")
                     if r[6] in (0, 1))  # 0 normal, 1 hidden; 2/3 generated


def main(source: str, dest: str) -> dict:
    con = sqlite3.connect(dest, isolation_level=None)
    con.execute("PRAGMA foreign_keys=ON")
    con.execute("ATTACH ? AS src", (source,))
    times = {}
    t = time.perf_counter()
    con.execute("BEGIN")
    for table in PARENTS:
        cols = columns(con, table)
        con.execute(f"INSERT INTO main.{table} ({cols}) SELECT {cols} FROM src.{table}")
    indexes = [(n, s) for n, s in con.execute(
        "SELECT name, sql FROM main.sqlite_master WHERE type = 'index' AND tbl_name = "
        "'center' AND sql IS NOT NULL") if not re.match(r"\s*CREATE\s+UNIQUE", s, re.I)]
    triggers = [(n, s) for n, s in con.execute(
        "SELECT name, sql FROM main.sqlite_master WHERE type = 'trigger' AND tbl_name = "
        "'center' AND sql LIKE '%AFTER INSERT ON center%'")]
    for name, _ in indexes:
        con.execute(f'DROP INDEX main."{name}"')
    for name, _ in triggers:
        con.execute(f'DROP TRIGGER main."{name}"')
    cols = columns(con, "center")
    con.execute(f"INSERT INTO main.center ({cols}) SELECT {cols} FROM src.center")
    times["centers"] = time.perf_counter() - t
    t = time.perf_counter()
    for table in CHILDREN:
        cols = columns(con, table)
        con.execute(f"INSERT INTO main.{table} ({cols}) SELECT {cols} FROM src.{table}")
    times["claims_designations_audit"] = time.perf_counter() - t
    t = time.perf_counter()
    con.execute("INSERT INTO center_fts(rowid, search_text) SELECT id, search_text FROM center")
    con.execute("UPDATE data_version SET version = version + (SELECT count(*) FROM center) "
                "WHERE id = 1")
    for _, sql in triggers + indexes:
        con.execute(sql)
    times["fulltext_and_indexes"] = time.perf_counter() - t
    t = time.perf_counter()
    con.execute("COMMIT")
    times["commit"] = time.perf_counter() - t
    t = time.perf_counter()
    con.execute("ANALYZE")
    times["analyze"] = time.perf_counter() - t
    times["total"] = sum(times.values())
    times["centers_copied"] = con.execute("SELECT count(*) FROM main.center").fetchone()[0]
    con.close()
    return times


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1], sys.argv[2])))
