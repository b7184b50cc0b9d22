"""The JSON API (/api/v1): envelope, items, units, paging, errors, caching, CORS, the OpenAPI
document (validated, and exercised by schemathesis against the app), and the docs page."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from directory import create_app
from directory.extensions import limiter
from tests.conftest import CASES, DATA, GAZETTEER_PATH, seeded_app

ROOT = Path(__file__).resolve().parent.parent
ENVELOPE = {"items", "total", "page", "per_page", "pages", "distance_unit", "radius", "facets",
            "near", "links", "warnings"}
ITEM = {"id", "name", "kind", "address", "city", "region", "postal_code", "country",
        "latitude", "longitude", "phone", "website", "status", "modalities", "designations",
        "url"}


@pytest.fixture
def boston(import_file, make_center):
    """NCI excerpt (Dana-Farber and seven others, inferred modalities) plus two hospitals."""
    import_file(DATA / "excerpts" / "nci_excerpt.csv", format="nci")
    make_center("Example Boston Chemo Hospital", 42.35, -71.06, city="Boston",
                postal_code="02111", modalities=["chemotherapy"])
    make_center("Example Worcester Hospital", 42.2626, -71.8023, city="Worcester",
                modalities=["chemotherapy"])


def get_json(client, url, status=200):
    response = client.get(url)
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.headers["Content-Type"] == "application/json"
    return response.get_json()


# -- the "done when" search ------------------------------------------------------------

def test_near_boston_chemotherapy_in_miles(client, boston):
    response = client.get("/api/v1/centers?near=Boston,+MA&radius=25&unit=mi"
                          "&modality=chemotherapy")
    assert response.status_code == 200
    body = response.get_json()
    assert set(body) == ENVELOPE
    names = [item["name"] for item in body["items"]]
    assert any("Dana-Farber" in n for n in names)
    assert "Example Boston Chemo Hospital" in names
    assert "Example Worcester Hospital" not in names  # about 38 mi away
    assert body["distance_unit"] == "mi" and body["radius"] == 25
    for item in body["items"]:
        assert ITEM <= set(item)
        assert item["distance_mi"] <= 25
        assert item["distance_mi"] == pytest.approx(item["distance_km"] / 1.609344, abs=0.002)
        assert item["url"].endswith(f"/centers/{item['id']}")
    # The default order is best match: the designated cancer center first, then the
    # hospitals reporting chemotherapy, nearest first.
    assert "Dana-Farber" in names[0] and body["items"][0]["designations"]
    distances = [item["distance_km"] for item in body["items"][1:]]
    assert distances == sorted(distances)
    dana = next(i for i in body["items"] if "Dana-Farber" in i["name"])
    chemo = [m for m in dana["modalities"] if m["slug"] == "chemotherapy"]
    assert chemo and chemo[0]["provenance"] == "inferred" and chemo[0]["source"] == "nci"
    assert chemo[0]["verified_on"] and dana["designations"][0]["slug"] == "nci-comprehensive"
    assert body["near"]["name"].startswith("Boston") and body["near"]["precision"] == "city"
    assert isinstance(body["near"]["alternatives"], list)
    assert body["facets"]["modality"]["chemotherapy"] == body["total"]
    assert body["facets"]["country"] == {"US": body["total"]}
    assert response.headers["X-Total-Count"] == str(body["total"])
    assert 'rel="first"' in response.headers["Link"]
    assert body["links"]["next"] is None and body["links"]["prev"] is None


@pytest.fixture(scope="module")
def seeded_client(_migrated, database_url, geocoder):
    """The real starter data (flask seed), once for this module's slow tests."""
    with seeded_app(database_url, geocoder) as (app, _output):
        yield app.test_client()


def test_done_when_on_the_starter_data(seeded_client):
    body = get_json(seeded_client, "/api/v1/centers?near=Boston,+MA&radius=25&unit=mi"
                                   "&modality=chemotherapy&per_page=100")
    assert any(i["name"].startswith("Dana-Farber") for i in body["items"])
    assert body["total"] >= 10
    assert all("distance_mi" in i for i in body["items"])


# -- items, units, places --------------------------------------------------------------

def test_no_distance_without_near_and_postal_codes_are_strings(client, import_file):
    import_file(CASES / "06_zip_leading_zero.csv")
    body = get_json(client, "/api/v1/centers?city=Boston")
    assert {i["postal_code"] for i in body["items"]} == {"02115"}
    assert all("distance_km" not in i and "distance_mi" not in i for i in body["items"])
    assert body["near"] is None and body["radius"] is None and body["distance_unit"] == "km"
    near = get_json(client, "/api/v1/centers?near=02115&radius=5")
    assert {i["name"] for i in near["items"]} == {"Example Cancer Institute",
                                                 "Harbor Oncology Clinic"}
    assert near["near"]["precision"] == "postal_code"
    assert all("distance_mi" not in i for i in near["items"])


