"""English and Spanish (issue 16): the language in the URL, the first-visit redirect and the
cookie, the switch and hreflang, every public page in both languages, Spanish search terms
and place names, locale formatting, the Spanish guide, and an API that stays neutral."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from urllib.parse import urlsplit

import pytest

from directory.guide import GUIDE_DIR, load_guide


@pytest.fixture
def houston(make_center):
    """Three centers in Houston (one offering radiation therapy) and one in Munich."""
    return {
        "bayou": make_center("Bayou Cancer Center", 29.7069, -95.3963, city="Houston",
                             region="US-TX", postal_code="77030",
                             modalities=["radiation-therapy", "chemotherapy"]),
        "heights": make_center("Heights Community Hospital", 29.79, -95.40, city="Houston",
                               region="US-TX", kind="hospital", modalities=["chemotherapy"]),
        "katy": make_center("Katy General Hospital", 29.78, -95.82, city="Katy",
                            region="US-TX", kind="hospital"),
        "munich": make_center("Klinikum Schwabing", 48.17, 11.58, city="München",
                              country="DE", modalities=["immunotherapy"]),
    }


def public_pages(ids) -> list[str]:
    slugs = [s for s in load_guide() if s != "index"]
    return ["/", "/guide/", *(f"/guide/{s}" for s in slugs), "/about", "/centers",
            "/centers?near=Houston%2C+TX&modality=radiation-therapy",
            "/centers?near=Huston", "/centers?modality=proton-therapy&country=DE",
            f"/centers/{ids['bayou'].id}", f"/centers/{ids['munich'].id}",
            f"/compare?ids={ids['bayou'].id},{ids['heights'].id},{ids['katy'].id}"
            "&near=Houston", "/compare"]


class Links(HTMLParser):
    """Every ``href``/``action`` of a page, with the element's ``hreflang``."""

    def __init__(self):
        super().__init__()
        self.links: list[tuple[str, str | None]] = []
        self.lang: str | None = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "html":
            self.lang = a.get("lang")
        for key in ("href", "action"):
            if a.get(key):
                self.links.append((a[key], a.get("hreflang")))


def parse(html: str) -> Links:
    parser = Links()
    parser.feed(html)
    return parser


def test_every_public_page_in_both_languages(client, houston):
    for url in public_pages(houston):
        english = client.get(url)
        spanish = client.get("/es" + url)
        assert english.status_code == spanish.status_code == 200, url
        en, es = english.get_data(as_text=True), spanish.get_data(as_text=True)
        assert parse(en).lang == "en" and parse(es).lang == "es", url
        assert "does not give medical advice" in en and "no da consejo médico" in es, url
        assert "does not give medical advice" not in es, url
        path, _, query = url.partition("?")
        query = query.replace("%2C", ",").replace("+", " ")
        for lang, prefix in (("en", ""), ("es", "/es")):  # hreflang alternates, both pages
            target = f"http://localhost{prefix}{path}"
            assert f'hreflang="{lang}" href="{target}' in es, (url, lang)
            assert f'hreflang="{lang}" href="{target}' in en, (url, lang)


def test_spanish_pages_link_only_to_spanish_pages(client, houston):
    """Every link of a Spanish page to a public page stays under /es/ (the English switch
    excepted); the API, static files and the admin are not localized."""
    for url in public_pages(houston):
        links = parse(client.get("/es" + url).get_data(as_text=True)).links
        for href, hreflang in links:
            parts = urlsplit(href)
            if parts.netloc not in ("", "localhost") or not parts.path.startswith("/"):
                continue
            if parts.path.startswith(("/static/", "/api/", "/admin")) \
                    or hreflang in ("en", "x-default"):
                continue
            assert parts.path.startswith("/es/"), (url, href)


def test_language_switch_keeps_the_page_and_its_query(client, houston):
    url = "/centers?near=Houston%2C+TX&modality=radiation-therapy"
    html = client.get(url).get_data(as_text=True)
    switch = re.search(r'<nav class="lang-switch".*?</nav>', html, re.S).group(0)
    assert f'href="/es{url}"' in switch.replace("&amp;", "&")
    assert 'aria-current="true" lang="en">English' in switch
    es = client.get("/es" + url).get_data(as_text=True)
    switch = re.search(r'<nav class="lang-switch".*?</nav>', es, re.S).group(0)
    assert f'href="{url}"' in switch.replace("&amp;", "&")


