"""Inferred treatments on the pages and in the API (issue 17): a Houston immunotherapy search
lists the hospitals reporting chemotherapy as inferred, after those reporting it, each with
its basis; the center page asks about the treatments no source reports; the compare page and
the printed shortlist carry the questions; the About page explains each rule."""

from __future__ import annotations

import datetime as dt
import re

import pytest

from tests.conftest import DATA

OP35_BASIS = "this hospital reports outpatient chemotherapy; confirm with the center"
OP35 = (b"facility_id,star_rating_year,measure_id,score\n"
        b"450068,2025,OP_35_ADM,11.9\n450777,2025,OP_33,1\n")
POS = (b"facility_id,pos_chemo,pos_radonc,pos_surg\n"
       b"450999,1,0,0\n")


@pytest.fixture
def houston(import_file, make_center):
    """MD Anderson (NCI: inferred from its designation); a hospital reporting immunotherapy
    45 km out; CMS hospitals reporting chemotherapy (OP-35, Provider of Services) nearer
    the center; one reporting only radiation (OP-33). ``{short name: id}``."""
    import_file(DATA / "excerpts" / "nci_excerpt.csv", format="nci")
    made = {
        "reported": make_center("Katy Immunotherapy Hospital", 29.7858, -95.8245,
                                city="Katy", region="US-TX", kind="hospital",
                                phone="+12815550100",
                                modalities=["immunotherapy", "chemotherapy"]),
        "op35": make_center("Memorial Hermann - Texas Medical Center", 29.7100, -95.3990,
                            city="Houston", region="US-TX", postal_code="77030",
                            address="6411 Fannin", phone="+17137043700",
                            website="http://www.memorialhermann.org/", source="cms-hgi",
                            external_id="450068"),
        "pos": make_center("Channelview Community Hospital", 29.7760, -95.1140,
                           city="Channelview", region="US-TX", source="cms-hgi",
                           external_id="450999"),
        "op33": make_center("Pasadena Radiation Hospital", 29.6911, -95.2091,
                            city="Pasadena", region="US-TX", source="cms-hgi",
                            external_id="450777"),
    }
    assert not import_file(OP35, filename="op35.csv", format="cms-oqr",
                           source="cms-oqr").rejected
    assert not import_file(POS, filename="pos.csv", format="cms-pos", source="cms-pos").rejected
    return {key: center.id for key, center in made.items()}


def _names(html: str) -> list[str]:
    return re.findall(r'<h3><a href="[^"]+/centers/\d+">([^<]+)</a></h3>', html)


def test_houston_immunotherapy_lists_inferred_after_reported(client, houston):
    api = client.get("/api/v1/centers?near=Houston,+TX&modality=immunotherapy").get_json()
    names = [item["name"] for item in api["items"]]
    assert names[0] == "University of Texas MD Anderson Cancer Center"   # designated first
    # Then the hospital reporting immunotherapy, though 45 km out, before the nearer ones
    # where it is only inferred from their chemotherapy.
    assert names[1:] == ["Katy Immunotherapy Hospital", "Memorial Hermann - Texas Medical "
                         "Center", "Channelview Community Hospital"]
    assert "Pasadena Radiation Hospital" not in names  # radiation implies nothing
    by_name = {item["name"]: item for item in api["items"]}

    def immunotherapy(name):
        return [m for m in by_name[name]["modalities"] if m["slug"] == "immunotherapy"]

    [reported] = immunotherapy("Katy Immunotherapy Hospital")
    assert reported["provenance"] == "reported" and reported["inference"] is None
    [op35] = immunotherapy("Memorial Hermann - Texas Medical Center")
    assert op35["provenance"] == "inferred" and op35["source"] == "cms-oqr"
    assert op35["evidence"] == "inferred: " + OP35_BASIS
    assert op35["inference"]["basis"] == "inferred: " + OP35_BASIS
    assert op35["inference"]["rule"] == "cms-op35-chemotherapy"
    assert op35["inference"]["url"].endswith("/about#rule-cms-op35-chemotherapy")
    [pos] = immunotherapy("Channelview Community Hospital")
    assert pos["inference"]["rule"] == "cms-pos-chemotherapy"
    [nci] = immunotherapy("University of Texas MD Anderson Cancer Center")
    assert nci["inference"]["rule"] == "nci-comprehensive"
    # The results page: same order, each line says reported or inferred, with the basis.
    html = client.get("/centers?near=Houston%2C+TX&modality=immunotherapy").get_data(
        as_text=True)
    assert _names(html) == names
    items = html.split('<li class="result">')[1:]
    katy = next(i for i in items if "Katy Immunotherapy" in i)
    assert re.search(r'Immunotherapy:\s*<span class="badge reported">reported</span> by',
                     katy)
    memorial = next(i for i in items if "Memorial Hermann" in i)
    assert re.search(r'Immunotherapy:\s*<span class="badge inferred">inferred</span> '
                     + re.escape(OP35_BASIS), memorial)
    assert 'href="/about#rule-cms-op35-chemotherapy"' in memorial
    assert "before those it is only inferred for" in html


