"""Tests for directory.geo (offline gazetteer behind geopy's interface).

The gazetteer is built once into instance/gazetteer.sqlite (shared with the app) and
reused while its format version matches (first build ~15 s).
"""

from __future__ import annotations

import dataclasses
import os
import random
import sqlite3
import threading
import time

import geopy.exc
import pytest
from geopy.distance import geodesic
from geopy.location import Location

from directory.geo import (
    FORMAT_VERSION,
    KM_PER_MILE,
    PRECISIONS,
    GeocodingError,
    InvalidQuery,
    OfflineGeocoder,
    Place,
    PlaceNotFound,
    Resolution,
    bounding_boxes,
    geodesic_km,
    online_geocoder,
)
from directory.geo import gazetteer as gc
from tests.conftest import GAZETTEER_PATH as GAZETTEER


@pytest.fixture(scope="session")
def geo(geocoder):
    return geocoder


def top(geo, query, **kw) -> Place:
    return geo.resolve(query, **kw).place


# ----------------------------------------------------------------- file / build

def test_gazetteer_file_is_current_and_no_temp_files_left(geo):
    con = sqlite3.connect(f"file:{GAZETTEER}?mode=ro", uri=True)
    try:
        version = con.execute("SELECT value FROM meta WHERE key='format_version'").fetchone()
        n_names = con.execute("SELECT count(*) FROM place_name").fetchone()[0]
        n_zip = con.execute("SELECT count(*) FROM postal_code").fetchone()[0]
    finally:
        con.close()
    assert version == (str(FORMAT_VERSION),)
    assert n_names > 500_000 and n_zip > 40_000
    assert not list(GAZETTEER.parent.glob(f".{GAZETTEER.name}-*.tmp"))


def test_stale_or_missing_file_detected(tmp_path):
    stale = tmp_path / "old.sqlite"
    con = sqlite3.connect(stale)
    con.execute("CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT)")
    con.execute("INSERT INTO meta VALUES ('format_version', '0')")
    con.commit()
    con.close()
    assert not gc._is_valid(stale)
    assert not gc._is_valid(tmp_path / "missing.sqlite")
    (tmp_path / "junk.sqlite").write_bytes(b"not a database")
    assert not gc._is_valid(tmp_path / "junk.sqlite")
    assert gc._is_valid(GAZETTEER) or not GAZETTEER.exists()
    with pytest.raises(GeocodingError):
        OfflineGeocoder(tmp_path / "missing.sqlite", build_if_missing=False)
    with pytest.raises(GeocodingError):
        OfflineGeocoder(stale, build_if_missing=False)


def test_build_skipped_when_current(geo):
    # A second (or concurrent, after waiting for the lock) builder reuses the fresh file.
    before = os.path.getmtime(GAZETTEER)
    assert gc._build_locked(str(GAZETTEER), force=False) == {}
    assert os.path.getmtime(GAZETTEER) == before


# ----------------------------------------------------------------- cities

def test_houston(geo):
    res = geo.resolve("Houston")
    assert isinstance(res, Resolution)
    p = res.place
    assert (p.name, p.country, p.region, p.region_name, p.precision) == (
        "Houston, Texas, US", "US", "US-TX", "Texas", "city")
    assert p.city == "Houston" and p.population > 2_000_000
    assert p.point() == (p.latitude, p.longitude)
    assert abs(p.latitude - 29.76) < 0.2 and abs(p.longitude + 95.36) < 0.2
    assert len(res.alternatives) >= 2 and p not in res.alternatives
    assert any(a.region != "US-TX" or a.country != "US" for a in res.alternatives)
    pops = [a.population or 0 for a in res.alternatives]
    assert pops == sorted(pops, reverse=True)
    for q in ("Houston, TX", "Houston, Texas", "Houston TX", "Houston, US-TX"):
        assert top(geo, q).region == "US-TX", q


