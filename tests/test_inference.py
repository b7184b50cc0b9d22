"""The inference table (seeds/inferences.toml) and the questions table (seeds/questions.toml):
their checks, and the inferred claims the importer makes from a reported treatment."""

from __future__ import annotations

import dataclasses
import datetime as dt
import shutil

import pytest
import sqlalchemy as sa

from directory.importer.claim_formats import ClaimRow, with_inferred
from directory.importer.formats import MODALITY_FORMATS
from directory.importer.plan import _merge_claims
from directory.inference import (
    InferenceTableError,
    check_rules,
    load_inferences,
    read_rules,
)
from directory.models import Center
from directory.questions import QuestionsError, check_questions, load_questions
from directory.vocabulary import SEEDS_DIR, load_vocabulary

OP35_BASIS = "inferred: this hospital reports outpatient chemotherapy; confirm with the center"
#: Treatments that need an operating team, special equipment or a licence (issue 17).
EQUIPMENT_OR_LICENCE = ("surgery", "metastasectomy", "thoracic-surgery", "sbrt",
                        "proton-therapy", "brachytherapy")


# -- the table -------------------------------------------------------------------------

def test_the_shipped_table_passes_its_review():
    table = load_inferences()
    assert check_rules(table.rules, load_vocabulary(), set(MODALITY_FORMATS)) == []
    assert {r.slug for r in table.rules} == {"nci-comprehensive", "nci-clinical",
                                             "cms-op35-chemotherapy", "cms-pos-chemotherapy"}
    op35 = next(r for r in table.rules if r.slug == "cms-op35-chemotherapy")
    assert op35.basis == OP35_BASIS
    assert set(op35.infers) == {"immunotherapy", "targeted-therapy"}
    assert (op35.reported, op35.formats) == ("chemotherapy", ("cms-oqr",))
    assert all(f.url.startswith("https://") for r in table.rules for f in r.facts)


@pytest.mark.parametrize("slug", EQUIPMENT_OR_LICENCE)
def test_procedures_needing_equipment_or_a_licence_are_never_inferred(slug):
    """Marked reported-only in the vocabulary, and no rule of the table infers them."""
    assert load_vocabulary().by_slug(slug).reported_only
    assert all(slug not in rule.infers for rule in load_inferences().rules)


def _seeds_copy(tmp_path, edit):
    """A copy of seeds/ whose inferences.toml went through ``edit(text)``."""
    for name in ("modalities.toml", "designations.toml"):
        shutil.copy(SEEDS_DIR / name, tmp_path / name)
    text = (SEEDS_DIR / "inferences.toml").read_text(encoding="utf-8")
    (tmp_path / "inferences.toml").write_text(edit(text), encoding="utf-8")
    return tmp_path


@pytest.mark.parametrize("slug", ["sbrt", "proton-therapy", "brachytherapy", "surgery",
                                  "thoracic-surgery"])
def test_a_table_inferring_such_a_procedure_is_refused(tmp_path, slug):
    seeds = _seeds_copy(tmp_path, lambda text: text.replace(
        'infers = ["immunotherapy", "targeted-therapy"]',
        f'infers = ["immunotherapy", "targeted-therapy", "{slug}"]', 1))
    with pytest.raises(InferenceTableError) as caught:
        load_inferences(seeds)
    assert any(slug in p and "never inferred" in p for p in caught.value.problems)


def _rule(**changes):
    rule = next(r for r in read_rules(SEEDS_DIR / "inferences.toml")
                if r.slug == "cms-op35-chemotherapy")
    return dataclasses.replace(rule, **changes)


@pytest.mark.parametrize(("changes", "problem"), [
    ({"infers": ("chemo-nonsense",)}, "unknown modality 'chemo-nonsense'"),
    ({"basis": "this hospital gives chemotherapy"}, "must start 'inferred:'"),
    ({"basis": "inferred: chemotherapy"}, "end 'confirm with the center'"),
    ({"facts": ()}, "no facts"),
    ({"reasoning": ""}, "no reasoning"),
    ({"designation": "nci-comprehensive"}, "exactly one of"),
    ({"formats": ("cms-nonsense",)}, "unknown importer format"),
    ({"infers": ("chemotherapy",)}, "infers the treatment that sets it off"),
])
def test_check_rules_names_each_problem(changes, problem):
    problems = check_rules((_rule(**changes),), load_vocabulary(), set(MODALITY_FORMATS))
    assert any(problem in p for p in problems), problems
    assert all(p.startswith("cms-op35-chemotherapy:") for p in problems)


def test_two_rules_with_one_slug_or_one_basis_are_refused():
    rule = _rule()
    problems = check_rules((rule, rule), load_vocabulary(), set(MODALITY_FORMATS))
    assert any("its own slug" in p for p in problems)
    assert any("same basis" in p for p in problems)


# -- claims ----------------------------------------------------------------------------