def test_first_visit_follows_accept_language_once(app):
    client = app.test_client()
    spanish = {"Accept-Language": "es-MX,es;q=0.9,en;q=0.5"}
    first = client.get("/centers?near=Houston", headers=spanish)
    assert first.status_code == 302
    assert first.headers["Location"] == "/es/centers?near=Houston"
    assert "Accept-Language" in first.headers["Vary"]
    assert "lang=es" in first.headers["Set-Cookie"]
    # The visitor then chooses English: that page sets the cookie, and English stays.
    english = client.get("/guide/", headers=spanish)
    assert english.status_code == 200 and "lang=en" in english.headers["Set-Cookie"]
    assert client.get("/", headers=spanish).status_code == 200
    # English readers, and everyone without Accept-Language, keep today's URLs.
    assert app.test_client().get("/", headers={"Accept-Language": "en-US,en"}).status_code \
        == 200
    assert app.test_client().get("/about").status_code == 200
    # A download and the API are never redirected.
    assert app.test_client().get("/centers.csv", headers=spanish).status_code == 200
    assert app.test_client().get("/api/v1/modalities", headers=spanish).status_code == 200


def test_spanish_search_terms_map_to_the_same_slugs(client, houston):
    """'radioterapia cerca de Houston': the Spanish name or a Spanish synonym in the URL, or
    the Spanish form's choice, searches the language-neutral slug."""
    for term in ("radioterapia", "Radioterapia", "radiacion", "radiocirugía", "protonterapia",
                 "braquiterapia"):
        html = client.get(f"/es/centers?near=Houston&modality={term}").get_data(as_text=True)
        assert 'aria-current="true"' in html, term
    html = client.get("/es/centers?near=Houston&modality=radioterapia").get_data(as_text=True)
    assert "Bayou Cancer Center" in html and "Heights Community Hospital" not in html
    assert "Centros a menos de 100 km de <strong>Houston, Texas, US</strong>" in html
    assert '<option value="radiation-therapy" selected>Radioterapia</option>' in html
    from directory.vocabulary import load_vocabulary

    vocabulary = load_vocabulary()
    for term, slug in [("cirugía", "surgery"), ("metastasectomía", "metastasectomy"),
                       ("radioterapia", "radiation-therapy"), ("radiocirugía", "sbrt"),
                       ("SBRT", "sbrt"), ("protonterapia", "proton-therapy"),
                       ("braquiterapia", "brachytherapy"), ("quimioterapia", "chemotherapy"),
                       ("terapia dirigida", "targeted-therapy"),
                       ("inmunoterapia", "immunotherapy"),
                       ("pruebas de biomarcadores", "biomarker-testing"),
                       ("ensayos clínicos", "clinical-trials"),
                       ("cuidados paliativos", "palliative-care")]:
        assert vocabulary.resolve(term) == slug, term


@pytest.mark.parametrize("place, expected, country, precision", [
    ("Londres", "London", "GB", "city"), ("Nueva York", "New York City", "US", "city"),
    ("Múnich", "Munich", "DE", "city"), ("Estambul", "Istanbul", "TR", "city"),
    ("Alemania", "Germany", "DE", "country"), ("Turquía", "Turkey", "TR", "country")])
def test_spanish_place_and_country_names(geocoder, place, expected, country, precision):
    found = geocoder.resolve(place).place
    assert found.name.startswith(expected)
    assert (found.country, found.precision) == (country, precision)


def test_spanish_country_names_filter_and_read_in_spanish(client, houston):
    html = client.get("/es/centers?country=Alemania").get_data(as_text=True)
    assert "Klinikum Schwabing" in html and "Bayou Cancer Center" not in html
    assert "Alemania (1)" in html  # the country facet, in Spanish
    html = client.get("/es/centers?near=M%C3%BAnich").get_data(as_text=True)
    assert "Klinikum Schwabing" in html and "Munich, Alemania" in html
    assert client.get("/es/centers?country=Turqu%C3%ADa").status_code == 200


def test_numbers_distances_and_dates_follow_the_locale(client, houston, make_center):
    for i in range(1200):  # four-digit totals: 1,2xx in English, 1.2xx in Spanish
        make_center(f"Clinic {i}", 40.0, -100.0 - i / 1000, kind="clinic")
    en = client.get("/centers?kind=all").get_data(as_text=True)
    es = client.get("/es/centers?kind=all").get_data(as_text=True)
    assert re.search(r"1,20\d centers", en) and re.search(r"1\.20\d centros", es)
    es = client.get("/es/centers?near=29.70,-95.40").get_data(as_text=True)
    assert re.search(r"\b0,\d km\b", es)  # Bayou Cancer Center, about 0.9 km away
    html = client.get(f"/es/centers/{houston['bayou'].id}").get_data(as_text=True)
    assert "29,7069; -95,3963" in html
    assert "ene 2026" in html or "enero de 2026" in html  # the claim's date, 2026-01-01


def test_spanish_error_pages_and_form_errors(client):
    response = client.get("/es/centers?radius=-5")
    html = response.get_data(as_text=True)
    assert response.status_code == 400 and '<html lang="es">' in html
    assert "Hay un problema con el dato <strong>radius</strong> (A menos de)" in html
    assert "la distancia debe estar entre 0,1 y 20.000" in html
    response = client.get("/es/no-such-page")
    assert response.status_code == 404
    assert "Página no encontrada" in response.get_data(as_text=True)
    assert client.get("/es/centers/999999").status_code == 404
    # The same mistakes on the English pages and in the API stay English.
    assert "There is a problem with the <strong>radius</strong>" in \
        client.get("/centers?radius=-5").get_data(as_text=True)
    api = client.get("/api/v1/centers?radius=-5", headers={"Accept-Language": "es"})
    assert api.status_code == 400 and "radius must be between" in api.json["message"]