def test_paris(geo):
    res = geo.resolve("Paris")
    assert res.place.country == "FR"
    assert any(a.region == "US-TX" and a.name == "Paris, Texas, US" for a in res.alternatives)
    assert top(geo, "Paris, France").country == "FR"
    assert top(geo, "Paris, FR").country == "FR"
    texas = top(geo, "Paris, TX, US")
    assert (texas.country, texas.region) == ("US", "US-TX")
    assert top(geo, "Paris, Texas").region == "US-TX"
    # Region names of countries without ISO-mapped admin-1 codes are accepted leniently.
    assert top(geo, "Paris, Île-de-France").country == "FR"


def test_folding_and_exonyms(geo):
    places = {top(geo, q) for q in ("Köln", "Cologne", "koln", "KÖLN", "Ko\u0308ln")}
    assert len(places) == 1
    (koln,) = places
    assert koln.country == "DE" and koln.population > 900_000
    sp1, sp2 = top(geo, "sao paulo"), top(geo, "São Paulo")
    assert sp1 == sp2 and sp1.country == "BR" and sp1.population > 10_000_000
    z1, z2 = top(geo, "Zu\u0308rich"), top(geo, "Zurich")
    assert z1 == z2 and z1.country == "CH" and z1.name.startswith("Zürich")


def test_springfield_most_populous(geo):
    res = geo.resolve("Springfield")
    us = [res.place, *[a for a in res.alternatives if a.country == "US"]]
    assert res.place.country == "US"
    assert res.place.population == max(p.population for p in us)
    assert res.place.region == "US-MO"  # Springfield, Missouri is the largest in GeoNames
    assert len({a.region for a in res.alternatives if a.country == "US"}) >= 3
    assert top(geo, "Springfield, IL").region == "US-IL"
    assert top(geo, "Springfield, Massachusetts").region == "US-MA"


def test_qualifiers_and_big_cities(geo):
    assert top(geo, "Rochester, MN").region == "US-MN"
    boston = top(geo, "Boston")
    assert (boston.country, boston.region) == ("US", "US-MA")
    ny = top(geo, "New York")
    assert ny.name.startswith("New York City") and ny.region == "US-NY"
    stl = top(geo, "St. Louis")
    assert stl.region == "US-MO"
    assert top(geo, "Saint Louis") == stl
    assert top(geo, "st louis") == stl
    ws = top(geo, "Winston-Salem")
    assert ws.region == "US-NC" and top(geo, "winston salem") == ws
    assert top(geo, "London, UK").country == "GB"


def test_country_queries(geo):
    for q in ("Germany", "DE", "de", "germany", "DEU"):
        p = top(geo, q)
        assert (p.precision, p.country, p.region) == ("country", "DE", None), q
    de = top(geo, "DE")
    assert abs(de.latitude - 52.5) < 0.5 and abs(de.longitude - 13.4) < 0.5  # Berlin
    assert top(geo, "USA").country == "US"
    assert top(geo, "United States").precision == "country"
    # With a country restriction, a bare code can be a region of that country.
    dl = top(geo, "DE", country="US")
    assert (dl.precision, dl.region) == ("region", "US-DE")
    # Without one, a bare code is the country, and the other readings are offered.
    la = geo.resolve("LA")
    assert la.place.country == "LA" and la.place.precision == "country"  # Laos
    offered = {(p.name, p.precision) for p in la.alternatives}
    assert ("Louisiana, US", "region") in offered
    assert ("Los Angeles, California, US", "city") in offered
    assert "California, US" in {p.name for p in geo.resolve("CA").alternatives}
    tx = top(geo, "Texas")
    assert (tx.precision, tx.region, tx.region_name) == ("region", "US-TX", "Texas")


def test_country_restriction(geo):
    p = top(geo, "Paris", country="US")
    assert p.country == "US"
    assert all(a.country == "US" for a in geo.resolve("Paris", country="us").alternatives)
    with pytest.raises(PlaceNotFound):
        geo.resolve("Köln", country="US")


def test_limit(geo):
    assert len(geo.resolve("Springfield", limit=3).alternatives) == 2
    assert geo.resolve("Springfield", limit=1).alternatives == ()


