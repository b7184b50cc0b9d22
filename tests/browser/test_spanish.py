"""The Spanish pages in Chromium (issue 16): the whole patient flow (guide -> "Buscar
centros" -> results -> center -> compare three, with the questions to ask -> print, and the
printed shortlist), a center's questions and "Sugerir una actualización" sent to its Spanish
confirmation, without an English sentence of ours, the scripts' strings in Spanish,
axe-core with 0 violations and no sideways scrolling at 375 px."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from babel.messages.pofile import read_po
from playwright.sync_api import expect

from tests.browser.test_accessibility import check, sideways

CATALOG = Path(__file__).resolve().parents[2] / "translations/es/LC_MESSAGES/messages.po"


def english_sentences() -> list[str]:
    """Our English interface text (every catalog msgid with a few words, placeholders cut
    out) and content (the questions and inference rules of ``seeds``): none of it may show
    on a Spanish page."""
    with open(CATALOG, "rb") as fh:
        catalog = read_po(fh)
    found = set()
    for message in catalog:
        for msgid in (message.id if isinstance(message.id, tuple) else (message.id,)):
            for piece in re.split(r"%\(\w+\)s|<[^>]+>", msgid or ""):
                piece = piece.strip(" .,:;()“”")
                if len(piece.split()) >= 3:
                    found.add(piece)
    # Our content in seeds: the questions to ask and the inference rules' words.
    from directory.inference import load_inferences
    from directory.questions import load_questions

    questions = load_questions()
    found.update(q.rstrip("?") for q in questions.general)
    found.update(q.rstrip("?") for qs in questions.by_modality.values() for q in qs)
    for rule in load_inferences().rules:
        found.update((rule.basis.removeprefix("inferred: "), rule.reasoning[:60]))
        found.update(fact.statement for fact in rule.facts)
    return sorted(found)


def assert_spanish(page, english: list[str]) -> None:
    text = " ".join(page.locator("body").inner_text().split())
    leaks = [s for s in english if s in text]
    assert leaks == [], f"{page.url}: English on a Spanish page: {leaks[:5]}"
    assert page.locator("html").get_attribute("lang") == "es"


def test_spanish_flow_guide_search_center_compare_print(page, centers):
    english = english_sentences()
    page.goto("/es/guide/")
    assert_spanish(page, english)
    page.get_by_role("link", name="Radioterapia", exact=True).first.click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Radioterapia")
    assert_spanish(page, english)
    # The guide's own search box: "Cerca de" Houston, "Buscar centros".
    box = page.locator(".find-box")
    box.get_by_label("Cerca de").fill("Houston")
    box.get_by_role("button", name="Buscar centros").click()
    page.wait_for_url("**/es/centers?**")
    assert "modality=radiation-therapy" in page.url
    expect(page.locator("#results-heading")).to_contain_text("centros")
    expect(page.locator("main")).to_contain_text("Centros a menos de 100 km de Houston")
    first = page.locator(".result .distance").first.inner_text()
    assert re.search(r"\d,\d km", first), first  # "3,5 km"
    expect(page.locator(".leaflet-control-zoom-in")).to_have_attribute("title", "Acercar")
    assert_spanish(page, english)
    # The shortlist's script speaks Spanish too.
    boxes = page.get_by_role("checkbox", name=re.compile("^Comparar"))
    picked = []
    for i in range(3):
        boxes.nth(i).check()
        picked.append(page.locator(".result h3").nth(i).inner_text())
    expect(page.locator("[data-compare-status]")).to_contain_text("3 de 3 elegidos")
    # A center page, in Spanish, then back.
    page.locator(".result h3 a").first.click()
    expect(page.get_by_role("heading", name="Tratamientos", exact=True)).to_be_visible()
    assert "/es/centers/" in page.url
    assert_spanish(page, english)
    page.go_back()
    page.get_by_role("button", name="Comparar los elegidos").click()
    page.wait_for_url("**/es/compare?**")
    expect(page.locator("table.compare thead th")).to_have_count(3)
    assert page.locator("table.compare thead th a:not(.remove)").all_inner_texts() == picked
    expect(page.get_by_role("row", name=re.compile("^Distancia desde Houston"))).to_be_visible()
    expect(page.get_by_role("row", name=re.compile("^Radioterapia"))).to_be_visible()
    # The questions to ask, for the searched treatment and for every call, in Spanish.
    questions = page.locator("section.compare-questions")
    expect(questions.get_by_role("heading", name="Preguntas para cada centro")).to_be_visible()
    expect(questions.get_by_role("heading", name="Radioterapia", exact=True)).to_be_visible()
    expect(questions).to_contain_text("servicio de oncología radioterápica")
    expect(questions).to_contain_text("comité de tumores")  # for every call
    assert_spanish(page, english)
    # Print the comparison: Spanish, with the page's address, as a PDF.
    page.emulate_media(media="print")
    expect(page.locator(".print-only")).to_contain_text("Impreso desde")
    assert_spanish(page, english)
    assert page.pdf(format="A4")[:4] == b"%PDF"
    page.emulate_media(media="screen")
    # The printed shortlist: one Spanish sheet per center, the questions with room to answer.
    page.get_by_role("link", name="Imprimir una lista de centros").click()
    page.wait_for_url("**/es/compare/print?**")
    expect(page.get_by_role("heading", level=1)).to_have_text("Lista de centros para imprimir")
    sheets = page.locator("article.sheet")
    expect(sheets).to_have_count(3)
    assert sheets.locator("h2").all_inner_texts() == picked
    first = sheets.first
    expect(first).to_contain_text("Qué se informa y quién lo informa")
    expect(first.get_by_role("heading", name="Radioterapia", exact=True)).to_be_visible()
    expect(first).to_contain_text("¿Cuántas sesiones suele tener un tratamiento")
    expect(first).to_contain_text("Centro 1 de 3")
    assert re.search(r"\d,\d km de Houston", first.locator(".sheet-count").inner_text())
    assert_spanish(page, english)
    page.emulate_media(media="print")
    assert_spanish(page, english)
    assert page.pdf(format="A4")[:4] == b"%PDF"


def test_spanish_center_questions_and_suggest_an_update(context_factory, centers):
    """A Spanish center page lists the questions for the treatments no source reports, and
    its "Sugerir una actualización" form (without JavaScript) is Spanish throughout: a
    mistake comes back in Spanish, and a sent suggestion reaches its Spanish confirmation."""
    english = english_sentences()
    center_id = centers["Heights Community Hospital"]
    page = context_factory(java_script_enabled=False).new_page()
    page.goto(f"/es/centers/{center_id}")
    section = page.locator("section", has=page.locator("#questions"))
    expect(section.get_by_role("heading", name="Preguntas para el centro")).to_be_visible()
    expect(section).to_contain_text("Ninguna de nuestras fuentes informa estos tratamientos")
    expect(section.locator("summary", has_text="Para cada llamada")).to_be_visible()
    assert_spanish(page, english)
    page.get_by_role("link", name="Sugerir una actualización").click()
    page.wait_for_url(f"**/es/centers/{center_id}/suggest")
    expect(page.get_by_role("heading", level=1)).to_have_text("Sugerir una actualización")
    assert_spanish(page, english)
    page.get_by_label("Trabajo en este centro").check()
    page.get_by_label("Número de teléfono", exact=True).fill("llámenos")
    page.get_by_role("button", name="Enviar la sugerencia").click()
    expect(page.get_by_role("alert")).to_contain_text("La sugerencia no se ha enviado")
    expect(page.locator("#phone-error")).to_contain_text(
        "No podemos leer este número de teléfono")
    assert_spanish(page, english)
    page.locator("fieldset", has_text="Tratamientos").get_by_label(
        "Inmunoterapia").first.check()
    page.get_by_label("Número de teléfono", exact=True).fill("(713) 555-0142")
    page.get_by_label("Está cerrado temporalmente").check()
    page.get_by_role("button", name="Enviar la sugerencia").click()
    page.wait_for_url("**/es/suggestions/**")
    expect(page.get_by_role("heading", level=1)).to_have_text(
        "Gracias: hemos recibido su sugerencia")
    main = page.locator("main")
    expect(main).to_contain_text("Por ahora no cambia nada en la página del centro")
    expect(main).to_contain_text("«informado por alguien del centro»")
    expect(main).to_contain_text("El centro está cerrado temporalmente")
    expect(main).to_contain_text("+1 713-555-0142")
    expect(main).to_contain_text("Ofrece un tratamiento")
    assert_spanish(page, english)
    # Withdrawn in Spanish too.
    page.get_by_role("button", name="Retirar esta sugerencia").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Su sugerencia n.º")
    expect(main).to_contain_text("Usted retiró esta sugerencia")
    assert_spanish(page, english)


def test_language_switch_and_autocomplete_in_spanish(page, centers):
    page.goto("/centers?near=Houston%2C+TX&modality=chemotherapy")
    page.get_by_role("navigation", name="Language").get_by_role("link", name="Español").click()
    page.wait_for_url("**/es/centers?near=Houston%2C+TX&modality=chemotherapy")
    expect(page.locator("h1")).to_have_text("Buscar centros")
    page.goto("/es/")
    near = page.get_by_role("combobox", name=re.compile("Cerca de"))
    near.press_sequentially("Houst", delay=30)
    expect(page.get_by_role("listbox", name="Lugares sugeridos")).to_be_visible()
    expect(page.locator(".ac .visually-hidden[role=status]")).to_contain_text(
        re.compile("Se encontr"))
    # The English switch goes back to today's URL of the same page.
    page.get_by_role("navigation", name="Idioma").get_by_role("link", name="English").click()
    page.wait_for_url(re.compile(r"/$"))
    expect(page.locator("html")).to_have_attribute("lang", "en")


@pytest.mark.skipif(bool(os.environ.get("TEST_DATABASE_URL")),
                    reason="accessibility checks run on the SQLite pass only")
def test_axe_and_no_sideways_scrolling_on_spanish_pages(context_factory, centers):
    ids = list(centers.values())
    urls = ["/es/", "/es/guide/", "/es/guide/radiation-therapy", "/es/guide/choosing-a-center",
            "/es/about", "/es/centers?near=Houston%2C+TX&modality=radioterapia",
            "/es/centers?near=Huston", f"/es/centers/{centers['Bayou Cancer Center']}",
            f"/es/compare?ids={ids[0]},{ids[1]},{ids[2]}&near=Houston", "/es/compare",
            "/es/centers?page=x", "/es/nada"]
    problems = []
    for width in (1280, 375):
        page = context_factory(viewport={"width": width, "height": 900}).new_page()
        for url in urls:
            problems += check(page, url)
            if width == 375:
                problems += sideways(page, url, width)
    assert problems == [], "\n".join(problems)
