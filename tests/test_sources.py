"""One center, many sources (issue 13): source records, precedence, linking, curation that
never loses data. Each test reproduces a fault a breaker found; on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import threading

import pytest
import sqlalchemy as sa

from directory.curation.merge import UnmergeError, merge_centers, unmerge_center
from directory.curation.records import set_editor_values
from directory.curation.revert import revert_import
from directory.extensions import db
from directory.models import Center, ImportRun, LinkReview, SourceRecord

HEADER = "external_id,name,address,city,region,postal_code,country,latitude,longitude"


def csv_bytes(header: str, *rows: str) -> bytes:
    return ("\n".join([header, *rows]) + "\n").encode()


def center_of(source: str, external_id: str) -> Center:
    return db.session.scalar(sa.select(Center).join(SourceRecord).where(
        SourceRecord.source == source, SourceRecord.external_id == external_id))


def origin(center: Center, field: str) -> str | None:
    """The source a shown field came from (the first record's when not listed)."""
    sources = json.loads(center.field_sources or "{}")
    return sources[field]["source"] if field in sources else center.source


def counts() -> tuple[int, int]:
    return (db.session.scalar(sa.select(sa.func.count(Center.id))),
            db.session.scalar(sa.select(sa.func.count(SourceRecord.id))))


FULL = csv_bytes(
    HEADER + ",phone,website,description,modalities",
    "A1,Lakeside Cancer Center,1 Lake St,Boston,MA,02115,US,42.3400,-71.0900,"
    "+16175550100,https://lakeside.example.org,Outpatient infusion,chemotherapy; immunotherapy")


def test_a_missing_column_is_not_an_empty_value(app, import_file):
    """Re-importing a source from a file without phone, website, description and
    modalities columns left all of them (and every claim) wiped; an empty cell clears."""
    import_file(FULL, source="lakes")
    narrow = csv_bytes(HEADER, "A1,Lakeside Cancer Center,1 Lake St,Boston,MA,02115,US,"
                               "42.3400,-71.0900")
    result = import_file(narrow, source="lakes")
    assert (result.added, result.updated) == (0, 0)  # nothing it gives has changed
    c = center_of("lakes", "A1")
    assert c.phone == "+16175550100" and c.website == "https://lakeside.example.org"
    assert c.description == "Outpatient infusion"
    assert {cm.modality.slug for cm in c.modalities} == {"chemotherapy", "immunotherapy"}
    cleared = csv_bytes(HEADER + ",phone", "A1,Lakeside Cancer Center,1 Lake St,Boston,MA,"
                                           "02115,US,42.3400,-71.0900,")
    result = import_file(cleared, source="lakes")
    assert result.updated == 1
    db.session.expire_all()
    c = center_of("lakes", "A1")
    assert c.phone is None and c.website == "https://lakeside.example.org"


def test_an_editors_value_wins_over_later_imports_until_cleared(app, import_file):
    import_file(FULL, source="lakes")
    c = center_of("lakes", "A1")
    set_editor_values(db.session, c, {"phone": "+16175559999", "description": "By hand"})
    db.session.commit()
    changed = FULL.replace(b"+16175550100", b"+16175550111").replace(b"infusion", b"care")
    assert import_file(changed, source="lakes").updated == 1
    db.session.expire_all()
    c = center_of("lakes", "A1")
    assert (c.phone, c.description) == ("+16175559999", "By hand")
    assert origin(c, "phone") == "editor"
    record = next(r for r in c.records if r.source == "lakes")
    assert json.loads(record.values)["phone"] == "+16175550111"  # kept in the record
    set_editor_values(db.session, c, {}, clear=["phone"])
    db.session.commit()
    assert (c.phone, c.description) == ("+16175550111", "By hand")
    assert origin(c, "phone") == "lakes"


def test_a_second_source_links_into_the_center_and_fills_what_it_lacks(app, import_file):
    """CMS-like rows (address, no point, no phone) and HIFLD-like rows (exact point and
    phone) of one hospital become one center showing each field from the best record."""
    import_file(csv_bytes("external_id,name,address,city,region,postal_code,country",
                          "450076,UNIVERSITY OF TEXAS MD ANDERSON CANCER CENTER,"
                          "1515 HOLCOMBE BLVD,HOUSTON,TX,77030,US"),
                source="registry", format="native")
    assert center_of("registry", "450076").geocode_precision == "postal_code"
    result = import_file(csv_bytes(HEADER + ",phone",
                                   "H9,UNIVERSITY OF TEXAS M D ANDERSON CANCER CENTER,"
                                   "1515 HOLCOMBE BOULEVARD,HOUSTON,TX,77030,US,29.7074,"
                                   "-95.3977,(713) 792-2121"), source="points")
    assert (result.added, result.linked) == (0, 1)
    assert counts() == (1, 2)
    c = center_of("points", "H9")
    assert c.id == center_of("registry", "450076").id
    assert c.geocode_precision == "rooftop" and origin(c, "latitude") == "points"
    assert c.phone == "+17137922121" and origin(c, "phone") == "points"
    link = next(r for r in c.records if r.source == "points")
    assert link.link_rule == "address+name" and "1515" in link.link_reason


def test_same_names_in_other_states_and_other_campuses_stay_apart(app, import_file):
    import_file(csv_bytes(HEADER, "S1,Mercy Hospital,100 Main St,Springfield,MO,65801,US,"
                                  "37.2090,-93.2923"), source="one")
    result = import_file(csv_bytes(
        HEADER, "S2,Mercy Hospital,100 Main St,Springfield,IL,62701,US,39.7817,-89.6501",
        "S3,Mercy Hospital South,9000 Far Rd,Springfield,MO,65810,US,37.1000,-93.2900"),
        source="two")
    assert (result.added, result.linked) == (2, 0)
    assert counts() == (3, 3)


def test_pairs_in_between_go_to_the_review_queue_never_merged(app, import_file, admin_client):
    plain = "external_id,name,address,city,region,postal_code,country"
    import_file(csv_bytes(plain, "R1,Lovelace Medical Center,601 Martin Luther King Ave NE,"
                                 "Albuquerque,NM,87102,US"), source="one")
    result = import_file(csv_bytes(plain, "R2,Lovelace Westside Hospital,10501 Golf Course "
                                          "Rd NW,Albuquerque,NM,87114,US"), source="two")
    assert result.linked == 0 and result.review == 1
    review = db.session.scalar(sa.select(LinkReview))
    assert review.status == "open" and counts() == (2, 2)
    page = admin_client.get("/admin/duplicates").get_data(as_text=True)
    assert "Review queue (1)" in page and "Lovelace Westside Hospital" in page


def test_merge_then_revert_of_the_import_keeps_the_merged_center(app, import_file, make_center):
    """Import one center, merge the NCI center (8 claims, 1 designation) into it, revert
    that import: both centers were gone."""
    result = import_file(csv_bytes(HEADER, "X1,Harvard Cancer Hospital,450 Brookline Ave,"
                                           "Boston,MA,02215,US,42.3376,-71.1080"),
                         source="mine")
    nci = make_center("Dana-Farber/Harvard Cancer Center", 42.3376, -71.1080, source="nci",
                      external_id="DF", postal_code="02215", city="Boston",
                      modalities=["chemotherapy", "immunotherapy", "targeted-therapy"])
    keep = center_of("mine", "X1")
    merge_centers(db.session, keep, nci, user="editor@example.org")
    db.session.commit()
    run = db.session.get(ImportRun, result.run_id)
    outcome = revert_import(db.session, run, user="admin@example.org")
    db.session.commit()
    assert outcome.removed == 0
    db.session.expire_all()
    survivor = db.session.get(Center, keep.id)
    assert survivor is not None and survivor.name == "Dana-Farber/Harvard Cancer Center"
    assert {r.source for r in survivor.records} == {"nci"}
    assert len(survivor.modalities) == 3


def test_unmerge_gives_back_the_same_center(app, make_center):
    a = make_center("North Clinic", 40.0, -75.0, source="one", external_id="N1",
                    phone="+12155550100", modalities=["chemotherapy"])
    b = make_center("North Clinic Annex", 40.001, -75.001, source="two", external_id="N2",
                    phone="+12155550199", modalities=["radiation-therapy"])
    a_id, b_id = a.id, b.id
    merge_centers(db.session, a, b, user="e")
    db.session.commit()
    assert db.session.get(Center, b_id) is None
    assert app.test_client().get(f"/centers/{b_id}").headers["Location"].endswith(
        f"/centers/{a_id}")
    api = app.test_client().get(f"/api/v1/centers/{b_id}")
    assert api.status_code == 301 and api.headers["Location"].endswith(
        f"/api/v1/centers/{a_id}")
    unmerge_center(db.session, b_id, user="e")
    db.session.commit()
    db.session.expire_all()
    a, b = db.session.get(Center, a_id), db.session.get(Center, b_id)
    assert (b.name, b.phone, b.source) == ("North Clinic Annex", "+12155550199", "two")
    assert {cm.modality.slug for cm in b.modalities} == {"radiation-therapy"}
    assert {cm.modality.slug for cm in a.modalities} == {"chemotherapy"}
    assert [r.source for r in a.records] == ["one"] and [r.source for r in b.records] == ["two"]
    assert a.name == "North Clinic" and a.alternate_names is None
    with pytest.raises(UnmergeError):
        unmerge_center(db.session, b_id, user="e")


def test_revert_of_an_earlier_import_keeps_what_later_imports_and_editors_did(app,
                                                                              import_file):
    """Import R1, an editor edits the center, import R2 updates it, revert R1: the center
    was deleted ("2 centers removed, 0 restored")."""
    r1 = import_file(FULL, source="lakes")
    c = center_of("lakes", "A1")
    set_editor_values(db.session, c, {"description": "Checked by phone"})
    db.session.commit()
    import_file(FULL.replace(b"+16175550100", b"+16175550111"), source="lakes")
    outcome = revert_import(db.session, db.session.get(ImportRun, r1.run_id), user="a")
    db.session.commit()
    assert outcome.removed == 0 and outcome.skipped
    db.session.expire_all()
    c = center_of("lakes", "A1")
    assert c is not None and c.phone == "+16175550111"
    assert c.description == "Checked by phone"


def test_revert_restores_the_records_an_import_changed(app, import_file):
    import_file(FULL, source="lakes")
    r2 = import_file(FULL.replace(b"+16175550100", b"+16175550111"), source="lakes")
    revert_import(db.session, db.session.get(ImportRun, r2.run_id), user="a")
    db.session.commit()
    db.session.expire_all()
    c = center_of("lakes", "A1")
    assert c.phone == "+16175550100" and counts() == (1, 1)


def test_reverting_a_linking_import_leaves_the_first_center_whole(app, import_file):
    import_file(csv_bytes(HEADER, "B1,Harbor Hospital,10 Pier Rd,Salem,MA,01970,US,"
                                  "42.5195,-70.8967"), source="one")
    second = import_file(csv_bytes(HEADER + ",phone", "P1,HARBOR HOSPITAL,10 Pier Road,"
                                                      "Salem,MA,01970,US,42.5196,-70.8968,"
                                                      "+19785550100"), source="two")
    assert second.linked == 1
    revert_import(db.session, db.session.get(ImportRun, second.run_id), user="a")
    db.session.commit()
    db.session.expire_all()
    c = center_of("one", "B1")
    assert counts() == (1, 1) and c.phone is None and c.field_sources is None
    assert c.latitude == pytest.approx(42.5195)


def test_two_first_imports_of_one_new_source_do_not_fail(app, import_file):
    """Two first imports under one new source name were a 500 on data_source.slug."""
    one = csv_bytes(HEADER, "C1,Cedar Clinic,1 Cedar St,Denver,CO,80202,US,39.75,-104.99")
    import_file(one, source="brand-new")
    result = import_file(one, source="brand-new")
    assert (result.added, result.unchanged) == (0, 1)


@pytest.mark.parametrize("with_ids", [True, False])
def test_overlapping_confirms_at_the_same_moment_make_no_duplicates(app, geocoder, with_ids):
    """Two admins confirm overlapping files (rows 0-59 and 30-89) at the same moment: both
    said "added 60" (120 centers for 90 names), or a 500 on (source, external_id). Imports
    are serialised: the second plans against the first's commit."""
    from directory.importer import run_import

    def rows(lo, hi):
        header = HEADER if with_ids else HEADER.split(",", 1)[1]
        lines = []
        for i in range(lo, hi):
            cells = [f"Overlap Hospital {i}", f"{i} Grid St", "Denver", "CO", "80202", "US",
                     f"{39.70 + i / 1000:.4f}", f"{-104.90 - i / 1000:.4f}"]
            lines.append(",".join(([f"OV{i}"] if with_ids else []) + cells))
        return csv_bytes(header, *lines)

    files, errors, results = [rows(0, 60), rows(30, 90)], [], []
    barrier = threading.Barrier(2)

    def confirm(data):
        with app.app_context():
            try:
                barrier.wait()
                results.append(run_import(db.session, data, filename="f.csv", source="shared",
                                          geocoder=geocoder))
                db.session.commit()
            except Exception as exc:  # noqa: BLE001 - reported below
                db.session.rollback()
                errors.append(exc)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=confirm, args=(f,)) for f in files]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    assert sorted(r.added for r in results) == [30, 60]
    assert counts() == (90, 90)


