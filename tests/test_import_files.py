"""Issue 15, items 2, 3 and 5: HSDS packages that cannot be read are clear errors and large
ones are refused by their limits; files are told apart by content (Excel workbooks read,
other kinds refused by name); coordinates that contradict the row's address are not used."""

from __future__ import annotations

import datetime as dt
import html
import io
import json
import zipfile

import pytest
import sqlalchemy as sa

from directory.extensions import db
from directory.importer import FileError, run_import
from directory.models import Center, ImportRun


def zip_of(files: dict[str, str | bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, content in files.items():
            zf.writestr(name, content)
    return buffer.getvalue()


LOCATIONS = "id,name,latitude,longitude\nl1,Harbor Oncology,42.36,-71.06\n"
ADDRESSES = "id,location_id,address_1,city,state_province,postal_code,country\n" \
            "a1,l1,1 Main St,Boston,MA,02115,US\n"
BROKEN_PACKAGES = {
    "not JSON": ({"datapackage.json": "{not json", "locations.csv": LOCATIONS},
                 "datapackage.json is not JSON"),
    "path not a string": ({"datapackage.json": json.dumps(
        {"resources": [{"name": "location", "path": 5}]}), "locations.csv": LOCATIONS},
        "resource 1 has a path that is not a file name"),
    "top-level array": ({"datapackage.json": "[1, 2]", "locations.csv": LOCATIONS},
                        "must be a JSON object"),
    "resources not a list": ({"datapackage.json": '{"resources": "locations.csv"}',
                              "locations.csv": LOCATIONS}, "'resources' must be a list"),
    "locations without id": ({"locations.csv": "name,latitude,longitude\nA,1,2\n"},
                             "locations.csv has no 'id' column"),
    "phones without number": ({"locations.csv": LOCATIONS,
                               "phones.csv": "id,location_id\np1,l1\n"},
                              "phones.csv has no 'number' column"),
    "no locations table": ({"datapackage.json": '{"resources": []}'},
                           "no locations table"),
    "not UTF-8": ({"locations.csv": "id,name\nl1,Caf\xe9\n".encode("latin-1")},
                  "not UTF-8"),
}


@pytest.mark.parametrize("case", BROKEN_PACKAGES, ids=list(BROKEN_PACKAGES))
def test_broken_hsds_packages_are_file_errors(app, geocoder, case):
    files, message = BROKEN_PACKAGES[case]
    with pytest.raises(FileError, match=message):
        run_import(db.session, zip_of(files), filename="p.zip", geocoder=geocoder)
    db.session.rollback()


@pytest.mark.parametrize("case", ["not JSON", "path not a string", "top-level array",
                                  "locations without id"])
def test_broken_hsds_packages_cli_exit_2_with_one_line(runner, tmp_path, case):
    path = tmp_path / "package.zip"
    path.write_bytes(zip_of(BROKEN_PACKAGES[case][0]))
    result = runner.invoke(args=["import-centers", str(path)])
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and BROKEN_PACKAGES[case][1] in lines[0], result.output
    assert "Traceback" not in result.output


def login(client, app):
    from directory.web.auth import upsert_user

    upsert_user(db.session, "admin@example.org", "correct horse battery", "admin")
    db.session.commit()
    response = client.post("/admin/login", data={"email": "admin@example.org",
                                                 "password": "correct horse battery"})
    assert response.status_code in (302, 303), response.status_code


def upload(client, data: bytes, filename: str, **fields):
    response = client.post("/admin/imports/new", data={
        "file": (io.BytesIO(data), filename), "format": "auto", **fields},
        content_type="multipart/form-data")
    assert response.status_code in (302, 303), response.get_data(as_text=True)[:500]
    return response.headers["Location"]


@pytest.mark.parametrize("case", ["not JSON", "path not a string", "top-level array",
                                  "locations without id"])
def test_broken_hsds_packages_are_a_400_page(client, app, case):
    login(client, app)
    preview = upload(client, zip_of(BROKEN_PACKAGES[case][0]), "package.zip")
    response = client.get(preview)
    assert response.status_code == 400
    assert BROKEN_PACKAGES[case][1] in html.unescape(response.get_data(as_text=True))


def test_damaged_hsds_zip_is_a_file_error(app, geocoder):
    """A member whose compressed bytes are damaged (zlib.error) or cut short."""
    data = bytearray(zip_of({"locations.csv": "id,name\n" + "l1,A\n" * 5000}))
    for i in range(60, 90):
        data[i] ^= 0xFF
    with pytest.raises(FileError, match="the zip cannot be read"):
        run_import(db.session, bytes(data), filename="p.zip", geocoder=geocoder)
    db.session.rollback()


def test_hsds_package_over_the_row_limit_is_refused_naming_it(app, geocoder, monkeypatch):
    """A generated package one location over the cap (the cap lowered for the test; the
    real one is 200,000): refused while reading, the limit named."""
    from directory.exchange import hsds_read

    monkeypatch.setattr(hsds_read, "MAX_LOCATIONS", 500)
    rows = "".join(f"l{i},Center {i},42.{i:04d},-71.06\n" for i in range(501))
    data = zip_of({"locations.csv": "id,name,latitude,longitude\n" + rows})
    with pytest.raises(FileError, match="more than 500 locations"):
        run_import(db.session, data, filename="big.zip", geocoder=geocoder)
    db.session.rollback()
    monkeypatch.setattr(hsds_read, "MAX_ROWS", 300)
    with pytest.raises(FileError, match="more than 300 rows"):
        run_import(db.session, data, filename="big.zip", geocoder=geocoder)
    db.session.rollback()
    monkeypatch.setattr(hsds_read, "MAX_ROWS", 10_000)
    monkeypatch.setattr(hsds_read, "MAX_KEPT_CHARS", 1_000)
    addresses = "".join(f"a{i},l{i},{i} Long Street Name,Boston,MA,02115,US\n"
                        for i in range(100))
    with pytest.raises(FileError, match="more than 1,000 characters"):
        run_import(db.session, zip_of({"locations.csv": "id,name\nl1,A\n",
                                       "addresses.csv": ADDRESSES.splitlines()[0] + "\n"
                                       + addresses}), filename="wide.zip",
                   geocoder=geocoder)
    db.session.rollback()


def test_large_generated_hsds_zip_is_refused_by_its_limit(app, geocoder):
    """About 260k rows in a zip of a few MB that passes the zip-bomb checks: refused at the
    real limit of 200,000 locations, with nothing written."""
    from directory.exchange.hsds_read import MAX_LOCATIONS

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        with zf.open("locations.csv", "w") as out:
            out.write(b"id,name,latitude,longitude\n")
            for i in range(MAX_LOCATIONS + 60_000):
                out.write(b"loc-%d,Example Center %d,42.%d,-71.%d\n" % (i, i, i % 9999,
                                                                        i % 9973))
    data = buffer.getvalue()
    assert len(data) < 10 * 1024 * 1024
    with pytest.raises(FileError, match=f"more than {MAX_LOCATIONS:,} locations"):
        run_import(db.session, data, filename="huge.zip", geocoder=geocoder)
    db.session.rollback()
    assert db.session.scalar(sa.select(sa.func.count(Center.id))) == 0


def test_hsds_package_reads_addresses_and_services(import_file):
    data = zip_of({"locations.csv": LOCATIONS, "addresses.csv": ADDRESSES,
                   "services.csv": "id,organization_id,name,status\ns1,o1,Chemotherapy,active\n",
                   "service_at_location.csv": "id,service_id,location_id\nsl1,s1,l1\n",
                   "phones.csv": "id,location_id,number\np1,l1,+16175550100\n"})
    result = import_file(data, filename="p.zip")
    assert result.added == 1 and result.format == "hsds"
    center = db.session.scalar(sa.select(Center))
    assert (center.city, center.postal_code, center.phone) == ("Boston", "02115",
                                                               "+16175550100")
    assert [cm.modality.slug for cm in center.modalities] == ["chemotherapy"]


# -- item 3: file types by content ----------------------------------------------------

def workbook_bytes(sheets: dict[str, list[list]], formats: dict | None = None) -> bytes:
    """An .xlsx written by openpyxl: ``{sheet: rows}``; ``formats``: ``{(sheet, cell):
    number format}``."""
    from openpyxl import Workbook

    wb = Workbook()
    wb.remove(wb.active)
    for name, rows in sheets.items():
        ws = wb.create_sheet(name)
        for row in rows:
            ws.append(row)
    for (name, cell), number_format in (formats or {}).items():
        wb[name][cell].number_format = number_format
    buffer = io.BytesIO()
    wb.save(buffer)
    return buffer.getvalue()


HEADER = ["name", "city", "state", "zip", "country", "latitude", "longitude", "ccn",
          "verified"]


def test_xlsx_renamed_csv_is_read_as_a_workbook(import_file):
    """A real workbook named .csv (it was read as an empty HSDS package: 0 rows, exit 0)."""
    data = workbook_bytes({"Notes": [], "Centers": [
        HEADER,
        ["Harbor Oncology", "Boston", "MA", 2115, "US", 42.3601, -71.0589, "220071",
         dt.datetime(2026, 3, 1)],
        ["Valley Cancer Center", "Holtsville", "NY", 501, "US", None, None, "330001",
         dt.datetime(2026, 3, 1)],
        [],
        ["Lung Clinic Denver", "Denver", "CO", "80204", "US", 39.7392, -104.9903, "060001",
         None]]}, {("Centers", "D3"): "00000"})
    result = import_file(data, filename="centers.csv", commit=True)
    assert (result.rows, result.added, result.rejected) == (3, 3, 0)
    assert result.encoding == "xlsx" and result.sheet == "Centers"
    centers = {c.name: c for c in db.session.scalars(sa.select(Center))}
    assert centers["Harbor Oncology"].postal_code == "02115"  # number 2115, ZIP repair
    assert centers["Valley Cancer Center"].postal_code == "00501"  # "00000" format
    assert (centers["Harbor Oncology"].latitude, centers["Harbor Oncology"].longitude) == \
        (42.3601, -71.0589)
    assert [i.line for i in result.warnings if i.column == "zip"] == [2]
    # Rows keep their sheet row numbers (the blank row 4 is skipped, Denver is row 5).
    assert {i.line for i in result.issues} <= {1, 2, 3, 5}


def test_xlsx_cells_as_typed():
    from directory.importer.workbook import read_workbook

    data = workbook_bytes({"S": [
        ["ccn", "zip4", "count", "ratio", "date", "when", "flag", "big"],
        ["050625", 21151234, 3.0, 0.1 + 0.2, dt.date(2026, 3, 1),
         dt.datetime(2026, 3, 1, 14, 30), True, 6175550100]]}, {("S", "B2"): "00000\\-0000"})
    sheet = read_workbook(data)
    assert sheet.rows[0].cells == ["050625", "02115-1234", "3", "0.3", "2026-03-01",
                                   "2026-03-01 14:30:00", "TRUE", "6175550100"]


def test_xlsx_formulas_without_saved_values_are_named(import_file):
    """openpyxl and pandas write formulas without their values; read as saved they are
    empty, which the import says (with how many cells) instead of dropping silently.
    A workbook whose formulas have saved values (as Excel writes them) says nothing."""
    rows = [["name", "city", "country", "phone"],
            ["Harbor Oncology", "Boston", "US", '="617"&"5550100"'],
            ["Clinique du Parc", "Lyon", "FR", "=A2"], ["Plain", "Paris", "FR", "+33 1"]]
    data = workbook_bytes({"S": rows, "Other": [["x"], ["=1+1"]]})
    result = import_file(data, filename="list.xlsx", dry_run=True)
    notes = [i.message for i in result.warnings if "formula" in i.message]
    assert len(notes) == 1 and "2 cell(s) of sheet 'S' hold a formula whose value was " \
        "never saved" in notes[0], notes
    assert result.added == 3
    excel_like = workbook_bytes({"S": [["name", "city", "country"],
                                       ["Harbor Oncology", "Boston", "US"]]})
    result = import_file(excel_like, filename="list.xlsx", dry_run=True)
    assert not [i for i in result.warnings if "formula" in i.message]


def test_unsaved_formula_count_reads_the_sheet_xml():
    from directory.importer.workbook import _UNSAVED_FORMULA

    xml = (b'<c r="A1"><f>1+1</f><v>2</v></c><c r="A2"><f>1+1</f><v /></c>'
           b'<c r="A3"><f>1+1</f></c><c r="A4"><f t="shared" si="0"/></c>'
           b'<c r="A5"><f t="shared" si="0"/><v>3</v></c><c r="A6" t="str"><f>B1</f>'
           b'<v></v></c><c r="A7"><v>5</v></c>')
    assert len(_UNSAVED_FORMULA.findall(xml)) == 4


def test_xlsx_sheet_choice_and_note(import_file):
    rows = [["name", "city", "country"], ["Harbor Oncology", "Boston", "US"]]
    other = [["name", "city", "country"], ["Clinique du Parc", "Lyon", "FR"]]
    data = workbook_bytes({"Empty": [], "US": rows, "France": other})
    result = import_file(data, filename="list.xlsx", dry_run=True)
    assert result.sheet == "US"
    assert any("sheet 'US' was read" in i.message and "'France'" in i.message
               for i in result.warnings)
    for chosen in ("France", "3", "france"):
        result = import_file(data, filename="list.xlsx", dry_run=True, sheet=chosen)
        assert result.sheet == "France" and result.added == 1
    with pytest.raises(FileError, match="no sheet 'Germany'; its sheets: 'Empty', 'US'"):
        import_file(data, filename="list.xlsx", dry_run=True, sheet="Germany")


def test_cli_imports_a_workbook_sheet(runner, tmp_path):
    path = tmp_path / "list.xlsx"
    path.write_bytes(workbook_bytes({"A": [["name", "city", "country"], ["X", "Boston", "US"]],
                                     "B": [["name", "city", "country"],
                                           ["Clinique du Parc", "Lyon", "FR"]]}))
    result = runner.invoke(args=["import-centers", str(path), "--sheet", "B"])
    assert result.exit_code == 0, result.output
    assert "sheet 'B' of the workbook" in result.output
    assert db.session.scalar(sa.select(Center.city)) == "Lyon"


def test_cli_refuses_a_sheet_for_a_csv_and_a_mapping_of_a_missing_column(runner, tmp_path):
    """Options that would be ignored are refused before anything is written: ``--sheet``
    on a CSV, and ``--mapping`` of a column the file does not have (a typo would leave
    the column unread)."""
    path = tmp_path / "list.csv"
    path.write_text("Hospital,city,country\nClinique du Parc,Lyon,FR\n", encoding="utf-8")
    result = runner.invoke(args=["import-centers", str(path), "--sheet", "B"])
    assert result.exit_code == 2 and "is a CSV (text) file, not an Excel workbook" \
        in result.output, result.output
    result = runner.invoke(args=["import-centers", str(path), "--mapping", "Hosptal=name"])
    assert result.exit_code == 2, result.output
    assert "names 'Hosptal', which the file's header does not have; its columns: " \
        "Hospital, city, country" in result.output
    assert db.session.scalar(sa.select(sa.func.count(Center.id))) == 0
    result = runner.invoke(args=["import-centers", str(path), "--mapping", "hospital=name"])
    assert result.exit_code == 0, result.output  # matched as the header is (folded)
    assert db.session.scalar(sa.select(Center.name)) == "Clinique du Parc"


def test_an_explicit_mapping_wins_over_a_header_that_names_the_same_field(runner, tmp_path):
    """``--mapping "Hospital=name"`` beside a column headed ``name``: the admin's column is
    the name (the other is ignored, with a warning), not silently the other way round."""
    path = tmp_path / "list.csv"
    path.write_text("name,Hospital,city,country\nCode 17,Clinique du Parc,Lyon,FR\n",
                    encoding="utf-8")
    result = runner.invoke(args=["import-centers", str(path), "--mapping", "Hospital=name"])
    assert result.exit_code == 0, result.output
    assert "ignored column(s): name" in result.output
    assert db.session.scalar(sa.select(Center.name)) == "Clinique du Parc"


def test_cli_says_a_folder_is_a_folder(runner, tmp_path):
    folder = tmp_path / "package"
    folder.mkdir()
    (folder / "notes.txt").write_text("hello", encoding="utf-8")
    result = runner.invoke(args=["import-centers", str(folder)])
    assert result.exit_code == 2
    assert "(a folder: its files were read as one HSDS package zip)" in result.output


def ods_bytes() -> bytes:
    return zip_of({"mimetype": "application/vnd.oasis.opendocument.spreadsheet",
                   "content.xml": "<office:document-content/>"})


NOT_TABLES = {
    "pdf": (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\n", "a PDF document"),
    "png": (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(40), "a PNG image"),
    "jpeg": (b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(40), "a JPEG image"),
    "xls": (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(600), "Excel 97-2003"),
    "ods": (None, "an OpenDocument spreadsheet"),
    "gzip": (b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03" + bytes(40), "a gzip archive"),
    "docx": (None, "a Word document"),
    "zip of other files": (None, "not an Open Referral HSDS package"),
    "html": (b"<!DOCTYPE html><html><body><table></table></body></html>", "a web page"),
}


@pytest.mark.parametrize("case", NOT_TABLES, ids=list(NOT_TABLES))
def test_files_that_are_not_tables_are_refused_by_name(app, geocoder, client, case):
    data, what = NOT_TABLES[case]
    if case == "ods":
        data = ods_bytes()
    elif case == "docx":
        data = zip_of({"[Content_Types].xml": "<Types/>", "word/document.xml": "<w/>"})
    elif case == "zip of other files":
        data = zip_of({"hospitals.pdf": "x", "readme.txt": "y"})
    with pytest.raises(FileError, match=what):
        run_import(db.session, data, filename="centers.csv", geocoder=geocoder)
    db.session.rollback()
    login(client, app)
    response = client.get(upload(client, data, "centers.csv"))
    assert response.status_code == 400 and what in html.unescape(response.get_data(as_text=True))
    assert db.session.scalar(sa.select(sa.func.count(ImportRun.id))) == 0


def test_text_starting_like_magic_bytes_is_still_csv(import_file):
    """filetype reads "BM" as a bitmap and "ID3" as an MP3: text is never asked."""
    result = import_file(b"BMI Hospital,city,country\nx,Boston,US\n", filename="a.csv",
                         dry_run=True, mapping={"BMI Hospital": "name"})
    assert result.rows == 1


# -- item 5: coordinates that contradict the address ----------------------------------

CONTRADICTING = (b"name,city,state,zip,country,latitude,longitude\n"
                 b"Denver Health,Denver,CO,80204,US,39.7392,104.9903\n"
                 b"Tiny Clinic,Boston,MA,02115,US,5e-324,-5e-324\n"
                 b"Paris Regional,Paris,TX,10001,US,,\n"
                 b"Lyon Sud,Lyon,,,FR,45.75,4.85\n")


def test_coordinates_far_from_the_address_are_not_used(import_file):
    result = import_file(CONTRADICTING, filename="c.csv")
    assert result.rejected == 0 and result.added == 4
    centers = {c.name: c for c in db.session.scalars(sa.select(Center))}
    denver = centers["Denver Health"]
    assert denver.geocode_precision == "postal_code"
    assert 39 < denver.latitude < 40.5 and -105.5 < denver.longitude < -104.5
    warning = next(i for i in result.warnings if i.line == 2)
    assert warning.column == "latitude" and "39.7392, 104.9903" in warning.message
    assert "not used" in warning.message
    tiny = centers["Tiny Clinic"]
    assert tiny.geocode_precision == "postal_code" and 42 < tiny.latitude < 43
    paris = centers["Paris Regional"]  # ZIP 10001 is in New York: placed from Paris, TX
    assert paris.geocode_precision == "city"
    assert 33 < paris.latitude < 34 and -96 < paris.longitude < -95
    assert any(i.line == 4 and i.column == "zip" and "New York" in i.message
               for i in result.warnings)
    lyon = centers["Lyon Sud"]
    assert (lyon.latitude, lyon.longitude, lyon.geocode_precision) == (45.75, 4.85, "rooftop")


def test_admin_can_confirm_the_file_coordinates(import_file):
    result = import_file(CONTRADICTING, filename="c.csv", keep_coordinates=True)
    denver = db.session.scalar(sa.select(Center).where(Center.name == "Denver Health"))
    assert (denver.latitude, denver.longitude, denver.geocode_precision) == \
        (39.7392, 104.9903, "rooftop")
    assert any(i.line == 2 and "kept, as confirmed" in i.message for i in result.warnings)


def test_coordinates_in_another_country_than_the_row(import_file):
    """A row with only a country and coordinates in another country: not used (nothing
    finer to place it by, so no coordinates); a point near the border stays."""
    data = (b"name,country,latitude,longitude\n"
            b"Sign Lost,US,39.7392,104.9903\n"
            b"El Paso Border Clinic,US,31.7587,-106.4869\n"
            b"Poste de Sante,SN,-13.6907727,16.0039161\n")
    result = import_file(data, filename="c.csv")
    centers = {c.name: c for c in db.session.scalars(sa.select(Center))}
    assert centers["Sign Lost"].latitude is None
    assert any(i.line == 2 and "not in US" in i.message for i in result.warnings)
    assert centers["El Paso Border Clinic"].latitude == 31.7587
    assert centers["Poste de Sante"].latitude is None  # in Angola; swapped, in Senegal
    assert any(i.line == 4 and "swapped" in i.message for i in result.warnings)


def test_same_named_city_elsewhere_keeps_the_coordinates(import_file):
    """No state: "Springfield" resolves to the most populous one; coordinates in
    Springfield, IL are in a place of that name and are kept."""
    data = (b"name,city,country,latitude,longitude\n"
            b"Memorial Springfield,Springfield,US,39.8017,-89.6436\n")
    result = import_file(data, filename="c.csv")
    center = db.session.scalar(sa.select(Center))
    assert (center.latitude, center.geocode_precision) == (39.8017, "rooftop")
    assert not result.warnings


def test_preview_option_keeps_the_coordinates(client, app):
    login(client, app)
    preview = upload(client, CONTRADICTING, "c.csv")
    page = html.unescape(client.get(preview).get_data(as_text=True))
    assert "Keep the file's coordinates even where they contradict the address" in page
    assert "not used" in page
    client.post(preview, data={"action": "options", "keep_coordinates": "1"})
    page = client.get(preview).get_data(as_text=True)
    assert "kept, as confirmed" in page
    response = client.post(preview, data={"action": "confirm"})
    assert response.status_code in (302, 303)
    denver = db.session.scalar(sa.select(Center).where(Center.name == "Denver Health"))
    assert denver.longitude == 104.9903


def test_preview_sheet_field(client, app):
    login(client, app)
    data = workbook_bytes({"A": [["name", "city", "country"], ["X", "Boston", "US"]],
                           "B": [["name", "city", "country"], ["Y", "Lyon", "FR"]]})
    preview = upload(client, data, "list.xlsx", sheet="B")
    page = client.get(preview).get_data(as_text=True)
    assert "<dt>Sheet</dt><dd>B</dd>" in page
    client.post(preview, data={"action": "options", "sheet": "A"})
    assert "<dt>Sheet</dt><dd>A</dd>" in client.get(preview).get_data(as_text=True)


def test_cli_options_that_cannot_work_stop_before_anything_is_written(runner, tmp_path):
    path = tmp_path / "list.csv"
    path.write_text("name,city,country\nLakeside Hospital,Boston,US\n", encoding="utf-8")
    missing = runner.invoke(args=["import-centers", str(path), "--errors-out",
                                  str(tmp_path / "no" / "such" / "x.csv")])
    future = runner.invoke(args=["import-centers", str(path), "--as-of", "2999-01-01"])
    for result, said in ((missing, "does not exist"), (future, "in the future")):
        assert result.exit_code == 2 and said in result.output, result.output
        assert "Traceback" not in result.output
    assert db.session.scalar(sa.select(sa.func.count(Center.id))) == 0