def test_bom_header_case_1(client, import_file):
    import_file(CASES / "01_bom_header.csv")
    body = get_json(client, "/api/v1/centers?city=Boston")
    assert [i["name"] for i in body["items"]] == ["Example Cancer Institute"]
    assert "\ufeff" not in json.dumps(body)


def test_antimeridian_and_units_case_21(client, import_file):
    import_file(CASES / "21_antimeridian_units.csv")
    for near, expected in (("-17.0,179.9", (21.7, 200)), ("-17.0,-179.95", (16.8, 212.5))):
        body = get_json(client, f"/api/v1/centers?near={near}&radius=300&unit=km&sort=distance")
        assert [round(i["distance_km"], 1) for i in body["items"]] == \
            [pytest.approx(d, abs=1.5) for d in expected]
        assert body["distance_unit"] == "km"
    miles = get_json(client, "/api/v1/centers?near=42.3601,-71.0589&radius=50&unit=mi")
    assert len(miles["items"]) == 2 and miles["distance_unit"] == "mi"
    assert miles["items"][1]["distance_mi"] == pytest.approx(38.6, abs=0.3)
    km = get_json(client, "/api/v1/centers?near=42.3601,-71.0589&radius=50&unit=km")
    assert len(km["items"]) == 1
    error = get_json(client, "/api/v1/centers?near=42.36,-71.05&unit=furlong", 400)
    assert error["field"] == "unit"


def test_unknown_place_is_a_400_naming_near(client, boston):
    body = get_json(client, "/api/v1/centers?near=Qwxzzy+Nowhere", 400)
    assert body["error"] == "bad request" and body["field"] == "near"
    assert "Qwxzzy Nowhere" in body["message"]


def test_country_as_near_becomes_a_filter(client, boston):
    body = get_json(client, "/api/v1/centers?near=United+States")
    assert body["near"]["precision"] == "country" and body["radius"] is None
    assert body["total"] == 10 and "distance_km" not in body["items"][0]


def test_center_detail_and_404(client, boston):
    listing = get_json(client, "/api/v1/centers?q=dana")
    detail = get_json(client, f"/api/v1/centers/{listing['items'][0]['id']}")
    assert detail["name"].startswith("Dana-Farber") and detail["source"] == "nci"
    assert detail["alternate_names"] == [] and detail["geocode_precision"] == "rooftop"
    missing = get_json(client, "/api/v1/centers/999999", 404)
    assert missing == {"error": "not found", "message": "There is no center with id 999999.",
                       "field": None}


def test_modality_tree_with_counts(client, boston):
    body = get_json(client, "/api/v1/modalities")
    roots = {n["slug"]: n for n in body["items"]}
    radiation = roots["radiation-therapy"]
    assert radiation["parent"] is None and radiation["count"] == 7  # inferred by NCI
    assert {c["slug"] for c in radiation["children"]} >= {"sbrt", "proton-therapy"}
    assert all(c["parent"] == "radiation-therapy" for c in radiation["children"])
    for slug in ("chemotherapy", "radiation-therapy", "surgery"):  # the search's own counts
        total = get_json(client, f"/api/v1/centers?modality={slug}")["total"]
        assert roots[slug]["count"] == total
    assert radiation["centers_url"].endswith("/api/v1/centers?modality=radiation-therapy")


@pytest.mark.parametrize("q, first", [
    ("Houston, TX", "Houston, Texas, US"), ("Houston, T", "Houston, Texas, US"),
    ("Boston,MA", "Boston, Massachusetts, US"), ("Paris, France", "Paris, France"),
    ("Paris, US", "Paris, Texas, US"), ("Springfield, Ill", "Springfield, Illinois, US"),
    ("Paris,", "Paris, France"), ("Houston, Texas, US", "Houston, Texas, US"),
    ("Houston, US-TX", "Houston, Texas, US"), ("Paris, Texas, U", "Paris, Texas, US"),
    ("London, UK", "London, England, United Kingdom"),
])
def test_places_autocomplete_keeps_suggesting_after_a_comma(client, q, first):
    """People type the placeholder's format ("Houston, TX"): the part after the comma
    narrows the list by state, region or country instead of emptying it."""
    items = get_json(client, f"/api/v1/places?q={q}")["items"]
    assert items and items[0]["name"] == first, items[:3]