@pytest.fixture
def admin_client(client):
    from directory.extensions import limiter
    from directory.web.auth import upsert_user

    limiter.reset()
    upsert_user(db.session, "admin@example.org", "correct horse battery", "admin")
    db.session.commit()
    client.post("/admin/login", data={"email": "admin@example.org",
                                       "password": "correct horse battery"})
    return client


def test_another_cms_edition_links_by_ccn_and_its_revert_leaves_centers_as_they_were(
        app, import_file):
    """Reverting the 300-row 2017 CMS edition over the starter data left natural_key stale
    on 89 centers. An edition under its own source slug joins the same centers by CCN (a
    deterministic key, whatever the names became); its revert gives every center back."""
    from tests.conftest import ROOT

    lines = (ROOT / "seeds" / "data" / "cms_hospital_general_information.csv").read_bytes() \
        .decode().splitlines()
    current = "\n".join(lines[:41]) + "\n"
    import_file(current.encode(), source="cms-hgi", format="cms-hgi")

    def state():
        db.session.expire_all()
        return {c.id: (c.name, c.natural_key, c.phone, c.address, c.field_sources,
                       c.alternate_names) for c in db.session.scalars(sa.select(Center))}

    before = state()
    renamed = [lines[0]] + [line.replace(",", " (2017 NAME),", 2).replace(
        " (2017 NAME)", "", 1) for line in lines[1:41]]
    edition = import_file(("\n".join(renamed) + "\n").encode(), source="cms-hgi-2017",
                          format="cms-hgi")
    assert (edition.added, edition.linked) == (0, 40)
    links = db.session.scalars(sa.select(SourceRecord.link_rule).where(
        SourceRecord.source == "cms-hgi-2017")).all()
    assert set(links) == {"key:ccn"}
    assert state() != before  # the 2017 names are alternate names now
    revert_import(db.session, db.session.get(ImportRun, edition.run_id), user="a")
    db.session.commit()
    assert state() == before


