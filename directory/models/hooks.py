"""Flush hooks that keep a center's derived columns in step, whatever changed it (edit,
merge, revert, import): the folded search columns and the modality mask."""

from __future__ import annotations

import sqlalchemy as sa
import sqlalchemy.orm as so

from directory.models.core import Center, CenterModality, Modality
from directory.text import fold
from directory.vocabulary import load_vocabulary


def search_text_of(name: str | None, alternate_names: str | None,
                   organization: str | None) -> str:
    """``Center.search_text``: the folded name, alternate names and organization name."""
    return " ".join(filter(None, (fold(name), fold(alternate_names), fold(organization))))


@sa.event.listens_for(so.Session, "before_flush")
def _keep_search_columns(session: so.Session, _context, _instances) -> None:
    """Recompute the derived search columns (``name_folded``, ``city_folded``,
    ``search_text``) of every new or changed center, whatever changed it (edit, merge,
    revert, import): a center is always found by its current names."""
    for obj in (*session.new, *session.dirty):
        if not isinstance(obj, Center) or obj in session.deleted:
            continue
        organization = obj.organization.name if obj.organization is not None else None
        wanted = (fold(obj.name)[:300], fold(obj.city)[:120],
                  search_text_of(obj.name, obj.alternate_names, organization))
        if (obj.name_folded, obj.city_folded, obj.search_text) != wanted:
            obj.name_folded, obj.city_folded, obj.search_text = wanted


@sa.event.listens_for(so.Session, "before_flush")
def _keep_modality_masks(session: so.Session, _context, _instances) -> None:
    """Recompute :attr:`Center.modality_mask` for every center whose claims may have
    changed in this flush (new or changed centers, and the centers of new, changed or
    deleted claims)."""
    centers = set()
    for obj in (*session.new, *session.dirty, *session.deleted):
        if isinstance(obj, Center):
            centers.add(obj)
        elif isinstance(obj, CenterModality) and obj.center is not None:
            centers.add(obj.center)
    if not centers:
        return
    vocabulary = load_vocabulary()
    for center in centers:
        if center in session.deleted:
            continue
        slugs = []
        for claim in center.modalities:
            if claim in session.deleted:
                continue
            modality = claim.modality or session.get(Modality, claim.modality_id)
            if modality is not None:
                slugs.append(modality.slug)
        mask = vocabulary.mask(slugs)
        if center.modality_mask != mask:
            center.modality_mask = mask