def test_other_orders_and_searches_are_unchanged(client, houston):
    """Distance order stays nearest first; a search without a treatment and the SQL path
    (no place) order as the best match does."""
    api = client.get("/api/v1/centers?near=Houston,+TX&modality=immunotherapy"
                     "&sort=distance").get_json()
    km = [item["distance_km"] for item in api["items"]]
    assert km == sorted(km)
    best = client.get("/api/v1/centers?region=TX&modality=immunotherapy&sort=best"
                      "&per_page=50").get_json()
    names = [item["name"] for item in best["items"]]
    assert names.index("Katy Immunotherapy Hospital") < names.index(
        "Channelview Community Hospital") < names.index(
        "Memorial Hermann - Texas Medical Center")  # then by name within the inferred ones


def test_the_export_names_the_basis(client, houston):
    text = client.get("/centers.csv?near=Houston,+TX&modality=immunotherapy").get_data(
        as_text=True)
    memorial = next(line for line in text.splitlines() if "Memorial Hermann" in line)
    assert "targeted-therapy; immunotherapy: inferred: " + OP35_BASIS in memorial


def test_center_page_asks_about_treatments_no_source_reports(client, houston):
    html = client.get(f"/centers/{houston['op35']}").get_data(as_text=True)
    assert 'id="questions"' in html
    questions = html.split('id="questions"')[1]
    assert "KRAS G12C" in questions                 # targeted therapy: inferred only
    assert "bone or the brain" in questions          # SBRT: not reported
    assert "outpatient infusion unit here" not in questions  # chemotherapy is reported
    assert re.search(r"Targeted therapy <span class=\"badge inferred\">inferred", questions)
    assert re.search(r"Stereotactic body radiation therapy \(SBRT/SABR\) "
                     r"<span class=\"not-reported\">", questions)
    assert "not medical advice" in questions
    # the treatments table links the basis to its rule, and says "inferred" once (badge)
    assert 'href="/about#rule-cms-op35-chemotherapy"' in html
    assert re.search(r'inferred</span> ' + re.escape(OP35_BASIS), html)
    assert "inferred: " + OP35_BASIS not in html


def test_compare_states_a_basis_once_whatever_the_sources(client, houston, import_file):
    """Two releases of OP-35 (two sources) infer the same: the comparison says it once."""
    import_file(OP35, filename="op35b.csv", format="cms-oqr", source="cms-oqr-2")
    html = client.get(f"/compare?ids={houston['op35']}").get_data(as_text=True)
    row = html.split('<th scope="row">Immunotherapy</th>')[1].split("</tr>")[0]
    assert row.count(OP35_BASIS) == 1 and row.count("badge inferred") == 1


