"""The records export (directory.exchange.records): one row per source record with its
claims, designations and data sources; restored into an empty database it gives the same
bytes again and the same provenance (every claim, designation, record and field source),
with the same center ids. Runs on SQLite and on PostgreSQL (TEST_DATABASE_URL)."""

from __future__ import annotations

import csv
import io
import json
import re
import zipfile

import pytest
import sqlalchemy as sa

from directory.catalog import sync_vocabulary
from directory.curation.records import resolve_center, set_editor_values
from directory.exchange.records import RecordsError, export_records, import_records
from directory.exchange.records_file import CLAIMS_ONLY, RECORD_COLUMNS, RECORDS_CSV
from directory.extensions import db
from directory.models import (
    Center,
    CenterDesignation,
    CenterModality,
    DataSource,
    Designation,
    Modality,
    Organization,
    SourceRecord,
)
from tests.conftest import CASES, DATA, empty_database

EXCERPTS = DATA / "excerpts"

#: A second source for two CMS hospitals of the excerpt (same names and addresses, so the
#: linker joins them), with fewer columns: its records lack website, kind...
STATE_LIST = (
    b"external_id,name,address,city,region,postal_code,country,phone,organization\n"
    b"AL-1,Southeast Health Medical Center,1108 Ross Clark Circle,Dothan,AL,36301,US,"
    b"334-793-8702,Southeast Health\n"
    b"AL-5,Marshall Medical Center South,2505 US Highway 431 North,Boaz,AL,35957,US,,\n"
    b"AL-99,=Formula Clinic,1 Main Street,Birmingham,AL,35203,US,,\n"
)


@pytest.fixture
def directory(import_file, session):
    """CMS hospitals with modality lists keyed by CCN (claims-only sources), NCI centers
    (designations, inferred claims), a second source linked into two CMS hospitals, the
    formula case, an editor's value, an admin's claim and a documented data source."""
    import_file(EXCERPTS / "cms_hgi_excerpt.csv", format="cms-hgi")
    import_file(EXCERPTS / "cms_pos_excerpt.csv", format="cms-pos")
    import_file(EXCERPTS / "cms_measures_excerpt.csv", format="cms-oqr")
    import_file(EXCERPTS / "nci_excerpt.csv", format="nci")
    import_file(STATE_LIST, filename="state.csv", source="state-list", format="native")
    import_file(CASES / "14_formula_injection.csv", source="14")
    linked = session.scalars(sa.select(Center).join(Center.records)
                             .where(SourceRecord.source == "state-list")
                             .order_by(Center.id)).all()
    assert any(len(c.records) == 2 for c in linked), "the state list did not link"
    center = next(c for c in linked if len(c.records) == 2)
    set_editor_values(session, center, {"phone": "+13347930000"})  # an editor record
    surgery = session.scalar(sa.select(Modality).where(Modality.slug == "surgery"))
    center.modalities.append(CenterModality(modality=surgery, source="admin",
                                            provenance="reported", evidence="=confirmed"))
    source = session.get(DataSource, "state-list")
    source.publisher, source.licence, source.url = "State of Alabama", "CC0", "https://x.test"
    source.as_of, source.attribution, source.note = "2025-06", "-State list", ""
    session.commit()
    return center


