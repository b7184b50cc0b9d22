"""Sentences our own code writes into the data, in the page's language: the linker's
evidence for joining a record to a center (:func:`link_reason`), the descriptions the
import formats give centers (:func:`description_text`: "CMS hospital type: ...", "Listed in
Wikidata as a hospital ...") and the evidence of treatment claims (:func:`evidence_text`).
Each known sentence is a pattern and a catalog message; text
that matches none (an editor's description, a new rule) is shown as written."""

from __future__ import annotations

import re

from flask import request

from directory.curation.resolve import OWN_SOURCE_ROWS
from directory.text import N_
from directory.web.i18n import current_language, number

#: The evidence the linker writes (directory.curation.link, link_score, merge), one piece
#: between "; " each, as a pattern and the sentence a page in another language shows.
_REASONS = (
    (re.compile(r"same street address (?P<address>.+?) and postal code (?P<code>.+)"),
     N_("same street address %(address)s and postal code %(code)s")),
    (re.compile(r"same street address (?P<address>.+?) and city (?P<city>.+)"),
     N_("same street address %(address)s and city %(city)s")),
    (re.compile(r"same street address (?P<address>.+)"), N_("same street address %(address)s")),
    (re.compile(r"same postal code (?P<code>.+)"), N_("same postal code %(code)s")),
    (re.compile(r"same city (?P<city>.+)"), N_("same city %(city)s")),
    (re.compile(r"same street"), N_("same street")),
    (re.compile(r"different street addresses"), N_("different street addresses")),
    (re.compile(r"points close"), N_("points close together")),
    (re.compile(r"name similarity (?P<score>[\d.]+)"), N_("name similarity %(score)s")),
    (re.compile(r"(?P<metres>\d+) m apart \(centroid\)"),
     N_("%(metres)s m apart (one is a ZIP code or city centre)")),
    (re.compile(r"(?P<metres>\d+) m apart"), N_("%(metres)s m apart")),
    (re.compile(r"linked by an editor"), N_("linked by an editor")),
    (re.compile(r"merged by (?P<who>.+?) on (?P<date>\S+) \(was center (?P<id>\d+)\)"),
     N_("merged by %(who)s on %(date)s (was center %(id)s)")),
    (re.compile(r"not linked: would put two records of one source into one cluster"),
     N_("not linked: it would join two records of one source")),
    (re.compile(r"same (?P<kind>[\w-]+) (?P<value>\S+)"),
     N_("same identifier (%(kind)s) %(value)s")),
)


def link_reason(reason: str | None) -> str:
    """Why the linker joined a record to a center (its English evidence, ``"same street
    address 1515 Holcombe Blvd and postal code 77030; name similarity 0.93; 40 m apart"``),
    in the page's language: each known piece translated, numbers in the locale's form, an
    unknown piece as written."""
    if not reason or (current_language() if request else "en") == "en":
        return reason or ""
    return "; ".join(_reported_by(piece.strip()) or _translated(piece.strip(), _REASONS)
                     for piece in reason.split("; "))


_REPORTED_BY = re.compile(r"Reported by (?P<who>.+?), reviewed on (?P<date>\S+?)(?P<stop>\.?)")


def _reported_by(text: str) -> str | None:
    """An accepted suggestion's provenance (:func:`directory.curation.suggest.
    provenance_phrase`: "Reported by someone at the center, reviewed on 2026-12-14.") in
    the page's language, or ``None`` for other text."""
    from flask_babel import gettext

    from directory.curation.suggest import ROLE_PHRASES

    match = _REPORTED_BY.fullmatch(text)
    if match is None:
        return None
    who = match["who"]
    who = gettext(who) if who in ROLE_PHRASES.values() else who
    return gettext("Reported by %(who)s, reviewed on %(date)s", who=who,
                   date=match["date"]) + match["stop"]


def _translated(text: str, patterns) -> str:
    from flask_babel import gettext

    for pattern, message in patterns:
        match = pattern.fullmatch(text)
        if match:
            values = match.groupdict()
            if "score" in values:
                values["score"] = number(float(values["score"]), 2)
            return gettext(message, **values)
    return text


#: The descriptions the import formats write (directory.importer.formats, formats_world).
_DESCRIPTIONS = (
    (re.compile(r"CMS hospital type: (?P<type>.+)\."), N_("CMS hospital type: %(type)s.")),
    (re.compile(r"HIFLD hospital type: (?P<type>.+)\."), N_("HIFLD hospital type: %(type)s.")),
    (re.compile(r"NHS hospital type: (?P<type>.+?)\. From the NHS Choices hospital list of "
                r"November 2014; names, trusts and services may have changed since\."),
     N_("NHS hospital type: %(type)s. From the NHS Choices hospital list of November 2014; "
        "names, trusts and services may have changed since.")),
    (re.compile(r"Listed in Wikidata as a hospital \(item (?P<item>Q\d+)\)\. Wikidata does "
                r"not say whether a hospital is still open, or which treatments it gives\."),
     N_("Listed in Wikidata as a hospital (item %(item)s). Wikidata does not say whether a "
        "hospital is still open, or which treatments it gives.")),
    (re.compile(r"Facility type in the national register: (?P<type>.+?)\. From Eurostat's "
                r"list of European hospitals \(2020\); services and names may have changed "
                r"since\."),
     N_("Facility type in the national register: %(type)s. From Eurostat's list of European "
        "hospitals (2020); services and names may have changed since.")),
    (re.compile(r"From Eurostat's list of European hospitals \(2020\); services and names "
                r"may have changed since\."),
     N_("From Eurostat's list of European hospitals (2020); services and names may have "
        "changed since.")),
)


