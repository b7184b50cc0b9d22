"""Likely duplicates and merging two centers into one (admin action).

Two centers are likely duplicates when their folded names are equal and they share a postal
code or lie within 100 m (geodesic), or when the linker put the pair in the review queue
(:class:`~directory.models.LinkReview`). Merging links the other center's source records
(and claims, designations) into the one kept, which is resolved again from all of them; the
other's id is remembered, and unmerging gives it back as it was. Merge and unmerge change
links, never data. Functions flush; the caller commits.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass

import sqlalchemy as sa
import sqlalchemy.orm as so

from directory.curation.audit import record_changes, snapshot
from directory.curation.records import reidentify, resolve_center
from directory.curation.resolve import EDITOR
from directory.geo import geodesic_km
from directory.models import (
    Center,
    CenterDesignation,
    CenterModality,
    ChangeRecord,
    LinkReview,
    SourceRecord,
    utcnow,
)


@dataclass(frozen=True)
class DuplicatePair:
    """Two centers that look like the same place; ``reason`` says why."""

    first: Center
    second: Center
    reason: str
    distance_km: float | None


def find_duplicate_pairs(session: so.Session, *, within_km: float = 0.1,
                         limit: int = 500) -> list[DuplicatePair]:
    """Pairs of centers with the same folded name and the same postal code or within
    ``within_km``; at most ``limit`` pairs, by name."""
    names = session.scalars(
        sa.select(Center.name_folded).group_by(Center.name_folded)
        .having(sa.func.count(Center.id) > 1).order_by(Center.name_folded)).all()
    pairs: list[DuplicatePair] = []
    for i in range(0, len(names), 2000):
        group: dict[str, list[Center]] = {}
        for center in session.scalars(sa.select(Center).where(
                Center.name_folded.in_(names[i:i + 2000])).order_by(Center.id)):
            group.setdefault(center.name_folded, []).append(center)
        for members in group.values():
            for a_index, a in enumerate(members):
                for b in members[a_index + 1:]:
                    distance = (geodesic_km((a.latitude, a.longitude), (b.latitude, b.longitude))
                                if a.has_coordinates and b.has_coordinates else None)
                    same_postal = a.postal_code and a.postal_code == b.postal_code
                    if distance is not None and distance <= within_km:
                        reason = f"same name, {distance * 1000:.0f} m apart"
                    elif same_postal:
                        reason = f"same name and postal code {a.postal_code}"
                    else:
                        continue
                    pairs.append(DuplicatePair(a, b, reason, distance))
                    if len(pairs) >= limit:
                        return pairs
    return pairs


MERGE_COLUMNS = ("source", "external_id", "natural_key", "name", "kind", "address", "city",
                 "region", "postal_code", "country", "latitude", "longitude",
                 "geocode_precision", "phone", "website", "email", "status", "description",
                 "alternate_names", "field_sources", "organization_id", "verified_at")


def _claim_rows(center: Center) -> list[dict]:
    return [{"id": cm.id, "modality_id": cm.modality_id, "source": cm.source,
             "provenance": cm.provenance, "evidence": cm.evidence,
             "verified_on": cm.verified_on.isoformat() if cm.verified_on else None}
            for cm in center.modalities]


def _designation_rows(center: Center) -> list[dict]:
    return [{"id": cd.id, "designation_id": cd.designation_id, "source": cd.source,
             "as_of": cd.as_of.isoformat() if cd.as_of else None}
            for cd in center.designations]


def merge_centers(session: so.Session, keep: Center, drop: Center, *,
                  user: str | None) -> None:
    """Merge ``drop`` into ``keep``: its source records move to ``keep`` (rule ``merge``),
    with its claims and designations (a claim ``keep`` already has from the same source for
    the same modality stays ``keep``'s); ``keep``'s fields are resolved again from all its
    records; ``drop`` is removed. Nothing is lost: the merge record in the audit log holds
    ``drop`` as it was (its columns, records with their links, claims, designations), which
    :func:`unmerge_center` restores under the same id. Flushes."""
    state = {"center": {c: _jsonable(getattr(drop, c)) for c in MERGE_COLUMNS},
             "created_at": drop.created_at.isoformat() if drop.created_at else None,
             "records": [{"id": r.id, "link_rule": r.link_rule, "link_score": r.link_score,
                          "link_reason": r.link_reason, "source": r.source,
                          "key": r.external_id or r.natural_key} for r in drop.records],
             "claims": _claim_rows(drop), "designations": _designation_rows(drop),
             "moved_claims": [], "moved_designations": [], "keep": keep.id}
    before = snapshot(keep)
    stamp = dt.date.today().isoformat()
    _ = keep.records, keep.modalities, keep.designations  # loaded before anything moves
    with session.no_autoflush:  # a record between two centers is not an orphan
        for record in list(drop.records):
            drop.records.remove(record)
            record.link_rule, record.link_score = "merge", None
            record.link_reason = (f"merged by {user or 'an editor'} on {stamp} "
                                  f"(was center {drop.id})")
            keep.records.append(record)
        have = {(cm.modality_id, cm.source) for cm in keep.modalities}
        for cm in list(drop.modalities):
            if (cm.modality_id, cm.source) not in have:
                drop.modalities.remove(cm)
                keep.modalities.append(cm)
                state["moved_claims"].append(cm.id)
        have_d = {cd.designation_id for cd in keep.designations}
        for cd in list(drop.designations):
            if cd.designation_id not in have_d:
                drop.designations.remove(cd)
                keep.designations.append(cd)
                state["moved_designations"].append(cd.id)
    session.flush()
    if keep.records:
        resolve_center(session, keep)
    session.flush()
    record_changes(session, keep, before, snapshot(keep), user=user, action="merge")
    session.add(ChangeRecord(user=user, center_id=drop.id, center_name=drop.name,
                             action="merge", field="center",
                             before=json.dumps(state, sort_keys=True),
                             after=f"merged into center {keep.id}"))
    for review in session.scalars(sa.select(LinkReview).where(
            sa.or_(sa.and_(LinkReview.center_id == keep.id,
                           LinkReview.other_center_id == drop.id),
                   sa.and_(LinkReview.center_id == drop.id,
                           LinkReview.other_center_id == keep.id)))):
        review.status, review.decided_by, review.decided_at = "merged", user, utcnow()
    session.delete(drop)
    session.flush()


def _jsonable(value):
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    return value


def merged_into(session: so.Session, center_id: int) -> int | None:
    """The center that center ``center_id`` was merged into (following later merges), or
    ``None`` when it was not merged (or was unmerged since)."""
    seen = set()
    while center_id not in seen:
        seen.add(center_id)
        last = session.scalar(sa.select(ChangeRecord).where(
            ChangeRecord.center_id == center_id, ChangeRecord.field == "center",
            ChangeRecord.action.in_(("merge", "unmerge")))
            .order_by(ChangeRecord.id.desc()).limit(1))
        if last is None or last.action != "merge":
            return None if len(seen) == 1 else center_id
        target = json.loads(last.before)["keep"]
        if session.get(Center, target) is not None:
            return target
        center_id = target
    return None


class UnmergeError(ValueError):
    """The center cannot be given back (never merged, or already unmerged)."""


def unmerge_center(session: so.Session, center_id: int, *, user: str | None) -> Center:
    """Give back a center merged away: the same id, its columns, its source records (with
    their links as they were), and the claims and designations that moved with them; both
    centers are resolved again. Records, claims and designations that a later merge or
    revert took elsewhere stay where they are. Raises :class:`UnmergeError`. Flushes."""
    merge = session.scalar(sa.select(ChangeRecord).where(
        ChangeRecord.center_id == center_id, ChangeRecord.field == "center",
        ChangeRecord.action.in_(("merge", "unmerge"))).order_by(ChangeRecord.id.desc())
        .limit(1))
    if merge is None or merge.action != "merge":
        raise UnmergeError(f"center {center_id} was not merged into another")
    if session.get(Center, center_id) is not None:
        raise UnmergeError(f"center {center_id} exists")
    state = json.loads(merge.before)
    columns = dict(state["center"])
    given = _given_back_since(session, merge)
    back = [r for r in records_of_merge(session, merge) if r.id not in given]
    if not back or (all(r.source == EDITOR for r in back)
                    and any(s.get("source") != EDITOR for s in state["records"])):
        raise UnmergeError(f"the records of center {center_id} were reverted since the merge: "
                           f"there is nothing to give back")
    # The centers its records leave: the one kept, or where a later merge took them. Each
    # keeps a first record it still holds (or goes, when nothing is left in it).
    keep = session.get(Center, state["keep"])
    holders = {r.center_id: r.center for r in back}
    if keep is not None:
        holders.setdefault(keep.id, keep)
    leaving = {r.id for r in back}
    before = {}
    for holder in holders.values():
        _ = holder.records, holder.modalities, holder.designations
        before[holder.id] = snapshot(holder)
        rest = [r for r in holder.records if r.id not in leaving]
        reidentify(holder, rest)
        if not rest:  # it goes (below); its key is free now for the center given back
            holder.external_id = None
    session.flush()
    for name in ("verified_at",):
        if columns.get(name):
            columns[name] = dt.date.fromisoformat(columns[name])
    center = Center(id=center_id, **columns)
    reidentify(center, back)
    session.add(center)
    with session.no_autoflush:
        _give_back(session, state, back, center, set(holders))
        # Claims are kept per center and source: the ones a center holds of a source none
        # of whose records stays there (given since the merge, by a re-import) go too.
        sources = {r.source for r in back}
        have = {(cm.modality_id, cm.source) for cm in center.modalities}
        for holder in holders.values():
            staying = {r.source for r in holder.records if r.id not in leaving}
            for cm in [cm for cm in holder.modalities
                       if cm.source in sources - staying]:
                holder.modalities.remove(cm)
                if (cm.modality_id, cm.source) not in have:
                    have.add((cm.modality_id, cm.source))
                    center.modalities.append(cm)
    session.flush()
    session.expire(center)
    if center.records:
        resolve_center(session, center)
    for holder in holders.values():
        session.expire(holder)
        if holder.records:
            resolve_center(session, holder)
            session.flush()
            record_changes(session, holder, before[holder.id], snapshot(holder), user=user,
                           action="unmerge")
        else:  # it held only what went back
            session.add(ChangeRecord(user=user, center_id=holder.id, center_name=holder.name,
                                     action="delete", field=None,
                                     before=json.dumps(before[holder.id], sort_keys=True),
                                     after=f"emptied by the unmerge of center {center_id}"))
            session.delete(holder)
    session.add(ChangeRecord(user=user, center_id=center_id, center_name=center.name,
                             action="unmerge", field="center",
                             before=json.dumps({"records": sorted(r.id for r in back)}),
                             after=f"taken back out of center {state['keep']}"))
    for review in session.scalars(sa.select(LinkReview).where(
            LinkReview.status == "merged",
            sa.or_(LinkReview.center_id == center_id,
                   LinkReview.other_center_id == center_id))):
        review.status, review.decided_by, review.decided_at = "rejected", user, utcnow()
    session.flush()
    return center


def _given_back_since(session: so.Session, merge: ChangeRecord) -> set[int]:
    """Ids of the records that an unmerge after ``merge`` gave back to a center merged
    before it (into the center merged by ``merge``, or further down): that center's, not
    to be taken again when the merges are undone out of order. (A center merged after it,
    the kept one going into a third, takes them along and gives them back in turn.)"""
    ids: set[int] = set()
    for unmerge in session.scalars(sa.select(ChangeRecord).where(
            ChangeRecord.field == "center", ChangeRecord.action == "unmerge",
            ChangeRecord.id > merge.id)):
        earlier = session.scalar(sa.select(ChangeRecord).where(
            ChangeRecord.center_id == unmerge.center_id, ChangeRecord.field == "center",
            ChangeRecord.action == "merge", ChangeRecord.id < unmerge.id)
            .order_by(ChangeRecord.id.desc()).limit(1))
        if earlier is not None and earlier.id < merge.id:
            moved = json.loads(unmerge.before or "{}").get("records")  # (the ones it gave
            ids |= set(moved) if moved is not None else {  # back; else all it could)
                saved["id"] for saved in json.loads(earlier.before)["records"]}
    return ids


def records_of_merge(session: so.Session, merge: ChangeRecord) -> list[SourceRecord]:
    """The records that the merge audited by ``merge`` moved and that still exist. A row
    is named by its id, and SQLite gives the id of a deleted (reverted) row to the next new
    one: a row under a saved id counts only when it has the saved source and key and no
    import made it (audit action ``create`` or ``link``) after the merge."""
    state = json.loads(merge.before)
    ids = [saved["id"] for saved in state["records"]]
    made_since = set(session.scalars(sa.select(ChangeRecord.record_id).where(
        ChangeRecord.record_id.in_(ids), ChangeRecord.action.in_(("create", "link")),
        ChangeRecord.id > merge.id))) if ids else set()
    records = []
    for saved in state["records"]:
        record = session.get(SourceRecord, saved["id"])
        if record is not None and record.id not in made_since and ("key" not in saved or (
                record.source, record.external_id or record.natural_key) == (saved["source"],
                                                                              saved["key"])):
            records.append(record)
    return records


def _give_back(session: so.Session, state: dict, records: list[SourceRecord], center: Center,
               holders: set[int]) -> None:
    """Move ``records`` (:func:`records_of_merge`), and the claims and designations of a merge
    that are still on one of the ``holders`` (center ids), back onto ``center``."""
    saved_of = {saved["id"]: saved for saved in state["records"]}
    for record in records:
        saved = saved_of[record.id]
        record.center = center
        record.link_rule, record.link_score = saved["link_rule"], saved["link_score"]
        record.link_reason = saved["link_reason"]
    # The claims and designations of a source whose records were all reverted since went
    # with them (a source it never had a record of, a modality list's, stays).
    gone = {s["source"] for s in state["records"] if "source" in s} - {
        r.source for r in records}
    # A moved claim (designation) is named by its id; the row under that id now counts
    # only when it is still that claim: the same modality and source (SQLite gives the id
    # of a deleted row to the next new one, e.g. a claim a re-import made since).
    moved = set(state["moved_claims"])
    for claim in state["claims"]:
        if claim["source"] in gone:
            continue
        row = session.get(CenterModality, claim["id"]) if claim["id"] in moved else None
        if row is not None and (row.modality_id, row.source) != (claim["modality_id"],
                                                                 claim["source"]):
            continue  # taken off since (and its id given to another claim): not given back
        if row is not None and row.center_id in holders:
            row.center = center
        elif row is None and claim["id"] not in moved:
            center.modalities.append(CenterModality(
                modality_id=claim["modality_id"], source=claim["source"],
                provenance=claim["provenance"], evidence=claim["evidence"],
                verified_on=dt.date.fromisoformat(claim["verified_on"])
                if claim["verified_on"] else None))
    moved_d = set(state["moved_designations"])
    for held in state["designations"]:
        if held["source"] in gone:
            continue
        row = session.get(CenterDesignation, held["id"]) if held["id"] in moved_d else None
        if row is not None and (row.designation_id, row.source) != (held["designation_id"],
                                                                    held["source"]):
            continue
        if row is not None and row.center_id in holders:
            row.center = center
        elif row is None and held["id"] not in moved_d:
            center.designations.append(CenterDesignation(
                designation_id=held["designation_id"], source=held["source"],
                as_of=dt.date.fromisoformat(held["as_of"]) if held["as_of"] else None))