# ----------------------------------------------------------------- postal codes

def test_zip_codes(geo):
    p = top(geo, "02115")
    assert (p.precision, p.postal_code, p.city, p.region, p.country) == (
        "postal_code", "02115", "Boston", "US-MA", "US")
    assert p.name == "02115 Boston, MA, US" and p.region_name == "Massachusetts"
    assert abs(p.latitude - 42.34) < 0.05 and abs(p.longitude + 71.09) < 0.05
    assert top(geo, "2115", country="US") == p
    assert top(geo, "02115-1234") == p
    assert geo.lookup_postal_code("2115") == p
    assert geo.lookup_postal_code("02115-1234", "us") == p
    assert geo.lookup_postal_code("501").postal_code == "00501"
    assert geo.lookup_postal_code("02115", "DE") is None
    assert geo.lookup_postal_code("99999") is None
    assert geo.lookup_postal_code("abc") is None
    with pytest.raises(PlaceNotFound):
        geo.resolve("99999")
    # A number too short for a ZIP is not a place (GeoNames lists "12" as an alternate
    # name of a district of Helsinki, and "1" of a town in Mexico).
    for number in ("1", "12", "123"):
        with pytest.raises(PlaceNotFound):
            geo.resolve(number)


# ----------------------------------------------------------------- coordinates / errors

@pytest.mark.parametrize("query,expected", [
    ("42.36,-71.06", (42.36, -71.06)),
    ("42.36, -71.06", (42.36, -71.06)),
    ("-17.0,179.9", (-17.0, 179.9)),
    ("  90 180 ", (90.0, 180.0)),
])
def test_coordinates(geo, query, expected):
    p = top(geo, query)
    assert p.precision == "coordinates" and p.point() == expected
    assert p.country is None and p.population is None


@pytest.mark.parametrize("query", ["91,0", "0,181", "-90.5, 10", "", "   ", "x" * 201, "x" * 5000,
                                   "1234,5"])
def test_invalid_queries(geo, query):
    with pytest.raises(InvalidQuery):
        geo.resolve(query)


def test_not_found(geo):
    with pytest.raises(PlaceNotFound) as info:
        geo.resolve("Qwxzyv")
    assert info.value.query == "Qwxzyv"
    assert str(info.value) == "No place matches 'Qwxzyv'"
    assert isinstance(info.value, GeocodingError)
    assert isinstance(info.value, geopy.exc.GeopyError)
    with pytest.raises(PlaceNotFound):
        geo.resolve("Houston, Vermont")


# ----------------------------------------------------------------- importer lookup

def test_lookup_city(geo):
    boston = geo.lookup_city("Boston", region="MA", country="US")
    assert boston.place.region == "US-MA"
    assert geo.lookup_city("Boston", region="US-MA").place == boston.place
    assert geo.lookup_city("Boston", region="Massachusetts").place == boston.place
    dus = geo.lookup_city("Düsseldorf", region="NW", country="DE")
    assert dus is not None and dus.place.country == "DE" and dus.place.population > 500_000
    assert geo.lookup_city("Nowhere-ville") is None
    assert geo.lookup_city("") is None
    assert geo.lookup_city("Springfield", region="MA", country="US").place.region == "US-MA"
    assert geo.lookup_city("Boston", region="TX", country="US") is None  # contradicting region
    assert geo.lookup_city("Paris", country="US").place.country == "US"


# ----------------------------------------------------------------- suggest

def test_suggest(geo):
    names = [p.name for p in geo.suggest("hou")]
    assert names[0] == "Houston, Texas, US"
    assert len(names) == 10
    assert [p.city for p in geo.suggest("Köln", limit=3)][0] == "Köln"
    sj = geo.suggest("san jo", limit=5)
    assert len(sj) == 5 and sj[0].name == "San Jose, California, US"
    assert geo.suggest("") == [] and geo.suggest("qwxzyvq") == []
    pops = [p.population or 0 for p in geo.suggest("spring", limit=8)]
    assert pops == sorted(pops, reverse=True)
    assert len(geo.suggest("s", limit=4)) == 4


