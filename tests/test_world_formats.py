"""The worldwide sources (issue 14): Wikidata hospitals (TSV, quoting off) and Eurostat GISCO
healthcare services, on small excerpts written like the real files (quirks from
../shared/data/SOURCES.md); country names in other languages; offline reverse geocoding."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from directory.extensions import db
from directory.importer.fields import resolve_country
from directory.importer.formats_world import parse_wkt_point, repair_czech
from directory.models import Center, SourceRecord

WD = "http://www.wikidata.org/entity/"
WIKIDATA = "\n".join([
    "item\titemLabel\tcountryLabel\tofficial_website\tgeo",
    f"{WD}Q1\tKlinikum rechts der Isar\tGermany\thttps://www.mri.tum.de/\tPoint(11.5996 48.1371)",
    f"{WD}Q1\tKlinikum rechts der Isar\tGermany\thttps://www.tum.de/\tPoint(11.5996 48.1371)",
    f"{WD}Q2\t\"Filippo del Ponte\" Hospital\tItaly\t\tPoint(8.834589 45.815662)",
    f"{WD}Q3\tQ3\tTurkey\t\tPoint(28.97 41.01)",
    f"{WD}Q4\tOsijek Clinical Hospital\tCroatia\t\thttp://www.wikidata.org/.well-known/genid/x",
    f"{WD}Q5\tObukhov Hospital\tRussian Empire\t\tPoint(30.3167 59.9186)",
    f"{WD}Q6\tAcıbadem Maslak Hospital\t\t\tPoint(29.0215 41.1107)",
    f"{WD}Q7\tBaudenkmal D-1-62-000-4370 in München\tGermany\t\tPoint(11.57 48.14)",
    f"{WD}Q8\tTata Memorial Hospital\tIndia\thttps://tmc.gov.in\tPoint(72.8434 19.0044)",
]) + "\n"

EUROSTAT_HEADER = ("id,hospital_name,site_name,lat,lon,geo_qual,street,house_number,postcode,"
                   "city,cc,country,cap_beds,cap_prac,cap_rooms,emergency,facility_type,"
                   "public_private,list_specs,tel,email,url,ref_date,pub_date,comments")
EUROSTAT = "\n".join([
    EUROSTAT_HEADER,
    "DE_1,Asklepios Klinik Nord,Wandsbek,53.5833,10.0833,1,Jüthornstraße,71,22043,Hamburg,"
    "DE,Germany,,,,,,,,040 181883 0,,,01/01/2020,16/04/2020,",
    "DE_1,Asklepios Klinik Nord,Ochsenzoll,53.6667,10.0167,1,Langenhorner Chaussee,560,"
    "22419,Hamburg,DE,Germany,,,,,,,,,,,01/01/2020,16/04/2020,",
    "CZ_9,\"Nemocnice následné péèe, Jaromìø\",,50.35,15.92,1,Náchodská,359,55101,Jaromìø,"
    "CZ,Czechia,,,,,,,,,,,01/01/2020,16/04/2020,",
    "EL_4,Agios Savvas Anticancer Hospital,,37.9838,23.7275,1,Alexandras Ave,171,11522,Athens,"
    "EL,Greece,,,,,,,,,,,01/01/2020,16/04/2020,",
    "FR_7,CH SPECIALISE DU VINATIER,,45.7470,4.8840,1,BOULEVARD PINEL,95,69500,BRON,FR,France"
    ",,,,,Centre Hospitalier Spécialisé lutte Maladies Mentales,public,,478138300,,,"
    "01/01/2020,16/04/2020,",
    "FR_8,CENTRE LEON BERARD,,45.7427,4.8814,1,RUE LAENNEC,28,69008,LYON,FR,France,,,,,"
    "Centre de Lutte Contre Cancer,private,,478782828,,,01/01/2020,16/04/2020,",
]) + "\n"


def test_wkt_points_are_longitude_first():
    assert parse_wkt_point("Point(11.5996 48.1371)") == ("48.1371", "11.5996")
    assert parse_wkt_point("http://www.wikidata.org/.well-known/genid/x") is None


def test_czech_text_decoded_in_the_wrong_code_page_is_repaired():
    assert repair_czech("Zaøízení") == "Zařízení"
    assert repair_czech("Nemocnice následné péèe") == "Nemocnice následné péče"
    assert repair_czech("Nemocnice Nový Bydžov") == "Nemocnice Nový Bydžov"  # correct text
    assert repair_czech("Zařízení péèe") == "Zařízení péèe"  # mixed: cannot tell, kept


@pytest.mark.parametrize("text, code", [
    ("Deutschland", "DE"), ("Allemagne", "DE"), ("Alemania", "DE"), ("Turkey", "TR"),
    ("Türkiye", "TR"), ("Türkei", "TR"), ("Brasil", "BR"), ("Österreich", "AT"),
    ("Republic of Ireland", "IE"), ("Russia", "RU"), ("UK", "GB"), ("DEU", "DE"),
    ("Russian Empire", None), ("Bavaria", None),
])
def test_country_names_in_other_languages(text, code):
    assert resolve_country(text) == code


def test_wikidata_excerpt(import_file):
    result = import_file(WIKIDATA.encode(), filename="hospital.001.wikidata.tsv",
                         source="wikidata-hospitals")
    assert result.format == "wikidata"
    by_line = {}
    for issue in result.issues:
        by_line.setdefault(issue.line, []).append(issue)

    def said(line, severity, words):
        return any(i.severity == severity and words in i.message for i in by_line[line])
    assert said(3, "warning", "same item as line 2")
    assert said(5, "error", "no label for Q3") and by_line[5][0].column == "itemLabel"
    assert said(6, "error", "not a WKT point")
    assert said(9, "error", "listed building")
    assert result.rejected == 3
    records = {r.external_id: r.center for r in db.session.scalars(sa.select(SourceRecord))}
    assert set(records) == {"Q1", "Q2", "Q5", "Q6", "Q8"}
    isar = records["Q1"]
    assert (isar.latitude, isar.longitude) == (48.1371, 11.5996)  # longitude first in WKT
    assert isar.website == "https://www.mri.tum.de/" and isar.city == "Munich"
    assert isar.country == "DE"
    assert records["Q2"].name == '"Filippo del Ponte" Hospital'  # quoting off: " is text
    assert (records["Q5"].country, records["Q5"].city) == ("RU", "Saint Petersburg")
    assert (records["Q6"].country, records["Q6"].city) == ("TR", "Istanbul")
    assert records["Q8"].kind == "hospital" and records["Q8"].city == "Mumbai"


def test_a_wikidata_only_center_says_its_status_is_not_verified(client, import_file):
    import_file(WIKIDATA.encode(), filename="hospital.001.wikidata.tsv",
                source="wikidata-hospitals")
    center = db.session.scalar(sa.select(Center).where(Center.name == "Tata Memorial Hospital"))
    html = client.get(f"/centers/{center.id}").get_data(as_text=True)
    assert "Not verified: only Wikidata lists this hospital" in html
    body = client.get("/api/v1/centers?country=Deutschland").get_json()
    assert [i["name"] for i in body["items"]] == ["Klinikum rechts der Isar"]
    assert body["items"][0]["status_verified"] is False  # the API says so too
    listing = client.get("/centers?country=IN").get_data(as_text=True)
    assert "status not verified" in listing
    assert client.get("/api/v1/centers?country=Allemagne").status_code == 200


def test_eurostat_excerpt(import_file):
    result = import_file(EUROSTAT.encode(), filename="all.csv", source="eurostat-gisco")
    assert result.format == "eurostat" and result.rejected == 0
    repeated = [i for i in result.issues if i.line == 3]
    assert repeated and "keyed by name, postal code and country" in repeated[0].message
    centers = {c.name: c for c in db.session.scalars(sa.select(Center))}
    assert len(centers) == 5 and sum(c.name == "Asklepios Klinik Nord" for c in
                                     db.session.scalars(sa.select(Center))) == 2
    wandsbek = next(c for c in db.session.scalars(sa.select(Center))
                    if c.postal_code == "22043")
    assert wandsbek.address == "Jüthornstraße 71" and wandsbek.phone == "+49401818830"
    assert "Wandsbek" in (wandsbek.alternate_names or "")
    jaromer = centers["Nemocnice následné péče, Jaroměř"]
    assert jaromer.city == "Jaroměř" and jaromer.kind == "hospital"
    athens = centers["Agios Savvas Anticancer Hospital"]
    assert athens.country == "GR" and athens.kind == "cancer-center"
    assert centers["CH SPECIALISE DU VINATIER"].kind == "psychiatric"
    berard = centers["CENTRE LEON BERARD"]
    assert berard.kind == "cancer-center" and berard.address == "28 RUE LAENNEC"
    assert "Centre de Lutte Contre Cancer" in berard.description


CMS_HEADER = ("Facility ID,Facility Name,Address,City/Town,State,ZIP Code,County/Parish,"
              "Telephone Number,Hospital Type,Hospital Ownership,Emergency Services,"
              "Meets criteria for birthing friendly designation,Hospital overall rating,"
              "Hospital overall rating footnote")


def test_a_us_hospital_page_shows_its_cms_type_ownership_and_star_rating(client,
                                                                         import_file):
    """Issue 14: what a Care Compare user expects, each with its source and date; "Not
    Available" explained from the CMS footnote, never read as "not offered"."""
    body = "\n".join([
        CMS_HEADER,
        "010001,SOUTHEAST HEALTH MEDICAL CENTER,1108 ROSS CLARK CIRCLE,DOTHAN,AL,36301,"
        "HOUSTON,(334) 793-8701,Acute Care Hospitals,Government - Hospital District or "
        "Authority,Yes,Y,4,",
        "090011,WALTER REED NATIONAL MILITARY MEDICAL CENTER,8901 WISCONSIN AVE,BETHESDA,MD,"
        "20889,MONTGOMERY,(301) 295-4611,Acute Care - Department of Defense,Department of "
        "Defense,Yes,,Not Available,22",
    ]) + "\n"
    import_file(body.encode(), source="cms-hgi", format="cms-hgi")
    pages = {}
    for center in db.session.scalars(sa.select(Center)):
        pages[center.external_id] = client.get(f"/centers/{center.id}").get_data(as_text=True)
    dothan = pages["010001"]
    assert "Hospital type</dt><dd>Acute Care Hospitals" in dothan
    assert "Ownership</dt><dd>Government - Hospital District or Authority" in dothan
    assert "Emergency services</dt><dd>Yes" in dothan
    assert "4 of 5 stars" in dothan
    reed = pages["090011"]
    assert "Not available. CMS does not rate Department of Defense hospitals." in reed
    assert "Military or veterans hospital" in reed  # the kind CMS's type maps to
    record = db.session.scalar(sa.select(SourceRecord).where(
        SourceRecord.external_id == "090011"))
    assert '"overall_rating": "Not Available"' in record.values.replace('":"', '": "')