def test_a_designated_center_joining_a_hospital_brings_its_inferred_claims(app, import_file):
    """NCI rows have no modalities column: their claims are inferred from the designation,
    and must come along when the row joins its hospital's center."""
    import_file(csv_bytes("external_id,name,address,city,region,postal_code,country",
                          "140088,University of Chicago Medical Center,5841 S Maryland Ave,"
                          "Chicago,IL,60637,US"), source="registry")
    nci = (b"id,name,Street,City,state,Zip_Code,Latitude,Longitude,County,Zip,Country,type,url\n"
           b"9,University of Chicago Comprehensive Cancer Center,5841 South Maryland Avenue,"
           b"Chicago,Illinois,60637,41.7886,-87.6045,Cook County,60637,US,"
           b"Comprehensive Cancer Center,https://cancer.uchicago.edu/\n")
    result = import_file(nci, source="nci", format="nci")
    assert result.linked == 1
    c = center_of("nci", "9")
    assert {(cm.modality.slug, cm.provenance) for cm in c.modalities
            if cm.source == "nci"} >= {("chemotherapy", "inferred"),
                                        ("immunotherapy", "inferred")}
    assert [d.designation.slug for d in c.designations] == ["nci-comprehensive"]
    assert import_file(nci, source="nci", format="nci").unchanged == 1


