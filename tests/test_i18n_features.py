"""The features of issue 17 in Spanish (issue 16): the questions to ask and the inference
rules come from the seeds' ``i18n.es`` entries, a stored (English) inferred basis shows in
the page's language, and "Sugerir una actualización" speaks Spanish: its labels, its errors
(numbers in the Spanish form), its confirmation and the accepted update's provenance."""

from __future__ import annotations

import datetime as dt
import html

import pytest

from directory.extensions import db, limiter
from directory.inference import check_rules, load_inferences, read_rules
from directory.questions import load_questions
from directory.vocabulary import SEEDS_DIR, load_vocabulary
from directory.web.auth import upsert_user
from tests.test_inferred_web import houston  # noqa: F401  (fixture)

TODAY = dt.date.today().isoformat()
OP35_BASIS = "inferred: this hospital reports outpatient chemotherapy; confirm with the center"


@pytest.fixture(autouse=True)
def _fresh_limits(app):
    limiter.reset()


def text(response) -> str:
    return html.unescape(response.data.decode())


def test_questions_have_spanish_for_every_modality_and_english_stays():
    english, spanish = load_questions(), load_questions(lang="es")
    assert spanish.general[0].startswith("¿Sus médicos atienden")
    assert english.general[0].startswith("Do your doctors treat")
    for slug, questions in spanish.by_modality.items():
        assert questions != english.by_modality[slug], slug
        assert all(q.startswith("¿") or "¿" in q for q in questions), slug
    assert load_questions(lang="fr") == english  # a language without its own: English


def test_every_rule_has_spanish_words_and_the_table_checks_them(tmp_path):
    table = load_inferences()
    for rule in table.rules:
        es = rule.localized("es")
        assert es.basis.startswith("deducido: ") and es.basis.endswith(
            "confírmelo con el centro"), rule.slug
        assert es.name != rule.name and es.reasoning != rule.reasoning
        assert all(f.statement != e.statement for f, e in zip(es.facts, rule.facts))
        assert es.anchor == rule.anchor and es.infers == rule.infers
        assert table.basis_in(rule.basis, "es") == es.basis
    assert table.basis_in("inferred: something else", "es") is None
    # A translation without its basis is a problem of the table.
    source = (SEEDS_DIR / "inferences.toml").read_text(encoding="utf-8")
    broken = source.replace('i18n.es.basis = "deducido: este hospital declara quimioterapia '
                            'ambulatoria; confírmelo con el centro"\n', "", 1)
    assert broken != source
    (tmp_path / "inferences.toml").write_text(broken, encoding="utf-8")
    problems = check_rules(read_rules(tmp_path / "inferences.toml"), load_vocabulary())
    assert problems == ["cms-op35-chemotherapy: i18n.es needs a name, a basis and reasoning"]


def test_spanish_center_page_shows_the_basis_and_questions_in_spanish(client, houston):  # noqa: F811
    page = text(client.get(f"/es/centers/{houston['op35']}"))
    assert "este hospital declara quimioterapia ambulatoria; confírmelo con el centro" in page
    assert "outpatient chemotherapy" not in page
    assert "Preguntas para el centro" in page
    assert "¿Tienen un servicio de oncología radioterápica en el propio centro?" in page
    assert "Do you have a radiation oncology department on site?" not in page
    assert "¿Por qué?" in page and 'href="/es/about#rule-cms-op35-chemotherapy"' in page
    english = text(client.get(f"/centers/{houston['op35']}"))
    assert OP35_BASIS.removeprefix("inferred: ") in english
    assert "Do you have a radiation oncology department on site?" in english


def test_spanish_search_compare_and_shortlist(client, houston):  # noqa: F811
    results = text(client.get("/es/centers?near=Houston,+TX&modality=immunotherapy"))
    assert "deducido</span> este hospital declara quimioterapia ambulatoria" in results
    ids = f"{houston['op35']},{houston['pos']}"
    compare = text(client.get(f"/es/compare?ids={ids}&modality=immunotherapy&near=Houston"))
    assert "Preguntas para cada centro" in compare
    assert "Sobre Inmunoterapia, el tratamiento que buscó." in compare
    assert "¿Dan inmunoterapia (inhibidores de puntos de control)" in compare
    assert "registro Provider of Services de los CMS" in compare  # the POS rule's basis
    assert "Imprimir una lista de centros" in compare
    sheet = text(client.get(f"/es/compare/print?ids={ids}&modality=immunotherapy"
                            f"&near=Houston"))
    assert "Lista de centros para imprimir" in sheet and "Centro 2 de 2" in sheet
    assert "Qué se informa y quién lo informa" in sheet
    assert "Las preguntas son sobre Inmunoterapia." in sheet
    assert "Llamé el:" in sheet and "Esta hoja es informativa y no es consejo médico" in sheet
    assert "What is reported" not in sheet and "Called on" not in sheet


