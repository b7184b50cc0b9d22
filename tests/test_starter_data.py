"""The real starter data: `flask seed` through the importer, and the searches the issue
names as "done when". One seed per module (read-only tests)."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from directory.extensions import db
from directory.models import Center, CenterModality
from tests.conftest import seeded_app


@pytest.fixture(scope="module")
def seeded(_migrated, database_url, geocoder):
    with seeded_app(database_url, geocoder) as app_and_output:
        yield app_and_output


@pytest.fixture
def client(seeded):
    return seeded[0].test_client()


def test_seed_loads_over_5000_centers_with_coordinates(seeded):
    app, output = seeded
    with app.app_context():
        total = db.session.scalar(sa.select(sa.func.count(Center.id)))
        located = db.session.scalar(sa.select(sa.func.count(Center.id))
                                    .where(Center.latitude.is_not(None)))
    assert total >= 5000
    assert located / total >= 0.99
    assert re.search(r"chemotherapy\s+cms-pos-2026\s+reported\s+\d+", output)
    assert re.search(r"radiation-therapy\s+nci\s+inferred\s+\d+", output)


def test_seed_is_idempotent(seeded):
    app, _ = seeded
    with app.app_context():
        before = db.session.scalar(sa.select(sa.func.count(CenterModality.id)))
        output = app.test_cli_runner().invoke(args=["seed"]).output
        after = db.session.scalar(sa.select(sa.func.count(CenterModality.id)))
    assert before == after
    assert re.findall(r"added (\d+)", output) == ["0"] * 6
    assert re.findall(r"updated (\d+)", output) == ["0"] * 6


def test_cms_hospitals_are_placed_at_zip_centroids(seeded):
    app, _ = seeded
    with app.app_context():
        c = db.session.scalar(sa.select(Center).where(Center.source == "cms-hgi",
                                                      Center.external_id == "010001"))
        claims = {(m.modality.slug, m.source) for m in c.modalities}
    assert c.postal_code == "36301" and c.geocode_precision == "postal_code"
    assert c.name == "Southeast Health Medical Center"
    assert claims >= {("chemotherapy", "cms-pos-2026"), ("chemotherapy", "cms-oqr-2021-2023")}


def result_items(html: str) -> list[str]:
    """The HTML of each result in a results page."""
    return re.findall(r'<li class="result[^"]*"[^>]*>(.*?)</li>\s*(?=<li class="result|</ol>)',
                      html, re.S)


def test_houston_radiation_lists_md_anderson_with_distance(client):
    html = client.get("/centers?near=Houston,+TX&radius=50&modality=radiation-therapy"
                      ).get_data(as_text=True)
    item = next(i for i in result_items(html)
                if "University of Texas MD Anderson Cancer Center" in i)
    distance = re.search(r'class="distance">(?:<abbr[^>]*>≈</abbr>&#8239;)?([\d.]+) km', item)
    assert distance and float(distance.group(1)) < 15


def test_boston_10_miles_lists_dana_farber(client):
    html = client.get("/centers?near=Boston&radius=10&unit=mi&per_page=100").get_data(
        as_text=True)
    assert "Dana-Farber/Harvard Cancer Center" in html


def test_rochester_mn_lists_mayo(client):
    html = client.get("/centers?city=Rochester&region=MN").get_data(as_text=True)
    assert "Mayo Clinic Comprehensive Cancer Center, Minnesota" in html


def test_springfield_offers_alternatives_and_unknown_place_says_so(client):
    assert "Did you mean" in client.get("/centers?near=Springfield").get_data(as_text=True)
    assert "could not find a place" in client.get("/centers?near=Qwxzyv").get_data(
        as_text=True)


def test_uk_centers_say_the_list_is_from_2014(client):
    html = client.get("/centers?q=christie&country=GB").get_data(as_text=True)
    cid = re.search(r'href="(?:http://localhost)?/centers/(\d+)"', html).group(1)
    detail = client.get(f"/centers/{cid}").get_data(as_text=True)
    assert "November 2014" in detail


def test_country_place_becomes_a_country_filter(client):
    html = client.get("/centers?near=United+Kingdom").get_data(as_text=True)
    assert "Showing centers in" in html
    assert re.search(r'id="results-heading">\s*1,0\d\d centers', html)
