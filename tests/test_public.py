"""Public pages: status codes, content, 400s that name the field, escaping."""

from __future__ import annotations

import re

import pytest

from tests.conftest import CASES


def test_home_has_search_form_and_guide_links(client, make_center):
    make_center("Somewhere Cancer Center", 1, 1)
    html = client.get("/").get_data(as_text=True)
    assert 'action="/centers"' in html and 'name="near"' in html and 'name="modality"' in html
    assert 'href="/guide/radiation-therapy"' in html
    assert "does not give medical advice" in html


@pytest.mark.parametrize("query, field", [
    ("radius=-5", "radius"), ("page=abc", "page"), ("page=0", "page"), ("page=-1", "page"),
    ("unit=parsecs", "unit"), ("unit=furlong", "unit"), ("per_page=100000", "per_page"),
    ("per_page=0", "per_page"), ("q=" + "a" * 5000, "q"), ("modality=aromatherapy", "modality"),
    ("country=Atlantis", "country"), ("sort=random", "sort"), ("sort=distance", "sort"),
    ("radius=abc", "radius"), ("near=91,0", "near"), ("designation=nope", "designation"),
    ("near=" + "x" * 300, "near"), ("radius=nan", "radius"), ("radius=inf", "radius"),
])
def test_bad_parameters_get_400_naming_the_field(client, query, field):
    response = client.get(f"/centers?{query}")
    assert response.status_code == 400
    assert f"<strong>{field}</strong>" in response.get_data(as_text=True)


def test_unknown_place_is_a_message_not_an_error(client):
    response = client.get("/centers?near=Qwxzyv")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "could not find a place called “Qwxzyv”" in html


def test_ambiguous_place_offers_alternatives_that_resolve(client):
    html = client.get("/centers?near=Springfield").get_data(as_text=True)
    assert "Did you mean" in html
    links = re.findall(r'href="(/centers\?near=Springfield[^"]+)"', html)
    assert len(links) >= 3
    follow = client.get(links[0].replace("&amp;", "&")).get_data(as_text=True)
    assert "<strong>Springfield, Massachusetts, US</strong>" in follow


def test_results_show_distance_in_chosen_unit(client, make_center):
    make_center("Near Boston", 42.3601, -71.0589, city="Boston", modalities=["chemotherapy"])
    mi = client.get("/centers?near=42.3601,-71.0589&radius=5&unit=mi").get_data(as_text=True)
    km = client.get("/centers?near=42.3601,-71.0589&radius=5").get_data(as_text=True)
    assert "0.0 mi" in mi and "within 5 mi of" in mi
    assert "0.0 km" in km and "within 5 km of" in km


def test_facet_links_narrow_the_search(client, make_center):
    make_center("A", 1, 1, modalities=["chemotherapy"])
    make_center("B", 1, 1, modalities=["sbrt"])
    html = client.get("/centers").get_data(as_text=True)
    assert 'href="/centers?modality=sbrt"' in html
    assert "Radiation therapy (1)" in html
    narrowed = client.get("/centers?modality=sbrt").get_data(as_text=True)
    assert ">B</a>" in narrowed and ">A</a>" not in narrowed


def test_pagination_links(client, import_file):
    import_file(CASES / "24_pagination_seed.csv")
    html = client.get("/centers?per_page=10").get_data(as_text=True)
    assert "20 centers" in html and 'rel="next" href="/centers?per_page=10&amp;page=2"' in html
    page3 = client.get("/centers?per_page=10&page=3")
    assert page3.status_code == 200


def test_xss_is_escaped_everywhere(client, import_file):
    """Case 26: names with markup render as text, javascript: websites are not links."""
    import_file(CASES / "26_xss_seed.csv")
    html = client.get("/centers?city=%22%3E%3Cscript%3Ealert(1)%3C%2Fscript%3E") \
        .get_data(as_text=True)
    assert "<script>alert(1)" not in html and "&lt;script&gt;" in html
    listing = client.get("/centers").get_data(as_text=True)
    assert "<img src=x" not in listing and "&lt;img src=x onerror=alert(1)&gt;" in listing
    ids = re.findall(r'href="(?:http://localhost)?/centers/(\d+)"', listing)
    assert len(ids) >= 2
    for cid in ids:
        detail = client.get(f"/centers/{cid}").get_data(as_text=True)
        assert 'href="javascript:' not in detail
        assert "<b>" not in detail.split("<main")[1]


def test_center_page_shows_provenance_and_guide_links(client, session, import_file):
    nci = CASES.parent / "excerpts" / "nci_excerpt.csv"
    if not nci.exists():
        pytest.skip("NCI excerpt not present")
    import_file(nci)
    import sqlalchemy as sa

    from directory.models import Center

    center = session.scalar(sa.select(Center).where(
        Center.name == "University of Texas MD Anderson Cancer Center"))
    html = client.get(f"/centers/{center.id}").get_data(as_text=True)
    assert "NCI-Designated Comprehensive Cancer Center" in html
    assert 'class="badge inferred">inferred' in html
    assert 'href="/guide/immunotherapy"' in html
    assert "Nearest other centers" in html and "Mays Cancer Center" in html


def test_center_404(client):
    response = client.get("/centers/424242")
    assert response.status_code == 404 and "no center with id 424242" in \
        response.get_data(as_text=True)