def provenance(session) -> dict:
    """Everything a restore must give back, as comparable values."""
    claims = session.execute(sa.select(
        CenterModality.center_id, Modality.slug, CenterModality.source,
        CenterModality.provenance, CenterModality.verified_on, CenterModality.evidence)
        .join(Modality)).all()
    held = session.execute(sa.select(
        CenterDesignation.center_id, Designation.slug, CenterDesignation.source,
        CenterDesignation.as_of).join(Designation)).all()
    records = session.execute(sa.select(
        SourceRecord.center_id, SourceRecord.source, SourceRecord.external_id,
        SourceRecord.natural_key, SourceRecord.values, SourceRecord.dataset_date,
        SourceRecord.link_rule, SourceRecord.link_score, SourceRecord.link_reason)
        .order_by(SourceRecord.center_id, SourceRecord.id)).all()
    centers = session.execute(sa.select(
        Center.id, Center.source, Center.external_id, Center.natural_key, Center.name,
        Center.alternate_names, Center.kind, Center.address, Center.city, Center.region,
        Center.postal_code, Center.country, Center.latitude, Center.longitude,
        Center.geocode_precision, Center.phone, Center.website, Center.email, Center.status,
        Center.description, Center.field_sources, Center.modality_mask, Center.reported_mask,
        Center.designated,
        Center.verified_at, Organization.name).outerjoin(Center.organization)
        .order_by(Center.id)).all()
    stamps = session.execute(sa.select(Center.id, Center.created_at, Center.updated_at)
                             .order_by(Center.id)).all()
    return {
        "claims": sorted(map(tuple, claims), key=repr),
        "designations": sorted(map(tuple, held), key=repr),
        # records in their order within each center; values parsed (types kept)
        "records": [(*r[:4], json.loads(r[4]), *r[5:]) for r in records],
        "centers": [tuple(c) for c in centers],
        "stamps": [(i, _utc(a), _utc(b)) for i, a, b in stamps],
        "sources": sorted(tuple(s) for s in session.execute(sa.select(
            DataSource.slug, DataSource.name, DataSource.publisher, DataSource.licence,
            DataSource.url, DataSource.as_of, DataSource.attribution, DataSource.note))),
        "organizations": sorted(tuple(o) for o in session.execute(sa.select(
            Organization.id, Organization.name, Organization.website))),
    }


def _utc(value):
    import datetime as dt

    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


def fresh_database() -> None:
    """Empty the database, and on PostgreSQL restart the id sequences as in a new database
    (deleting rows does not), so a restore that forgot to move them would collide."""
    db.session.remove()
    empty_database()
    if db.engine.dialect.name == "postgresql":
        with db.engine.begin() as conn:
            for table in ("center", "source_record", "organization"):
                conn.execute(sa.text(f"SELECT setval(pg_get_serial_sequence('{table}', "
                                     f"'id'), 1, false)"))


def restore(data: bytes) -> dict:
    """Empty the database (the vocabulary stays, like a migrated and seeded one), then
    restore ``data`` and commit."""
    fresh_database()
    sync_vocabulary(db.session)
    db.session.commit()
    counts = import_records(db.session, data)
    db.session.commit()
    db.session.expire_all()
    return counts


def records_csv(data: bytes) -> list[dict]:
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        text = zf.read(RECORDS_CSV).decode("utf-8")
    return list(csv.DictReader(io.StringIO(text, newline="")))


def test_round_trip_gives_the_same_bytes_and_provenance(directory, import_file):
    session = db.session
    before = provenance(session)
    first = export_records(session)
    rows = records_csv(first)
    assert list(rows[0]) == list(RECORD_COLUMNS)
    assert len([r for r in rows if r["link_rule"] != CLAIMS_ONLY]) == len(before["records"])
    counts = restore(first)
    assert counts == {"data_sources": len(before["sources"]),
                      "organizations": len(before["organizations"]),
                      "centers": len(before["centers"]), "records": len(before["records"]),
                      "claims": len(before["claims"]),
                      "designations": len(before["designations"])}
    after = provenance(session)
    for key in before:
        assert after[key] == before[key], key
    assert export_records(session) == first
    # resolving again changes nothing: the restore resolved every center
    assert not any(resolve_center(session, c) for c in session.scalars(sa.select(Center)))
    # the id sequences moved past the restored ids: a new import adds without collision
    top = max(c[0] for c in before["centers"])
    import_file(b"name,city,country\nNew Clinic After Restore,Oslo,NO\n", source="later")
    new = session.scalar(sa.select(Center).where(Center.name == "New Clinic After Restore"))
    assert new.id > top and len(new.records) == 1


def test_claims_of_sources_without_a_record_get_rows_of_their_own(directory):
    rows = records_csv(export_records(db.session))
    claims_only = [r for r in rows if r["link_rule"] == CLAIMS_ONLY]
    sources = {r["source"] for r in claims_only}
    assert sources == {"admin", "cms-pos", "cms-oqr"}
    for r in claims_only:
        assert r["given"] == "" and r["name"] == "" and (r["claims"] or r["designations"])
    admin = next(r for r in claims_only if r["source"] == "admin")
    assert json.loads(admin["claims"]) == [["surgery", "reported", None, "=confirmed"]]
    total = sum(len(json.loads(r["claims"] or "[]")) for r in rows)
    assert total == db.session.scalar(sa.select(sa.func.count(CenterModality.id)))


