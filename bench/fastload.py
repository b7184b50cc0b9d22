"""Bulk-load a generated CSV into an empty directory database, for the *search* benchmarks.

    DATABASE_URL=... GAZETTEER_PATH=... python bench/fastload.py CSV [--source bench]

Rows go through the project's own Validator (same parsing, folding, vocabulary, inferred
modalities from designations) and, for rows without coordinates, the offline geocoder's
``lookup_city`` (cached per city/region/country) -- then straight into the tables with
``executemany`` (SQLite) or ``COPY`` (PostgreSQL), skipping the ORM unit of work, the audit
log and the import-run record. The rows it writes are the ones ``import-centers`` would
write (``bench/run.py --check`` compares both on 10k rows); it exists because the importer is
too slow to load 1M rows within a benchmark run (see bench/RESULTS.md).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import time
from pathlib import Path

import sqlalchemy as sa

from directory import create_app
from directory.extensions import db
from directory.geo import OfflineGeocoder
from directory.importer.decode import decode_bytes
from directory.importer.formats import RawRecord, get_format
from directory.importer.read import read_table
from directory.importer.validate import Validator
from directory.models import DataSource, Designation, Modality
from directory.text import fold
from directory.vocabulary import load_vocabulary

CENTER_COLS = ("id", "source", "external_id", "natural_key", "name", "name_folded",
               "alternate_names", "search_text", "kind", "address", "city", "city_folded",
               "region", "postal_code", "country", "latitude", "longitude",
               "geocode_precision", "phone", "website", "email", "status", "description",
               "created_at", "updated_at", "modality_mask", "reported_mask")
CM_COLS = ("center_id", "modality_id", "provenance", "source", "verified_on", "evidence")
CD_COLS = ("center_id", "designation_id", "source", "as_of")


def records(data: bytes, source: str, geocoder: OfflineGeocoder):
    """Yield validated, geocoded CenterRecords (rejected rows are dropped, as on import)."""
    table = read_table(decode_bytes(data).text)
    fmt = get_format("native")
    columns, _ignored = fmt.map_columns(table.header, None)
    header_of = {f: table.header[i].strip() for i, f in columns.items()}
    validator = Validator(load_vocabulary(), source=source, today=dt.date.today())
    width = len(table.header)
    cache: dict = {}
    for row in table.rows:
        cells = row.cells + [""] * (width - len(row.cells))
        raw = RawRecord(row.line, {f: cells[i] for i, f in columns.items()}, header_of)
        fmt.extras(raw)
        record, _issues = validator.validate(raw, [])
        if record is None:
            continue
        if record.latitude is None and record.city:
            key = (record.city, record.region, record.country)
            if key not in cache:
                res = geocoder.lookup_city(record.city, region=record.region,
                                           country=record.country)
                cache[key] = res.place if res else None
            place = cache[key]
            if place is not None:
                record.latitude, record.longitude = place.latitude, place.longitude
                record.geocode_precision = "city"
        yield record


def load(path: Path, source: str = "bench") -> int:
    app = create_app()
    now = dt.datetime.now(dt.UTC)
    with app.app_context():
        session = db.session
        engine = db.engine
        pg = engine.dialect.name == "postgresql"
        if session.get(DataSource, source) is None:
            session.execute(sa.text("INSERT INTO data_source (slug, name) VALUES (:s, :s)"),
                            {"s": source})
        mod_ids = dict(session.execute(sa.select(Modality.slug, Modality.id)).all())
        des_ids = dict(session.execute(sa.select(Designation.slug, Designation.id)).all())
        next_id = (session.scalar(sa.text("SELECT max(id) FROM center")) or 0) + 1
        session.commit()
        geocoder = OfflineGeocoder(app.config["GAZETTEER_PATH"])
        vocabulary = load_vocabulary()
        centers, cms, cds = [], [], []
        stamp = now if pg else now.strftime("%Y-%m-%d %H:%M:%S.%f")
        for rec in records(path.read_bytes(), source, geocoder):
            cid = next_id
            next_id += 1
            centers.append((
                cid, source, rec.external_id, rec.natural_key, rec.name, fold(rec.name)[:300],
                "; ".join(rec.alternate_names) or None,
                " ".join(filter(None, (fold(rec.name), fold(" ".join(rec.alternate_names)),
                                       fold(rec.organization)))),
                rec.kind, rec.address, rec.city, fold(rec.city)[:120], rec.region,
                rec.postal_code, rec.country, rec.latitude, rec.longitude,
                rec.geocode_precision, rec.phone, rec.website, rec.email, rec.status,
                rec.description, stamp, stamp,
                vocabulary.mask(m.slug for m in rec.modalities),
                vocabulary.mask(m.slug for m in rec.modalities if m.provenance == "reported")))
            for m in rec.modalities:
                day = m.verified_on or dt.date.today()
                cms.append((cid, mod_ids[m.slug], m.provenance, source,
                            day if pg else day.isoformat(), m.evidence))
            dates = [m.verified_on for m in rec.modalities if m.verified_on]
            as_of = min(dates) if dates else dt.date.today()
            for slug in rec.designations:
                cds.append((cid, des_ids[slug], source, as_of if pg else as_of.isoformat()))
        raw = engine.raw_connection()
        try:
            cur = raw.cursor()
            for table, cols, rows in (("center", CENTER_COLS, centers),
                                      ("center_modality", CM_COLS, cms),
                                      ("center_designation", CD_COLS, cds)):
                if pg:
                    with cur.copy(f"COPY {table} ({', '.join(cols)}) FROM STDIN") as copy:
                        for r in rows:
                            copy.write_row(r)
                else:
                    cur.executemany(f"INSERT INTO {table} ({', '.join(cols)}) VALUES "
                                    f"({', '.join('?' * len(cols))})", rows)
            if pg:
                cur.execute("SELECT setval(pg_get_serial_sequence('center', 'id'), "
                            "(SELECT max(id) FROM center))")
            raw.commit()
            cur = raw.cursor()  # what autovacuum / the import command does after a big load
            cur.execute("ANALYZE")
            raw.commit()
        finally:
            raw.close()
        return len(centers)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("csv", type=Path)
    ap.add_argument("--source", default="bench")
    args = ap.parse_args()
    if not os.environ.get("DATABASE_URL"):
        sys.exit("DATABASE_URL is required")
    started = time.perf_counter()
    n = load(args.csv, args.source)
    print(f"fastload: {n} centers in {time.perf_counter() - started:.1f} s", file=sys.stderr)


if __name__ == "__main__":
    main()
