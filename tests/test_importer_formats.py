"""Real-file formats (excerpts of shared/data in tests/data/excerpts), format detection on the
real files' headers, and the ``import-centers`` command."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
import sqlalchemy as sa

from directory.importer.decode import decode_bytes
from directory.importer.formats import detect_format
from directory.importer.read import read_table
from directory.models import Center, CenterModality, ImportRun
from tests.conftest import CASES, DATA

EXCERPTS = DATA / "excerpts"
SHARED = next((p for p in (Path(__file__).resolve().parents[2] / "shared" / "data",
                          Path("/work/shared/data")) if p.exists()),
              Path("/work/shared/data"))
CMS = EXCERPTS / "cms_hgi_excerpt.csv"
CMS_CCNS = {"010001", "010005", "010006", "010011", "010033", "01014F", "050454", "220071",
            "330101", "450068"}


def count(session, model=Center) -> int:
    return session.scalar(sa.select(sa.func.count()).select_from(model))


def by_id(session, source: str) -> dict[str, Center]:
    return {c.external_id: c for c in session.scalars(
        sa.select(Center).where(Center.source == source))}


def claims(center: Center, source: str, provenance: str | None = "reported"
           ) -> dict[str, CenterModality]:
    """The center's claims from ``source`` by modality slug: the reported ones (default),
    the inferred ones, or all (``provenance=None``)."""
    return {cm.modality.slug: cm for cm in center.modalities if cm.source == source
            and provenance in (None, cm.provenance)}


# --- CMS Hospital General Information ---------------------------------------------------

def test_cms_hgi_excerpt(import_file, session):
    result = import_file(CMS)
    assert (result.format, result.source) == ("cms-hgi", "cms-hgi")
    assert (result.added, result.rejected) == (10, 0)
    centers = by_id(session, "cms-hgi")
    assert set(centers) == CMS_CCNS
    assert all(isinstance(k, str) and len(k) == 6 for k in centers)
    first = centers["010001"]
    assert first.name == "Southeast Health Medical Center"
    assert first.address == "1108 Ross Clark Circle"
    assert first.city == "Dothan" and first.region == "US-AL" and first.country == "US"
    assert first.postal_code == "36301"
    assert first.phone == "+13347938701"
    assert first.geocode_precision == "postal_code"
    assert first.latitude == pytest.approx(31.2, abs=0.3)
    assert first.longitude == pytest.approx(-85.4, abs=0.3)
    assert centers["01014F"].name == "Birmingham VA Medical Center"
    assert centers["050454"].name == "UCSF Medical Center"
    for center in centers.values():
        assert center.name != center.name.upper()
        assert center.phone.startswith("+1") and center.phone[1:].isdigit()
        assert center.geocode_precision == "postal_code"
        assert center.latitude is not None


def test_cms_hgi_reimport_is_unchanged(import_file, session):
    import_file(CMS)
    again = import_file(CMS)
    assert (again.added, again.updated, again.unchanged, again.rejected) == (0, 0, 10, 0)
    assert count(session) == 10


def test_cms_hgi_older_edition(import_file, session):
    result = import_file(EXCERPTS / "cms_hgi_old_edition.csv")
    assert result.format == "cms-hgi"
    assert (result.added, result.rejected) == (3, 0)
    assert result.ignored_columns == ["County Name"]
    centers = by_id(session, "cms-hgi")
    assert set(centers) == {"010001", "010005", "01014F"}
    assert centers["010001"].phone == "+13347938701"
    assert centers["010001"].city == "Dothan"
    assert centers["010005"].postal_code == "35957"


def test_cms_ccn_that_lost_its_zero_is_padded(import_file, session):
    """A CCN that went through Excel ("10001") still keys the same center as "010001"."""
    import_file(CMS)
    header = CMS.read_text(encoding="utf-8").splitlines()[:2]
    mangled = (header[0] + "\n" + header[1].replace("010001,", "10001,", 1) + "\n").encode()
    result = import_file(mangled, filename="hgi.csv")
    assert (result.added, result.unchanged) == (0, 1)
    assert "010001" in by_id(session, "cms-hgi") and count(session) == 10


# --- NCI-designated centers -------------------------------------------------------------

def test_nci_excerpt(import_file, session):
    result = import_file(EXCERPTS / "nci_excerpt.csv")
    assert (result.format, result.source) == ("nci", "nci")
    assert (result.added, result.rejected) == (8, 0)
    centers = {c.name: c for c in session.scalars(sa.select(Center))}
    dana = centers["Dana-Farber/Harvard Cancer Center"]
    assert dana.postal_code == "02215"
    assert any(w.line == 6 and "02215" in w.message for w in result.warnings)
    assert centers["Yale Cancer Center at Yale School of Medicine"].postal_code == "06510"
    st_jude = centers["St. Jude Children's Research Hospital, Memphis"]
    assert {cd.designation.slug for cd in st_jude.designations} == {"nci-pediatric"}
    assert claims(st_jude, "nci", None) == {}     # pediatric designation infers nothing
    assert (dana.latitude, dana.longitude) == (42.337593, -71.108279)
    assert dana.geocode_precision == "rooftop"
    assert dana.region == "US-MA" and dana.country == "US"
    assert {cd.designation.slug for cd in dana.designations} == {"nci-comprehensive"}
    mda = centers["University of Texas MD Anderson Cancer Center"]
    assert {cd.designation.slug for cd in mda.designations} == {"nci-comprehensive"}
    assert mda.website == "https://www.mdanderson.org/"
    assert mda.kind == "cancer-center"
    mays = centers["Mays Cancer Center at UT Health San Antonio MD Anderson Cancer Center"]
    assert {cd.designation.slug for cd in mays.designations} == {"nci-clinical"}
    for center in (dana, mda, mays):
        inferred = claims(center, "nci", None)
        assert {"chemotherapy", "radiation-therapy", "immunotherapy"} <= set(inferred)
        assert "surgery" not in inferred  # never inferred (seeds/inferences.toml)
        assert {cm.provenance for cm in inferred.values()} == {"inferred"}
        assert all("designation" in cm.evidence for cm in inferred.values())


def test_nci_reimport_is_unchanged(import_file, session):
    first = import_file(EXCERPTS / "nci_excerpt.csv")
    again = import_file(EXCERPTS / "nci_excerpt.csv")
    assert (again.added, again.updated, again.unchanged) == (0, 0, first.added)


def test_nci_update_keeps_designations(import_file, session):
    """Re-importing a changed NCI row updates it in place (no unique-constraint error)."""
    import_file(EXCERPTS / "nci_excerpt.csv")
    text = (EXCERPTS / "nci_excerpt.csv").read_text(encoding="utf-8")
    changed = text.replace("1515 Holcombe Boulevard", "1515 Holcombe Blvd").encode()
    result = import_file(changed, filename="nci.csv")
    assert result.updated == 1
    mda = session.scalar(sa.select(Center).where(Center.external_id == "59"))
    assert mda.address == "1515 Holcombe Blvd"
    assert {cd.designation.slug for cd in mda.designations} == {"nci-comprehensive"}


# --- modality lists (CMS measures, Provider of Services) ----------------------------------

def test_cms_measures_claims(import_file, session):
    import_file(CMS)
    result = import_file(EXCERPTS / "cms_measures_excerpt.csv")
    assert (result.format, result.source) == ("cms-oqr", "cms-oqr")
    assert result.added == 3 and result.rejected == 0
    assert [(w.line, w.column) for w in result.warnings] == [(20, "facility_id")]
    assert "010024" in result.warnings[0].message
    centers = by_id(session, "cms-hgi")
    uab = claims(centers["010033"], "cms-oqr")
    assert set(uab) == {"external-beam-radiation", "chemotherapy"}
    assert uab["external-beam-radiation"].verified_on == dt.date(2022, 7, 1)
    assert "OP-33" in uab["external-beam-radiation"].evidence
    assert uab["chemotherapy"].verified_on == dt.date(2023, 7, 1)
    assert "OP-35" in uab["chemotherapy"].evidence
    assert {cm.provenance for cm in uab.values()} == {"reported"}
    assert set(claims(centers["010001"], "cms-oqr")) == {"chemotherapy"}
    assert claims(centers["010005"], "cms-oqr", None) == {}
    # OP-35 (outpatient chemotherapy) implies immunotherapy and targeted therapy, inferred
    # with their basis and the chemotherapy claim's date; OP-33 implies nothing.
    inferred = claims(centers["010033"], "cms-oqr", "inferred")
    assert set(inferred) == {"immunotherapy", "targeted-therapy"}
    assert {cm.evidence for cm in inferred.values()} == {
        "inferred: this hospital reports outpatient chemotherapy; confirm with the center"}
    assert {cm.verified_on for cm in inferred.values()} == {dt.date(2023, 7, 1)}
    again = import_file(EXCERPTS / "cms_measures_excerpt.csv")
    assert (again.added, again.updated, again.unchanged) == (0, 0, 3)


def test_cms_pos_claims(import_file, session):
    import_file(CMS)
    result = import_file(EXCERPTS / "cms_pos_excerpt.csv")
    assert (result.format, result.source) == ("cms-pos", "cms-pos")
    unmatched = {w.message.split()[0] for w in result.warnings}
    assert unmatched == {"010039", "010040", "010044", "010045", "010046", "010049", "010055",
                         "010056"}
    assert not CMS_CCNS & unmatched
    centers = by_id(session, "cms-hgi")
    assert set(claims(centers["010001"], "cms-pos")) == {"chemotherapy"}
    assert set(claims(centers["010005"], "cms-pos")) == {"radiation-therapy", "surgery"}
    assert set(claims(centers["050454"], "cms-pos")) == {
        "chemotherapy", "radiation-therapy", "surgery"}
    assert claims(centers["01014F"], "cms-pos") == {}     # no service mask: not reported
    chemo = claims(centers["010001"], "cms-pos")["chemotherapy"]
    assert chemo.verified_on == dt.date(2026, 4, 1)
    assert "Provider of Services" in chemo.evidence
    assert result.added == 8


def test_claims_survive_center_reimport(import_file, session):
    import_file(CMS)
    import_file(EXCERPTS / "cms_measures_excerpt.csv")
    import_file(EXCERPTS / "cms_pos_excerpt.csv")
    again = import_file(CMS)
    assert again.unchanged == 10
    uab = by_id(session, "cms-hgi")["010033"]
    assert set(claims(uab, "cms-oqr")) == {"external-beam-radiation", "chemotherapy"}
    assert set(claims(uab, "cms-pos")) == {"radiation-therapy", "surgery"}


def test_modality_list_update(import_file, session):
    """A newer POS release updates the claims in place (same center, modality, source)."""
    import_file(CMS)
    import_file(EXCERPTS / "cms_pos_excerpt.csv")
    lines = (EXCERPTS / "cms_pos_excerpt.csv").read_text().splitlines()
    row = lines[1].split(",")                     # 010001: chemo 1, radonc 0
    row[6] = "1"
    result = import_file(("\n".join([lines[0], ",".join(row)]) + "\n").encode(),
                         filename="pos.csv")
    assert (result.added, result.updated) == (0, 1)
    assert set(claims(by_id(session, "cms-hgi")["010001"], "cms-pos")) == {
        "chemotherapy", "radiation-therapy"}


# --- NHS Choices (cp1252, ¬) -------------------------------------------------------------------

def test_nhs_excerpt(import_file, session):
    raw = (EXCERPTS / "nhs_excerpt.csv").read_bytes()
    assert b"\x92" in raw and b"\xac" in raw and b"E-2" in raw
    result = import_file(EXCERPTS / "nhs_excerpt.csv")
    assert (result.format, result.encoding, result.delimiter) == ("nhs", "cp1252", "¬")
    assert (result.added, result.rejected) == (9, 0)
    centers = by_id(session, "nhs-choices-2014")
    assert all(c.country == "GB" for c in centers.values())
    brighton = centers["NT205"]
    assert brighton.longitude == pytest.approx(-0.081896319985389709)
    assert brighton.latitude == pytest.approx(50.8345, abs=1e-3)
    assert brighton.address == "Warren Road, Woodingdean"
    assert brighton.organization.name == "Nuffield Health"
    assert centers["NT314"].longitude == pytest.approx(0.043077960610389709)
    assert centers["NT406"].longitude == pytest.approx(0.0062793414108455181)
    queen_mary = centers["RJ731"]
    assert "St George\u2019s" in queen_mary.name and "\x92" not in queen_mary.name
    # The row has no city: the place its point belongs to is named (GeoNames, offline)
    assert queen_mary.city == "London" and queen_mary.postal_code == "SW15 5PN"
    assert queen_mary.region == "GB-ENG"
    assert centers["RBV01"].name == "The Christie"
    assert centers["RBV01"].phone.startswith("+44")
    assert "2014" in centers["RBV01"].description


# --- format detection on the real files (header only) ---------------------------------------

REAL_FILES = [
    ("cms-hospital-general-information/Hospital_General_Information.csv", "cms-hgi", ","),
    ("nci-designated-cancer-centers/NCI_CancerCenter_Address_fall2024.csv", "nci", ","),
    ("nhs-choices-hospitals-uk/Hospital.csv", "nhs", "¬"),
    ("cms-star-rating-oncology-measures/oncology_measures_star_input_2021_2023.csv",
     "cms-oqr", ","),
    ("cms-star-rating-oncology-measures/op35_star_input_2025_2026.csv", "cms-oqr", ","),
    ("cms-pos-hospital-services/pos_hospital_services.csv", "cms-pos", ","),
    ("hifld-hospitals/Hospitals.csv", "hifld", ","),
]


@pytest.mark.parametrize("relpath,expected,delimiter", REAL_FILES,
                         ids=[r[1] + ":" + r[0].split("/")[-1] for r in REAL_FILES])
def test_detects_real_file_from_header(relpath, expected, delimiter):
    path = SHARED / relpath
    if not path.exists():
        pytest.skip(f"{path} not available")
    with open(path, "rb") as fh:
        header_line = fh.readline()
    decoded = decode_bytes(header_line)
    table = read_table(decoded.text)
    assert table.delimiter == delimiter
    fmt = detect_format(table.header)
    assert fmt is not None and fmt.name == expected
    assert not any("\ufeff" in h for h in table.header)


@pytest.mark.parametrize("name", ["cms_hgi_excerpt.csv", "cms_hgi_old_edition.csv",
                                  "nci_excerpt.csv", "nhs_excerpt.csv",
                                  "cms_measures_excerpt.csv", "cms_pos_excerpt.csv"])
def test_excerpts_are_real_lines(name):
    """Every excerpt line (but the hand-made old edition) is a line of its real file."""
    if name == "cms_hgi_old_edition.csv":
        assert (EXCERPTS / name).read_bytes().splitlines()[0] == (
            b"Provider ID,Hospital Name,Address,City,State,ZIP Code,County Name,Phone Number,"
            b"Hospital Type")
        return
    real = {"cms_hgi_excerpt.csv": REAL_FILES[0][0], "nci_excerpt.csv": REAL_FILES[1][0],
            "nhs_excerpt.csv": REAL_FILES[2][0], "cms_measures_excerpt.csv": REAL_FILES[3][0],
            "cms_pos_excerpt.csv": REAL_FILES[5][0]}[name]
    if not (SHARED / real).exists():
        pytest.skip("shared data not available")
    source_lines = set((SHARED / real).read_bytes().splitlines())
    assert set((EXCERPTS / name).read_bytes().splitlines()) <= source_lines


# --- the import-centers command ------------------------------------------------------------

def test_cli_clean_import(runner, session):
    result = runner.invoke(args=["import-centers", str(CASES / "01_bom_header.csv")])
    assert result.exit_code == 0, result.output
    assert ("added 2, linked 0 to centers already here, "
            "updated 0, unchanged 0, rejected 0") in result.output
    assert "encoding utf-8-sig" in result.output
    assert count(session) == 2 and count(session, ImportRun) == 1
    again = runner.invoke(args=["import-centers", str(CASES / "01_bom_header.csv")])
    assert again.exit_code == 0
    assert ("added 0, linked 0 to centers already here, "
            "updated 0, unchanged 2, rejected 0") in again.output


def test_cli_rejected_rows(runner, session):
    result = runner.invoke(args=["import-centers", str(CASES / "30_session_rollback.csv")])
    assert result.exit_code == 1
    assert ("added 3, linked 0 to centers already here, "
            "updated 0, unchanged 0, rejected 1") in result.output
    assert "3:name: name is required" in result.output
    assert count(session) == 3


def test_cli_rejected_swapped(runner):
    result = runner.invoke(args=["import-centers", str(CASES / "19_swapped_coords.csv")])
    assert result.exit_code == 1
    assert any(line.startswith("2:latitude: ") and "possibly swapped" in line
               for line in result.output.splitlines())


@pytest.mark.parametrize("name,message", [("11_empty.csv", "empty"),
                                          ("05b_missing_required_header.csv",
                                           "missing required column(s): name")])
def test_cli_file_error(runner, session, name, message):
    result = runner.invoke(args=["import-centers", str(CASES / name)])
    assert result.exit_code == 2
    assert message in result.output
    assert count(session) == 0 and count(session, ImportRun) == 0


def test_cli_dry_run(runner, session):
    result = runner.invoke(args=["import-centers", "--dry-run",
                                 str(CASES / "15_multivalue_services.csv")])
    assert result.exit_code == 0, result.output
    assert "would be added 4" in result.output
    assert "Dry run: nothing was written." in result.output
    assert count(session) == 0 and count(session, ImportRun) == 0


def test_cli_format_option(runner, session):
    result = runner.invoke(args=["import-centers", "--format", "cms-hgi",
                                 str(EXCERPTS / "cms_hgi_old_edition.csv")])
    assert result.exit_code == 0, result.output
    assert "format cms-hgi" in result.output
    assert set(by_id(session, "cms-hgi")) == {"010001", "010005", "01014F"}


def test_hifld_excerpt_closed_hospitals_and_kinds(import_file, session):
    """HIFLD: coordinates from the file, CLOSED rows imported as closed, types mapped to
    kinds, ZIPs that lost a zero padded (US only)."""
    import sqlalchemy as sa

    from directory.models import Center

    data = (DATA / "excerpts" / "hifld_excerpt.csv").read_bytes()
    result = import_file(data, filename="hifld.csv")
    assert result.format == "hifld" and result.rejected == 0 and result.added == 4
    centers = list(session.scalars(sa.select(Center)))
    assert sum(c.status == "closed" for c in centers) == 2
    assert any(c.kind == "psychiatric" for c in centers)
    dana = next(c for c in centers if c.city == "Boston")
    assert dana.postal_code == "02115" and dana.geocode_precision == "rooftop"


def test_forced_format_that_does_not_fit_is_a_file_error(import_file, session):
    import sqlalchemy as sa

    from directory.importer import FileError
    from directory.models import Center

    for fmt in ("cms-pos", "cms-oqr", "nci", "cms-hgi", "nhs", "hifld"):
        with pytest.raises(FileError, match="does not look like"):
            import_file(CASES / "01_bom_header.csv", format=fmt)
    assert session.scalar(sa.select(sa.func.count(Center.id))) == 0


def test_claims_are_not_applied_to_psychiatric_hospitals(import_file, session):
    import sqlalchemy as sa

    from directory.models import Center

    csv = (b"Facility ID,Facility Name,Address,City/Town,State,ZIP Code,County/Parish,"
           b"Telephone Number,Hospital Type\n"
           b"123456,CALM MINDS,1 MAIN ST,BOSTON,MA,02115,SUFFOLK,(617) 555-0100,Psychiatric\n"
           b"654321,GENERAL,2 MAIN ST,BOSTON,MA,02115,SUFFOLK,(617) 555-0101,"
           b"Acute Care Hospitals\n")
    import_file(csv, filename="hgi.csv")
    pos = (b"facility_id,has_service_mask,pos_chemo,pos_radonc\n"
           b"123456,1,1,1\n654321,1,1,0\n")
    result = import_file(pos, filename="pos.csv", source="pos")
    assert result.added == 1
    assert any("psychiatric facility" in i.message for i in result.warnings)
    calm = session.scalar(sa.select(Center).where(Center.external_id == "123456"))
    assert calm.kind == "psychiatric" and calm.modalities == []


def test_hsds_example_package_imports_through_the_pipeline(import_file, tmp_path):
    """The official HSDS 3.0 example (one fictional location whose latitude 100 is out of
    range) goes through the HSDS reader: the row is rejected with the reason."""
    import zipfile

    folder = DATA / "export" / "example"
    if not folder.exists():
        pytest.skip("HSDS example tables not copied")
    zpath = tmp_path / "hsds.zip"
    with zipfile.ZipFile(zpath, "w") as zf:
        for member in folder.glob("*.csv"):
            zf.write(member, member.name)
    result = import_file(zpath, dry_run=True)
    assert result.format == "hsds" and result.rows == 1 and result.rejected == 1
    assert "latitude 100.0 is outside -90..90" in result.errors[0].message


def test_zip_bombs_and_broken_zips_are_file_errors(import_file):
    import io
    import zipfile

    from directory.importer import FileError

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("locations.csv", "a" * 20_000_000)
    with pytest.raises(FileError, match="zip bomb"):
        import_file(buffer.getvalue(), filename="bomb.zip")
    with pytest.raises(FileError, match="cannot be read"):
        import_file(b"PK\x03\x04 this is not really a zip", filename="broken.zip")
    with pytest.raises(FileError, match="expects an Open Referral HSDS package"):
        import_file(CASES / "01_bom_header.csv", format="hsds")


# --- HIFLD Hospitals: every quirk of the real file (tests/data/excerpts/hifld_quirks.csv,
# 22 real lines of shared/data/hifld-hospitals/Hospitals.csv, bytes unchanged) -------------

HIFLD_QUIRKS = EXCERPTS / "hifld_quirks.csv"


@pytest.fixture
def hifld(import_file, session):
    """The quirks excerpt imported with the seed's settings; ``(result, {HIFLD ID: center})``."""
    result = import_file(HIFLD_QUIRKS, format="hifld", source="hifld-hospitals")
    return result, by_id(session, "hifld-hospitals")