# ----------------------------------------------------------------- geopy compatibility

def test_geopy_geocode(geo):
    loc = geo.geocode("Boston")
    assert isinstance(loc, Location)
    assert abs(loc.latitude - 42.36) < 0.1 and abs(loc.longitude + 71.06) < 0.1
    assert loc.raw == dataclasses.asdict(top(geo, "Boston"))
    assert geo.geocode("Qwxzyv") is None
    many = geo.geocode("Springfield", exactly_one=False)
    assert isinstance(many, list) and len(many) >= 4
    assert geo.geocode("Paris", country_codes="US").raw["country"] == "US"
    assert geo.geocode("Paris", country_codes=["us", "ca"]).raw["country"] in {"US", "CA"}
    assert isinstance(geo, geopy.geocoders.base.Geocoder)


def test_online_geocoder_is_lazy():
    f = online_geocoder("oncology-directory-tests")  # must not touch the network
    assert callable(f)


def test_threads_and_latency(geo):
    errors = []

    def work():
        try:
            for _ in range(50):
                assert top(geo, "Houston, TX").region == "US-TX"
        except Exception as exc:  # pragma: no cover
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    queries = ["Houston", "Paris, TX, US", "02115", "san jose", "Köln", "Springfield"]
    started = time.perf_counter()
    for _ in range(20):
        for q in queries:
            geo.resolve(q)
    per_lookup_ms = (time.perf_counter() - started) * 1000 / (20 * len(queries))
    assert per_lookup_ms < 5


def test_close_is_idempotent():
    g = OfflineGeocoder(GAZETTEER)
    g.close()
    g.close()
    with pytest.raises(GeocodingError):
        g.resolve("Boston")


# ----------------------------------------------------------------- distances

def test_constants():
    assert PRECISIONS == ("rooftop", "postal_code", "city", "region", "country", "coordinates")
    assert KM_PER_MILE == 1.609344


def test_geodesic_km():
    assert geodesic_km((53.3498, -6.2603), (53.4084, -2.9916)) == pytest.approx(217, abs=2)
    assert geodesic_km((0, 0), (0, 0)) == 0


def _inside(boxes, point):
    lat, lon = point
    return any(a <= lat <= b and c <= lon <= d for a, b, c, d in boxes)


def test_bounding_boxes_dateline():
    boxes = bounding_boxes(-17.0, 179.9, 300)
    assert len(boxes) == 2
    assert any(b[3] == 180.0 for b in boxes) and any(b[2] == -180.0 for b in boxes)
    assert _inside(boxes, (-16.85, -179.97))
    assert _inside(boxes, (-17.0, 179.9))
    assert not _inside(boxes, (-17.0, 0.0))


def test_bounding_boxes_pole_and_simple():
    (box,) = bounding_boxes(89.5, 0, 200)
    assert box[2] == -180.0 and box[3] == 180.0 and box[1] == 90.0
    (box,) = bounding_boxes(42.36, -71.06, 50)
    assert box[0] < 42.36 < box[1] and box[2] < -71.06 < box[3]
    assert box[1] - box[0] < 1.0
    with pytest.raises(ValueError):
        bounding_boxes(0, 0, -1)


@pytest.mark.parametrize("center", [(0, 0), (42.36, -71.06), (-17.0, 179.9), (70, -179.5),
                                    (-60, 10), (85, 45), (-33.9, 151.2)])
@pytest.mark.parametrize("radius", [1, 50, 300, 1500])
def test_bounding_boxes_are_conservative(center, radius):
    boxes = bounding_boxes(*center, radius)
    rng = random.Random(f"{center}{radius}")
    for _ in range(120):
        dest = geodesic(kilometers=radius * rng.uniform(0.5, 1.0)).destination(
            center, rng.uniform(0, 360))
        assert _inside(boxes, (dest.latitude, dest.longitude)), (center, radius, dest)
