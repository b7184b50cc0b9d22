"""Kinds that matter to a cancer patient, the default kind filter and the "best match"
order (issue 14): unit tests on small files; the real searches are in test_starter_data."""

from __future__ import annotations

import pytest

from directory.geo import Place
from directory.importer.fields import kind_from_name
from directory.search import SearchQuery, find_centers
from directory.search.order import best_key, care_tier
from directory.vocabulary import load_vocabulary
from directory.web.display import phone_display

HEADER = "name,kind,city,country,latitude,longitude,modalities,designations\n"
ROWS = [
    # name, kind, lat, lon, modalities, designations
    ("Lakeland Behavioral Health", "psychiatric", 37.210, -93.290, "", ""),
    ("Corner Rehab Hospital", "rehabilitation", 37.211, -93.291, "", ""),
    ("Main Street General", "hospital", 37.215, -93.295, "", ""),
    ("Mercy Chemo Hospital", "hospital", 37.250, -93.300, "chemotherapy", ""),
    ("Ozark Cancer Institute", "hospital", 37.400, -93.400, "", ""),
    ("Kids First Children's Hospital", "hospital", 37.209, -93.289, "chemotherapy", ""),
    ("Moorfields Eye Hospital", "hospital", 37.212, -93.292, "", ""),
]


@pytest.fixture
def town(import_file):
    body = HEADER + "".join(f'"{n}",{k},Springfield,US,{la},{lo},{m},{d}\n'
                            for n, k, la, lo, m, d in ROWS)
    import_file(body.encode(), source="town")


@pytest.fixture
def place():
    def make(lat, lon):
        return Place(name=f"{lat},{lon}", latitude=lat, longitude=lon, precision="coordinates")
    return make


def names(page):
    return [hit.center.name for hit in page.items]


@pytest.mark.parametrize("name, kind", [
    ("Ankara Onkoloji Hastanesi", "cancer-center"),                # Turkish
    ("Hospital de Câncer de Barretos", "cancer-center"),           # Portuguese
    ("Instituto Valenciano de Oncología", "cancer-center"),        # Spanish
    ("Fondazione IRCCS Istituto Nazionale dei Tumori", "cancer-center"),  # Italian
    ("Krebszentrum Nord", "cancer-center"),                        # German
    ("Universitätskrebszentrum", "hospital"),                      # not at a word start
    ("Great Ormond Street Hospital", "childrens"),
    ("St. Jude Children's Research Hospital", "childrens"),        # not a cancer center first
    ("Bakırköy Ruh Sağlığı Hastanesi", "psychiatric"),
    ("Moorfields Eye Hospital", "other"),
    ("Boston Medical Center", "hospital"),
    # Specialist hospitals that a search near Munich, Istanbul or London put first.
    ("ProSomno Klinik für Schlafmedizin", "other"),
    ("Algesiologikum Tagesklinik für Schmerzmedizin", "other"),
    ("Augenklinik Herzog Carl Theodor", "other"),
    ("Beyoglu Goz Egitim ve Arastirma Hastanesi", "other"),
    ("Royal National Throat, Nose and Ear Hospital", "other"),
    ("The Heart Hospital", "other"),
    ("Psychosomatische Klinik Bad Neustadt", "psychiatric"),
    ("Ankara Fizik Tedavi ve Rehabilitasyon Eğitim ve Araştırma Hastanesi", "rehabilitation"),
    # ...and names that only look like them.
    ("Sleepy Eye Medical Center", "hospital"),                     # a town in Minnesota
    ("Sacred Heart Hospital", "hospital"),
    ("St. Irmgardis - Krankenhaus Süchteln GmbH", "hospital"),    # a town, not "Sucht"
    ("Herz-Jesu-Krankenhaus Münster-Hiltrup", "hospital"),
])
def test_a_generic_kind_follows_the_name(name, kind):
    assert kind_from_name("hospital", name) == kind


def test_a_name_does_not_override_a_specific_kind():
    assert kind_from_name("psychiatric", "Cancer Counselling Centre") == "psychiatric"
    assert kind_from_name("childrens", "Children's Cancer Hospital") == "childrens"


