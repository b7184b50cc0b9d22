"""What the pages say about a center's treatments: for a modality, whether a source reports
it (which, when) or it is only inferred (on what basis, by which rule of
``seeds/inferences.toml``), the treatments no source reports, and the questions to ask
(``seeds/questions.toml``). Pure helpers over claims (ORM rows or a search's read-only
:class:`~directory.search.ClaimView`); registered as Jinja globals by :func:`register`."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from flask import Flask, url_for

from directory.inference import InferenceRule, load_inferences
from directory.questions import load_questions
from directory.vocabulary import load_vocabulary
from directory.web.i18n import current_language, modality_name
from directory.web.i18n_data import evidence_text


def _family(slug: str) -> set[str]:
    """``slug`` and every modality below it (a parent is reported when a child is)."""
    vocabulary = load_vocabulary()
    found, todo = set(), [slug]
    while todo:
        current = todo.pop()
        found.add(current)
        todo += [m.slug for m in vocabulary.children(current)]
    return found


@dataclass(frozen=True)
class Reported:
    """One source reporting the treatment: its slug, display name, evidence and date."""

    source: str
    source_name: str
    evidence: str | None
    verified_on: dt.date | None


@dataclass(frozen=True)
class Inferred:
    """One inference of the treatment: its basis, the rule (``None`` when the basis is not a
    rule's: an older import) and the source whose fact set it off."""

    basis: str
    rule: InferenceRule | None
    source: str
    verified_on: dt.date | None

    @property
    def reason(self) -> str:
        """The basis in the page's language without its leading ``inferred:`` (shown after
        an "inferred" badge)."""
        return inferred_reason(self.basis)


@dataclass(frozen=True)
class TreatmentLine:
    """A treatment at a center: ``status`` ``reported`` (some source reports it or one of
    its children), ``inferred`` (only inferred) or ``not reported``."""

    slug: str
    name: str
    reported: tuple[Reported, ...] = field(default=())
    inferred: tuple[Inferred, ...] = field(default=())

    @property
    def status(self) -> str:
        if self.reported:
            return "reported"
        return "inferred" if self.inferred else "not reported"


def treatment_line(claims: Iterable, slug: str,
                   source_names: Mapping[str, str] | None = None) -> TreatmentLine:
    """What ``claims`` (a center's) say about the modality ``slug`` and its children."""
    names = source_names or {}
    rules = load_inferences()
    wanted = _family(slug)
    reported, inferred = {}, {}
    for cm in claims:
        if cm.modality.slug not in wanted:
            continue
        if cm.provenance == "reported":
            reported.setdefault(cm.source, Reported(cm.source, names.get(cm.source, cm.source),
                                                    cm.evidence, cm.verified_on))
        else:
            basis = cm.evidence or "inferred"
            inferred.setdefault(basis, Inferred(basis, rules.by_basis(cm.evidence), cm.source,
                                                cm.verified_on))
    return TreatmentLine(slug, modality_name(slug), tuple(reported.values()),
                         tuple(inferred.values()))


def treatment_lines(claims: Iterable, slugs: Iterable[str],
                    source_names: Mapping[str, str] | None = None) -> list[TreatmentLine]:
    """:func:`treatment_line` for each of ``slugs`` (a search's treatments)."""
    claims = list(claims)
    return [treatment_line(claims, slug, source_names) for slug in slugs]


@dataclass(frozen=True)
class SummaryGroup:
    """Treatments a center page or a printed sheet states together: the same status and
    the same sources (reported) or bases (inferred). ``names`` in vocabulary order."""

    names: tuple[str, ...]
    reported: tuple[Reported, ...]
    inferred: tuple[Inferred, ...]


def summary(claims: Iterable, source_names: Mapping[str, str] | None = None
            ) -> list[SummaryGroup]:
    """What ``claims`` say, every modality with a claim, grouped: ``Radiation therapy,
    Chemotherapy: inferred (this center holds the NCI designation ...)`` in one line
    instead of one per treatment (a printed page has room for about 50 lines)."""
    claims = list(claims)
    have = {cm.modality.slug for cm in claims}
    groups: dict[tuple, tuple[list[str], TreatmentLine]] = {}
    for spec in load_vocabulary().modalities:
        if spec.slug not in have:
            continue
        line = treatment_line([cm for cm in claims if cm.modality.slug == spec.slug],
                              spec.slug, source_names)
        key = (tuple((r.source_name, r.verified_on) for r in line.reported),
               () if line.reported else tuple(i.basis for i in line.inferred))
        groups.setdefault(key, ([], line))[0].append(modality_name(spec))
    return [SummaryGroup(tuple(names), line.reported, () if line.reported else line.inferred)
            for names, line in groups.values()]


def unreported(claims: Iterable) -> list[str]:
    """The vocabulary's modality slugs (in order) that no *reported* claim of ``claims``
    covers (itself or a child): the treatments whose questions a center page shows."""
    have = {cm.modality.slug for cm in claims if cm.provenance == "reported"}
    return [m.slug for m in load_vocabulary().modalities if not (_family(m.slug) & have)]


def inferred_reason(evidence: str | None) -> str:
    """An inferred claim's evidence in the page's language without its leading
    ``inferred:`` (``"deducido:"`` on a Spanish page): what follows an "inferred" badge."""
    from flask_babel import gettext

    text = evidence_text(evidence)
    head, sep, tail = text.partition(":")
    return tail.strip() if sep and head.strip() in ("inferred", gettext("inferred")) else text


def rule_url(rule: InferenceRule | None) -> str:
    """The About page's section on ``rule`` (the list of rules when ``None``)."""
    return url_for("public.about", _anchor=rule.anchor if rule else "inference-rules")


def _format_label(name: str) -> str:
    """An importer format as the About page names it (``cms-oqr`` -> its label)."""
    from directory.importer.formats import get_format

    try:
        return get_format(name).label
    except KeyError:
        return name


def register(app: Flask) -> None:
    """Make the helpers and the questions table Jinja globals."""
    app.jinja_env.filters["treatment_name"] = modality_name
    app.jinja_env.filters["inferred_reason"] = inferred_reason
    app.jinja_env.filters["format_label"] = _format_label
    app.jinja_env.globals.update(treatment_line=treatment_line, treatment_summary=summary,
                                 treatment_lines=treatment_lines,
                                 unreported_treatments=unreported, rule_url=rule_url,
                                 source_names_of=lambda sources: {
                                     slug: s.name for slug, s in sources.items()},
                                 inference_rule=lambda evidence:
                                 load_inferences().by_basis(evidence),
                                 load_questions=lambda: load_questions(
                                     lang=current_language()))