def test_places_autocomplete_after_a_comma_names_only_matching_places(client):
    assert get_json(client, "/api/v1/places?q=Houston, zz")["items"] == []
    names = [p["name"] for p in get_json(client, "/api/v1/places?q=Paris, US")["items"]]
    assert names and all(n.endswith(", US") for n in names)


def test_radius_limits_name_the_units(client):
    low = get_json(client, "/api/v1/centers?near=Boston,MA&radius=-5&unit=mi", 400)
    assert low["field"] == "radius" and "km or mi" in low["message"], low
    high = get_json(client, "/api/v1/centers?near=Boston,MA&radius=13000&unit=mi", 400)
    assert "20,000 km" in high["message"] and "12,427 mi" in high["message"], high


def test_places_autocomplete(client):
    body = get_json(client, "/api/v1/places?q=Hous")
    assert body["items"][0]["name"].startswith("Houston, Texas")
    assert len(body["items"]) == 10
    assert len(get_json(client, "/api/v1/places?q=Hous&limit=3")["items"]) == 3
    assert get_json(client, "/api/v1/places", 400)["field"] == "q"
    assert get_json(client, "/api/v1/places?q=Hous&limit=11", 400)["field"] == "limit"


def test_index_links(client):
    body = get_json(client, "/api/v1")
    assert body["version"] == "1.0.0"
    for link in body["links"].values():
        assert client.get(link.replace("http://localhost", "")).status_code in (200, 400)


# -- paging (case 24) ------------------------------------------------------------------

def test_pagination_case_24(client, import_file):
    import_file(CASES / "24_pagination_seed.csv")
    one = client.get("/api/v1/centers?per_page=10&page=1")
    two = get_json(client, "/api/v1/centers?per_page=10&page=2")
    first = one.get_json()
    ids = [i["id"] for i in first["items"] + two["items"]]
    assert len(ids) == len(set(ids)) == 20
    assert first["total"] == 20 and first["pages"] == 2
    assert first["links"]["next"].endswith("per_page=10&page=2") and first["links"]["prev"] is None
    assert two["links"]["next"] is None and two["links"]["prev"].endswith("page=1")
    assert 'rel="next"' in one.headers["Link"] and 'rel="last"' in one.headers["Link"]
    assert one.headers["X-Total-Count"] == "20"
    three = get_json(client, "/api/v1/centers?per_page=10&page=3")
    assert three["items"] == [] and three["total"] == 20
    boston = get_json(client, "/api/v1/centers?city=Boston&per_page=10")
    assert boston["pages"] == 1 and boston["links"]["next"] is None
    twins = [i["id"] for i in first["items"] + two["items"] if i["name"] == "Example Center Twin"]
    assert twins == sorted(twins) and len(twins) == 2
    for bad in ("page=0", "page=-1", "per_page=0", "page=x"):
        body = get_json(client, f"/api/v1/centers?{bad}", 400)
        assert body["field"] == bad.split("=")[0]
    capped = get_json(client, "/api/v1/centers?per_page=10000")
    assert capped["per_page"] == 100 and len(capped["items"]) == 20
    assert "capped at 100" in capped["warnings"][0]


# -- errors, escaping (cases 26, 28) ---------------------------------------------------

def test_json_errors_never_html(client, app):
    assert get_json(client, "/api/v1/nothing-here", 404)["error"] == "not found"
    response = client.post("/api/v1/centers", data="x")
    assert response.status_code == 405 and response.get_json()["error"] == "method not allowed"
    assert "GET" in response.headers["Allow"]
    assert get_json(client, "/api/v1/centers?format=xml", 400)["field"] == "format"
    assert get_json(client, "/api/v1/centers?q=" + "a" * 5000, 400)["field"] == "q"
    assert get_json(client, "/api/v1/centers?modality=astrology", 400)["field"] == "modality"
    assert get_json(client, "/api/v1/centers?sort=distance", 400)["field"] == "sort"
    assert get_json(client, "/api/v1/centers?radius=-3&near=Boston", 400)["field"] == "radius"
    assert get_json(client, "/api/v1/centers?q=a%00b", 400)["field"] == "q"
    assert get_json(client, "/api/v1/centers?near=91,200", 400)["field"] == "near"
    # the HTML site keeps its HTML error pages
    assert client.get("/no-such-page").headers["Content-Type"].startswith("text/html")


