"""Audit trail and its inverse: every change to a center, from an import or an edit, is a
:class:`~directory.models.ChangeRecord` (who, when, field, before, after), which is what
``/admin/centers/<id>/history`` shows and what reverting an import replays backwards.

Functions take the caller's session and only flush; the edge commits.
"""

from __future__ import annotations

import datetime as dt
import json

import sqlalchemy as sa
import sqlalchemy.orm as so

from directory.models import (
    Center,
    CenterDesignation,
    CenterModality,
    ChangeRecord,
    Designation,
    Modality,
    Organization,
)

SCALAR_FIELDS = ("name", "kind", "address", "city", "region", "postal_code", "country",
                 "latitude", "longitude", "geocode_precision", "phone", "website", "email",
                 "status", "description", "alternate_names")
LIST_FIELDS = ("modalities", "designations")


def _text(value) -> str | None:
    if value is None:
        return None
    return repr(value) if isinstance(value, float) else str(value)


def snapshot(center: Center, source: str | None = None) -> dict[str, str | None]:
    """The audited fields of ``center`` as text. Modalities and designations are JSON lists;
    with ``source`` only that source's claims are included (an import touches only its own)."""
    snap = {f: _text(getattr(center, f)) for f in SCALAR_FIELDS}
    snap["organization"] = center.organization.name if center.organization else None
    claims = sorted(
        ({"slug": cm.modality.slug, "provenance": cm.provenance, "source": cm.source,
          "evidence": cm.evidence,
          "verified_on": cm.verified_on.isoformat() if cm.verified_on else None}
         for cm in center.modalities if source is None or cm.source == source),
        key=lambda c: (c["slug"], c["source"]))
    snap["modalities"] = json.dumps(claims, sort_keys=True)
    designations = sorted(
        ({"slug": cd.designation.slug, "source": cd.source,
          "as_of": cd.as_of.isoformat() if cd.as_of else None}
         for cd in center.designations if source is None or cd.source == source),
        key=lambda d: (d["slug"], d["source"]))
    snap["designations"] = json.dumps(designations, sort_keys=True)
    return snap


def record_changes(session: so.Session, center: Center, before: dict | None, after: dict, *,
                   user: str | None, run_id: int | None = None,
                   action: str = "update") -> list[ChangeRecord]:
    """Add one :class:`ChangeRecord` per field that differs (or one ``create`` record holding
    the whole snapshot as JSON when ``before`` is ``None``). Flushes nothing."""
    if before is None:
        records = [ChangeRecord(user=user, center_id=center.id, center_name=center.name,
                                import_run_id=run_id, action="create", field=None,
                                before=None, after=json.dumps(after, sort_keys=True))]
    else:
        records = [ChangeRecord(user=user, center_id=center.id, center_name=center.name,
                                import_run_id=run_id, action=action, field=name,
                                before=before.get(name), after=after.get(name))
                   for name in after if before.get(name) != after.get(name)]
    session.add_all(records)
    return records


def history(session: so.Session, center_id: int) -> list[ChangeRecord]:
    """Every change recorded for a center, newest first."""
    return list(session.scalars(sa.select(ChangeRecord).where(ChangeRecord.center_id == center_id)
                                .order_by(ChangeRecord.at.desc(), ChangeRecord.id.desc())))


def apply_field(session: so.Session, center: Center, name: str, value: str | None,
                source: str | None = None) -> None:
    """Set one audited field from its text form (the inverse of :func:`snapshot`).
    For ``modalities``/``designations`` only the claims of ``source`` are replaced (all
    sources when ``None``)."""
    if name in ("latitude", "longitude"):
        setattr(center, name, float(value) if value is not None else None)
    elif name == "organization":
        org = None
        if value:
            org = session.scalar(sa.select(Organization).where(Organization.name == value)) \
                or Organization(name=value)
        center.organization = org
    elif name == "modalities":
        wanted = json.loads(value or "[]")
        sources = {source} if source else {c["source"] for c in wanted} | {
            cm.source for cm in center.modalities}
        keep = [cm for cm in center.modalities if cm.source not in sources]
        by_key = {(cm.modality.slug, cm.source): cm for cm in center.modalities
                  if cm.source in sources}
        modalities = {m.slug: m for m in session.scalars(sa.select(Modality))}
        for claim in wanted:
            cm = by_key.get((claim["slug"], claim["source"])) or CenterModality(
                modality=modalities[claim["slug"]], source=claim["source"])
            cm.provenance, cm.evidence = claim["provenance"], claim["evidence"]
            cm.verified_on = (dt.date.fromisoformat(claim["verified_on"])
                              if claim["verified_on"] else None)
            keep.append(cm)
        center.modalities = keep
    elif name == "designations":
        wanted = json.loads(value or "[]")
        sources = {source} if source else {d["source"] for d in wanted} | {
            cd.source for cd in center.designations}
        keep = [cd for cd in center.designations if cd.source not in sources]
        by_slug = {cd.designation.slug: cd for cd in center.designations
                   if cd.source in sources}
        designations = {d.slug: d for d in session.scalars(sa.select(Designation))}
        for item in wanted:
            cd = by_slug.get(item["slug"]) or CenterDesignation(
                designation=designations[item["slug"]], source=item["source"])
            cd.as_of = dt.date.fromisoformat(item["as_of"]) if item["as_of"] else None
            keep.append(cd)
        center.designations = keep
    else:
        setattr(center, name, value)
    # name_folded, city_folded and search_text follow at flush (models._keep_search_columns)