def test_hifld_quirks_every_row_imports_with_rooftop_points(hifld):
    result, centers = hifld
    assert (result.format, result.source, result.encoding) == ("hifld", "hifld-hospitals",
                                                                "utf-8-sig")
    assert (result.rows, result.added, result.rejected) == (22, 22, 0)
    assert "X" not in dict(result.column_map) or dict(result.column_map)["X"] is None
    assert dict(result.column_map)["LATITUDE"] == "latitude"
    assert all(c.geocode_precision == "rooftop" for c in centers.values())
    msk = centers["117510021"]  # ID is HIFLD's own id, kept as text (not a CCN)
    assert (msk.latitude, msk.longitude) == pytest.approx((40.76427432, -73.95659552))
    # The only warning: a website cell that holds a hospital's name.
    assert [(i.column, i.severity) for i in result.issues if i.line > 1] == [
        ("WEBSITE", "warning")]


def test_hifld_zips_that_lost_leading_zeros_are_padded_territories_too(hifld):
    result, centers = hifld
    zips = {c.name: c.postal_code for c in centers.values()}
    assert zips["Hospital for Special Care"] == "06053"           # CT, "6053"
    assert zips["VA Medical Center - Manchester"] == "03104"       # NH, "3104"
    assert zips["Presbyterian Community Hosp"] == "00907"          # PR, "907"
    assert zips["The Roy Lester Schneider Hospital"] == "00801"    # VI, "801"
    assert zips["Belau National Hospital"] == "96940"
    assert all(len(z) == 5 and z.isdigit() for z in zips.values())
    assert not any("leading zero" in i.message for i in result.issues)


