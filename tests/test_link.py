"""Record linker (directory.curation.link): pure tests on handcrafted records, plus one slow
test on the real source files in /work/shared/data (skipped when they are missing)."""

from __future__ import annotations

import importlib.util
import os
import random
from pathlib import Path

import pytest

from directory.curation.link import (
    LINK_THRESHOLD,
    REVIEW_THRESHOLD,
    LinkRecord,
    LinkResult,
    link_records,
)
from directory.curation.link_score import normalize_postal, parse_street, prepare, score_pair

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(os.environ.get("LINK_DATA_DIR", "/work/shared/data"))


def hifld(id_: str, name: str, address: str, city: str, state: str, zip_: str,
          lat: float, lon: float) -> LinkRecord:
    return LinkRecord(key=f"hifld:{id_}", source="hifld-hospitals", name=name, address=address,
                      city=city, region=f"US-{state}", postal_code=zip_, country="US",
                      latitude=lat, longitude=lon, precision="address")


def cms(ccn: str, name: str, address: str, city: str, state: str, zip_: str,
        source: str = "cms-hospitals", prefix: str = "cms") -> LinkRecord:
    return LinkRecord(key=f"{prefix}:{ccn}", source=source, name=name, address=address,
                      city=city, region=f"US-{state}", postal_code=zip_, country="US",
                      ids=(("ccn", ccn),))


def nci(id_: str, name: str, street: str, city: str, state: str, zip_: str,
        lat: float, lon: float) -> LinkRecord:
    return LinkRecord(key=f"nci:{id_}", source="nci-designated", name=name, address=street,
                      city=city, region=f"US-{state}", postal_code=zip_, country="US",
                      latitude=lat, longitude=lon, precision="address")


MSK_HIFLD = hifld("117510021", "MEMORIAL HOSPITAL FOR CANCER AND ALLIED DISEASES",
                  "1275 YORK AVENUE", "NEW YORK", "NY", "10065", 40.76427432, -73.95659552)
MSK_NCI = nci("39", "Memorial Sloan-Kettering Cancer Center", "1275 York Avenue", "New York",
              "NY", "10065", 40.764045, -73.956024)
MDA_HIFLD = hifld("25977030", "UNIVERSITY OF TEXAS M.D. ANDERSON CANCER CENTER",
                  "1515 HOLCOMBE BOULEVARD", "HOUSTON", "TX", "77030", 29.70703136, -95.39707717)
MDA_NCI = nci("59", "University of Texas MD Anderson Cancer Center", "1515 Holcombe Boulevard",
              "Houston", "TX", "77030", 29.708247, -95.39697)
DFCI_HIFLD = hifld("2202115", "DANA - FARBER CANCER INSTITUTE", "450 BROOKLINE AVENUE",
                   "BOSTON", "MA", "2215", 42.337615, -71.108183)  # HIFLD lost the leading 0
DFCI_NCI = nci("26", "Dana-Farber/Harvard Cancer Center", "450 Brookline Avenue", "Boston",
               "MA", "02215", 42.337593, -71.108279)


def cluster_of(result: LinkResult, key: str) -> list[str]:
    return next(c for c in result.clusters if key in c)


def together(result: LinkResult, a: str, b: str) -> bool:
    return b in cluster_of(result, a)


def review_pairs(result: LinkResult) -> set[tuple[str, str]]:
    return {(link.a, link.b) for link in result.review}


def test_key_link_also_within_one_source():
    a = cms("450076", "UNIVERSITY OF TEXAS M D ANDERSON CANCER CENTER", "1515 HOLCOMBE BLVD",
            "HOUSTON", "TX", "77030")
    b = cms("450076", "UT MD ANDERSON", "1515 HOLCOMBE", "HOUSTON", "TX", "77030",
            prefix="cms2021")
    other = cms("450077", "SOMEWHERE ELSE", "1 MAIN ST", "DALLAS", "TX", "75201")
    result = link_records([a, b, other])
    assert result.clusters == [["cms2021:450076", "cms:450076"], ["cms:450077"]]
    (link,) = result.links
    assert (link.a, link.b, link.rule, link.score) == ("cms2021:450076", "cms:450076",
                                                       "key:ccn", 1.0)
    assert "450076" in link.reason


def test_wikidata_qid_key_links():
    a = LinkRecord(key="wikidata:Q1525831", source="wikidata", name="MD Anderson",
                   ids=(("wikidata", "Q1525831"),))
    b = LinkRecord(key="hifld:25977030", source="hifld-hospitals", name="X",
                   ids=(("wikidata", "Q1525831"),))
    assert link_records([a, b]).links[0].rule == "key:wikidata"