def test_care_tiers():
    assert care_tier(True, "hospital", 0) == 0
    assert care_tier(False, "cancer-center", 0) == 0
    surgery = load_vocabulary().bit("surgery")
    chemotherapy = load_vocabulary().bit("chemotherapy")
    assert care_tier(False, "hospital", chemotherapy) == 1
    assert care_tier(False, "hospital", surgery) == 2  # an operating room is not oncology
    assert care_tier(False, "hospital", surgery | chemotherapy) == 1
    assert care_tier(False, "hospital", 0) == 2
    assert care_tier(False, "other", 0) == 3
    assert care_tier(True, "childrens", chemotherapy) == 3  # the guide is for adults
    # university and teaching hospitals count as if half as far among general hospitals
    assert best_key(False, "hospital", 0, "klinikum der universitat munchen", 10) == \
        (2, False, 5)
    assert best_key(False, "hospital", 0, "haseki egitim ve arastirma hastanesi", 4,
                    "wikidata-hospitals") == (2, True, 2)  # its status is not verified
    assert best_key(False, "hospital", 0, "chu de bordeaux", 8) == (2, False, 4)
    assert best_key(False, "hospital", 0, "chumley general", 8) == (2, False, 8)
    assert best_key(False, "hospital", chemotherapy, "university hospital", 8) == \
        (1, False, 8)


def test_default_search_leaves_out_kinds_that_do_not_treat_cancer(session, town, place):
    near = place(37.21, -93.29)
    page = find_centers(session, SearchQuery(near=near, radius_km=50))
    assert "Lakeland Behavioral Health" not in names(page)
    assert "Corner Rehab Hospital" not in names(page)
    every = find_centers(session, SearchQuery(near=near, radius_km=50, all_kinds=True))
    assert every.total == page.total + 2
    only = find_centers(session, SearchQuery(near=near, radius_km=50, kinds=("psychiatric",)))
    assert names(only) == ["Lakeland Behavioral Health"]


def test_best_match_puts_cancer_care_first_then_by_distance(session, town, place):
    near = place(37.21, -93.29)
    best = find_centers(session, SearchQuery(near=near, radius_km=50))
    assert best.items and SearchQuery(near=near).effective_sort == "best"
    assert names(best) == ["Ozark Cancer Institute",       # cancer center, from its name, 26 km
                           "Mercy Chemo Hospital",         # reports chemotherapy, 4.5 km
                           "Main Street General",          # general hospital, 0.6 km
                           "Kids First Children's Hospital",  # pediatric: last group
                           "Moorfields Eye Hospital"]      # specialist, not cancer
    by_distance = find_centers(session, SearchQuery(near=near, radius_km=50, sort="distance"))
    distances = [hit.distance_km for hit in by_distance.items]
    assert distances == sorted(distances)
    by_name = find_centers(session, SearchQuery(country="US", sort="best"))
    assert names(by_name)[:2] == ["Ozark Cancer Institute", "Mercy Chemo Hospital"]


def test_kind_and_sort_parameters(client, town):
    body = client.get("/api/v1/centers?near=37.21,-93.29&kind=all&sort=distance").get_json()
    assert body["items"][0]["name"] == "Lakeland Behavioral Health"  # 0 km away
    assert {i["kind"] for i in body["items"]} >= {"psychiatric", "rehabilitation"}
    bad = client.get("/api/v1/centers?near=37.21,-93.29&kind=hospice")
    assert bad.status_code == 400 and bad.get_json()["field"] == "kind"
    assert "psychiatric" in bad.get_json()["message"]
    html = client.get("/centers?near=37.21,-93.29").get_data(as_text=True)
    assert "Show every kind of center" in html and 'aria-current="true">Best match' in html
    assert "Children&#39;s hospital (pediatric)" in html
    page = client.get("/centers?near=37.21,-93.29&sort=name&kind=all").get_data(as_text=True)
    assert 'aria-current="true">Name' in page and "Lakeland Behavioral Health" in page
    assert 'name="sort" value="name"' in page  # a new search from the form keeps the order