def test_hifld_placeholders_become_empty(hifld):
    _, centers = hifld
    manchester = next(c for c in centers.values() if c.name == "VA Medical Center - Manchester")
    assert manchester.phone is None                     # TELEPHONE "NOT AVAILABLE"
    tuscaloosa = next(c for c in centers.values() if c.name == "Tuscaloosa VA Medical Center")
    assert tuscaloosa.website is None                   # WEBSITE "NOT AVAILABLE"
    for center in centers.values():
        for value in (center.phone, center.website, center.address, center.city,
                      center.description):
            assert value is None or "not available" not in value.casefold()
            assert value is None or "-999" not in value


def test_hifld_closed_hospitals_are_kept_as_closed(hifld):
    _, centers = hifld
    statuses = {c.name: c.status for c in centers.values()}
    assert statuses["Cancer Treatment Centers of America - Philadelphia"] == "closed"
    assert sum(s == "closed" for s in statuses.values()) == 1
    assert sum(s == "active" for s in statuses.values()) == 21


@pytest.mark.parametrize("name,kind", [
    ("Andalusia Health", "hospital"),                                   # GENERAL ACUTE CARE
    ("Choctaw General Hospital", "critical-access"),                    # CRITICAL ACCESS
    ("Tuscaloosa VA Medical Center", "military"),                       # MILITARY
    ("UAB Callahan Eye Hospital Authority", "other"),                   # SPECIAL (eye)
    ("Northwest Medical Center - Willow Creek Women's Hospital", "hospital"),  # WOMEN
    ("Hospital for Special Care", "hospital"),                          # CHRONIC DISEASE
    ("Baypointe Behavioral Health", "psychiatric"),                     # PSYCHIATRIC
    ("Encompass Health Lakeshore Rehabilitation Hospital", "rehabilitation"),
    ("Infirmary Ltac Hospital", "long-term-care"),                      # LONG TERM CARE
    ("Children's Hospital of Alabama", "childrens"),                    # CHILDREN
    ("Memorial Hospital for Cancer and Allied Diseases", "cancer-center"),  # SPECIAL + name
    ("Cancer Treatment Centers of America - Philadelphia", "cancer-center"),  # CHRONIC DISEASE
])
def test_hifld_types_map_to_center_kinds(hifld, name, kind):
    from directory.models import CENTER_KINDS

    _, centers = hifld
    center = next(c for c in centers.values() if c.name == name)
    assert center.kind == kind and kind in CENTER_KINDS
    assert center.description.startswith("HIFLD hospital type: ")


