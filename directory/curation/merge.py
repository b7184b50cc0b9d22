"""Likely duplicates and merging two centers into one (admin action).

Two centers are likely duplicates when their folded names are equal and they share a postal
code or lie within 100 m (geodesic). Merging keeps one center, moves the other's modality
claims and designations (with their sources and dates) and names onto it, records both in
the audit log, and deletes the other. Functions flush; the caller commits.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import sqlalchemy as sa
import sqlalchemy.orm as so

from directory.curation.audit import record_changes, snapshot
from directory.geo import geodesic_km
from directory.models import Center, ChangeRecord


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


def merge_centers(session: so.Session, keep: Center, drop: Center, *, user: str | None) -> None:
    """Merge ``drop`` into ``keep``. ``keep`` gains ``drop``'s claims and designations that
    it lacks (same modality and source counts as the same claim), ``drop``'s name as an
    alternate name, and any empty contact field; ``drop`` is deleted. Both are audited."""
    before = snapshot(keep)
    have = {(cm.modality_id, cm.source) for cm in keep.modalities}
    for cm in list(drop.modalities):
        if (cm.modality_id, cm.source) not in have:
            drop.modalities.remove(cm)
            keep.modalities.append(cm)
    have_d = {cd.designation_id for cd in keep.designations}
    for cd in list(drop.designations):
        if cd.designation_id not in have_d:
            drop.designations.remove(cd)
            keep.designations.append(cd)
    names = [n.strip() for n in (keep.alternate_names or "").split(";") if n.strip()]
    for name in [drop.name, *(drop.alternate_names or "").split(";")]:
        name = name.strip()
        if name and name != keep.name and name not in names:
            names.append(name)
    keep.alternate_names = "; ".join(names) or None
    for field in ("address", "phone", "website", "email", "postal_code", "region"):
        if not getattr(keep, field) and getattr(drop, field):
            setattr(keep, field, getattr(drop, field))
    if not keep.has_coordinates and drop.has_coordinates:
        keep.latitude, keep.longitude = drop.latitude, drop.longitude
        keep.geocode_precision = drop.geocode_precision
    session.flush()
    record_changes(session, keep, before, snapshot(keep), user=user, action="merge")
    session.add(ChangeRecord(user=user, center_id=drop.id, center_name=drop.name,
                             action="merge", field=None,
                             before=json.dumps(snapshot(drop), sort_keys=True),
                             after=f"merged into center {keep.id}"))
    session.delete(drop)
    session.flush()
