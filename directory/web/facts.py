"""What each source says about a center beyond its shown fields (the ``facts`` of its
source records: CMS hospital type, ownership, emergency services and overall star rating;
HIFLD beds, trauma level and owner; Eurostat beds, emergency department and ownership),
worded for patients, each with its source and the date of its dataset."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from dataclasses import dataclass

import sqlalchemy as sa
import sqlalchemy.orm as so
from flask_babel import gettext as _

from directory.models import DataSource, SourceRecord
from directory.text import N_

#: What people read for each fact a format keeps (``fact_<name>`` columns).
FACT_LABELS = {
    "hospital_type": N_("Hospital type"), "ownership": N_("Ownership"),
    "emergency_services": N_("Emergency services"), "overall_rating": N_("Overall star rating"),
    "beds": N_("Beds"), "trauma": N_("Trauma center level"), "owner": N_("Owner"),
}
#: CMS Care Compare footnote codes of the overall star rating, in our words.
CMS_RATING_FOOTNOTES = {
    "5": N_("CMS had no results for this hospital in this reporting period."),
    "16": N_("The hospital reported too few quality measures for CMS to calculate a rating."),
    "17": N_("The rating counts the hospital's inpatient data only."),
    "19": N_("CMS rates only hospitals in its inpatient and outpatient quality reporting "
             "programs, and this hospital is not in them."),
    "22": N_("CMS does not rate Department of Defense hospitals."),
    "23": N_("The hospital told CMS that the claims data behind its results hold errors."),
}
_NO_RATING_NOTE = N_("A missing rating says nothing, good or bad, about the hospital's "
                     "cancer care.")


@dataclass(frozen=True)
class SourceFacts:
    """The facts of one source record: ``items`` are ``(label, text)`` pairs."""

    source: str
    source_name: str
    dataset_date: dt.date | None
    items: tuple[tuple[str, str], ...]


def _rating(facts: Mapping[str, str]) -> str | None:
    """The overall star rating as a sentence: "4 of 5 stars", or "Not available: <why>"."""
    rating = facts.get("overall_rating")
    if not rating:
        return None
    if rating.isdigit():
        return _("%(rating)s of 5 stars (CMS's summary of quality measures; 5 is best)",
                 rating=rating)
    codes = [c.strip() for c in facts.get("overall_rating_footnote", "").split(",")]
    why = " ".join(_(CMS_RATING_FOOTNOTES[c]) for c in codes if c in CMS_RATING_FOOTNOTES)
    return f"{_('Not available.')} {why} {_(_NO_RATING_NOTE)}".replace("  ", " ")


def worded(facts: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
    """``(label, text)`` for each fact a patient can read, in :data:`FACT_LABELS` order
    (a footnote joins its rating; unknown facts are left out)."""
    items = []
    for name, label in FACT_LABELS.items():
        text = _rating(facts) if name == "overall_rating" else facts.get(name)
        if text:
            items.append((_(label), text))
    return tuple(items)


def center_facts(session: so.Session, center_id: int,
                 sources: Mapping[str, DataSource]) -> list[SourceFacts]:
    """The :class:`SourceFacts` of each record of center ``center_id`` that has facts,
    newest dataset first."""
    out = []
    for source, dataset_date, values in session.execute(
            sa.select(SourceRecord.source, SourceRecord.dataset_date, SourceRecord.values)
            .where(SourceRecord.center_id == center_id)):
        try:
            facts = json.loads(values or "{}").get("facts") or {}
        except (ValueError, AttributeError):
            continue
        items = worded(facts) if isinstance(facts, dict) else ()
        if items:
            found = sources.get(source)
            out.append(SourceFacts(source, found.name if found else source, dataset_date,
                                   items))
    out.sort(key=lambda f: (f.dataset_date or dt.date.min, f.source), reverse=True)
    return out
