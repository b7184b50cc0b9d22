"""Search semantics (directory.search.find_centers), on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from geopy.distance import geodesic

from directory.geo import KM_PER_MILE, Place
from directory.search import SearchError, SearchQuery, find_centers, region_codes
from tests.conftest import CASES


def place(lat, lon):
    return Place(name=f"{lat},{lon}", latitude=lat, longitude=lon, precision="coordinates")


def point_at(origin, km, bearing=90):
    """A point ``km`` geodesic km from ``origin`` along ``bearing``."""
    p = geodesic(kilometers=km).destination(origin, bearing)
    return p.latitude, p.longitude


def names(page):
    return [hit.center.name for hit in page.items]


def test_radius_edge_49_9_in_50_1_out(session, make_center):
    """A center at 49.9 km is inside a 50 km radius; one at 50.1 km is not."""
    origin = (40.0, -100.0)
    make_center("Inside", *point_at(origin, 49.9))
    make_center("Outside", *point_at(origin, 50.1, bearing=0))
    page = find_centers(session, SearchQuery(near=place(*origin), radius_km=50))
    assert names(page) == ["Inside"]
    assert page.items[0].distance_km == pytest.approx(49.9, abs=0.01)


def test_radius_in_miles_vs_km(session, import_file):
    """Case 21: Worcester is ~38.6 mi / ~62.1 km from Boston."""
    import_file(CASES / "21_antimeridian_units.csv")
    boston = place(42.3601, -71.0589)
    in_mi = find_centers(session, SearchQuery(near=boston, radius_km=50 * KM_PER_MILE))
    in_km = find_centers(session, SearchQuery(near=boston, radius_km=50))
    assert len(in_mi.items) == 2 and len(in_km.items) == 1
    worcester = in_mi.items[1]
    assert worcester.distance_km / KM_PER_MILE == pytest.approx(38.6, abs=0.3)
    assert worcester.distance_km == pytest.approx(62.1, abs=0.5)


@pytest.mark.parametrize("near, expected", [
    ((-17.0, 179.9), [21.7, 200.0]),
    ((-17.0, -179.95), [16.8, 212.5]),
])
def test_antimeridian(session, import_file, near, expected):
    """Case 21: a search near Fiji finds centers on both sides of 180°, nearest first."""
    import_file(CASES / "21_antimeridian_units.csv")
    page = find_centers(session, SearchQuery(near=place(*near), radius_km=300,
                                             sort="distance"))
    assert len(page.items) == 2
    assert [round(h.distance_km, 1) for h in page.items] == pytest.approx(expected, abs=1.5)


def test_suva_search_finds_center_across_meridian(session, make_center):
    """Near Suva (178.44° E) a center at 179.9° W is found."""
    make_center("East of the line", -16.9, -179.9, country="FJ")
    page = find_centers(session, SearchQuery(near=place(-18.1416, 178.4419), radius_km=400))
    assert names(page) == ["East of the line"]


def test_centers_without_coordinates_never_in_radius_results(session, make_center):
    make_center("Located", 10.0, 10.0)
    make_center("Unlocated", None, None)
    page = find_centers(session, SearchQuery(near=place(10.0, 10.0), radius_km=20000))
    assert names(page) == ["Located"]
    # ...but they are found without a radius.
    assert {h.center.name for h in find_centers(session, SearchQuery()).items} == {
        "Located", "Unlocated"}


def test_distance_order(session, make_center):
    origin = (0.0, 0.0)
    for km in (30, 10, 20):
        make_center(f"At {km}", *point_at(origin, km))
    page = find_centers(session, SearchQuery(near=place(*origin), radius_km=100))
    assert names(page) == ["At 10", "At 20", "At 30"]


def test_parent_modality_matches_children(session, make_center):
    make_center("Proton place", 1, 1, modalities=["proton-therapy"])
    make_center("Chemo place", 1, 1, modalities=["chemotherapy"])
    page = find_centers(session, SearchQuery(modalities=("radiation-therapy",)))
    assert names(page) == ["Proton place"]
    assert page.facets["modality"]["radiation-therapy"] == 1


def test_two_modalities_combine_as_and(session, make_center):
    make_center("Both", 1, 1, modalities=["chemotherapy", "immunotherapy"])
    make_center("Chemo only", 1, 1, modalities=["chemotherapy"])
    page = find_centers(session, SearchQuery(modalities=("chemotherapy", "immunotherapy")))
    assert names(page) == ["Both"]


def test_unknown_modality_is_an_error(session):
    with pytest.raises(SearchError) as exc:
        find_centers(session, SearchQuery(modalities=("aromatherapy",)))
    assert exc.value.field == "modality"


def test_multivalue_case_15_filters(session, import_file):
    """Case 15: modality filters over imported multi-value cells."""
    import_file(CASES / "15_multivalue_services.csv")

    def found(*slugs):
        return set(names(find_centers(session, SearchQuery(modalities=slugs))))

    assert found("immunotherapy") == {"Example Cancer Institute"}
    assert found("radiation-therapy") == {"Example Cancer Institute", "Sample Oncology Center",
                                          "Harbor Example Clinic", "Lakeside Example Clinic"}
    assert found("chemotherapy", "immunotherapy") == {"Example Cancer Institute"}


def test_pagination_has_no_gaps_or_repeats(session, import_file):
    """Case 24: 20 centers over two pages of 10, stable order name then id."""
    import_file(CASES / "24_pagination_seed.csv")
    p1 = find_centers(session, SearchQuery(per_page=10, page=1))
    p2 = find_centers(session, SearchQuery(per_page=10, page=2))
    p3 = find_centers(session, SearchQuery(per_page=10, page=3))
    ids = [h.center.id for h in p1.items + p2.items]
    assert len(ids) == 20 and len(set(ids)) == 20
    assert p1.total == 20 and p1.pages == 2 and p1.has_next and not p2.has_next
    assert p3.items == [] and p3.total == 20
    twins = [h.center.id for h in p1.items + p2.items if h.center.name == "Example Center Twin"]
    assert twins == sorted(twins) and len(twins) == 2
    boston = find_centers(session, SearchQuery(city="Boston", per_page=10))
    assert boston.pages == 1 and not boston.has_next


def test_radius_pagination_has_no_gaps(session, make_center):
    origin = (45.0, 5.0)
    for i in range(25):
        make_center(f"C{i:02d}", *point_at(origin, 1 + i))
    seen = []
    for page_no in (1, 2, 3):
        page = find_centers(session, SearchQuery(near=place(*origin), radius_km=100,
                                                 per_page=10, page=page_no))
        seen += [h.center.id for h in page.items]
    assert len(seen) == 25 and len(set(seen)) == 25


@pytest.mark.parametrize("city, expected", [
    ("düsseldorf", "Düsseldorf"), ("DÜSSELDORF", "Düsseldorf"), ("Dusseldorf", "Düsseldorf"),
    ("sao paulo", "São Paulo"), ("SÃO PAULO", "São Paulo"), ("quebec", "Québec"),
    ("bos", "Boston"), ("Düssel", "Düsseldorf"),
])
def test_city_folding_and_prefix(session, import_file, city, expected):
    """Case 22: case- and accent-insensitive prefix match on the stored folded city."""
    import_file(CASES / "22_search_folding_seed.csv")
    page = find_centers(session, SearchQuery(city=city))
    assert [h.center.city for h in page.items] == [expected]


def test_q_matches_words_accents_and_wildcards_literally(session, make_center):
    make_center("Zürich Tumor Center", 47.37, 8.54, country="CH")
    make_center("100% Care Clinic", 1, 1)
    make_center("Other_Name Clinic", 1, 1)
    assert names(find_centers(session, SearchQuery(q="zurich tumor"))) == ["Zürich Tumor Center"]
    assert names(find_centers(session, SearchQuery(q="%"))) == []  # never a wildcard
    assert names(find_centers(session, SearchQuery(q="100"))) == ["100% Care Clinic"]
    assert find_centers(session, SearchQuery(q="_")).total == 0


def test_region_and_country_filters(session, make_center):
    make_center("Mayo", 44.02, -92.47, city="Rochester", region="US-MN")
    make_center("Rochester NY", 43.16, -77.61, city="Rochester", region="US-NY")
    for region in ("MN", "mn", "US-MN", "Minnesota"):
        page = find_centers(session, SearchQuery(city="Rochester", region=region))
        assert names(page) == ["Mayo"], region
    assert find_centers(session, SearchQuery(country="FR")).total == 0
    assert "US-MN" in region_codes("Minnesota")


def test_closed_centers_hidden(session, make_center):
    make_center("Open", 1, 1)
    make_center("Gone", 1, 1, status="closed")
    assert names(find_centers(session, SearchQuery())) == ["Open"]


def test_facets_count_every_result_not_just_the_page(session, make_center):
    for i in range(5):
        make_center(f"C{i}", 1, 1, modalities=["chemotherapy"], country="US")
    make_center("GB one", 51.5, -0.1, modalities=["sbrt"], country="GB")
    page = find_centers(session, SearchQuery(per_page=2))
    assert page.facets["modality"] == {"chemotherapy": 5, "sbrt": 1, "radiation-therapy": 1}
    assert page.facets["country"] == {"US": 5, "GB": 1}


def test_sort_distance_needs_near(session):
    with pytest.raises(SearchError):
        find_centers(session, SearchQuery(sort="distance"))


def test_bulk_geodesic_matches_geopy_to_a_millimetre():
    import random

    from directory.geo import geodesic_km, geodesic_km_many

    rng = random.Random(7)
    origin = (-17.0, 179.9)
    points = [(rng.uniform(-89, 89), rng.uniform(-180, 180)) for _ in range(300)]
    for exact, bulk in zip([geodesic_km(origin, p) for p in points],
                           geodesic_km_many(origin, points)):
        assert bulk == pytest.approx(exact, abs=1e-6)


def test_q_matches_word_starts_only_and_ranks_designated_centers(session, make_center):
    import datetime as dt

    import sqlalchemy as sa

    from directory.models import CenterDesignation, Designation

    make_center("Ormskirk District General Hospital", 53.5, -2.9, country="GB")
    make_center("MSK Regional", 40.7, -74.0)
    make_center("Anderson County Hospital", 38.0, -95.0)
    md = make_center("University of Texas MD Anderson Cancer Center", 29.7, -95.4)
    mays = make_center("Mays Cancer Center at UT Health San Antonio MD Anderson Cancer Center",
                       29.5, -98.6)
    nci = session.scalar(sa.select(Designation).where(Designation.slug == "nci-comprehensive"))
    for center in (md, mays):
        session.add(CenterDesignation(center_id=center.id, designation=nci, source="test",
                                      as_of=dt.date(2024, 11, 6)))
    session.commit()
    assert names(find_centers(session, SearchQuery(q="msk"))) == ["MSK Regional"]
    ranked = names(find_centers(session, SearchQuery(q="anderson")))
    # designated first; among them, the word earlier in the name first
    assert ranked == ["University of Texas MD Anderson Cancer Center",
                      "Mays Cancer Center at UT Health San Antonio MD Anderson Cancer Center",
                      "Anderson County Hospital"]


# Names whose tokenization differs between the word-prefix LIKE rule and the full-text
# indexes (punctuation, digits, underscores, non-Latin scripts, mixed scripts).
TRICKY_NAMES = [
    "St. Jude Children's Research Hospital", "O'Brien-Lacey Cancer Center", "Saint-Luc Oncology",
    "Hôpital Köln-Merheim", "東京がん研究センター", "東京abc Clinic", "x_ray Imaging Clinic",
    "Clinic 123abc", "MSK Sloan", "Ormskirk General", "Anderson.com Clinic", "(Paren) Center",
    "Москва Онкоцентр", "A&B Radiology", "1st Choice 24/7 Care",
]
TRICKY_QUERIES = [
    "st", "st.", "st. jude", "jude", "o'brien", "brien", "lacey", "o'brien-lacey", "saint-l",
    "koln", "köln-mer", "merheim", "東京", "東京abc", "abc", "x_ray", "ray", "x", "123",
    "123ab", "msk", "ormsk", "anderson", "anderson.c", "com", "(paren", "paren", "москва",
    "онко", "a&b", "b", "24/7", "7", "care", "1st choice", "clinic", "_", "&",
]


def _like_only(session, q):
    """The LIKE rule alone (no full-text prefilter): the reference the index must match."""
    import sqlalchemy as sa

    from directory.models import Center
    from directory.search import query as search
    from directory.text import fold, like_escape

    tokens = fold(q).split()
    if not tokens:  # only punctuation: matches nothing
        return []
    conds = [Center.status != "closed"]
    for token in tokens:
        escaped = like_escape(token)
        conds.append(sa.or_(Center.search_text.like(f"{escaped}%", escape="\\"),
                            Center.search_text.like(f"% {escaped}%", escape="\\")))
    assert search  # the module under test
    return sorted(session.scalars(sa.select(Center.name).where(*conds)))


def test_full_text_index_finds_exactly_what_the_word_prefix_rule_finds(session, make_center):
    """The FTS5 / tsvector prefilter never loses a match of the LIKE rule (and adds none,
    since LIKE still checks every candidate), whatever the punctuation or script."""
    for i, name in enumerate(TRICKY_NAMES):
        make_center(name, 1, 1 + i / 100)
    for q in TRICKY_QUERIES:
        found = sorted(h.center.name for h in find_centers(
            session, SearchQuery(q=q, per_page=100)).items)
        assert found == _like_only(session, q), q
    assert names(find_centers(session, SearchQuery(q="o'brien"))) == \
        ["O'Brien-Lacey Cancer Center"]
    assert names(find_centers(session, SearchQuery(q="東京"))) == \
        ["東京abc Clinic", "東京がん研究センター"]


def test_full_text_index_follows_renames_and_deletes(session, make_center):
    """The SQLite FTS5 table is kept by triggers (the PostgreSQL index by the database)."""
    center = make_center("Riverside Oncology", 1, 1)
    assert find_centers(session, SearchQuery(q="riverside")).total == 1
    center.name, center.search_text = "Lakeside Oncology", "lakeside oncology"
    session.commit()
    assert find_centers(session, SearchQuery(q="riverside")).total == 0
    assert find_centers(session, SearchQuery(q="lakeside")).total == 1
    session.delete(center)
    session.commit()
    assert find_centers(session, SearchQuery(q="lakeside")).total == 0


def test_cached_counts_follow_every_kind_of_write(session, make_center, import_file):
    """Totals and facets are cached per data version; ORM writes, bulk imports and plain
    SQL all bump the version (database triggers), so no search shows stale counts."""
    import sqlalchemy as sa

    from directory.search import data_version

    query = SearchQuery(country="US", modalities=("chemotherapy",))
    assert find_centers(session, query).total == 0
    v0 = data_version(session)
    center = make_center("One", 1, 1, modalities=["chemotherapy"])
    assert data_version(session) > v0
    assert find_centers(session, query).total == 1
    assert find_centers(session, query).facets["modality"]["chemotherapy"] == 1
    import_file(CASES / "21_antimeridian_units.csv")  # bulk (Core) inserts
    with_import = find_centers(session, SearchQuery()).total
    assert with_import > 1
    session.execute(sa.text("UPDATE center SET status = 'closed' WHERE id = :id"),
                    {"id": center.id})
    session.commit()
    assert find_centers(session, query).total == 0
    assert find_centers(session, SearchQuery()).total == with_import - 1
    session.execute(sa.text("DELETE FROM center_modality"))
    session.execute(sa.text("DELETE FROM center"))
    session.commit()
    assert find_centers(session, SearchQuery()).total == 0


def test_grid_cell_in_sql_matches_python(session, make_center):
    """The database's generated geo_cell equals geocoding.grid_cell at cell edges too."""
    import sqlalchemy as sa

    from directory.geo import grid_cell
    from directory.models import Center

    points = [(-90, -180), (90, 180), (0, 0), (-0.5, -0.5), (45.999999, -73.000001),
              (-33.9, 151.2), (89.99, 179.99), (-89.99, -179.99), (1e-9, -1e-9)]
    for i, (lat, lon) in enumerate(points):
        make_center(f"P{i}", lat, lon)
    make_center("No coordinates")
    rows = session.execute(sa.select(Center.name, Center.latitude, Center.longitude,
                                     Center.geo_cell)).all()
    for name, lat, lon, cell in rows:
        assert cell == (None if lat is None else grid_cell(lat, lon)), name


