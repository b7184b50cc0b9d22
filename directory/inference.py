"""The inference rules of ``seeds/inferences.toml``: every treatment claim the directory
derives instead of reading it from a source (provenance ``inferred``), in one reviewed table.

A rule is set off by a designation a center holds (NCI Comprehensive...) or by a treatment a
modality list of a given importer format reports (CMS OP-35 or Provider of Services
chemotherapy); it adds *inferred* claims for its ``infers`` modalities, each with the rule's
``basis`` as its evidence. :func:`check_rules` is the table's review in code: known slugs,
a basis that says "inferred" and "confirm with the center", facts with a public source, and
never a ``reported_only`` modality (surgery, SBRT, proton therapy, brachytherapy: see
``seeds/modalities.toml``). Pure data: no session, no Flask.
"""

from __future__ import annotations

import dataclasses
import tomllib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from directory.vocabulary import SEEDS_DIR, Vocabulary, load_vocabulary


class InferenceTableError(ValueError):
    """``seeds/inferences.toml`` breaks a rule of :func:`check_rules`; ``problems`` lists
    every problem found, each naming the rule."""

    def __init__(self, problems: list[str]):
        super().__init__("seeds/inferences.toml: " + "; ".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class Fact:
    """One fact behind a rule: our own sentence, and the public source (title, URL) for it."""

    statement: str
    source: str
    url: str
    #: ``((lang, statement), ...)``: the statement in other languages.
    statements: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class RuleText:
    """A rule's words in another language (``i18n.<lang>`` of its entry)."""

    name: str
    basis: str
    reasoning: str


@dataclass(frozen=True)
class InferenceRule:
    """One rule: set off by ``designation`` (a designation slug) or by ``reported`` (a
    modality slug) reported by a modality list of one of ``formats``; adds ``infers``."""

    slug: str
    name: str
    infers: tuple[str, ...]
    basis: str
    reasoning: str
    facts: tuple[Fact, ...]
    designation: str | None = None
    reported: str | None = None
    formats: tuple[str, ...] = ()
    #: ``((lang, RuleText), ...)``: name, basis and reasoning in other languages.
    translations: tuple[tuple[str, RuleText], ...] = ()

    def localized(self, lang: str | None) -> InferenceRule:
        """This rule with its name, basis, reasoning and facts' statements in ``lang`` (those
        the table gives; the English ones otherwise). ``basis`` then is no longer what
        stored claims carry: match claims with the English rule."""
        text = dict(self.translations).get(lang) if lang else None
        facts = tuple(dataclasses.replace(f, statement=dict(f.statements).get(lang)
                                          or f.statement) for f in self.facts) if lang \
            else self.facts
        if text is None:
            return dataclasses.replace(self, facts=facts)
        return dataclasses.replace(self, name=text.name or self.name,
                                   basis=text.basis or self.basis,
                                   reasoning=text.reasoning or self.reasoning, facts=facts)

    @property
    def anchor(self) -> str:
        """The rule's id on the About page (``/about#rule-<slug>``)."""
        return f"rule-{self.slug}"


@dataclass(frozen=True)
class InferenceTable:
    """The rules, with the lookups the importer and the pages need."""

    rules: tuple[InferenceRule, ...]

    def for_designation(self, slug: str) -> InferenceRule | None:
        """The rule a designation sets off, or ``None``."""
        return next((r for r in self.rules if r.designation == slug), None)

    def for_reported(self, format_name: str, modality: str) -> list[InferenceRule]:
        """The rules set off when a modality list of ``format_name`` reports ``modality``."""
        return [r for r in self.rules if r.reported == modality and format_name in r.formats]

    def by_basis(self, evidence: str | None) -> InferenceRule | None:
        """The rule whose basis is ``evidence`` (a stored inferred claim's), or ``None``."""
        return next((r for r in self.rules if evidence and r.basis == evidence), None)

    def basis_in(self, evidence: str | None, lang: str | None) -> str | None:
        """A stored claim's English basis as the rule words it in ``lang`` (``None`` when
        no rule has this basis; the English basis when the rule has no ``lang`` text)."""
        rule = self.by_basis(evidence)
        return rule.localized(lang).basis if rule is not None else None


def _rule(raw: dict) -> InferenceRule:
    when = raw.get("when") or {}
    return InferenceRule(
        slug=str(raw.get("slug", "")), name=str(raw.get("name", "")),
        infers=tuple(raw.get("infers", ())), basis=str(raw.get("basis", "")),
        reasoning=" ".join(str(raw.get("reasoning", "")).split()),
        facts=tuple(Fact(str(f.get("statement", "")), str(f.get("source", "")),
                         str(f.get("url", "")),
                         tuple((lang, str(t["statement"])) for lang, t in
                               (f.get("i18n") or {}).items() if t.get("statement")))
                    for f in raw.get("fact", ())),
        designation=when.get("designation"), reported=when.get("reported"),
        formats=tuple(when.get("formats", ())),
        translations=tuple((lang, RuleText(str(t.get("name", "")), str(t.get("basis", "")),
                                           " ".join(str(t.get("reasoning", "")).split())))
                           for lang, t in (raw.get("i18n") or {}).items()))


def check_rules(rules: tuple[InferenceRule, ...], vocabulary: Vocabulary,
                formats: set[str] | None = None) -> list[str]:
    """Every problem of ``rules`` as a sentence naming the rule (empty: the table is sound).

    Checked: unique slugs; exactly one trigger (a known designation, or a known reported
    modality with at least one format, from ``formats`` when given); known inferred
    modalities, none of them ``reported_only`` and none the trigger itself; a basis that
    starts "inferred:" and ends "confirm with the center", used by no other rule (stored
    claims are matched to their rule by it); reasoning; at least one fact, each with a
    statement, a source and an https URL."""
    problems = []
    seen: set[str] = set()
    bases: set[str] = set()
    for rule in rules:
        name = rule.slug or "(a rule without a slug)"
        if not rule.slug or rule.slug in seen:
            problems.append(f"{name}: every rule needs its own slug")
        seen.add(rule.slug)
        if (rule.designation is None) == (rule.reported is None):
            problems.append(f"{name}: give exactly one of when.designation, when.reported")
        if rule.designation is not None and vocabulary.designation(rule.designation) is None:
            problems.append(f"{name}: unknown designation {rule.designation!r}")
        if rule.reported is not None:
            if vocabulary.by_slug(rule.reported) is None:
                problems.append(f"{name}: unknown modality {rule.reported!r} in when.reported")
            if not rule.formats:
                problems.append(f"{name}: when.reported needs when.formats")
            for fmt in rule.formats:
                if formats is not None and fmt not in formats:
                    problems.append(f"{name}: unknown importer format {fmt!r}")
        if not rule.infers:
            problems.append(f"{name}: infers nothing")
        for slug in rule.infers:
            spec = vocabulary.by_slug(slug)
            if spec is None:
                problems.append(f"{name}: unknown modality {slug!r} in infers")
            elif spec.reported_only:
                problems.append(f"{name}: {slug} is never inferred, only reported by a "
                                f"source ({spec.reported_only})")
            if slug == rule.reported:
                problems.append(f"{name}: infers the treatment that sets it off")
        if not (rule.basis.startswith("inferred:")
                and rule.basis.endswith("confirm with the center")):
            problems.append(f"{name}: the basis must start 'inferred:' and end 'confirm with "
                            f"the center'")
        if len(rule.basis) > 300:
            problems.append(f"{name}: the basis is longer than 300 characters")
        if rule.basis in bases:
            problems.append(f"{name}: another rule has the same basis")
        bases.add(rule.basis)
        for lang, text in rule.translations:
            if not (text.name and text.basis and text.reasoning):
                problems.append(f"{name}: i18n.{lang} needs a name, a basis and reasoning")
            if len(text.basis) > 300:
                problems.append(f"{name}: the {lang} basis is longer than 300 characters")
        if not rule.reasoning:
            problems.append(f"{name}: no reasoning for the About page")
        if not rule.facts:
            problems.append(f"{name}: no facts behind it")
        for fact in rule.facts:
            if not (fact.statement and fact.source and fact.url.startswith("https://")):
                problems.append(f"{name}: each fact needs a statement, a source and an "
                                f"https URL")
    return problems


def read_rules(path: Path) -> tuple[InferenceRule, ...]:
    """The rules of a TOML file shaped like ``seeds/inferences.toml`` (unchecked)."""
    with open(path, "rb") as fh:
        return tuple(_rule(r) for r in tomllib.load(fh).get("rule", ()))


@lru_cache(maxsize=4)
def load_inferences(seeds_dir: Path = SEEDS_DIR) -> InferenceTable:
    """The checked table of ``seeds_dir/inferences.toml``.

    :raises InferenceTableError: when :func:`check_rules` finds a problem.
    """
    rules = read_rules(seeds_dir / "inferences.toml")
    problems = check_rules(rules, load_vocabulary(seeds_dir))
    if problems:
        raise InferenceTableError(problems)
    return InferenceTable(rules)