def test_merge_and_unmerge_through_the_admin_pages(app, make_center, admin_client):
    """The kept center's history lists the centers merged into it, each with an unmerge
    button (a newcomer found the button only on the merged-away center's own history)."""
    keep = make_center("River Clinic", 41.0, -87.0, source="one", external_id="K")
    drop = make_center("River Clinic East", 41.0005, -87.0005, source="two", external_id="D")
    keep_id, drop_id = keep.id, drop.id
    response = admin_client.post("/admin/duplicates/merge",
                                 data={"keep": keep_id, "drop": drop_id})
    assert response.status_code == 302
    history = admin_client.get(f"/admin/centers/{keep_id}/history").get_data(as_text=True)
    assert "Centers merged into this one" in history and f"Unmerge #{drop_id}" in history
    response = admin_client.post(f"/admin/centers/{drop_id}/unmerge")
    assert response.status_code == 302
    db.session.expire_all()
    assert db.session.get(Center, drop_id).name == "River Clinic East"
    history = admin_client.get(f"/admin/centers/{keep_id}/history").get_data(as_text=True)
    assert "Centers merged into this one" not in history
    assert admin_client.post(f"/admin/centers/{drop_id}/unmerge").status_code == 400


@pytest.mark.parametrize("source", ["editor", "stored-center", "claims-only", "   ",
                                    "Upper Case", "x" * 70])