@pytest.mark.parametrize("origin, radius", [
    ((40.7, -74.0), 100), ((-17.0, 179.8), 400), ((78.2, 15.6), 800), ((0.0, 0.0), 3000),
    ((-89.0, 0.0), 300), ((51.5, -0.1), 1),
])
def test_radius_search_equals_brute_force(session, make_center, origin, radius):
    """Grid cells + bounding boxes never lose a center inside the circle (poles,
    antimeridian, tiny and continent-sized radii)."""
    import random

    rng = random.Random(7)
    expected = set()
    for i in range(60):
        lat, lon = point_at(origin, rng.uniform(0, radius * 1.6), rng.uniform(0, 360))
        make_center(f"R{i}", lat, lon)
        if geodesic(origin, (lat, lon)).km <= radius:
            expected.add(f"R{i}")
    page = find_centers(session, SearchQuery(near=place(*origin), radius_km=radius,
                                             per_page=100))
    assert set(names(page)) == expected


def test_every_word_of_q_counts(session, make_center):
    """No silent cut after ten words: an eleventh word that matches nothing empties the
    result."""
    make_center("Cancer Care Center", 1, 1)
    words = "cancer " * 10
    assert find_centers(session, SearchQuery(q=words)).total == 1
    assert find_centers(session, SearchQuery(q=words + "xqzzy")).total == 0