def test_hifld_territories_get_their_own_country_code(hifld):
    _, centers = hifld
    where = {c.name: (c.country, c.region) for c in centers.values()}
    assert where["Presbyterian Community Hosp"] == ("PR", "US-PR")       # COUNTRY PRI
    assert where["Hospital Menonita de Cayey"] == ("PR", "US-PR")        # COUNTRY USA, STATE PR
    assert where["Guam Memorial Hospital Authority"] == ("GU", "US-GU")  # GUM
    assert where["The Roy Lester Schneider Hospital"] == ("VI", "US-VI")  # VIR
    assert where["Belau National Hospital"] == ("PW", None)              # PLW (Palau)
    assert where["Andalusia Health"] == ("US", "US-AL")


def test_hifld_phones_are_e164_and_impossible_ones_dropped(hifld):
    _, centers = hifld
    phones = {c.name: c.phone for c in centers.values()}
    assert phones["Andalusia Health"] == "+13342228466"
    assert phones["Presbyterian Community Hosp"] == "+17877212160"
    assert phones["Belau National Hospital"] == "+6804882552"           # "(680) 488-2552"
    assert phones["The Roy Lester Schneider Hospital"] == "+13407768311"  # old USVI 809
    assert phones["Inspira Medical Center Mullica Hill"] is None         # "(856) 111-1111"


