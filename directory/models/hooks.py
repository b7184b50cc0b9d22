"""Flush hooks that keep a center's derived columns in step, whatever changed it (edit,
merge, revert, import): the folded search columns and the modality mask; and one that keeps
a source record's dataset date in the audit record of an import's change of its values."""

from __future__ import annotations

import sqlalchemy as sa
import sqlalchemy.orm as so

from directory.models.admin import ChangeRecord
from directory.models.core import Center, CenterModality, Modality, SourceRecord
from directory.text import fold, join_initials
from directory.vocabulary import load_vocabulary


def search_text_of(name: str | None, alternate_names: str | None,
                   organization: str | None) -> str:
    """``Center.search_text``: the folded name, alternate names and organization name,
    then the words their initials make (``"m d anderson"`` also holds ``"md"``: see
    :func:`directory.text.join_initials`), so "MD", "M.D." and "M D" find each other."""
    text = " ".join(filter(None, (fold(name), fold(alternate_names), fold(organization))))
    joined = join_initials(text)
    if joined == text:
        return text
    have = set(text.split())
    return " ".join([text, *dict.fromkeys(w for w in joined.split() if w not in have)])


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
    """Recompute :attr:`Center.modality_mask` and :attr:`Center.reported_mask` (the
    claims of provenance ``reported`` alone) for every center whose claims may have
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
        slugs, reported = [], []
        for claim in center.modalities:
            if claim in session.deleted:
                continue
            modality = claim.modality or session.get(Modality, claim.modality_id)
            if modality is not None:
                slugs.append(modality.slug)
                if claim.provenance == "reported":
                    reported.append(modality.slug)
        mask, reported_mask = vocabulary.mask(slugs), vocabulary.mask(reported)
        if center.modality_mask != mask:
            center.modality_mask = mask
        if center.reported_mask != reported_mask:
            center.reported_mask = reported_mask


#: ``session.info`` key: record id -> its dataset date before its values last changed in
#: this transaction (not yet named by an audit record).
_DATES_BEFORE = "record_dates_before"


@sa.event.listens_for(so.Session, "before_flush")
def _date_record_changes(session: so.Session, _context, _instances) -> None:
    """Give each new audit record of a change of a record's values (action ``update``,
    field ``record``) the record's dataset date before that change
    (:attr:`ChangeRecord.before_date`), which a revert of the change gives back. The
    importer flushes the record before it adds the audit record: the date it had is kept
    from that flush (``session.info``) until the audit record comes, or the transaction
    ends."""
    dates = session.info.get(_DATES_BEFORE)
    for obj in session.dirty:
        if not isinstance(obj, SourceRecord) or obj.id is None:
            continue
        state = sa.inspect(obj)
        if not state.attrs["values"].history.has_changes():
            continue
        date = state.attrs["dataset_date"].history
        if date.added and not date.deleted:  # (changed before it was loaded: not known)
            continue
        if dates is None:
            dates = session.info[_DATES_BEFORE] = {}
        dates[obj.id] = date.deleted[0] if date.deleted else obj.dataset_date
    if not dates:
        return
    for obj in session.new:
        if isinstance(obj, ChangeRecord) and obj.field == "record" \
                and obj.action == "update" and obj.before_date is None \
                and obj.record_id in dates:
            obj.before_date = dates.pop(obj.record_id)


@sa.event.listens_for(so.Session, "after_commit")
@sa.event.listens_for(so.Session, "after_soft_rollback")
def _forget_record_dates(session: so.Session, *_args) -> None:
    session.info.pop(_DATES_BEFORE, None)