def _designated(session, center_id):
    import sqlalchemy as sa

    session.expire_all()
    return session.scalar(sa.text("SELECT designated FROM center WHERE id = :i"),
                          {"i": center_id}) in (True, 1)


def test_designated_flag_follows_every_write_to_designations(session, make_center,
                                                            import_file):
    """``center.designated`` is kept by database triggers: ORM writes, plain SQL, a
    designation moved to another center, deletes, and the importer's bulk insert."""
    import sqlalchemy as sa

    from directory.models import CenterDesignation, Designation

    a = make_center("Alpha Oncology", 1, 1)
    b = make_center("Beta Oncology", 1, 2)
    assert not _designated(session, a.id) and not _designated(session, b.id)
    ids = dict(session.execute(sa.select(Designation.slug, Designation.id)).all())
    session.add(CenterDesignation(center_id=a.id, designation_id=ids["nci-comprehensive"],
                                  source="test"))
    session.commit()
    assert _designated(session, a.id)
    session.execute(sa.text("INSERT INTO center_designation (center_id, designation_id, "
                            "source) VALUES (:c, :d, 'raw')"),
                    {"c": a.id, "d": ids["acs-coc"]})
    session.execute(sa.text("DELETE FROM center_designation WHERE center_id = :c AND "
                            "designation_id = :d"), {"c": a.id, "d": ids["nci-comprehensive"]})
    session.commit()
    assert _designated(session, a.id)  # one designation left
    session.execute(sa.text("UPDATE center_designation SET center_id = :b WHERE center_id = :a"),
                    {"a": a.id, "b": b.id})
    session.commit()
    assert not _designated(session, a.id) and _designated(session, b.id)
    session.execute(sa.text("DELETE FROM center_designation"))
    session.commit()
    assert not _designated(session, b.id)

    header = ("external_id,name,city,country,latitude,longitude,modalities,designations\n")
    rows = "".join(f"g{i},Gamma {i} Center,Houston,US,29.{i},-95.4,chemotherapy,"
                   f"{'nci-comprehensive' if i % 3 == 0 else ''}\n" for i in range(30))
    import_file((header + rows).encode(), filename="gamma.csv")
    flags = dict(session.execute(sa.text(
        "SELECT external_id, designated FROM center WHERE external_id LIKE 'g%'")).all())
    assert {k for k, v in flags.items() if v in (True, 1)} == {f"g{i}" for i in range(0, 30, 3)}