def test_with_inferred_adds_the_rules_claims_for_a_reported_chemotherapy():
    date = dt.date(2025, 1, 1)
    rows = [ClaimRow(2, "450068", "chemotherapy", "OP-35", date),
            ClaimRow(3, "450001", "external-beam-radiation", "OP-33", date),
            ClaimRow(4, "450002", "chemotherapy", "OP-35", date),
            ClaimRow(5, "450002", "immunotherapy", "reported too", date)]
    out = with_inferred(rows, "cms-oqr", load_inferences())
    added = [r for r in out if r.provenance == "inferred"]
    assert {(r.external_id, r.modality) for r in added} == {
        ("450068", "immunotherapy"), ("450068", "targeted-therapy"),
        ("450002", "targeted-therapy")}  # 450002 reports immunotherapy itself
    assert {(r.evidence, r.verified_on, r.line) for r in added if r.external_id == "450068"} \
        == {(OP35_BASIS, date, 2)}
    # another format's rule (Provider of Services), and a format with none
    pos = with_inferred(rows[:1], "cms-pos", load_inferences())
    assert {r.evidence for r in pos if r.provenance == "inferred"} == {
        "inferred: this hospital reports a chemotherapy service (CMS Provider of Services); "
        "confirm with the center"}
    assert with_inferred(rows[1:2], "cms-oqr", load_inferences()) == rows[1:2]


def test_a_reported_claim_wins_over_an_inferred_one_of_the_same_modality():
    date = dt.date(2025, 1, 1)
    merged = _merge_claims([ClaimRow(2, "1", "immunotherapy", OP35_BASIS, date, "inferred"),
                            ClaimRow(3, "1", "immunotherapy", "listed", date)])
    assert [(c.provenance, c.evidence) for c in merged] == [("reported", "listed")]


OP35 = b"facility_id,star_rating_year,measure_id,score\n450068,2025,OP_35_ADM,11.9\n"
OP33 = b"facility_id,star_rating_year,measure_id,score\n450068,2025,OP_33,1\n"


def test_import_makes_and_withdraws_inferred_claims(import_file, make_center, session):
    center = make_center("Memorial Hermann - Texas Medical Center", 29.71, -95.399,
                         city="Houston", source="cms-hgi", external_id="450068")
    result = import_file(OP35, filename="op35.csv", format="cms-oqr", source="cms-oqr")
    assert result.added == 1 and not result.rejected
    center = session.get(Center, center.id)
    got = {(cm.modality.slug, cm.provenance, cm.evidence, cm.verified_on)
           for cm in center.modalities}
    assert got == {
        ("chemotherapy", "reported", "CMS quality measure OP-35 (outpatient chemotherapy), "
                                     "star rating 2025", dt.date(2025, 1, 1)),
        ("immunotherapy", "inferred", OP35_BASIS, dt.date(2025, 1, 1)),
        ("targeted-therapy", "inferred", OP35_BASIS, dt.date(2025, 1, 1))}
    again = import_file(OP35, filename="op35.csv", format="cms-oqr", source="cms-oqr")
    assert (again.added, again.updated, again.unchanged) == (0, 0, 1)
    # The next release reports only radiation: the inferred claims go with the chemotherapy.
    import_file(OP33, filename="op33.csv", format="cms-oqr", source="cms-oqr")
    session.expire_all()
    center = session.scalar(sa.select(Center).where(Center.id == center.id))
    assert {(cm.modality.slug, cm.provenance) for cm in center.modalities} == {
        ("external-beam-radiation", "reported")}


# -- questions -------------------------------------------------------------------------

def test_every_modality_has_short_questions():
    questions = load_questions()
    slugs = [m.slug for m in load_vocabulary().modalities]
    assert list(questions.by_modality) == slugs
    assert all(1 <= len(qs) <= 5 for qs in questions.by_modality.values())
    assert questions.general
    targeted = " ".join(questions.by_modality["targeted-therapy"])
    for marker in ("EGFR", "ALK", "ROS1", "BRAF", "KRAS G12C", "MET", "RET", "NTRK", "HER2",
                   "PD-L1", "tissue", "blood", "How long"):
        assert marker in targeted
    sbrt = " ".join(questions.by_modality["sbrt"])
    assert "bone" in sbrt and "brain" in sbrt and "sessions" in sbrt


def test_check_questions_names_each_problem():
    slugs = ["sbrt", "chemotherapy"]
    problems = check_questions(["Is it open"], {"sbrt": ("Do you give SBRT?",),
                                                "proton": ("Protons?",)}, slugs)
    assert "unknown modality 'proton'" in problems
    assert "chemotherapy: needs 1 to 5 questions" in problems
    assert any(p.startswith("general:") for p in problems)


def test_a_broken_questions_file_is_refused(tmp_path):
    for name in ("modalities.toml", "designations.toml"):
        shutil.copy(SEEDS_DIR / name, tmp_path / name)
    text = (SEEDS_DIR / "questions.toml").read_text(encoding="utf-8")
    (tmp_path / "questions.toml").write_text(
        text.replace("[modality.palliative-care]", "[modality.palliative]"), encoding="utf-8")
    with pytest.raises(QuestionsError, match="palliative"):
        load_questions(tmp_path)