def test_compare_shows_questions_for_the_searched_treatments(client, houston):
    ids = f"{houston['op35']},{houston['reported']}"
    html = client.get(f"/compare?ids={ids}&near=Houston,+TX"
                      f"&back=near%3DHouston%252C%2BTX%26modality%3Dtargeted-therapy"
                      ).get_data(as_text=True)
    section = html.split('id="questions"')[1]
    assert "KRAS G12C" in section and "PD-L1" in section
    assert "checkpoint inhibitors" not in section      # immunotherapy was not searched
    assert "tumor board" in section                    # the questions for every call
    print_url = re.search(r'<a class="button" href="([^"]+)">Print a shortlist', html)[1]
    assert "/compare/print?" in print_url and "modality=targeted-therapy" in print_url
    # the treatment chosen on the page itself wins over the search's
    html = client.get(f"/compare?ids={ids}&modality=sbrt").get_data(as_text=True)
    assert "bone or the brain" in html.split('id="questions"')[1]
    assert 'value="sbrt" selected' in html


def test_printed_shortlist_one_sheet_per_center(client, houston):
    ids = f"{houston['op35']},{houston['reported']},{houston['pos']}"
    response = client.get(f"/compare/print?ids={ids}&near=Houston,+TX&modality=immunotherapy")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    sheets = html.split('<article class="sheet"')[1:]
    assert len(sheets) == 3
    memorial = sheets[0]
    assert "Memorial Hermann - Texas Medical Center" in memorial
    assert "+1 713-704-3700" in memorial                   # international format
    assert "6411 Fannin" in memorial and "http://www.memorialhermann.org/" in memorial
    assert "What is reported, and by whom" in memorial
    assert re.search(r"Chemotherapy</strong>:\s*<span class=\"badge reported\">reported"
                     r"</span> by", memorial)
    assert re.search(r"Targeted therapy, Immunotherapy</strong>:\s*<span class=\"badge "
                     r"inferred\">inferred</span> " + re.escape(OP35_BASIS), memorial)
    assert memorial.count('<span class="answer"') == 4 + 3  # general + immunotherapy
    assert "checkpoint inhibitors" in memorial and "6.9 km from" not in memorial
    assert "km from Houston" in memorial and "not medical advice" in memorial
    today = dt.date.today()  # the printed date in the page's language, not ISO
    assert f"Printed {today:%B} {today.day}, {today.year} from public sources" in memorial
    spanish = client.get(f"/es/compare/print?ids={ids}").get_data(as_text=True)
    assert f"{today.day} de " in spanish and today.isoformat() not in spanish
    assert "+1 281-555-0100" in sheets[1]


@pytest.mark.parametrize("url", ["/compare/print?ids=abc", "/compare?ids=1&unit=furlong",
                                 "/compare?ids=1&modality=nonsense",
                                 "/compare/print?ids=1&modality=sbrt&modality=%3Cb%3E"])
def test_bad_compare_parameters_are_a_400(client, url):
    assert client.get(url).status_code == 400


def test_about_explains_every_rule(client):
    html = client.get("/about").get_data(as_text=True)
    assert 'id="inference-rules"' in html
    for slug in ("nci-comprehensive", "nci-clinical", "cms-op35-chemotherapy",
                 "cms-pos-chemotherapy"):
        assert f'id="rule-{slug}"' in html
    assert "inferred: " + OP35_BASIS in html
    assert "checkpoint-inhibitors" in html          # a fact's source is linked
    never = html.split("Never inferred:")[1].split("</p>")[0]
    for name in ("Surgery", "Proton therapy", "Brachytherapy", "SBRT"):
        assert name in never


def test_compare_takes_a_treatment_by_name_as_a_search_does(client, houston):
    ids = houston["op35"]
    by_name = client.get(f"/compare?ids={ids}&modality=Immunotherapy")
    assert by_name.status_code == 200
    assert 'value="immunotherapy" selected' in by_name.get_data(as_text=True)
    spanish = client.get(f"/es/compare?ids={ids}&modality=nada")
    assert spanish.status_code == 400
    assert "tratamiento desconocido: &#39;nada&#39;" in spanish.get_data(as_text=True)