def test_a_wikidata_item_must_be_an_entity_and_facts_are_plain_text(import_file):
    body = "\n".join([
        "item\titemLabel\tcountryLabel\tofficial_website\tgeo",
        "not a url\tSomewhere Hospital\tGermany\t\tPoint(11.5 48.1)",
        "'; DROP TABLE center;--\tElsewhere Hospital\tGermany\t\tPoint(11.6 48.2)",
        f"{WD}Q9\tGood Hospital\tGermany\t\tPoint(11.7 48.3)",
    ]) + "\n"
    result = import_file(body.encode(), filename="w.tsv", source="wikidata-hospitals")
    errors = [(i.line, i.column) for i in result.issues if i.severity == "error"]
    assert errors == [(2, "item"), (3, "item")] and result.rejected == 2
    eurostat = "\n".join([
        EUROSTAT_HEADER,
        "DE_5,Kreisklinik Test,,48.5,11.5,1,Hauptstraße,1,85000,Testing,DE,Germany,"
        + "9" * 400 + ",,,yes,,\x01\x02public,,,,,01/01/2020,16/04/2020,",
    ]) + "\n"
    result = import_file(eurostat.encode(), filename="all.csv", source="eurostat-gisco")
    record = db.session.scalar(sa.select(SourceRecord).where(SourceRecord.external_id == "DE_5"))
    assert '"beds"' not in record.values  # 400 digits: a broken cell, left out with a warning
    assert any("beds is 400 characters long" in i.message for i in result.issues)
    assert '"ownership": "public"' in record.values.replace('":"', '": "')


def test_every_seed_source_fits_its_columns():
    """A licence text of 272 characters seeded on SQLite (which ignores VARCHAR sizes) and
    stopped `flask seed` on PostgreSQL: every text of seeds/sources.toml must fit."""
    import tomllib
    from pathlib import Path

    from directory.models import DataSource

    sources = tomllib.loads((Path(__file__).parents[1] / "seeds" / "sources.toml")
                            .read_text(encoding="utf-8"))["source"]
    for entry in sources:
        for key, value in entry.items():
            column = DataSource.__table__.columns.get(key)
            length = getattr(getattr(column, "type", None), "length", None)
            if length is not None:
                assert len(value) <= length, (entry["slug"], key, len(value), length)