def test_absent_fields_stay_absent_and_values_stay_exact(directory):
    session = db.session
    center = directory
    # a record with an empty string, an integer latitude and a formula-looking text: none
    # of them survive a plain cell, so they travel in the row's exact cell
    record = next(r for r in center.records if r.source == "state-list")
    values = json.loads(record.values)
    values.update(description="", email="'=not a formula", website=None)
    record.values = json.dumps(values)
    resolve_center(session, center)
    session.commit()
    cid = center.id
    expected = {r.source: json.loads(r.values) for r in center.records}
    assert set(expected["editor"]) == {"phone"}
    assert "website" not in json.loads(next(r.values for r in center.records
                                            if r.source == "cms-hgi"))
    first = export_records(session)
    row = next(r for r in records_csv(first) if r["source"] == "state-list"
               and r["center_id"] == str(cid))
    assert json.loads(row["exact"]) == {"description": "", "email": "'=not a formula"}
    assert row["description"] == row["email"] == "" and row["website"] == ""
    assert "website" in row["given"].split(";") and "kind" not in row["given"].split(";")
    restore(first)
    restored = session.get(Center, cid)
    assert {r.source: json.loads(r.values) for r in restored.records} == expected
    assert export_records(session) == first


def test_formulas_are_neutralised_and_come_back(directory):
    data = export_records(db.session)
    rows = records_csv(data)
    formula = [r for r in rows if r["name"].startswith("'=")]
    assert formula and all(r["name"][1] == "=" for r in formula)
    assert all(not r["longitude"].startswith("'") for r in rows)
    sources = zipfile.ZipFile(io.BytesIO(data)).read("data_sources.csv").decode()
    assert "'-State list" in sources
    names = set(db.session.scalars(sa.select(Center.name)))
    restore(data)
    assert set(db.session.scalars(sa.select(Center.name))) == names
    assert db.session.get(DataSource, "state-list").attribution == "-State list"
    assert db.session.get(DataSource, "state-list").note == ""


def test_import_into_a_non_empty_database_is_refused(directory):
    data = export_records(db.session)
    before = provenance(db.session)
    with pytest.raises(RecordsError, match=r"not empty \(.*center: \d+ rows"):
        import_records(db.session, data)
    db.session.rollback()
    assert provenance(db.session) == before


@pytest.mark.parametrize("damage, message", [
    (lambda files: {"x.txt": b"hello"}, "the zip has no manifest.json"),
    (lambda files: {**files, RECORDS_CSV: files[RECORDS_CSV].replace(b"given,", b"giv,", 1)},
     "missing given; unexpected giv"),
    (lambda files: {**files, RECORDS_CSV: files[RECORDS_CSV].replace(
        b"\r\n", b"\r\nxx,", 2).replace(b"\r\nxx,", b"\r\n", 1)}, r"line 3:"),
    (lambda files: {**files, RECORDS_CSV: files[RECORDS_CSV].rsplit(b"\r\n", 2)[0]
                    + b"\r\n"}, "incomplete or was edited"),
    (lambda files: {**files, "manifest.json": b'{"format": "other"}'}, "does not say format"),
    (lambda files: {**files, RECORDS_CSV: re.sub(rb"\r\n\d+,", b"\r\nx,",
                                                 files[RECORDS_CSV], count=1)},
     "line 2: column center_id: 'x' cannot be read"),
    (lambda files: {**files, RECORDS_CSV: files[RECORDS_CSV].replace(
        b'[[""chemotherapy"",""reported""', b'[[""chemotherapy"",""rumoured""', 1)},
     r"column claims: each item must be \[slug, provenance"),
    # values no import would store (a breaker restored latitude inf: its page was a 500)
    (lambda files: {**files, RECORDS_CSV: files[RECORDS_CSV].replace(
        b",hospital,", b",spaceship,", 1)}, "column kind: 'spaceship' is not one of"),
    (lambda files: {**files, RECORDS_CSV: re.sub(
        rb",(-?\d+\.\d+),(postal_code|rooftop|city),", rb",\1,perfect,",
        files[RECORDS_CSV], count=1)},
     "column geocode_precision: 'perfect' is not one of"),
    (lambda files: {**files, RECORDS_CSV: re.sub(
        rb",-?\d+\.\d+,(-?\d+\.\d+),(postal_code|rooftop|city),", rb",inf,\1,\2,",
        files[RECORDS_CSV], count=1)}, "column latitude: inf is not a valid latitude"),
])
def test_malformed_files_are_refused_with_a_reason(directory, damage, message):
    data = export_records(db.session)
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        files = {n: zf.read(n) for n in zf.namelist()}
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for name, content in damage(files).items():
            zf.writestr(name, content)
    db.session.remove()
    empty_database()
    with pytest.raises(RecordsError, match=message):
        import_records(db.session, buffer.getvalue())
    db.session.rollback()
    with pytest.raises(RecordsError, match="not a zip"):
        import_records(db.session, b"external_id,name\n1,x\n")
    db.session.rollback()
    assert db.session.scalar(sa.select(sa.func.count(Center.id))) == 0