def test_same_address_weak_name_links_msk():
    result = link_records([MSK_HIFLD, MSK_NCI])
    assert result.clusters == [["hifld:117510021", "nci:39"]]
    (link,) = result.links
    assert link.rule == "address+name"
    assert LINK_THRESHOLD <= link.score < 0.9  # the name alone is weak
    assert "1275 york ave" in link.reason and "10065" in link.reason and "m apart" in link.reason


def test_punctuated_initials_and_leading_zero_zip():
    result = link_records([MDA_HIFLD, MDA_NCI, DFCI_HIFLD, DFCI_NCI])
    assert together(result, "hifld:25977030", "nci:59")
    assert together(result, "hifld:2202115", "nci:26")
    assert not together(result, "nci:59", "nci:26")
    dfci = next(lk for lk in result.links if lk.b == "nci:26")
    assert "02215" in dfci.reason


def test_zip_normalisation():
    assert normalize_postal("2115", "US") == "02115"
    assert normalize_postal("02115", "US") == "02115"
    assert normalize_postal("02115-1234", "US") == "02115"
    assert normalize_postal("021151234", None) == "02115"
    assert normalize_postal("501", "US") == "00501"
    assert normalize_postal(" WV1 4PW", "GB") == "WV14PW"
    assert normalize_postal("7431", "AT") == "7431"  # not a US ZIP: no padding
    assert normalize_postal("", "US") is None


def test_street_normalisation():
    assert parse_street("849 SOUTH THREE NOTCH STREET, PO BOX 760") == ("849", "s three notch st")
    assert parse_street("ONE GUSTAVE L LEVY PLACE") == parse_street("1 Gustave L. Levy Place")
    assert parse_street("619 SOUTH NINETEENTH STREET") == parse_street("619 S 19th St")
    assert parse_street("Lorry Lokey Building 265 Campus Drive") == ("265", "campus dr")
    assert parse_street("550 First Avenue 1201 Smilow Building")[1] == parse_street(
        "550 FIRST AVE")[1]


def test_same_name_in_different_states_stays_apart():
    ok = cms("370178", "MEMORIAL HOSPITAL", "1401 WEST LOCUST", "SPRINGFIELD", "OK", "74960")
    tx = hifld("1", "MEMORIAL HOSPITAL", "1401 W LOCUST ST", "SPRINGFIELD", "TX", "74960",
               32.0, -97.0)
    result = link_records([ok, tx])
    assert len(result.clusters) == 2 and not result.links and not result.review


def test_two_campuses_of_one_system_stay_apart():
    main = hifld("10", "BAPTIST HEALTH MEDICAL CENTER", "9601 BAPTIST HEALTH DR",
                 "LITTLE ROCK", "AR", "72205", 34.7470, -92.3789)
    north = LinkRecord(key="nci:900", source="nci-designated",
                       name="Baptist Health Medical Center", address="3333 Springhill Drive",
                       city="Little Rock", region="US-AR", postal_code="72205", country="US",
                       latitude=34.7800, longitude=-92.3300, precision="address")  # ~5.8 km
    near = LinkRecord(key="nhs:1", source="other", name="Baptist Health Medical Center",
                      address="500 Other Road", city="Little Rock", region="US-AR",
                      country="US", latitude=34.7470, longitude=-92.3650,
                      precision="rooftop")  # 1.3 km from main, different address
    result = link_records([main, north, near])
    assert len(result.clusters) == 3 and not result.links
    assert not review_pairs(result) & {("hifld:10", "nci:900"), ("hifld:10", "nhs:1")}


def test_records_of_one_source_are_never_merged():
    a = hifld("1", "ST MARY MEDICAL CENTER", "100 MAIN ST", "SPRINGFIELD", "IL", "62701",
              39.80, -89.65)
    b = hifld("2", "ST MARY MEDICAL CENTER", "100 MAIN STREET", "SPRINGFIELD", "IL", "62701",
              39.80, -89.65)
    c = cms("140001", "ST MARY MEDICAL CENTER", "100 MAIN ST", "SPRINGFIELD", "IL", "62701")
    result = link_records([a, b, c])
    assert not together(result, "hifld:1", "hifld:2")
    assert len(result.links) == 1  # c links to exactly one of them
    (skipped,) = result.review
    assert skipped.score >= LINK_THRESHOLD and "one source" in skipped.reason


def test_location_beats_namesake_at_another_address():
    """CMS names its CCN after the system, but its street address is the Zion campus."""
    c = cms("050515", "KAISER FOUNDATION HOSPITAL - SAN DIEGO", "4647 ZION AVE", "SAN DIEGO",
            "CA", "92120")
    zion = hifld("20092120", "KAISER FOUNDATION HOSPITAL - ZION", "4647 ZION AVE",
                 "SAN DIEGO", "CA", "92120", 32.7858, -117.0954)
    other = hifld("192092123", "KAISER FOUNDATION HOSPITAL - SAN DIEGO",
                  "9455 CLAIREMONT MESA BLVD", "SAN DIEGO", "CA", "92123", 32.8335, -117.1246)
    result = link_records([c, zion, other])
    assert together(result, "cms:050515", "hifld:20092120")
    assert ("cms:050515", "hifld:192092123") in review_pairs(result)