def test_xss_payload_is_plain_data_case_26(client, import_file):
    import_file(CASES / "26_xss_seed.csv")
    payload = "%22%3E%3Cscript%3Ealert(1)%3C%2Fscript%3E"
    response = client.get(f"/api/v1/centers?city={payload}")
    assert response.headers["Content-Type"] == "application/json"
    assert response.get_json()["items"] == []
    assert '"><script>alert(1)</script>' in response.get_json()["links"]["self"] or \
        "%3Cscript%3E" in response.get_json()["links"]["self"]
    names = [i["name"] for i in get_json(client, "/api/v1/centers")["items"]]
    assert any("<img src=x onerror=alert(1)>" in n for n in names)  # raw data, not HTML


def test_413_is_json_with_max_bytes_case_28(database_url, geocoder, _migrated):
    app = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": database_url,
                      "GAZETTEER_PATH": str(GAZETTEER_PATH), "SECRET_KEY": "test",
                      "MAX_CONTENT_LENGTH": 2048})
    # A body-reading API endpoint stands in for the future API import.
    app.add_url_rule("/api/v1/_upload_probe", "api.probe", lambda: str(len(
        __import__("flask").request.get_data())), methods=["POST"])
    response = app.test_client().post("/api/v1/_upload_probe",
                                      data=(CASES / "28_over_limit.csv").read_bytes())
    assert response.status_code == 413
    assert response.get_json() == {"error": "file too large", "message": response.get_json()[
        "message"], "field": None, "max_bytes": 2048}


def test_rate_limit_is_a_json_429(database_url, geocoder, _migrated):
    app = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": database_url,
                      "GAZETTEER_PATH": str(GAZETTEER_PATH), "SECRET_KEY": "test",
                      "API_RATE_LIMIT": "2 per minute"})
    app.extensions["geocoder"] = geocoder
    client = app.test_client()
    me = {"REMOTE_ADDR": "10.0.0.1"}
    limiter.reset()
    assert [client.get("/api/v1", environ_base=me).status_code for _ in range(2)] == [200, 200]
    response = client.get("/api/v1", environ_base=me)
    assert response.status_code == 429
    assert response.get_json()["error"] == "too many requests"
    assert "Retry-After" in response.headers
    other = client.get("/api/v1", environ_base={"REMOTE_ADDR": "10.0.0.9"})
    assert other.status_code == 200
    limiter.reset()


# -- caching and CORS ------------------------------------------------------------------