def test_commands_export_and_import_records(app, directory, tmp_path):
    runner = app.test_cli_runner()
    path = tmp_path / "records.zip"
    result = runner.invoke(args=["export-centers", str(path), "--format", "records"])
    assert result.exit_code == 0, result.output
    assert path.read_bytes() == export_records(db.session)
    refused = runner.invoke(args=["import-records", str(path)])
    assert refused.exit_code == 2
    assert "not empty" in refused.output and len(refused.output.strip().splitlines()) == 1
    before = provenance(db.session)
    fresh_database()
    result = runner.invoke(args=["import-records", str(path)])
    assert result.exit_code == 0, result.output
    assert "restored" in result.output
    db.session.expire_all()
    assert provenance(db.session) == before
    bad = tmp_path / "bad.zip"
    bad.write_bytes(b"not a zip")
    db.session.remove()
    empty_database()
    result = runner.invoke(args=["import-records", str(bad)])
    assert result.exit_code == 2 and "not a zip" in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert runner.invoke(args=["export-centers", "-", "--format", "records"]).exit_code == 2


def test_centers_without_records_come_back_as_they_were(make_center):
    """Centers made before source records existed hold only their columns: they travel in
    their center cell (a center-only row, or their first claims-only row)."""
    session = db.session
    bare = make_center("Bare Clinic", 59.9, 10.7, city="Oslo", country="NO",
                       phone="+4722000000", kind="clinic")
    claimed = make_center("Claimed Clinic", 60.1, 10.8, city="Oslo", country="NO",
                          modalities=["chemotherapy"], source="old")
    session.execute(sa.delete(SourceRecord))
    session.commit()
    session.expire_all()
    before = provenance(session)
    data = export_records(session)
    rows = {r["center_id"]: r for r in records_csv(data)}
    assert rows[str(bare.id)]["link_rule"] == "center-only"
    assert rows[str(claimed.id)]["link_rule"] == CLAIMS_ONLY
    assert json.loads(rows[str(bare.id)]["center"])["fields"]["phone"] == "+4722000000"
    restore(data)
    assert provenance(session) == before
    assert export_records(session) == data


def test_an_organization_only_a_record_names_gets_a_new_id(directory, import_file):
    """A record naming a health system that organizations.csv lacks (an edited file): the
    restore adds it after the restored ids (PostgreSQL's sequence is moved first)."""
    cid = db.session.scalar(sa.select(SourceRecord.center_id)
                            .where(SourceRecord.external_id == "AL-1"))
    data = export_records(db.session)
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        files = {n: zf.read(n) for n in zf.namelist()}
    assert files[RECORDS_CSV].count(b",Southeast Health,") == 1
    files[RECORDS_CSV] = files[RECORDS_CSV].replace(b",Southeast Health,", b",Brand New Health,")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for name, content in files.items():
            zf.writestr(name, content)
    restore(buffer.getvalue())
    ids = dict(db.session.execute(sa.select(Organization.name, Organization.id)).all())
    assert set(ids) == {"Southeast Health", "Brand New Health"}
    assert ids["Brand New Health"] > ids["Southeast Health"]
    assert db.session.get(Center, cid).organization.name == "Brand New Health"
    import_file(b"name,city,country,organization\nLater Clinic,Oslo,NO,Later Health\n",
                source="later")
    assert db.session.scalar(sa.select(sa.func.count(Organization.id))) == 3
