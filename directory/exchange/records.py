"""Records export: the whole directory with its provenance, one row per source record
(:func:`export_records`), and its restore into an empty database (:func:`import_records`):
a backup, or a move between SQLite and PostgreSQL, that keeps every record, claim,
designation and data source, and the centers' ids (so their URLs).

The file format is in :mod:`directory.exchange.records_file` (and README "API and
exports"). Export, restore into an empty database and export again gives the same bytes.
No Flask: functions take the caller's session; :func:`import_records` flushes and the caller
commits.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import zipfile
from collections import defaultdict
from collections.abc import Iterable

import sqlalchemy as sa
import sqlalchemy.orm as so

from directory.catalog import sync_vocabulary
from directory.curation.records import CENTER_COLUMNS, dumps, resolve_center
from directory.curation.resolve import OWN_SOURCES, RECORD_FIELDS
from directory.exchange.cells import csv_line
from directory.exchange.records_file import (
    CENTER_ONLY,
    CLAIMS_ONLY,
    FORMAT,
    MANIFEST,
    ORGANIZATION_COLUMNS,
    ORGANIZATIONS_CSV,
    RECORD_COLUMNS,
    RECORD_META,
    RECORDS_CSV,
    SOURCE_COLUMNS,
    SOURCE_FIELDS,
    SOURCES_CSV,
    VERSION,
    Package,
    RecordRow,
    RecordsError,
    cells_of,
    dumps_json,
    read_records,
    stamp,
)
from directory.importer.write import lock_imports
from directory.models import (
    Base,
    Center,
    CenterDesignation,
    CenterModality,
    DataSource,
    Designation,
    Modality,
    Organization,
    SourceRecord,
)

__all__ = ["RecordsError", "export_records", "import_records", "read_records"]

# -- export ------------------------------------------------------------------------------


def _claims(session: so.Session) -> dict[tuple[int, str], list]:
    out: dict[tuple[int, str], list] = defaultdict(list)
    for center_id, source, slug, provenance, verified_on, evidence in session.execute(
            sa.select(CenterModality.center_id, CenterModality.source, Modality.slug,
                      CenterModality.provenance, CenterModality.verified_on,
                      CenterModality.evidence)
            .join(Modality, Modality.id == CenterModality.modality_id)
            .order_by(CenterModality.center_id, CenterModality.source, Modality.slug)):
        out[(center_id, source)].append(
            [slug, provenance, verified_on.isoformat() if verified_on else None, evidence])
    return out


def _designations(session: so.Session) -> dict[tuple[int, str], list]:
    out: dict[tuple[int, str], list] = defaultdict(list)
    for center_id, source, slug, as_of in session.execute(
            sa.select(CenterDesignation.center_id, CenterDesignation.source, Designation.slug,
                      CenterDesignation.as_of)
            .join(Designation, Designation.id == CenterDesignation.designation_id)
            .order_by(CenterDesignation.center_id, CenterDesignation.source,
                      Designation.slug)):
        out[(center_id, source)].append([slug, as_of.isoformat() if as_of else None])
    return out


def _center_cell(session: so.Session, row, resolved: bool) -> dict:
    """The ``center`` cell: what belongs to the center itself, not to a record; and its
    shown ``fields`` when its records do not give them (``resolved`` false: no record, or
    an editor's record alone, whose values show over the fields it kept)."""
    cell = {"source": row.source, "external_id": row.external_id,
            "natural_key": row.natural_key, "created_at": stamp(row.created_at),
            "updated_at": stamp(row.updated_at)}
    if row.verified_at is not None:
        cell["verified_at"] = row.verified_at.isoformat()
    if not resolved:  # made before records existed, or a revert took its imports
        center = session.get(Center, row.id)
        fields = {name: getattr(center, name) for name in CENTER_COLUMNS}
        fields["organization"] = center.organization.name if center.organization else None
        cell["fields"] = fields
        if center.field_sources is not None:
            cell["field_sources"] = center.field_sources
    return cell


def _record_rows(session: so.Session) -> Iterable[list[str]]:
    """``records.csv`` rows (cells not yet neutralised), by center id then record id; a
    center's claims-only rows (by source) after its records."""
    claims, held = _claims(session), _designations(session)
    by_center: dict[int, list] = defaultdict(list)
    for record in session.execute(sa.select(
            SourceRecord.center_id, SourceRecord.source, SourceRecord.external_id,
            SourceRecord.natural_key, SourceRecord.dataset_date, SourceRecord.link_rule,
            SourceRecord.link_score, SourceRecord.link_reason, SourceRecord.values)
            .order_by(SourceRecord.center_id, SourceRecord.id)):
        by_center[record.center_id].append(record)
    sources_of: dict[int, set[str]] = defaultdict(set)
    for center_id, source in (*claims, *held):
        sources_of[center_id].add(source)
    for center in session.execute(sa.select(
            Center.id, Center.source, Center.external_id, Center.natural_key,
            Center.created_at, Center.updated_at, Center.verified_at).order_by(Center.id)):
        records = by_center.get(center.id, [])
        rows = [(dict(r._mapping), json.loads(r.values or "{}")) for r in records]
        for source in sorted(sources_of.get(center.id, set()) - {r.source for r in records}):
            rows.append(({"center_id": center.id, "source": source, "natural_key": "",
                          "link_rule": CLAIMS_ONLY}, None))
        if not rows:
            rows.append(({"center_id": center.id, "source": center.source, "natural_key": "",
                          "link_rule": CENTER_ONLY}, None))
        placed: set[str] = set()  # sources whose claims are already on a row
        for i, (meta, values) in enumerate(rows):
            exact: dict = {}
            values = values or {}
            fields = {k: v for k, v in values.items() if k in RECORD_FIELDS}
            other = {k: v for k, v in values.items() if k not in RECORD_FIELDS}
            cells = cells_of(RECORD_META, meta, exact)
            cells.append(";".join(f for f in RECORD_FIELDS if f in fields))
            cells += cells_of(RECORD_FIELDS, fields, exact)
            cells.append(dumps_json(other) if other else "")
            key = (center.id, meta["source"])
            first = key[1] not in placed
            placed.add(key[1])
            cells.append(dumps_json(claims[key]) if first and claims.get(key) else "")
            cells.append(dumps_json(held[key]) if first and held.get(key) else "")
            listed = any(r.source not in OWN_SOURCES for r in records)
            cells.append(dumps_json(_center_cell(session, center, listed)) if i == 0 else "")
            cells.append(dumps_json(exact) if exact else "")
            yield cells


def _csv(columns: Iterable[str], rows: Iterable[list[str]], counter: list[int]) -> bytes:
    out = [csv_line(columns)]
    for row in rows:
        out.append(csv_line(row))
        counter[0] += 1
    return "".join(out).encode("utf-8")


def _table_rows(rows, columns: tuple[str, ...]) -> Iterable[list[str]]:
    for values in rows:
        exact: dict = {}
        cells = cells_of(columns[:-1], dict(values._mapping), exact)
        yield [*cells, dumps_json(exact) if exact else ""]


def export_records(session: so.Session) -> bytes:
    """The whole directory as a records export (zip bytes): every data source, organization,
    source record, claim and designation, with the centers' ids. Deterministic: the same
    database always gives the same bytes, and so does its restore."""
    counts = {name: [0] for name in ("data_sources", "organizations", "rows")}
    sources = _csv(SOURCE_COLUMNS, _table_rows(session.execute(
        sa.select(DataSource.slug, *(getattr(DataSource, f) for f in SOURCE_FIELDS))
        .order_by(DataSource.slug)), SOURCE_COLUMNS), counts["data_sources"])
    organizations = _csv(ORGANIZATION_COLUMNS, _table_rows(session.execute(
        sa.select(Organization.id, Organization.name, Organization.website)
        .order_by(Organization.id)), ORGANIZATION_COLUMNS), counts["organizations"])
    records = _csv(RECORD_COLUMNS, _record_rows(session), counts["rows"])
    count = lambda column: session.scalar(sa.select(sa.func.count(column)))  # noqa: E731
    manifest = {
        "format": FORMAT, "version": VERSION,
        "files": {"data_sources": SOURCES_CSV, "organizations": ORGANIZATIONS_CSV,
                  "records": RECORDS_CSV},
        "counts": {**{name: n[0] for name, n in counts.items()},
                   "centers": count(Center.id), "records": count(SourceRecord.id),
                   "claims": count(CenterModality.id),
                   "designations": count(CenterDesignation.id)},
    }
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in ((MANIFEST, (json.dumps(manifest, indent=2, sort_keys=True)
                                       + "\n").encode("utf-8")),
                           (SOURCES_CSV, sources), (ORGANIZATIONS_CSV, organizations),
                           (RECORDS_CSV, records)):
            info = zipfile.ZipInfo(name, date_time=(2024, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, data)
    return buffer.getvalue()


# -- restore -----------------------------------------------------------------------------

#: Tables that may hold rows in the database a restore writes to: the vocabulary (synced
#: from seeds/ anyway), accounts, pending uploads and the data version.
MAY_HOLD_ROWS = frozenset({"modality", "designation", "app_user", "pending_import",
                           "data_version"})
FLUSH_EVERY = 2000  # centers


def refuse_unless_empty(session: so.Session) -> None:
    """:raises RecordsError: naming every table that holds rows (the directory's data, its
    audit log, import runs), when a restore would mix with what is there."""
    held = []
    for table in Base.metadata.sorted_tables:
        if table.name in MAY_HOLD_ROWS:
            continue
        if session.execute(sa.select(sa.literal(1)).select_from(table).limit(1)).first():
            n = session.scalar(sa.select(sa.func.count()).select_from(table))
            held.append(f"{table.name}: {n:,} row{'' if n == 1 else 's'}")
    if held:
        raise RecordsError("the database is not empty (" + ", ".join(held) + "); a "
                           "records export is restored only into an empty database (a new "
                           "one, after `flask db upgrade`)")


def _check(package: Package, sources: set[str], modalities: dict, designations: dict) -> None:
    """What the database would refuse, said with the file's line numbers."""
    for name, rows, keys in ((SOURCES_CSV, package.sources, ("slug",)),
                             (ORGANIZATIONS_CSV, package.organizations, ("id", "name"))):
        for key in keys:
            values = [row[key] for row in rows]
            if len(set(values)) != len(values):
                raise RecordsError(f"{name}: a {key} is repeated")
    seen_records: dict[tuple, int] = {}
    seen_claims: set[tuple] = set()
    seen_designations: set[tuple] = set()
    for row in package.rows:
        where = f"{RECORDS_CSV} line {row.line}"
        cid, source = row.meta["center_id"], row.meta["source"]
        if row.values is not None and row.meta["external_id"] is not None:
            key = (source, row.meta["external_id"])
            if key in seen_records:
                raise RecordsError(f"{where}: record {source}:{key[1]} is also on line "
                                   f"{seen_records[key]}")
            seen_records[key] = row.line
        for slug, *_ in row.claims:
            if slug not in modalities:
                raise RecordsError(f"{where}: unknown modality {slug!r} (not in "
                                   f"seeds/modalities.toml)")
            if (cid, slug, source) in seen_claims:
                raise RecordsError(f"{where}: claim {slug} of {source} is repeated")
            seen_claims.add((cid, slug, source))
        for slug, _ in row.designations:
            if slug not in designations:
                raise RecordsError(f"{where}: unknown designation {slug!r} (not in "
                                   f"seeds/designations.toml)")
            if (cid, slug) in seen_designations:
                raise RecordsError(f"{where}: designation {slug} is repeated on center {cid}")
            seen_designations.add((cid, slug))
        if row.center is not None and row.center.get("source") not in sources:
            raise RecordsError(f"{where}: source {row.center.get('source')!r} is not in "
                               f"{SOURCES_CSV}")


def _centers(package: Package) -> list[tuple[int, dict, list[RecordRow]]]:
    """``(center id, center cell, rows)`` per center, by id."""
    groups: dict[int, list[RecordRow]] = defaultdict(list)
    for row in package.rows:
        groups[row.meta["center_id"]].append(row)
    out = []
    for cid in sorted(groups):
        cells = [r for r in groups[cid] if r.center is not None]
        if len(cells) != 1:
            raise RecordsError(f"{RECORDS_CSV}: center {cid} has {len(cells)} rows with a "
                               f"center cell (line {groups[cid][0].line}); it needs one")
        center = cells[0].center
        for key in ("source", "natural_key"):
            if not isinstance(center.get(key), str):
                raise RecordsError(f"{RECORDS_CSV} line {cells[0].line}: column center: "
                                   f"no {key}")
        out.append((cid, center, groups[cid]))
    return out


def _new_center(cid: int, cell: dict) -> Center:
    """The center of a ``center`` cell, with its id and timestamps (none: now)."""
    try:
        stamps = {key: dt.datetime.fromisoformat(cell[key])
                  for key in ("created_at", "updated_at") if cell.get(key)}
        return Center(id=cid, source=cell["source"], external_id=cell.get("external_id"),
                      natural_key=cell["natural_key"], **stamps,
                      verified_at=dt.date.fromisoformat(cell["verified_at"])
                      if cell.get("verified_at") else None)
    except (TypeError, ValueError) as exc:
        raise RecordsError(f"{RECORDS_CSV}: center {cid}: column center: {exc}") from exc


def import_records(session: so.Session, data: bytes) -> dict[str, int]:
    """Restore a records export (zip bytes) into an EMPTY database: data sources,
    organizations, centers with their ids, records, claims and designations; then every
    center's shown fields and ``field_sources`` are resolved from its records
    (:func:`~directory.curation.records.resolve_center`; a center without imported records,
    held by an editor's alone, gets those of its center cell, the editor's values shown
    over them). Flushes; the caller commits.

    :returns: counts: ``data_sources``, ``organizations``, ``centers``, ``records``,
        ``claims``, ``designations``.
    :raises RecordsError: a malformed file, or a database that is not empty (the caller
        rolls back: nothing is written).
    """
    lock_imports(session)  # no import may slip in between the check and the writes
    refuse_unless_empty(session)
    package = read_records(data)
    sync_vocabulary(session)
    modalities = {m.slug: m for m in session.scalars(sa.select(Modality))}
    designations = {d.slug: d for d in session.scalars(sa.select(Designation))}
    _check(package, {s["slug"] for s in package.sources}, modalities, designations)
    centers = _centers(package)
    session.add_all(DataSource(**s) for s in package.sources)
    orgs = {o["name"]: Organization(**o) for o in package.organizations}
    session.add_all(orgs.values())
    session.flush()
    _advance_sequences(session, ("organization",))  # an organization no row names: new id

    def organization(name: str | None) -> Organization | None:
        if name and name not in orgs:
            orgs[name] = Organization(name=name)
        return orgs[name] if name else None

    counts = dict.fromkeys(("centers", "records", "claims", "designations"), 0)
    record_id, batch = 0, []
    for n, (cid, cell, rows) in enumerate(centers, 1):
        center = _new_center(cid, cell)
        records = []
        for row in rows:
            source = row.meta["source"]
            center.modalities.extend(
                CenterModality(modality=modalities[slug], source=source, provenance=prov,
                               verified_on=verified_on, evidence=evidence)
                for slug, prov, verified_on, evidence in row.claims)
            center.designations.extend(
                CenterDesignation(designation=designations[slug], source=source, as_of=as_of)
                for slug, as_of in row.designations)
            counts["claims"] += len(row.claims)
            counts["designations"] += len(row.designations)
            if row.values is None:
                continue
            record_id += 1
            records.append(SourceRecord(
                id=record_id, values=dumps(row.values),
                **{k: row.meta[k] for k in RECORD_META if k != "center_id"}))
        center.records = records
        counts["records"] += len(records)
        if not any(r.source not in OWN_SOURCES for r in records):  # fields: in the cell
            _set_fields(center, cell, organization)
        if records:
            resolve_center(session, center, organization, records=records)
        session.add(center)
        batch.append(center)
        counts["centers"] += 1
        if n % FLUSH_EVERY == 0 or n == len(centers):
            session.flush()
            for done in batch:  # written: keep memory flat (the cascade takes the rows)
                session.expunge(done)
            batch.clear()
    _advance_sequences(session, ("center", "source_record", "organization"))
    return {"data_sources": len(package.sources), "organizations": len(orgs), **counts}


def _set_fields(center: Center, cell: dict, organization) -> None:
    """A center without imported records (none, or an editor's alone): its shown fields
    as exported."""
    fields = cell.get("fields")
    if not isinstance(fields, dict) or not fields.get("name"):
        raise RecordsError(f"{RECORDS_CSV}: center {center.id} has no imported record and "
                           f"no fields in its center cell")
    for name in CENTER_COLUMNS:
        setattr(center, name, fields.get(name))
    center.organization = organization(fields.get("organization"))
    center.field_sources = cell.get("field_sources")


def _advance_sequences(session: so.Session, tables: tuple[str, ...]) -> None:
    """PostgreSQL: move the id sequences past the ids written explicitly, so later inserts
    do not collide (SQLite takes max(id) + 1 by itself)."""
    if session.get_bind().dialect.name != "postgresql":
        return
    for table in tables:
        session.execute(sa.text(
            f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
            f"coalesce((SELECT max(id) FROM {table}), 0) + 1, false)"))