def description_text(text: str | None) -> str:
    """A center's description in the page's language when an import format wrote it (the
    type a source gives stays as the source writes it); any other text as written."""
    if not text or (current_language() if request else "en") == "en":
        return text or ""
    return _translated(text.strip(), _DESCRIPTIONS)


#: The evidence of treatment claims (directory.importer.claim_formats, validate, edit).
_EVIDENCE = (
    (re.compile(r"inferred from designation: (?P<designation>.+)"),
     N_("inferred from the designation: %(designation)s")),
    (re.compile(r"CMS Provider of Services: chemotherapy service \(release (?P<date>[\d-]+)\)"),
     N_("CMS Provider of Services: chemotherapy service (release %(date)s)")),
    (re.compile(r"CMS Provider of Services: therapeutic radiology \(release (?P<date>[\d-]+)\)"),
     N_("CMS Provider of Services: therapeutic radiology (release %(date)s)")),
    (re.compile(r"CMS Provider of Services: inpatient surgical services \(release "
                r"(?P<date>[\d-]+)\)"),
     N_("CMS Provider of Services: inpatient surgical services (release %(date)s)")),
    (re.compile(r"CMS Provider of Services: outpatient surgery unit \(release "
                r"(?P<date>[\d-]+)\)"),
     N_("CMS Provider of Services: outpatient surgery unit (release %(date)s)")),
    (re.compile(r"CMS quality measure OP-33 \(external-beam radiotherapy for bone "
                r"metastases\), star rating (?P<date>[\d-]+)"),
     N_("CMS quality measure OP-33 (external-beam radiotherapy for bone metastases), star "
        "rating %(date)s")),
    (re.compile(r"CMS quality measure OP-35 \(outpatient chemotherapy\), star rating "
                r"(?P<date>[\d-]+)"),
     N_("CMS quality measure OP-35 (outpatient chemotherapy), star rating %(date)s")),
    (re.compile(r"confirmed by an admin"), N_("confirmed by an admin")),
)


def evidence_text(text: str | None) -> str:
    """A treatment claim's evidence (pieces joined by "; ") in the page's language: an
    inference rule's basis as the rule words it in that language (``i18n.<lang>.basis`` of
    ``seeds/inferences.toml``), a designation named in that language, the CMS files and
    measures described in it."""
    lang = current_language() if request else "en"
    if not text or lang == "en":
        return text or ""
    from directory.inference import load_inferences
    from directory.vocabulary import load_vocabulary
    from directory.web.i18n import designation_name

    basis = load_inferences().basis_in(text.strip(), lang)  # a rule's: its own words
    if basis is not None:
        return basis

    by_name = {d.name: d for d in load_vocabulary().designations}
    out = []
    for piece in text.split("; "):
        piece = _translated(piece.strip(), _EVIDENCE)
        for name, spec in by_name.items():  # "inferred from the designation: <its name>"
            if piece.endswith(": " + name):
                piece = piece[: -len(name)] + designation_name(spec)
        out.append(piece)
    return "; ".join(out)


def own_source_text(slug: str, field: str, stored: str | None) -> str:
    """``field`` (``name``, ``publisher`` or ``note``) of data source ``slug`` in the page's
    language when it is one of the directory's own sources and still holds the text the
    app wrote; anything else (a dataset's published name) as stored."""
    message = OWN_SOURCE_ROWS.get(slug, {}).get(field)
    if message is None or stored != message or (current_language() if request else
                                                 "en") == "en":
        return stored or ""
    from flask_babel import gettext

    return gettext(message)


def source_title(source) -> str:
    """A :class:`~directory.models.DataSource`'s name in the page's language (see
    :func:`own_source_text`)."""
    return own_source_text(source.slug, "name", source.name)


def source_note_text(source) -> str:
    """A :class:`~directory.models.DataSource`'s note in the page's language: a dataset's
    from ``seeds/sources.toml`` (:func:`directory.web.i18n.source_note`), the directory's
    own sources' from the catalog (:func:`own_source_text`)."""
    from directory.web.i18n import source_note

    return own_source_text(source.slug, "note", source_note(source))


def source_publisher(source) -> str:
    """A :class:`~directory.models.DataSource`'s publisher in the page's language."""
    return own_source_text(source.slug, "publisher", source.publisher)


def source_attribution(source) -> str:
    """A :class:`~directory.models.DataSource`'s attribution line with its leading
    ``Source:`` in the page's language (the credit after it is the publisher's wording,
    kept as written)."""
    text = source.attribution or ""
    head, sep, tail = text.partition("Source: ")
    if head or not sep or (current_language() if request else "en") == "en":
        return text
    from flask_babel import gettext

    return gettext("Source: %(source)s", source=tail)