def test_middle_band_goes_to_review_and_is_not_merged():
    a = cms("330399", "ST BARNABAS HOSPITAL", "4422 THIRD AVENUE", "BRONX", "NY", "10457")
    b = hifld("116910457", "SBH HEALTH SYSTEM", "4422 THIRD AVENUE", "BRONX", "NY", "10457",
              40.8526, -73.8914)
    result = link_records([a, b])
    assert len(result.clusters) == 2 and not result.links
    (pair,) = result.review
    assert REVIEW_THRESHOLD <= pair.score < LINK_THRESHOLD
    assert pair.rule == "address+name" and "4422 3rd ave" in pair.reason


def test_low_scores_are_dropped():
    a = cms("1", "GREEN VALLEY HOSPITAL", "1 ELM ST", "AUSTIN", "TX", "78701")
    b = hifld("2", "RIVERSIDE PSYCHIATRIC INSTITUTE", "900 OAK AVE", "AUSTIN", "TX", "78701",
              30.27, -97.74)
    result = link_records([a, b])
    assert not result.links and not result.review


def test_forbidden_pair_is_never_linked_not_even_by_key_or_through_others():
    assert not link_records([MSK_HIFLD, MSK_NCI],
                            forbidden=[("nci:39", "hifld:117510021")]).links
    result = link_records([MSK_HIFLD, MSK_NCI], forbidden=[("nci:39", "hifld:117510021")])
    assert len(result.clusters) == 2 and not result.review  # a rejected pair stays rejected
    a = cms("450076", "MD ANDERSON", "1515 HOLCOMBE", "HOUSTON", "TX", "77030")
    b = cms("450076", "MD ANDERSON", "1515 HOLCOMBE", "HOUSTON", "TX", "77030",
            prefix="cms2021")
    assert len(link_records([a, b], forbidden=[("cms:450076", "cms2021:450076")]).clusters) == 2
    # a-b by key, b-hifld by address: a and hifld are forbidden, so one of the links is refused
    h = hifld("25977030", "UNIVERSITY OF TEXAS M.D. ANDERSON CANCER CENTER",
              "1515 HOLCOMBE BOULEVARD", "HOUSTON", "TX", "77030", 29.707, -95.397)
    result = link_records([a, b, h], forbidden=[("cms:450076", "hifld:25977030")])
    assert not together(result, "cms:450076", "hifld:25977030")


def test_existing_pair_is_kept():
    a = cms("1", "GREEN VALLEY HOSPITAL", "1 ELM ST", "AUSTIN", "TX", "78701")
    b = hifld("2", "RIVERSIDE PSYCHIATRIC INSTITUTE", "900 OAK AVE", "AUSTIN", "TX", "78701",
              30.27, -97.74)
    result = link_records([a, b], existing=[("hifld:2", "cms:1"), ("cms:1", "gone:9")])
    assert result.clusters == [["cms:1", "hifld:2"]]
    assert [(lk.a, lk.b, lk.rule) for lk in result.links] == [("cms:1", "hifld:2", "existing")]
    assert result.stats()["links_by_rule"] == {"existing": 1}


def test_duplicate_key_raises():
    with pytest.raises(ValueError, match="duplicate"):
        link_records([MSK_NCI, MSK_NCI])


def test_other_country_never_links():
    uk = LinkRecord(key="nhs:1", source="nhs-choices", name="Memorial Hospital",
                    address="1 High St", city="Springfield", postal_code="62701",
                    country="GB", latitude=39.8, longitude=-89.65)
    us = hifld("1", "MEMORIAL HOSPITAL", "1 HIGH ST", "SPRINGFIELD", "IL", "62701", 39.8, -89.65)
    assert score_pair(prepare(0, uk), prepare(1, us)) is None


def test_point_and_name_without_address():
    wd = LinkRecord(key="wikidata:Q1808012", source="wikidata",
                    name="Memorial Sloan Kettering Cancer Center", country="US",
                    latitude=40.7641, longitude=-73.9568, ids=(("wikidata", "Q1808012"),))
    far = LinkRecord(key="wikidata:Q2", source="wikidata-copy",
                     name="Memorial Sloan Kettering Cancer Center", country="US",
                     latitude=40.80, longitude=-73.9568)  # 4 km north
    result = link_records([wd, MSK_NCI, far])
    assert together(result, "wikidata:Q1808012", "nci:39")
    assert next(lk for lk in result.links if lk.b == "wikidata:Q1808012").rule == "point+name"
    assert len(cluster_of(result, "wikidata:Q2")) == 1


