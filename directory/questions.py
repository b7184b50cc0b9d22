"""Questions to ask a center, per treatment modality (``seeds/questions.toml``): shown on a
center page for the treatments no source reports there, on the compare page for the
treatments of the search, and on the printed shortlist. Pure data, no Flask.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from directory.vocabulary import SEEDS_DIR, load_vocabulary

#: The longest question kept (a printed page has room for about three per treatment).
MAX_QUESTION = 200


class QuestionsError(ValueError):
    """``seeds/questions.toml`` names an unknown modality, misses one, or has a question
    that is empty, too long or not a question."""


@dataclass(frozen=True)
class Questions:
    """``general`` questions for every call, and ``by_modality`` ``{slug: (question, ...)}``
    in vocabulary order."""

    general: tuple[str, ...]
    by_modality: dict[str, tuple[str, ...]]

    def for_modalities(self, slugs) -> list[tuple[str, tuple[str, ...]]]:
        """``[(slug, questions)]`` for ``slugs`` in vocabulary order (unknown ones left out)."""
        wanted = set(slugs)
        return [(slug, qs) for slug, qs in self.by_modality.items() if slug in wanted]


def check_questions(general, by_modality: dict, modality_slugs: list[str]) -> list[str]:
    """Problems of a questions table: every modality has 1-5 questions, no unknown slug,
    each question is non-empty, ends with ``?`` and has at most :data:`MAX_QUESTION`
    characters."""
    problems = [f"unknown modality {slug!r}" for slug in by_modality
                if slug not in modality_slugs]
    problems += [f"{slug}: needs 1 to 5 questions" for slug in modality_slugs
                 if not 1 <= len(by_modality.get(slug, ())) <= 5]
    for where, items in (("general", general), *by_modality.items()):
        for question in items:
            if not (isinstance(question, str) and question.strip().endswith("?")
                    and len(question) <= MAX_QUESTION):
                problems.append(f"{where}: {str(question)[:40]!r} is not a short question")
    return problems


@lru_cache(maxsize=8)
def load_questions(seeds_dir: Path = SEEDS_DIR, lang: str | None = None) -> Questions:
    """The checked questions of ``seeds_dir/questions.toml`` in English, or in ``lang`` (its
    ``i18n.<lang>.general`` and each modality's ``i18n.<lang>.questions``; a language the
    file does not have, or a modality without them, gets the English ones).

    :raises QuestionsError: for the problems :func:`check_questions` finds.
    """
    with open(seeds_dir / "questions.toml", "rb") as fh:
        raw = tomllib.load(fh)
    slugs = [m.slug for m in load_vocabulary(seeds_dir).modalities]

    def localized(entry: dict, key: str) -> tuple[str, ...]:
        own = ((entry.get("i18n") or {}).get(lang) or {}).get(key) if lang else None
        return tuple(own or entry.get(key, ()))

    general = localized(raw, "general")
    by_modality = {slug: localized(entry, "questions")
                   for slug, entry in raw.get("modality", {}).items()}
    problems = check_questions(general, by_modality, slugs)
    if problems:
        where = f" ({lang})" if lang else ""
        raise QuestionsError(f"seeds/questions.toml{where}: " + "; ".join(problems))
    return Questions(general, {slug: by_modality[slug] for slug in slugs})