def test_spanish_about_page_explains_each_rule_in_spanish(client):
    page = text(client.get("/es/about"))
    assert "Cómo deducimos los tratamientos" in page
    for rule in load_inferences().rules:
        es = rule.localized("es")
        assert es.name in page and es.basis in page and es.reasoning in page
        assert rule.reasoning not in page and rule.basis not in page
    assert "Nunca se deducen:" in page and "Cirugía" in page
    assert "Quimioterapia ambulatoria declarada a los CMS (indicador OP-35)" in page


def test_spanish_suggest_form_errors_and_confirmation(client, make_center):
    center = make_center("Bayou General Hospital", 29.70, -95.40, city="Houston",
                         region="US-TX", phone="+17135550100", modalities=["chemotherapy"],
                         source="test", external_id="T1")
    form = text(client.get(f"/es/centers/{center.id}/suggest"))
    assert "¿Quién hace esta sugerencia?" in form and "Trabajo en este centro" in form
    assert "Inmunoterapia" in form and "Enviar la sugerencia" in form
    assert f'action="/es/centers/{center.id}/suggest"' in form
    bad = client.post(f"/es/centers/{center.id}/suggest",
                      data={"phone": "call us", "comment": "x" * 1234,
                            "website": "javascript:alert(1)"})
    page = text(bad)
    assert bad.status_code == 400
    assert "Diga quién es usted" in page
    assert "No podemos leer este número de teléfono" in page
    assert "Tiene 1.234 caracteres; el máximo es 1.000." in page
    assert "No es una dirección web" in page
    assert "This is not" not in page
    sent = client.post(f"/es/centers/{center.id}/suggest",
                       data={"role": "patient", "status": "closed", "offers": ["sbrt"]})
    assert sent.status_code == 303 and sent.location.startswith("/es/suggestions/")
    page = text(client.get(sent.location))
    assert "Gracias: hemos recibido su sugerencia" in page
    assert "«informado por un paciente o familiar»" in page
    assert "El centro ha cerrado definitivamente" in page
    assert "Ofrece un tratamiento" in page and "Radiocirugía y radioterapia estereotáctica" in page
    withdrawn = client.post(sent.location + "/withdraw", follow_redirects=True)
    assert "Su sugerencia se ha retirado." in text(withdrawn)


def test_accepted_update_provenance_in_spanish(client, make_center):
    center = make_center("Bayou General Hospital", 29.70, -95.40, city="Houston",
                         region="US-TX", phone="+17135550100", source="test",
                         external_id="T1")
    response = client.post(f"/centers/{center.id}/suggest",
                           data={"role": "center", "phone": "7135550199"})
    assert response.status_code == 303
    upsert_user(db.session, "editor@example.org", "correct horse battery", "editor")
    db.session.commit()
    client.post("/admin/login", data={"email": "editor@example.org",
                                      "password": "correct horse battery"})
    from directory.models import Suggestion

    s = db.session.query(Suggestion).one()
    accepted = client.post(f"/admin/suggestions/{s.id}/accept",
                           data={"accept": [str(i.id) for i in s.items]})
    assert accepted.status_code == 302
    page = text(client.get(f"/es/centers/{center.id}"))
    assert f"Informado por alguien del centro, revisado el {TODAY}" in page
    assert "Actualizaciones que nos han comunicado" in page
    assert "Teléfono: +1 713-555-0199" in page
    assert "Reported by" not in page and "someone at the center" not in page
    # The directory's own source is named in Spanish (its row holds the English the app
    # wrote), on the center page and on the About page with its publisher and note.
    assert "Actualizaciones sugeridas (revisadas)" in page
    assert "Suggested updates (reviewed)" not in page
    about = text(client.get("/es/about"))
    assert "Actualizaciones sugeridas (revisadas)" in about
    assert "Visitantes de este directorio: personal de los centros" in about
    assert "un editor de este directorio revisó y aceptó cada uno" in about
    english = text(client.get("/about"))
    assert "Suggested updates (reviewed)" in english and "Visitantes" not in english


def test_spanish_about_page_credits_sources_in_spanish(client):
    from directory.models import DataSource

    db.session.add(DataSource(slug="wd-test", name="Wikidata hospitals (worldwide)",
                              attribution="Source: Wikidata (CC0)."))
    db.session.commit()
    assert "Fuente: Wikidata (CC0)." in text(client.get("/es/about"))
    assert "Source: Wikidata (CC0)." in text(client.get("/about"))