@pytest.mark.parametrize("head_max", [100, 4])
def test_relevance_pages_equal_ranking_every_match(session, make_center, monkeypatch,
                                                   head_max):
    """A relevance page found among exact names and designated centers alone is the same
    page as ranking every match, on every page and page size (also when the designated
    centers end mid-page, and with other filters)."""
    import random

    import sqlalchemy as sa

    from directory.models import Center, CenterDesignation, Designation
    from directory.search import query as search
    from directory.text import fold

    monkeypatch.setattr(search, "HEAD_MAX", head_max)
    monkeypatch.setattr(search, "HEAD_FIRST_DIALECTS", {"sqlite", "postgresql"})
    nci = session.scalar(sa.select(Designation.id).where(Designation.slug == "acs-coc"))
    rng = random.Random(11)
    words = ["Anderson", "Andersonville", "Mays", "Regional", "Cancer", "Center", "Clinic"]
    made = []
    for i in range(70):
        name = "Anderson" if i % 17 == 0 else " ".join(rng.sample(words, rng.randint(1, 3)))
        made.append(make_center(name, 10 + i / 100, 10, country="US" if i % 4 else "CA",
                                status="closed" if i % 23 == 5 else "active",
                                modalities=["chemotherapy"] if i % 2 else ["surgery"]))
    for c in made:
        if rng.random() < 0.3:
            session.add(CenterDesignation(center_id=c.id, designation_id=nci, source="test"))
    session.commit()
    for q, extra in [("anderson", {}), ("anderson", {"country": "US"}),
                     ("cancer center", {}), ("andersonville", {"modalities": ("chemotherapy",)}),
                     ("clinic", {})]:
        query = SearchQuery(q=q, **extra)
        conds = search._filters(session, query)
        everything = list(session.scalars(sa.select(Center.id).where(*conds).order_by(
            *search._relevance(fold(q)), Center.name_folded, Center.id)))
        assert everything, q
        for per_page in (1, 3, 7, 20):
            got = []
            for page in range(1, len(everything) // per_page + 2):
                got += [h.center.id for h in find_centers(session, SearchQuery(
                    q=q, page=page, per_page=per_page, **extra)).items]
            assert got == everything, (q, extra, per_page)
