"""Where each shown field came from: the center page's per-field source notes and its
"Sources for this center" list, and the API's ``field_sources`` and ``records``
(directory.web.display.center_provenance). Centers and source records are built directly."""

from __future__ import annotations

import datetime as dt
import json
import re

import pytest
import sqlalchemy as sa

from directory.extensions import db
from directory.models import Center, DataSource, SourceRecord
from directory.text import fold
from directory.web.display import center_provenance, date_label
from tests.test_statements import StatementCounter

CMS_VALUES = {"name": "MERCY GENERAL HOSPITAL", "kind": "hospital", "address": "1 Main St",
              "city": "Springfield", "region": "US-IL", "postal_code": "62701",
              "country": "US", "latitude": 39.80, "longitude": -89.65,
              "geocode_precision": "postal_code", "phone": "+12175550100",
              "website": "https://mercy.example", "status": "active"}
HIFLD_VALUES = {"name": "Mercy General Hospital", "kind": "hospital",
                "latitude": 39.7817, "longitude": -89.6501, "geocode_precision": "rooftop",
                "phone": "+12175550199", "status": "active"}


def _sources() -> None:
    db.session.add_all([
        DataSource(slug="cms-hgi", name="CMS Hospital General Information",
                   publisher="Centers for Medicare & Medicaid Services", as_of="2025"),
        DataSource(slug="hifld-hospitals", name="HIFLD hospitals", as_of="2023-05",
                   note="Homeland Infrastructure Foundation-Level Data."),
    ])
    db.session.flush()


def _center(name: str, source: str, external_id: str, **fields) -> Center:
    """A center row alone (no records: each test adds the ones it needs)."""
    fields.setdefault("country", "US")
    center = Center(name=name, name_folded=fold(name), search_text=fold(name), source=source,
                    external_id=external_id, natural_key=f"{fold(name)}||US",
                    city_folded=fold(fields.get("city")), **fields)
    db.session.add(center)
    return center


def _record(center: Center, source: str, external_id: str, values: dict,
            date: dt.date | None, rule: str = "first", score: float | None = None,
            reason: str | None = None) -> SourceRecord:
    record = SourceRecord(source=source, external_id=external_id,
                          natural_key=f"{source}|{external_id}",
                          values=json.dumps(values, sort_keys=True), dataset_date=date,
                          link_rule=rule, link_score=score, link_reason=reason)
    center.records.append(record)
    return record


@pytest.fixture
def two_records(app):
    """A CMS hospital (its first record) whose phone and coordinates come from a later
    HIFLD record linked by CCN; the name, address and website stay CMS's."""
    _sources()
    center = _center("MERCY GENERAL HOSPITAL", "cms-hgi", "140001", latitude=39.7817,
                     longitude=-89.6501, geocode_precision="rooftop", address="1 Main St",
                     city="Springfield", region="US-IL", postal_code="62701",
                     phone="+12175550199", website="https://mercy.example")
    _record(center, "cms-hgi", "140001", CMS_VALUES, dt.date(2025, 1, 1))
    _record(center, "hifld-hospitals", "H-77", HIFLD_VALUES, dt.date(2023, 5, 1),
            rule="key:ccn", score=1.0, reason="Same CMS Certification Number (140001).")
    hifld = {"source": "hifld-hospitals", "external_id": "H-77", "date": "2023-05-01"}
    center.field_sources = json.dumps({"phone": hifld, "latitude": hifld,
                                       "longitude": hifld, "geocode_precision": hifld})
    db.session.commit()
    return center


def _dd(html: str, term: str) -> str:
    """The text of the ``<dd>`` after ``<dt>term</dt>`` (tags removed)."""
    found = re.search(rf"<dt>{term}</dt><dd>(.*?)</dd>", html, re.S)
    assert found, f"no {term} in the page"
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", found.group(1))).strip()


