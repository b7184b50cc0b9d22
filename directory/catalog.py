"""The vocabulary's rows in the database: :func:`sync_vocabulary` writes the modalities and
designations of ``seeds/*.toml`` (see :mod:`directory.vocabulary`) to their tables, each
designation with the modalities its rule in ``seeds/inferences.toml`` infers."""

from __future__ import annotations

import sqlalchemy as sa

from directory.inference import load_inferences
from directory.models import Designation, Modality
from directory.vocabulary import Vocabulary, load_vocabulary


def sync_vocabulary(session, vocabulary: Vocabulary | None = None) -> None:
    """Insert or update the modality and designation rows to match the vocabulary.
    Idempotent; flushes, never commits."""
    vocabulary = vocabulary or load_vocabulary()
    existing = {m.slug: m for m in session.scalars(sa.select(Modality))}
    for position, spec in enumerate(vocabulary.modalities):
        row = existing.get(spec.slug) or Modality(slug=spec.slug)
        row.name, row.guide, row.position = spec.name, spec.guide, position
        row.synonyms = "; ".join(spec.synonyms)
        session.add(row)
        existing[spec.slug] = row
    session.flush()
    for spec in vocabulary.modalities:
        existing[spec.slug].parent_id = existing[spec.parent].id if spec.parent else None
    des = {d.slug: d for d in session.scalars(sa.select(Designation))}
    rules = load_inferences()
    for spec in vocabulary.designations:
        row = des.get(spec.slug) or Designation(slug=spec.slug)
        row.name, row.issuer, row.url = spec.name, spec.issuer, spec.url
        rule = rules.for_designation(spec.slug)
        row.infers = " ".join(rule.infers) if rule else ""
        session.add(row)
    session.flush()