def test_hifld_websites_placeholders_and_wrapped_urls(hifld):
    result, centers = hifld
    sites = {c.name: c.website for c in centers.values()}
    assert sites["Andalusia Health"] == "http://www.andalusiaregionalhospital.com"
    assert sites["Franciscan Health Mooresville"] == (
        "http://www.franciscanalliance.org/hospitals/mooresville/pages/default.aspx")
    assert sites["Mercyone Newton Medical Center"] == "http://www.skiffmed.com"
    assert sites["Red Bud Illinois Company, LLC"] is None  # the cell holds a name
    assert any("red bud regional hospital" in i.message for i in result.issues)


def test_hifld_helpers():
    from directory.importer.formats import _hifld_phone, _hifld_website, _hifld_zip

    assert [_hifld_zip(z) for z in ("2115", "921", "02115", "2115.0", "12", "")] == [
        "02115", "00921", "02115", "02115", "12", ""]
    assert _hifld_phone("NOT AVAILABLE", "US") == "NOT AVAILABLE"
    assert _hifld_phone("(222) 333-4444", "US") == ""
    assert _hifld_phone("(671) 647-2552", "GU") == "+16716472552"
    assert _hifld_website("https:baptisthealth.net/x") == "https://baptisthealth.net/x"
    assert _hifld_website("http://www.healthcarefor the heartland.org") == (
        "http://www.healthcarefortheheartland.org")
    assert _hifld_website("NOT AVAILABLE") == "NOT AVAILABLE"