def test_every_guide_page_links_to_its_centers(client):
    from directory.guide import load_guide

    pages = load_guide()
    assert {"surgery", "radiation-therapy", "chemotherapy", "targeted-therapy",
            "immunotherapy"} <= set(pages)
    index = client.get("/guide/").get_data(as_text=True)
    for slug, page in pages.items():
        if slug == "index":
            continue
        assert f'href="/guide/{slug}"' in index
        html = client.get(f"/guide/{slug}").get_data(as_text=True)
        assert "Not medical advice" in html
        if page.modality:
            assert f'href="/centers?modality={page.modality}"' in html
            assert f'name="modality" value="{page.modality}"' in html


def test_guide_unknown_page_404(client):
    assert client.get("/guide/homeopathy").status_code == 404


def test_about_lists_sources(client, runner):
    from directory.extensions import db
    from directory.seeding import load_seed_plan, sync_sources

    sync_sources(db.session, load_seed_plan())
    db.session.commit()
    html = client.get("/about").get_data(as_text=True)
    assert "Open Government Licence v3.0" in html and "National Cancer Institute" in html


def test_modality_nobody_reports_explains_and_offers_the_parent(client, make_center):
    make_center("Radiation place", 1, 1, modalities=["radiation-therapy"])
    html = client.get("/centers?modality=proton-therapy").get_data(as_text=True)
    assert "None of the public sources we use says which centers offer proton therapy" in html
    assert 'href="/centers?modality=radiation-therapy"' in html
    guide = client.get("/guide/radiation-therapy").get_data(as_text=True)
    assert "do not yet say which centers offer" in guide and "proton therapy" in guide


def test_country_without_centers_says_so(client, make_center):
    make_center("US place", 40, -100)
    html = client.get("/centers?near=Paris,+France").get_data(as_text=True)
    assert "The directory has no centers in France yet" in html


def test_page_past_the_end_links_to_the_last_page(client, make_center):
    for i in range(3):
        make_center(f"C{i}", 1, 1)
    html = client.get("/centers?per_page=2&page=9").get_data(as_text=True)
    assert "There are only 2 page(s)" in html and 'per_page=2&amp;page=2' in html


@pytest.mark.parametrize("url", ["/centers/9223372036854775808", "/centers/%EF%BC%91",
                                 "/centers/0", "/centers/007",
                                 "/admin/imports/99999999999999999999"])
def test_odd_ids_are_404_not_500(client, url):
    assert client.get(url).status_code == 404


@pytest.mark.parametrize("query, field", [("near=a%00b", "near"), ("q=x%01", "q"),
                                          ("page=1&page=2", "page"), ("unit=km&unit=mi", "unit")])
def test_control_characters_and_repeats_are_400(client, query, field):
    response = client.get(f"/centers?{query}")
    assert response.status_code == 400 and f"<strong>{field}</strong>" in \
        response.get_data(as_text=True)


def test_punctuation_only_city_matches_nothing(client, make_center):
    make_center("Somewhere", 1, 1, city="Boston")
    html = client.get("/centers?city=%21%21").get_data(as_text=True)
    assert "0 centers" in html


def test_radius_without_near_is_explained(client, make_center):
    make_center("Somewhere", 1, 1)
    html = client.get("/centers?radius=50").get_data(as_text=True)
    assert "only applies with a place" in html


def test_any_treatment_sends_an_empty_modality_and_that_is_fine(client, make_center):
    make_center("Somewhere", 42.36, -71.06, city="Boston")
    response = client.get("/centers?near=Boston&radius=&unit=km&modality=")
    assert response.status_code == 200 and "Somewhere" in response.get_data(as_text=True)


def test_pages_name_an_icon_that_exists(client):
    """Browsers ask for /favicon.ico unless the page names an icon (a 404 on every page)."""
    page = client.get("/").get_data(as_text=True)
    assert 'rel="icon"' in page
    assert client.get("/static/favicon.svg").status_code == 200


def test_back_from_compare_keeps_every_filter_of_the_search(client, make_center):
    """"Back to the search" returns to the same results (treatment, radius, unit), and the
    value it carries can only ever be parameters of /centers."""
    from urllib.parse import quote

    a = make_center("Alpha Oncology", 29.76, -95.37, modalities=["immunotherapy"])
    b = make_center("Beta Oncology", 29.70, -95.40, modalities=["immunotherapy"])
    search = "near=Houston%2C+TX&radius=50&unit=mi&modality=immunotherapy"
    html = client.get(f"/centers?{search}").get_data(as_text=True)
    assert f'name="back" value="{search}"' in html.replace("&amp;", "&")
    page = client.get(f"/compare?ids={a.id},{b.id}&near=Houston,+TX&unit=mi"
                      f"&back={quote(search)}").get_data(as_text=True)
    back = page.split('">Back to the search</a>')[0].rsplit('<a href="', 1)[1] \
        .replace("&amp;", "&")
    assert back.startswith("/centers?")
    assert {"radius=50", "unit=mi", "modality=immunotherapy"} <= set(back.split("?")[1]
                                                                          .split("&"))
    hostile = client.get(f"/compare?ids={a.id}&back={quote('https://evil.example/?x=1')}"
                         ).get_data(as_text=True)
    back = hostile.split('">Back to the search</a>')[0].rsplit('<a href="', 1)[1]
    assert back.startswith("/centers") and "evil" not in back, back
    assert 'href="https://evil' not in hostile
