"""The modality and designation vocabularies, loaded from ``seeds/*.toml`` (pure data).

:class:`Vocabulary` resolves free text ("Radiotherapy", "chemo", "SABR") to modality slugs
and knows the hierarchy. :func:`directory.catalog.sync_vocabulary` writes it to the database
(modality and designation tables); it only flushes, the caller commits.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from directory.text import fold

SEEDS_DIR = Path(__file__).resolve().parent.parent / "seeds"


@dataclass(frozen=True)
class ModalitySpec:
    """One vocabulary entry: slug, display name (English), parent slug, guide page,
    synonyms (any language), ``reported_only``: why it is never inferred (``None``: it may
    be; see :mod:`directory.inference`), and ``names`` in other languages (``{"es":
    "Radioterapia"}``, from ``i18n.<lang>.name`` in ``seeds/modalities.toml``)."""

    slug: str
    name: str
    parent: str | None = None
    guide: str | None = None
    synonyms: tuple[str, ...] = ()
    reported_only: str | None = None
    names: tuple[tuple[str, str], ...] = ()

    def label(self, lang: str | None = None) -> str:
        """The name in ``lang`` (a language code), the English name when it has none."""
        return dict(self.names).get(lang or "", self.name)


@dataclass(frozen=True)
class DesignationSpec:
    """A designation: slug, name, issuer, URL, and ``names`` in other languages
    (``i18n.<lang>.name`` in ``seeds/designations.toml``). What it lets us infer is a rule of
    ``seeds/inferences.toml`` (:mod:`directory.inference`)."""

    slug: str
    name: str
    issuer: str | None = None
    url: str | None = None
    names: tuple[tuple[str, str], ...] = ()

    def label(self, lang: str | None = None) -> str:
        """The name in ``lang``, the English name when it has none."""
        return dict(self.names).get(lang or "", self.name)


@dataclass
class Vocabulary:
    """Modalities and designations with lookups by slug, name or synonym."""

    modalities: list[ModalitySpec]
    designations: list[DesignationSpec]
    _terms: dict[str, str] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        for spec in self.modalities:
            for term in (spec.slug, spec.slug.replace("-", " "), spec.name, *spec.synonyms,
                         *(name for _, name in spec.names)):
                self._terms.setdefault(fold(term), spec.slug)

    def by_slug(self, slug: str) -> ModalitySpec | None:
        """The modality with ``slug``, or ``None``."""
        return next((m for m in self.modalities if m.slug == slug), None)

    def resolve(self, term: str) -> str | None:
        """Map a slug, name or synonym (any case, accents, punctuation) to a slug, or ``None``."""
        return self._terms.get(fold(term))

    def children(self, slug: str) -> list[ModalitySpec]:
        """Direct children of ``slug`` in vocabulary order."""
        return [m for m in self.modalities if m.parent == slug]

    def roots(self) -> list[ModalitySpec]:
        """Top-level modalities in vocabulary order."""
        return [m for m in self.modalities if m.parent is None]

    def ancestors(self, slug: str) -> list[str]:
        """``slug`` and every ancestor slug, nearest first."""
        out, current = [], self.by_slug(slug)
        while current is not None:
            out.append(current.slug)
            current = self.by_slug(current.parent) if current.parent else None
        return out

    def bit(self, slug: str) -> int:
        """The modality's bit in :attr:`Center.modality_mask` (``1 << position``).

        Positions follow ``seeds/modalities.toml``: add new modalities at the end."""
        return 1 << next(i for i, m in enumerate(self.modalities) if m.slug == slug)

    def mask(self, slugs) -> int:
        """The mask for centers offering ``slugs``: each one's bit and its ancestors'."""
        mask = 0
        for slug in slugs:
            if self.by_slug(slug) is not None:
                for ancestor in self.ancestors(slug):
                    mask |= self.bit(ancestor)
        return mask

    def designation(self, slug: str) -> DesignationSpec | None:
        """The designation with ``slug``, or ``None``."""
        return next((d for d in self.designations if d.slug == slug), None)


def split_terms(cell: str) -> list[str]:
    """Split a multi-value cell on ``;``, ``,`` or ``|``; trim; drop empties; keep order and
    drop repeats (case-insensitively)."""
    out, seen = [], set()
    for piece in cell.replace("|", ";").replace(",", ";").split(";"):
        piece = piece.strip()
        if piece and fold(piece) not in seen:
            seen.add(fold(piece))
            out.append(piece)
    return out


def _names(entry: dict) -> tuple[tuple[str, str], ...]:
    """``(lang, name)`` of an entry's ``i18n.<lang>.name`` keys."""
    return tuple((lang, t["name"]) for lang, t in sorted(entry.get("i18n", {}).items())
                 if t.get("name"))


def _translated(entry: dict, key: str) -> tuple[str, ...]:
    """Every language's ``i18n.<lang>.<key>`` list, joined (synonyms match in any
    language: a search for "radioterapia" works on the English pages too)."""
    return tuple(term for _, t in sorted(entry.get("i18n", {}).items())
                 for term in t.get(key, ()))


@lru_cache(maxsize=4)
def load_vocabulary(seeds_dir: Path = SEEDS_DIR) -> Vocabulary:
    """Read ``modalities.toml`` and ``designations.toml`` from ``seeds_dir``."""
    with open(seeds_dir / "modalities.toml", "rb") as fh:
        raw_m = tomllib.load(fh)["modality"]
    with open(seeds_dir / "designations.toml", "rb") as fh:
        raw_d = tomllib.load(fh)["designation"]
    modalities = [ModalitySpec(m["slug"], m["name"], m.get("parent"), m.get("guide"),
                               tuple(m.get("synonyms", ())) + _translated(m, "synonyms"),
                               m.get("reported_only"), _names(m)) for m in raw_m]
    designations = [DesignationSpec(d["slug"], d["name"], d.get("issuer"), d.get("url"),
                                    _names(d)) for d in raw_d]
    return Vocabulary(modalities, designations)