def test_hifld_reimport_is_unchanged(import_file, hifld):
    again = import_file(HIFLD_QUIRKS, format="hifld", source="hifld-hospitals")
    assert (again.added, again.updated, again.unchanged, again.rejected) == (0, 0, 22, 0)


@pytest.mark.parametrize("name", ["hifld_excerpt.csv", "hifld_quirks.csv"])
def test_hifld_excerpts_are_real_lines(name):
    real = SHARED / "hifld-hospitals" / "Hospitals.csv"
    if not real.exists():
        pytest.skip("shared data not available")
    assert set((EXCERPTS / name).read_bytes().splitlines()) <= set(
        real.read_bytes().splitlines())


def test_hifld_is_starter_data_after_cms_and_nci():
    import hashlib

    from directory.seeding import load_seed_plan
    from directory.vocabulary import SEEDS_DIR

    plan = load_seed_plan()
    slugs = [e["slug"] for e in plan]
    assert slugs.index("hifld-hospitals") == slugs.index("nci") + 1
    assert slugs.index("cms-hgi") < slugs.index("hifld-hospitals")
    entry = plan[slugs.index("hifld-hospitals")]
    assert entry["format"] == "hifld" and "target" not in entry
    for key in ("name", "publisher", "licence", "url", "as_of", "attribution", "note"):
        assert entry.get(key)
    path = SEEDS_DIR / "data" / entry["file"]
    assert hashlib.sha256(path.read_bytes()).hexdigest() == (
        "2cbe1a318d65032ec74c4db2d993e7cc995284bc6e72495d30232eea5aa23948")
    header = read_table(decode_bytes(path.read_bytes()[:1000].split(b"\r\n")[0]).text).header
    assert detect_format(header).name == "hifld"
