"""Bulk writing on SQLite: rows straight to the sqlite3 driver, and the center table's
secondary indexes and known insert triggers dropped during a large load and rebuilt at its
end, inside the same transaction (see :class:`SqliteBulkLoad`)."""

from __future__ import annotations

import re

# Bulk-load mode on SQLite (see SqliteBulkLoad): at least this many new centers, and the
# page cache (KiB, negative as PRAGMA cache_size takes it) used meanwhile.
BULK_MIN_ROWS = 2000
BULK_CACHE_KIB = -16384


def bind_processor(column, dialect):
    """The dialect's Python -> driver conversion of ``column`` (identity when none)."""
    process = column.type.dialect_impl(dialect).bind_processor(dialect)
    return (lambda value: process(value) if value is not None else None) if process else \
        (lambda value: value)


def executemany(raw, table: str, columns: tuple[str, ...], rows: list[tuple]) -> None:
    """``INSERT INTO table (columns) VALUES (?, ...)`` for every row, on the sqlite3 driver
    connection (inside the session's transaction)."""
    names = ", ".join(f'"{c}"' for c in columns)
    raw.executemany(f'INSERT INTO "{table}" ({names}) VALUES '
                    f'({", ".join("?" * len(columns))})', rows)


class SqliteBulkLoad:
    """Makes a large insert into ``center`` cheap on SQLite, inside the caller's transaction.

    Maintaining ten secondary indexes, the full-text index and the data-version counter row
    by row costs ~100 µs a center; building them once afterwards costs ~10 µs a center of
    the whole table. So when the new rows are many (:data:`BULK_MIN_ROWS`) and at least a
    quarter of the table, :meth:`begin` drops the table's non-unique indexes and the
    ``AFTER INSERT`` triggers whose bodies it knows how to replay, and :meth:`end` replays
    them for the new rows (ids from ``first_id`` on) and recreates everything from the SQL
    text stored in ``sqlite_master``. DDL is transactional in SQLite: a rollback restores the
    indexes and triggers with the data, and other connections never see them missing. Unique
    indexes and unknown triggers are left alone (they keep working row by row)."""

    # Normalised trigger body -> replay statement (parameters: first new id, row count).
    KNOWN_TRIGGERS = {
        "INSERT INTO center_fts(rowid, search_text) VALUES (new.id, new.search_text);":
            ("INSERT INTO center_fts(rowid, search_text) SELECT id, search_text FROM center "
             "WHERE id >= :first ORDER BY id"),
        "UPDATE data_version SET version = version + 1 WHERE id = 1;":
            "UPDATE data_version SET version = version + :count WHERE id = 1",
    }
    _TRIGGER = re.compile(r"^CREATE TRIGGER (\S+) AFTER INSERT ON (\S+) BEGIN (.*) END;?$",
                          re.IGNORECASE | re.DOTALL)

    def __init__(self, raw, count: int, first_id: int):
        self.raw, self.count, self.first_id = raw, count, first_id
        self.indexes: list[tuple[str, str]] = []
        self.triggers: list[tuple[str, str, str]] = []
        self.cache_size = None
        self.active = False

    def begin(self) -> None:
        raw = self.raw
        if self.count < BULK_MIN_ROWS:
            return
        stored = raw.execute("SELECT count(*) FROM center").fetchone()[0]
        if self.count * 4 < stored:
            return
        self.active = True
        self.cache_size = raw.execute("PRAGMA cache_size").fetchone()[0]
        raw.execute(f"PRAGMA cache_size = {BULK_CACHE_KIB}")
        for name, sql in raw.execute(
                "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND "
                "tbl_name = 'center' AND sql IS NOT NULL").fetchall():
            if not re.match(r"\s*CREATE\s+UNIQUE\b", sql, re.IGNORECASE):
                self.indexes.append((name, sql))
        for name, sql in raw.execute(
                "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND "
                "tbl_name = 'center'").fetchall():
            match = self._TRIGGER.match(" ".join(sql.split()))
            if match and match.group(3).strip() in self.KNOWN_TRIGGERS:
                self.triggers.append((name, sql, self.KNOWN_TRIGGERS[match.group(3).strip()]))
        for name, _ in self.indexes:
            raw.execute(f'DROP INDEX "{name}"')
        for name, _, _ in self.triggers:
            raw.execute(f'DROP TRIGGER "{name}"')

    def end(self) -> None:
        if not self.active:
            return
        self.active = False
        raw = self.raw
        for _, _, replay in self.triggers:
            raw.execute(replay, {"first": self.first_id, "count": self.count})
        for _, sql, _ in self.triggers:
            raw.execute(sql)
        for _, sql in self.indexes:
            raw.execute(sql)
        raw.execute(f"PRAGMA cache_size = {self.cache_size}")


