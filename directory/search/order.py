"""The "best match" order (``sort=best``, the default of place searches): cancer care
first, and in a treatment search, within each group, the centers a source reports it for
before those it is only inferred for. No Flask; :func:`care_tier` for rows ordered in Python,
:func:`care_tier_sql` and :func:`unreported_sql` for an ORDER BY."""

from __future__ import annotations

import re
from functools import lru_cache

import sqlalchemy as sa

from directory.models import Center

#: Kinds a "best match" order puts last even when they report cancer treatment (the guide
#: is for adults: a children's hospital is not a first call), and the general hospitals that
#: come before the other kinds when neither reports a cancer treatment.
_LAST_TIER_KINDS = frozenset({"childrens"})
_GENERAL_KINDS = ("hospital", "critical-access", "military")
#: Word starts (in the folded name) of university and teaching hospitals, which nearly all
#: run oncology departments: where no source reports treatments (most of the world), they
#: are the likelier first call. English, German, French (CHU), Spanish, Italian,
#: Portuguese, Dutch, Nordic, Turkish ("Eğitim ve Araştırma", "Tıp Fakültesi").
ACADEMIC_WORDS = ("universit", "uniklinik", "academisch", "akademisk", "chu ", "teaching hosp",
                  "egitim ve arastirma", "tip fakultesi", "faculty of medicine",
                  "medical college", "policlinico", "clinicas", "charite")
_ACADEMIC = re.compile(r"\b(" + "|".join(re.escape(w.strip()) + (r"\b" if w.endswith(" ")
                                                                   else "")
                                         for w in ACADEMIC_WORDS) + ")")


def is_academic(name_folded: str) -> bool:
    """Whether a folded name names a university or teaching hospital (:data:`ACADEMIC_WORDS`)."""
    return _ACADEMIC.search(name_folded) is not None


#: In the ``best`` order, a university or teaching hospital counts as if this much as far
#: as it is among the general hospitals (a half: one 10 km away comes before a general
#: hospital 6 km away, not before one 4 km away).
ACADEMIC_DISTANCE_WEIGHT = 0.5


def _cancer_treatment_bits() -> int:
    """Every modality bit but plain ``surgery``'s: a Provider of Services surgery flag says
    a hospital operates, not that it treats cancer (a child such as metastasectomy sets its
    own bit too, so it still counts)."""
    from directory.vocabulary import load_vocabulary

    vocabulary = load_vocabulary()
    every = (1 << len(vocabulary.modalities)) - 1
    surgery = vocabulary.bit("surgery") if vocabulary.by_slug("surgery") else 0
    return every & ~surgery


def care_tier(designated: bool, kind: str, modality_mask: int) -> int:
    """The group of a center in the ``best`` order: 0 = a designated cancer center or a
    center whose kind is ``cancer-center``; 1 = a center with a reported or inferred cancer
    treatment (a bit of ``modality_mask`` other than general surgery's: see
    :func:`_cancer_treatment_bits`); 2 = a general hospital with none reported;
    3 = the rest (clinics, specialist and children's hospitals, and the kinds a search
    leaves out by default when asked for). Within a group, results go by distance (place
    searches; see :func:`best_key`) or name."""
    if kind in _LAST_TIER_KINDS:
        return 3
    if designated or kind == "cancer-center":
        return 0
    if modality_mask & _cancer_treatment_bits():
        return 1
    return 2 if kind in _GENERAL_KINDS else 3


#: Sources that list hospitals without saying whether they are still open (Wikidata keeps
#: historical hospitals: the Savoy Hospital, closed in 1702, is "near London"). A center
#: such a source made comes after those a current register lists, within its group.
STATUS_UNKNOWN_SOURCES = frozenset({"wikidata-hospitals"})


def best_key(designated: bool, kind: str, modality_mask: int, name_folded: str,
             km: float, source: str = "") -> tuple[int, bool, float]:
    """``(group, unverified, distance to sort by in km)`` of a result of a place search in
    the ``best`` order: :func:`care_tier`; then whether the center was made by a source
    that does not record closures (``source`` in :data:`STATUS_UNKNOWN_SOURCES`); then the
    distance, which for a university or teaching hospital among the general hospitals is
    weighted by :data:`ACADEMIC_DISTANCE_WEIGHT` (where no source reports treatments, most
    of the world, they are the likelier first call: nearly all run oncology departments)."""
    tier = care_tier(designated, kind, modality_mask)
    if tier == 2 and is_academic(name_folded):
        km *= ACADEMIC_DISTANCE_WEIGHT
    return tier, source in STATUS_UNKNOWN_SOURCES, km


def care_tier_sql() -> tuple:
    """:func:`best_key` as SQL ORDER BY terms (``sort=best`` without a place): the group,
    the centers of current registers first, then university and teaching hospitals. Built
    once per vocabulary (two dozen LIKE terms cost ~1 ms to construct, on every search)."""
    return _care_tier_sql(_cancer_treatment_bits())


@lru_cache(maxsize=8)
def _care_tier_sql(cancer_bits: int) -> tuple:
    academic = sa.or_(*(sa.or_(Center.name_folded.like(f"{w}%"),
                               Center.name_folded.like(f"% {w}%")) for w in ACADEMIC_WORDS))
    return (sa.case((Center.kind.in_(_LAST_TIER_KINDS), 3),
                    (sa.or_(Center.designated, Center.kind == "cancer-center"), 0),
                    (Center.modality_mask.op("&")(cancer_bits) != 0, 1),
                    (Center.kind.in_(_GENERAL_KINDS), 2), else_=3),
            sa.case((Center.source.in_(STATUS_UNKNOWN_SOURCES), 1), else_=0),
            sa.case((academic, 0), else_=1))


def unreported_sql(slugs) -> sa.ColumnElement[int]:
    """How many of the modalities ``slugs`` (a treatment search's, AND) no source reports
    for the center: a claim with provenance ``reported`` of the modality or of one of its
    children counts (:attr:`Center.reported_mask`, which has the bits of the reported
    claims and their ancestors); an *inferred* claim (from a designation or an inference
    rule of ``seeds/inferences.toml``) does not. The key after the group in the ``best``
    order of a treatment search: within a group, 0 (every treatment reported) comes before
    the centers where some are only inferred."""
    from directory.vocabulary import load_vocabulary

    vocabulary = load_vocabulary()
    terms = [sa.case((Center.reported_mask.op("&")(vocabulary.bit(slug)) != 0, 0), else_=1)
             for slug in slugs]
    return sum(terms[1:], terms[0]) if terms else sa.literal(0)


def best_keys(kept, ids, names, km, tiers, unverified, unreported=None) -> list[tuple]:
    """``(group, unreported, unverified, weighted km, name_folded, id)`` for each index in
    ``kept`` of the parallel row sequences, the group and the unverified flag as
    :func:`care_tier_sql` computed them in the database, and ``unreported`` as
    :func:`unreported_sql` did (a treatment search; else 0) (:func:`best_key`, then name
    and id): the sort keys of a radius search in the ``best`` order."""
    out = []
    for i in kept:
        tier, distance = tiers[i], km[i]
        if tier == 2 and is_academic(names[i]):
            distance *= ACADEMIC_DISTANCE_WEIGHT
        out.append((tier, unreported[i] if unreported is not None else 0, unverified[i],
                    distance, names[i], ids[i]))
    return out