def test_etag_cache_control_and_304(client, boston):
    response = client.get("/api/v1/centers?city=Boston")
    etag = response.headers["ETag"]
    assert response.headers["Cache-Control"] == "public, max-age=300"
    again = client.get("/api/v1/centers?city=Boston", headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.data == b""
    other = client.get("/api/v1/centers?city=Bost")
    assert other.headers["ETag"] != etag or other.get_json() == response.get_json()
    assert client.get("/api/v1/centers/0").headers["Cache-Control"] == "no-store"


def test_cors_for_get(client, boston):
    response = client.get("/api/v1/centers", headers={"Origin": "https://portal.example"})
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert "X-Total-Count" in response.headers["Access-Control-Expose-Headers"]
    preflight = client.options("/api/v1/centers", headers={
        "Origin": "https://portal.example", "Access-Control-Request-Method": "GET"})
    assert "GET" in preflight.headers["Access-Control-Allow-Methods"]
    assert "POST" not in preflight.headers["Access-Control-Allow-Methods"]
    assert "Access-Control-Allow-Origin" not in client.get(
        "/centers", headers={"Origin": "https://portal.example"}).headers


# -- OpenAPI document ------------------------------------------------------------------

def test_openapi_document_is_valid_3_1(client):
    from openapi_spec_validator import validate

    spec = get_json(client, "/api/v1/openapi.json")
    assert spec["openapi"].startswith("3.1")
    validate(spec)
    assert set(spec["paths"]) == {"/", "/centers", "/centers/{center_id}", "/modalities",
                                  "/places", "/openapi.json"}
    search_params = {p["name"] for p in spec["paths"]["/centers"]["get"]["parameters"]}
    from wtforms.fields.core import UnboundField

    from directory.web.forms import SearchForm

    # The /centers parameters, from the class itself: ``_unbound_fields`` is only filled
    # once a form has been made, so the test failed when run alone.
    form_fields = {name for name, value in vars(SearchForm).items()
                   if isinstance(value, UnboundField)}
    assert form_fields | {"format", "include", "lang"} == search_params


def test_responses_match_the_documented_schemas(client, boston):
    """A few known requests, checked with jsonschema against the document's own schemas."""
    import jsonschema

    spec = get_json(client, "/api/v1/openapi.json")

    def check(url, name):
        schema = {"$ref": f"#/components/schemas/{name}", "components": spec["components"]}
        jsonschema.validate(get_json(client, url), schema,
                            cls=jsonschema.Draft202012Validator)

    check("/api/v1/centers?near=Boston&unit=mi&modality=chemo", "SearchResults")
    check("/api/v1/centers?per_page=1000", "SearchResults")
    first = get_json(client, "/api/v1/centers")["items"][0]["id"]
    check(f"/api/v1/centers/{first}", "CenterDetail")
    check("/api/v1/modalities", "ModalityTree")
    check("/api/v1/places?q=par", "PlaceSuggestions")
    check("/api/v1", "ApiIndex")


def _operations() -> list[str]:
    from directory.web.openapi import openapi_document

    return [f"{method.upper()} {path}" for path, ops in openapi_document()["paths"].items()
            for method in ops]


@pytest.mark.parametrize("label", _operations())
def test_api_conforms_to_its_openapi_document(app, import_file, label):
    """schemathesis against the app's own document (WSGI, no server), 30 examples per
    operation: no 5xx; documented status codes, content types, headers and bodies.

    ``positive_data_acceptance`` is left out: schema-valid input can still be refused with a
    documented 400 (a place that does not exist, ``sort=distance`` without ``near``)."""
    from hypothesis import given
    from schemathesis.checks import positive_data_acceptance

    import_file(CASES / "21_antimeridian_units.csv")
    import_file(DATA / "excerpts" / "nci_excerpt.csv", format="nci")
    limiter.reset()
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    method, path = label.split(" ", 1)
    operation = schema[path][method]

    @given(case=operation.as_strategy())
    @settings(max_examples=30, deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
    def run(case):
        case.call_and_validate(excluded_checks=[positive_data_acceptance])

    run()


# -- docs page -------------------------------------------------------------------------

def test_docs_page_uses_local_assets(client):
    response = client.get("/api/docs")
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and "text/html" in response.headers["Content-Type"]
    assert "/api/v1/openapi.json" in html and "GET /api/v1/centers" in html
    assets = re.findall(r'(?:src|href)="(/static/vendor/[^"]+)"', html)
    assert len(assets) == 2
    for asset in assets:
        assert client.get(asset).status_code == 200
    assert not re.search(r'(?:src|href)="https?://', html)  # no CDN
    vendor = ROOT / "directory" / "static" / "vendor" / "swagger-ui"
    assert (vendor / "LICENSE").read_text().startswith("\n") or \
        "Apache License" in (vendor / "LICENSE").read_text()
    assert 'href="/api/docs"' in client.get("/").get_data(as_text=True)


@pytest.mark.parametrize("query, field, words", [
    ("near=Boston,+MA&unit=miles", "unit", ["km", "mi"]),
    ("q=clinic&sort=nearest", "sort", ["best", "distance", "name", "relevance"]),
])
def test_a_bad_choice_names_the_valid_values(client, query, field, words):
    body = client.get(f"/api/v1/centers?{query}").get_json()
    assert body["field"] == field and all(w in body["message"] for w in words), body


def test_items_say_where_each_field_came_from(client, boston):
    """``field_sources`` names every shown field (``null``: no source gives it) and
    ``records`` lists the center's source records, in list items and in the detail."""
    from directory.curation.resolve import RECORD_FIELDS
    from directory.web.api import ITEM_FIELDS

    item = get_json(client, "/api/v1/centers?q=dana&include=provenance")["items"][0]
    assert set(item["field_sources"]) == set(ITEM_FIELDS)
    assert item["field_sources"]["name"]["source"] == "nci"
    assert [r["source"] for r in item["records"]] == ["nci"]
    detail = get_json(client, f"/api/v1/centers/{item['id']}")
    assert set(detail["field_sources"]) == set(RECORD_FIELDS)
    assert detail["records"] == item["records"]


@pytest.mark.parametrize("url", ["/compare?ids=%C2%B2", "/es/compare/print?ids=1,%C2%B2",
                                 "/api/v1/centers?per_page=%C2%B2",
                                 "/api/v1/places?q=Bos&limit=%C2%B2",
                                 "/centers?page=%C2%B2", "/api/v1/centers?radius=%C2%B2"])
def test_a_superscript_digit_is_a_400_not_a_500(client, url):
    """``"²".isdigit()`` is true but ``int("²")`` fails (breaker finding): every number
    parameter is checked as ASCII digits."""
    assert client.get(url).status_code == 400, url