def _corpus() -> list[LinkRecord]:
    recs = [MSK_HIFLD, MSK_NCI, MDA_HIFLD, MDA_NCI, DFCI_HIFLD, DFCI_NCI]
    recs += [cms("450076", "UT M D ANDERSON CANCER CENTER", "1515 HOLCOMBE BLVD", "HOUSTON",
                 "TX", "77030"),
             cms("450076", "UT MD ANDERSON", "1515 HOLCOMBE", "HOUSTON", "TX", "77030",
                 prefix="cms2021"),
             hifld("1", "ST MARY MEDICAL CENTER", "100 MAIN ST", "SPRINGFIELD", "IL", "62701",
                   39.80, -89.65),
             hifld("2", "ST MARY MEDICAL CENTER", "100 MAIN STREET", "SPRINGFIELD", "IL",
                   "62701", 39.80, -89.65),
             cms("140001", "SAINT MARY MEDICAL CENTER", "100 MAIN ST", "SPRINGFIELD", "IL",
                 "62701"),
             cms("330399", "ST BARNABAS HOSPITAL", "4422 THIRD AVENUE", "BRONX", "NY", "10457"),
             hifld("116910457", "SBH HEALTH SYSTEM", "4422 THIRD AVENUE", "BRONX", "NY",
                   "10457", 40.8526, -73.8914)]
    return recs


def test_order_independent():
    recs = _corpus()
    expected = link_records(recs, forbidden=[("nci:26", "hifld:2202115")])
    assert expected.links and expected.review
    for seed in range(5):
        shuffled = recs[:]
        random.Random(seed).shuffle(shuffled)
        got = link_records(shuffled, forbidden=[("hifld:2202115", "nci:26")])
        assert (got.clusters, got.links, got.review) == (expected.clusters, expected.links,
                                                         expected.review)


def test_result_shapes_and_stats():
    recs = _corpus()
    result = link_records(recs)
    keys = sorted(r.key for r in recs)
    assert sorted(k for c in result.clusters for k in c) == keys
    assert result.clusters == sorted(sorted(c) for c in result.clusters)
    assert all(lk.a < lk.b for lk in result.links + result.review)
    stats = result.stats()
    assert stats["records"] == len(recs)
    assert stats["clusters"] == len(result.clusters)
    assert sum(stats["links_by_rule"].values()) == stats["links"] == len(result.links)
    assert stats["review"] == len(result.review)


def _load_bench():
    spec = importlib.util.spec_from_file_location("link_bench", ROOT / "bench" / "link_bench.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


@pytest.mark.slow
@pytest.mark.skipif(not (DATA / "hifld-hospitals" / "Hospitals.csv").exists(),
                    reason="real source files not available")
def test_real_data_cms_hifld_nci_nhs():
    bench = _load_bench()
    records = bench.load_all(DATA)
    result = link_records(records)
    linked, total = bench.cms_hifld_rate(result)
    assert total == 5421
    assert linked / total >= 0.85
    by_key = {r.key: r for r in records}
    partners = bench.flagship_partners(result, by_key)
    for nci_key, hifld_name in bench.FLAGSHIPS.items():
        assert partners[nci_key] == [hifld_name], nci_key


def test_at_equal_scores_the_same_address_and_the_nearer_record_win():
    """A breaker's 'Vail Clinic' row (the clinic's own address and point) joined 'Vail
    Health Hospital', 56 m away at another address, with the same score as the clinic's
    own record: the tie went by key."""
    from directory.curation.link import LinkRecord, link_records

    hospital = LinkRecord(key="c1", source="stored", name="Vail Health Hospital",
                          address="181 W Meadow Dr", city="Vail", region="US-CO",
                          postal_code="81657", country="US", latitude=39.64404,
                          longitude=-106.38195, precision="rooftop")
    clinic = LinkRecord(key="c2", source="stored", name="Vail Clinic",
                        address="180 S Frontage Rd W", city="Vail", region="US-CO",
                        postal_code="81657", country="US", latitude=39.64367,
                        longitude=-106.38146, precision="rooftop")
    row = LinkRecord(key="n1", source="clinics", name="Vail Clinic",
                     address="180 S Frontage Rd W", city="Vail", region="US-CO",
                     postal_code="81657", country="US", latitude=39.64366971,
                     longitude=-106.381464, precision="rooftop")
    for order in ([hospital, clinic, row], [row, clinic, hospital]):
        result = link_records(order)
        assert ["c2", "n1"] in result.clusters and ["c1"] in result.clusters