def test_phone_from_a_second_record_names_that_source_and_date(client, two_records):
    html = client.get(f"/centers/{two_records.id}").get_data(as_text=True)
    phone = _dd(html, "Phone")
    assert "+1 217-555-0199" in phone  # international format: dialable from abroad
    assert "Source: HIFLD hospitals, May 2023" in phone
    website = _dd(html, "Website")  # from the first record
    assert "Source: CMS Hospital General Information, January 2025" in website
    location = _dd(html, "Location")
    assert "Source: HIFLD hospitals, May 2023" in location
    assert "Type" in html and "Hospital" in _dd(html, "Type")
    assert "Open" in _dd(html, "Status") and "CMS Hospital General Information" in \
        _dd(html, "Status")
    address = re.search(r"<address>(.*?)</address>", html, re.S).group(1)
    assert "Source: CMS Hospital General Information, January 2025" in address
    assert "Source of this name: CMS Hospital General Information, January 2025" in html


def test_page_lists_every_record_and_why_it_is_linked(client, two_records):
    html = client.get(f"/centers/{two_records.id}").get_data(as_text=True)
    section = html[html.index('id="source"'):]
    assert "Sources for this center" in html
    rows = re.findall(r'<li class="result">(.*?)</li>', section, re.S)
    assert len(rows) == 2
    text = [re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", row)) for row in rows]
    cms = next(t for t in text if "CMS Hospital General Information" in t)
    hifld = next(t for t in text if "HIFLD hospitals" in t)
    assert "140001" in cms and "January 2025" in cms and "first created from" in cms
    assert "H-77" in hifld and "May 2023" in hifld
    assert "Same CMS Certification Number (140001)." in hifld and "key:ccn" in hifld
    assert '<time datetime="2023-05-01">' in section
    assert "Homeland Infrastructure Foundation-Level Data." in section  # the source's note
    assert "does not mean the center does not have or offer it" in section


def test_api_field_sources_name_the_right_record(client, two_records):
    detail = client.get(f"/api/v1/centers/{two_records.id}").get_json()
    sources = detail["field_sources"]
    assert sources["phone"] == {"source": "hifld-hospitals", "external_id": "H-77",
                                "date": "2023-05-01"}
    assert sources["name"] == {"source": "cms-hgi", "external_id": "140001",
                               "date": "2025-01-01"}
    assert sources["latitude"]["source"] == "hifld-hospitals"
    assert sources["website"]["source"] == "cms-hgi"
    assert sources["email"] is None and sources["description"] is None  # no source has one
    assert detail["records"] == [
        {"source": "cms-hgi", "external_id": "140001", "dataset_date": "2025-01-01",
         "link_rule": "first", "link_score": None, "link_reason": None},
        {"source": "hifld-hospitals", "external_id": "H-77", "dataset_date": "2023-05-01",
         "link_rule": "key:ccn", "link_score": 1.0,
         "link_reason": "Same CMS Certification Number (140001)."}]
    listing = client.get("/api/v1/centers?q=mercy&include=provenance").get_json()["items"][0]
    assert listing["field_sources"]["phone"]["source"] == "hifld-hospitals"
    assert "email" not in listing["field_sources"]  # list items cover their own fields
    assert [r["source"] for r in listing["records"]] == ["cms-hgi", "hifld-hospitals"]
    lines = client.get("/api/v1/centers?q=mercy&format=ndjson&include=provenance") \
        .get_data(as_text=True)
    exported = json.loads(lines.splitlines()[0])
    assert exported["field_sources"] == listing["field_sources"]
    # without include=provenance, list items stay as light as before (search speed)
    plain = client.get("/api/v1/centers?q=mercy").get_json()["items"][0]
    assert "field_sources" not in plain and "records" not in plain
    bad = client.get("/api/v1/centers?q=mercy&include=everything")
    assert bad.status_code == 400 and "include" in bad.get_json()["message"]


def test_editor_value_reads_set_by_an_editor(client, two_records):
    db.session.add(DataSource(slug="editor", name="Editors of this directory"))
    _record(two_records, "editor", f"center-{two_records.id}",
            {"website": "https://mercy-new.example"}, dt.date(2026, 3, 1), rule="editor")
    sources = json.loads(two_records.field_sources)
    sources["website"] = {"source": "editor", "external_id": f"center-{two_records.id}",
                          "date": "2026-03-01"}
    two_records.field_sources = json.dumps(sources)
    two_records.website = "https://mercy-new.example"
    db.session.commit()
    html = client.get(f"/centers/{two_records.id}").get_data(as_text=True)
    assert "Set by an editor, 2026-03-01" in _dd(html, "Website")
    assert "Values an editor of this directory set by hand." in html


def test_center_without_records_falls_back_to_its_source(client):
    _sources()
    center = _center("Lone Clinic", "hifld-hospitals", "H-1", latitude=40.0, longitude=-89.0,
                     geocode_precision="rooftop", phone="+12175550111", city="Peoria")
    db.session.commit()
    html = client.get(f"/centers/{center.id}").get_data(as_text=True)
    assert "Source: HIFLD hospitals, May 2023" in _dd(html, "Phone")
    assert "Identifier in that source: H-1" in html
    assert "not reported in our sources" in _dd(html, "Website")
    detail = client.get(f"/api/v1/centers/{center.id}").get_json()
    assert detail["records"] == []
    assert detail["field_sources"]["phone"] == {"source": "hifld-hospitals",
                                                "external_id": "H-1", "date": "2023-05-01"}
    assert detail["field_sources"]["website"] is None


def test_missing_or_bad_field_sources_mean_the_first_record(app, two_records):
    two_records.field_sources = "not json"
    db.session.commit()
    prov = center_provenance(two_records)
    assert prov.origin("phone").source == "cms-hgi"
    assert prov.origin("email") is None
    assert [r.source for r in prov.records] == ["cms-hgi", "hifld-hospitals"]


def test_provenance_of_a_page_is_two_statements(app, two_records):
    db.session.expire_all()
    center = db.session.get(Center, two_records.id)
    with StatementCounter(db.engine) as counter:
        prov = center_provenance(center)
        prov.origin("phone"), prov.origin("name"), prov.records
    assert counter.count == 2
    sources = {s.slug: s for s in db.session.scalars(sa.select(DataSource))}
    with StatementCounter(db.engine) as counter:
        center_provenance(center, sources).origin("phone")
    assert counter.count == 1


@pytest.mark.parametrize("value, shown", [
    (dt.date(2023, 5, 1), "May 2023"), (dt.date(2024, 11, 6), "2024-11-06"),
    ("2023-05-01", "May 2023"), ("2014-11", "November 2014"), ("2025", "2025"),
    ("fall 2024", "fall 2024"), (None, ""), ("", "")])
def test_date_label(value, shown):
    assert date_label(value) == shown


def test_a_status_no_source_states_is_not_shown_as_a_fact(client, make_center):
    """A source that lists hospitals without a status column (Eurostat, NHS) leaves the
    center "active" by default: the page says no source states it, not "Open" over a
    note that contradicts it; a status a source states is shown with that source."""
    quiet = make_center("Klinik Ohne Status", 48.14, 11.58, city="München", country="DE")
    closed = make_center("Closed General", 29.7, -95.4, city="Houston", status="closed")
    from directory.extensions import db

    db.session.commit()
    page = client.get(f"/centers/{quiet.id}").get_data(as_text=True)
    status = page.split("<dt>Status</dt>")[1].split("</dd>")[0]
    assert "Not stated by our sources: they list it, and none says it has closed" in status
    assert "Open" not in status
    page = client.get(f"/centers/{closed.id}").get_data(as_text=True)
    status = page.split("<dt>Status</dt>")[1].split("</dd>")[0]
    assert "Closed" in status and "Source: " in status
    spanish = client.get(f"/es/centers/{quiet.id}").get_data(as_text=True)
    assert "Nuestras fuentes no lo indican: lo incluyen" in spanish
