"""The precedence rules that choose each shown field of a center from its records
(directory.curation.resolve): pure, no app, no database."""

from __future__ import annotations

import datetime as dt
import json

from directory.curation.resolve import RecordValues, field_sources, resolve

CMS = RecordValues(1, "cms-hgi", "450076", {
    "name": "University Of Texas Md Anderson Cancer Center", "address": "1515 Holcombe Blvd",
    "city": "Houston", "region": "US-TX", "postal_code": "77030", "country": "US",
    "latitude": 29.70, "longitude": -95.40, "geocode_precision": "postal_code",
    "phone": "+17137922121", "kind": "hospital", "status": "active"}, dt.date(2025, 1, 1))
HIFLD = RecordValues(2, "hifld-hospitals", "H1", {
    "name": "UNIVERSITY OF TEXAS M D ANDERSON CANCER CENTER", "address": "1515 HOLCOMBE BLVD",
    "city": "HOUSTON", "latitude": 29.7074, "longitude": -95.3977,
    "geocode_precision": "rooftop", "phone": "+17137923000", "website": "https://mdanderson.org",
    "status": "closed", "kind": "cancer-center"}, dt.date(2023, 5, 1))
NCI = RecordValues(3, "nci", "N1", {"name": "University of Texas MD Anderson Cancer Center",
                                    "kind": "cancer-center"}, dt.date(2024, 11, 6))


def test_each_field_follows_its_rule():
    values, origin = resolve([HIFLD, CMS])
    assert values["latitude"] == 29.7074 and origin["latitude"] is HIFLD  # most precise
    assert values["geocode_precision"] == "rooftop"
    assert values["phone"] == "+17137922121" and origin["phone"] is CMS  # most recent
    assert values["website"] == "https://mdanderson.org"  # the only one that has it
    assert values["status"] == "active"  # the 2025 dataset beats the 2023 one
    assert values["name"] == CMS.values["name"] and origin["address"] is CMS  # source order
    assert values["kind"] == "cancer-center"  # any record saying so
    assert values["alternate_names"] == "UNIVERSITY OF TEXAS M D ANDERSON CANCER CENTER"


def test_name_order_prefers_nci_and_keeps_the_others_as_alternate_names():
    values, origin = resolve([CMS, HIFLD, NCI])
    assert values["name"] == "University of Texas MD Anderson Cancer Center"
    assert origin["name"] is NCI
    # the CMS name folds to NCI's; HIFLD's does not ("M D")
    assert values["alternate_names"] == "UNIVERSITY OF TEXAS M D ANDERSON CANCER CENTER"
    assert origin["address"] is CMS  # NCI gave no address: the next source that has one


def test_an_editors_value_wins_and_an_absent_field_does_not_take_part():
    editor = RecordValues(9, "editor", "center-1", {"phone": None, "latitude": 29.71,
                                                    "longitude": -95.39}, dt.date(2026, 1, 1))
    values, origin = resolve([CMS, HIFLD, editor])
    assert values["phone"] is None and origin["phone"] is editor  # "no phone", by hand
    assert values["geocode_precision"] == "manual" and origin["latitude"] is editor
    assert values["website"] == "https://mdanderson.org"  # untouched by the editor
    assert "email" not in origin  # no record has it


def test_a_record_not_yet_stored_is_the_newest():
    new = RecordValues(None, "lst", None, {"name": "MD Anderson", "phone": "+17130000000"},
                       dt.date(2025, 1, 1))
    values, origin = resolve([CMS, new])
    assert origin["phone"] is CMS  # same date: the older record first
    assert origin["name"] is new  # admins' lists rank before CMS for names


def test_field_sources_lists_only_what_the_first_record_did_not_give():
    _, origin = resolve([CMS, HIFLD])
    sources = json.loads(field_sources(origin, CMS))
    assert set(sources) == {"latitude", "longitude", "geocode_precision", "website",
                            "alternate_names", "kind"}
    assert sources["website"] == {"source": "hifld-hospitals", "external_id": "H1",
                                  "date": "2023-05-01"}
    assert field_sources(resolve([CMS])[1], CMS) is None


def test_a_record_without_a_street_address_never_blanks_one():
    """A breaker's list with only name, city and country (and Wikidata rows with only a
    country) took the address unit from the better-ranked source and blanked the street,
    ZIP and even the city of every center it joined."""
    city_only = RecordValues(5, "my-list", None, {"name": "Southeast Health",
                                                   "city": "Dothan", "country": "US"})
    country_only = RecordValues(6, "wikidata-x", "Q1", {"name": "Southeast Health",
                                                         "country": "US"})
    values, origin = resolve([CMS, city_only, country_only])
    assert values["address"] == "1515 Holcombe Blvd" and values["postal_code"] == "77030"
    assert origin["address"] is CMS
    values, origin = resolve([city_only, country_only])
    assert values["city"] == "Dothan" and origin["city"] is city_only