def test_reserved_and_unusable_source_names_are_refused(app, import_file, source):
    """'--source editor' with an external id 'center-1' made every later edit of center 1
    a 500; '--source stored-center' never linked; blank and 70-character names passed."""
    from directory.importer import FileError

    with pytest.raises(FileError, match="source"):
        import_file(FULL, source=source)
    assert counts() == (0, 0)


def test_a_file_without_its_id_column_updates_the_same_records(app, import_file):
    """Re-importing a list without its id column (or with it mapped to 'ignore') added
    every row again as a duplicate."""
    import_file(FULL, source="lakes")
    no_ids = csv_bytes(HEADER.split(",", 1)[1] + ",phone",
                       "Lakeside Cancer Center,1 Lake St,Boston,MA,02115,US,42.3400,-71.0900,"
                       "+16175550122")
    result = import_file(no_ids, source="lakes")
    assert (result.added, result.updated) == (0, 1)
    assert counts() == (1, 1) and center_of("lakes", "A1").phone == "+16175550122"


@pytest.mark.parametrize("keep,drop", [("99999999999999999999", "1"),
                                       ("1", "9223372036854775808"), ("-1", "2")])
def test_merge_of_impossible_ids_is_a_400(app, admin_client, keep, drop):
    response = admin_client.post("/admin/duplicates/merge", data={"keep": keep, "drop": drop})
    assert response.status_code == 400


@pytest.mark.parametrize("q", ["99999999999999999999", "²", "12"])
def test_admin_center_search_takes_any_text(app, admin_client, q):
    assert admin_client.get("/admin/centers", query_string={"q": q}).status_code == 200


@pytest.mark.parametrize("message,expected", [
    ("database is locked", "Another import"),
    ('null value in column "name" of relation "center" violates not-null constraint',
     "refused a value"),
    ("value too long for type character varying(64)", "refused a value"),
    ("connection refused", "not reachable"),
])
def test_database_errors_say_what_happened(message, expected):
    """Every database failure read "not reachable, try again in a minute", also a lock held
    by another import or a value the database refused."""
    from directory.web.errors import database_problem

    assert expected in database_problem(Exception(message))


def test_import_centers_takes_the_dataset_date(app, runner, tmp_path):
    """A breaker's 2023 HIFLD copy imported today was dated today, so its phones beat
    CMS 2025 everywhere: --as-of gives the data's own date."""
    path = tmp_path / "old.csv"
    path.write_bytes(FULL)
    result = runner.invoke(args=["import-centers", str(path), "--source", "old-list",
                                 "--as-of", "2023-05-01"])
    assert result.exit_code == 0, result.output
    record = db.session.scalar(sa.select(SourceRecord).where(SourceRecord.source == "old-list"))
    assert record.dataset_date.isoformat() == "2023-05-01"
    bad = runner.invoke(args=["import-centers", str(path), "--as-of", "May 2023"])
    assert bad.exit_code == 2