def test_api_is_language_neutral_and_names_may_follow_lang(client, houston):
    plain = client.get("/api/v1/centers?near=Houston&modality=radioterapia").json
    item = next(i for i in plain["items"] if i["name"] == "Bayou Cancer Center")
    assert {m["slug"]: m["name"] for m in item["modalities"]} == {
        "radiation-therapy": "Radiation therapy", "chemotherapy": "Chemotherapy"}
    assert item["url"].endswith(f"/centers/{houston['bayou'].id}") and "/es/" not in item["url"]
    spanish = client.get("/api/v1/centers?near=Houston&lang=es").json
    item = next(i for i in spanish["items"] if i["name"] == "Bayou Cancer Center")
    names = {m["slug"]: m["name"] for m in item["modalities"]}
    assert names == {"radiation-therapy": "Radioterapia", "chemotherapy": "Quimioterapia"}
    assert item["url"].endswith(f"/es/centers/{houston['bayou'].id}")
    tree = client.get("/api/v1/modalities?lang=es").json["items"]
    assert tree[0]["slug"] == "surgery" and tree[0]["name"] == "Cirugía"
    bad = client.get("/api/v1/modalities?lang=xx")
    assert bad.status_code == 400 and bad.json["message"] == "lang must be one of en, es"


def test_spanish_guide_has_every_page_with_the_same_facts_frame():
    """Each English guide page has a Spanish one with the same slug, modality, related
    modalities and order; each says where its facts come from."""
    english, spanish = load_guide(GUIDE_DIR), load_guide(GUIDE_DIR / "es")
    assert set(english) == set(spanish)
    for slug, page in english.items():
        es = spanish[slug]
        assert (es.modality, es.related, es.order) == (page.modality, page.related,
                                                        page.order), slug
        assert es.title != page.title and "Fuentes" in es.html, slug
        assert "Preguntas para su equipo médico" in es.html or slug == "choosing-a-center"


def test_spanish_guide_pages_link_into_the_spanish_search(client, houston):
    html = client.get("/es/guide/radiation-therapy").get_data(as_text=True)
    assert "<h1>Radioterapia</h1>" in html
    assert "No es consejo médico." in html
    assert 'action="/es/centers"' in html and ">Buscar centros</button>" in html
    assert 'href="/es/centers?modality=radiation-therapy"' in html
    assert "Ver el único centro que se sabe que ofrece radioterapia" in html
    index = client.get("/es/guide/").get_data(as_text=True)
    assert "El cáncer de pulmón en estadio 4" in index
    assert 'href="/es/guide/immunotherapy">Inmunoterapia</a>' in index


def test_link_evidence_and_source_notes_read_in_spanish(app):
    from directory.models import DataSource
    from directory.web.i18n import source_note
    from directory.web.i18n_data import description_text, evidence_text, link_reason

    reason = ("same street address 1515 Holcombe Blvd and postal code 77030; name similarity "
              "0.93; 40 m apart; something new")
    with app.test_request_context("/es/centers/1"):
        assert link_reason(reason) == ("misma dirección (1515 Holcombe Blvd) y mismo código "
                                       "postal (77030); parecido del nombre 0,93; a 40 m; "
                                       "something new")
        assert source_note(DataSource(slug="cms-hgi", note="Every hospital.")).startswith(
            "Todos los hospitales registrados en Medicare")
        assert source_note(DataSource(slug="own-list", note="Our list.")) == "Our list."
        assert description_text("Listed in Wikidata as a hospital (item Q1525831). Wikidata "
                                "does not say whether a hospital is still open, or which "
                                "treatments it gives.").startswith(
            "Figura en Wikidata como hospital (elemento Q1525831).")
        assert description_text("CMS hospital type: Acute Care Hospitals.") == \
            "Tipo de hospital según CMS: Acute Care Hospitals."
        assert description_text("Written by an editor.") == "Written by an editor."
        assert evidence_text("inferred from designation: NCI-Designated Comprehensive Cancer "
                             "Center; CMS quality measure OP-35 (outpatient chemotherapy), "
                             "star rating 2025") == (
            "por la designación: Centro Oncológico Integral designado por el NCI; "
            "indicador de calidad OP-35 de CMS (quimioterapia ambulatoria), calificación en "
            "estrellas de 2025")
    with app.test_request_context("/centers/1"):
        assert link_reason(reason) == reason
        assert source_note(DataSource(slug="cms-hgi", note="Every hospital.")) == \
            "Every hospital."