@pytest.mark.parametrize("stored, country, shown", [
    ("+4930450564222", "DE", "+49 30 450564222"),
    ("+16176323000", "US", "+1 617-632-3000"),
    ("+902124445566", "TR", "+90 212 444 55 66"),
])
def test_phones_show_in_international_format(stored, country, shown):
    assert phone_display(stored, country) == shown


def test_initials_find_each_other(session, import_file):
    """Issue 14: "M.D. Anderson", "M D Anderson" and "MD Anderson" find the same centers,
    whichever way the name is written."""
    import_file((HEADER + '"Banner MD Anderson Cancer Center",,Gilbert,US,33.35,-111.79,,\n'
                 '"UNIVERSITY OF TEXAS M.D. ANDERSON CANCER CENTER",,Houston,US,29.708,'
                 '-95.398,,\n').encode(), source="initials")
    for q in ("M.D. Anderson", "M D Anderson", "MD Anderson", "md anderson cancer"):
        assert find_centers(session, SearchQuery(q=q)).total == 2, q
    assert find_centers(session, SearchQuery(q="M.A. Anderson")).total == 0


def test_a_misspelt_place_offers_the_places_it_may_mean(client):
    html = client.get("/centers?near=Huston").get_data(as_text=True)
    assert "Did you mean" in html and "near=Houston%2C+Texas%2C+US" in html
    body = client.get("/api/v1/centers?near=Huston").get_json()
    assert body["field"] == "near" and "Houston, Texas, US" in body["message"]


def test_a_zip_that_lost_its_zero_is_read_as_the_zip(client):
    body = client.get("/api/v1/centers?near=2115").get_json()
    assert body["near"]["name"].startswith("02115 Boston")


def test_an_empty_radius_names_the_nearest_match(client, town):
    html = client.get("/centers?near=38.5,-93.29&radius=20&modality=chemotherapy"
                      ).get_data(as_text=True)
    assert "Nothing within 20 km. The nearest match is Mercy Chemo Hospital" in html


def test_bad_kind_and_oversized_queries_are_400s(client, town):
    both = client.get("/api/v1/centers?near=37.21,-93.29&kind=all&kind=psychiatric")
    assert both.status_code == 400 and "either all" in both.get_json()["message"]
    many = client.get("/api/v1/centers?" + "&".join(["kind=hospital"] * 21))
    assert many.status_code == 400 and many.get_json()["field"] == "kind"
    long = client.get("/centers?" + "&".join(["x=1"] * 1100))  # every link repeats it
    assert long.status_code == 400 and b"at most 4,096" in long.data


def test_a_place_export_orders_once_and_matches_the_page(client, town):
    """A place search's CSV comes from one ordering of all candidates (it was one per
    500-row chunk: 21 scans for 10,000 rows), in the page's best-match order."""
    csv_ids = [line.split(",")[-2] for line in client.get(
        "/centers.csv?near=37.21,-93.29&radius=50").get_data(as_text=True).splitlines()[1:]]
    api = client.get("/api/v1/centers?near=37.21,-93.29&radius=50").get_json()
    assert csv_ids == [str(i["id"]) for i in api["items"]]


def test_a_region_typed_in_near_is_a_best_match_search(client, import_file):
    body = HEADER.replace("city,", "city,region,") + "".join(
        f'"{n}",{k},Springfield,MO,US,{la},{lo},{m},{d}\n' for n, k, la, lo, m, d in ROWS)
    import_file(body.encode(), source="town")
    body = client.get("/api/v1/centers?near=Missouri").get_json()
    assert body["near"]["region"] == "US-MO"
    assert body["items"][0]["name"] == "Ozark Cancer Institute"      # by name: best match
    by_name = client.get("/api/v1/centers?near=Missouri&sort=name").get_json()
    assert by_name["items"][0]["name"] == "Kids First Children's Hospital"
    assert client.get("/api/v1/centers?near=Missouri&region=MO").status_code == 200


def test_a_region_in_near_that_contradicts_region_is_a_400(client, town):
    for url in ("/api/v1/centers?near=Texas&region=CA", "/centers?near=Texas&region=CA"):
        response = client.get(url)
        assert response.status_code == 400, url
        assert "US-TX" in response.get_data(as_text=True)
