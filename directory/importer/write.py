"""Plan and write steps: compare validated records with the database, then apply the plan.

Both take the caller's session; neither commits (the edge commits once, or rolls back for a
dry run). Centers are matched by ``(source, external_id)``, else by ``(source, natural_key)``.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field

import sqlalchemy as sa
import sqlalchemy.orm as so

from directory.importer.formats import ClaimRow
from directory.importer.validate import CenterRecord
from directory.models import (
    NON_TREATING_KINDS,
    Center,
    CenterDesignation,
    CenterModality,
    ChangeRecord,
    DataSource,
    Designation,
    Modality,
    Organization,
    utcnow,
)
from directory.text import fold

# Rows per multi-row INSERT (SQLite allows 32,766 parameters; a center row has ~25).
BATCH = 1000
CENTER_FIELDS = ("name", "kind", "address", "city", "region", "postal_code", "country",
                 "latitude", "longitude", "geocode_precision", "phone", "website", "email",
                 "status", "description")


@dataclass
class Plan:
    """What an import would do: new records, (center, record, changed fields) updates,
    unchanged centers, and modality-list claims grouped by matched center."""

    adds: list[CenterRecord] = field(default_factory=list)
    updates: list[tuple[Center, CenterRecord, list[str]]] = field(default_factory=list)
    unchanged: list[Center] = field(default_factory=list)
    claim_adds: list[tuple[Center, list[ClaimRow]]] = field(default_factory=list)
    claim_updates: list[tuple[Center, list[ClaimRow]]] = field(default_factory=list)
    unmatched_keys: list[tuple[int, str]] = field(default_factory=list)
    skipped_kinds: list[tuple[int, str, str]] = field(default_factory=list)
    not_in_file: int = 0


def ensure_source(session: so.Session, slug: str, name: str | None = None) -> DataSource:
    """The :class:`DataSource` ``slug``, created (flushed) with ``name`` when missing."""
    source = session.get(DataSource, slug)
    if source is None:
        source = DataSource(slug=slug, name=name or slug)
        session.add(source)
        session.flush()
    return source


def _centers_of(session: so.Session, source: str) -> list[Center]:
    return list(session.scalars(
        sa.select(Center).where(Center.source == source)
        .options(so.selectinload(Center.modalities), so.selectinload(Center.designations),
                 so.joinedload(Center.organization))))


def _alt_text(names: list[str]) -> str | None:
    return "; ".join(names) if names else None


def _record_claims(record: CenterRecord) -> set[tuple]:
    return {(m.slug, m.provenance, m.evidence) for m in record.modalities}


def _center_claims(center: Center, source: str) -> set[tuple]:
    return {(cm.modality.slug, cm.provenance, cm.evidence)
            for cm in center.modalities if cm.source == source}


def diff(center: Center, record: CenterRecord, source: str) -> list[str]:
    """Names of the fields that differ between a stored center and a record."""
    changed = [f for f in CENTER_FIELDS if getattr(center, f) != getattr(record, f)]
    if (center.alternate_names or None) != _alt_text(record.alternate_names):
        changed.append("alternate_names")
    if (center.organization.name if center.organization else None) != record.organization:
        changed.append("organization")
    if _center_claims(center, source) != _record_claims(record):
        changed.append("modalities")
    have = {cd.designation.slug for cd in center.designations if cd.source == source}
    if have != set(record.designations):
        changed.append("designations")
    return changed


class ExistingCenters:
    """The stored centers of one source, indexed by external id and by natural key."""

    def __init__(self, session: so.Session, source: str):
        self.centers = _centers_of(session, source)
        self.by_id = {c.external_id: c for c in self.centers if c.external_id}
        self.by_key = {c.natural_key: c for c in self.centers if not c.external_id}

    def match(self, record: CenterRecord) -> Center | None:
        """The stored center a record updates, or ``None`` for a new one."""
        return self.by_id.get(record.external_id) if record.external_id else \
            self.by_key.get(record.natural_key)


def reuse_coordinates(record: CenterRecord, center: Center | None) -> bool:
    """Copy the stored coordinates onto a record without any when the place it names
    (address, city, region, postal code, country) is unchanged, so re-imports do not
    geocode again. Returns whether it did."""
    if center is None or record.latitude is not None or not center.has_coordinates:
        return False
    same = all(getattr(center, f) == getattr(record, f)
               for f in ("address", "city", "region", "postal_code", "country"))
    if same and center.geocode_precision != "manual":
        record.latitude, record.longitude = center.latitude, center.longitude
        record.geocode_precision = center.geocode_precision
    return same


def plan_centers(session: so.Session, records: list[CenterRecord], source: str,
                 existing: ExistingCenters | None = None) -> Plan:
    """Match records to stored centers of ``source`` and classify each (no writes).
    ``plan.not_in_file`` counts stored centers of the source that the file does not name
    (they are left alone)."""
    plan = Plan()
    existing = existing or ExistingCenters(session, source)
    seen: set[int] = set()
    for record in records:
        center = existing.match(record)
        if center is None:
            plan.adds.append(record)
            continue
        seen.add(center.id)
        changed = diff(center, record, source)
        if changed:
            plan.updates.append((center, record, changed))
        else:
            plan.unchanged.append(center)
    plan.not_in_file = sum(1 for c in existing.centers if c.id not in seen)
    return plan


def plan_claims(session: so.Session, claims: list[ClaimRow], claim_source: str,
                target_source: str) -> Plan:
    """Match modality-list claims to centers of ``target_source`` by external id."""
    plan = Plan()
    grouped: dict[str, list[ClaimRow]] = defaultdict(list)
    for claim in claims:
        grouped[claim.external_id].append(claim)
    centers = {c.external_id: c for c in _centers_of(session, target_source)}
    for key, rows in grouped.items():
        center = centers.get(key)
        if center is None:
            plan.unmatched_keys.append((rows[0].line, key))
            continue
        if center.kind in NON_TREATING_KINDS:
            plan.skipped_kinds.append((rows[0].line, key, center.kind))
            if any(cm.source == claim_source for cm in center.modalities):
                plan.claim_updates.append((center, []))  # withdraw claims applied earlier
            continue
        wanted = _merge_claims(rows)
        have = {(cm.modality.slug, cm.evidence, cm.verified_on)
                for cm in center.modalities if cm.source == claim_source}
        if not have:
            plan.claim_adds.append((center, wanted))
        elif have != {(c.modality, c.evidence, c.verified_on) for c in wanted}:
            plan.claim_updates.append((center, wanted))
        else:
            plan.unchanged.append(center)
    return plan


def _merge_claims(rows: list[ClaimRow]) -> list[ClaimRow]:
    """One claim per modality: the latest date, with every distinct evidence line joined."""
    by_slug: dict[str, list[ClaimRow]] = defaultdict(list)
    for row in rows:
        by_slug[row.modality].append(row)
    merged = []
    for slug, items in by_slug.items():
        items.sort(key=lambda r: r.verified_on)
        evidence = "; ".join(dict.fromkeys(r.evidence for r in reversed(items)))[:300]
        merged.append(ClaimRow(items[0].line, items[0].external_id, slug, evidence,
                               items[-1].verified_on))
    return merged


def likely_duplicates(session: so.Session, records: list[CenterRecord], source: str,
                      within_km: float = 0.1) -> list[tuple[int, str, int, str]]:
    """Records about to be added that look like a center already stored from another
    source: the same folded name and either the same postal code or within ``within_km``
    (geodesic). Returns ``[(line, record name, center id, center source)]``."""
    from directory.geocoding import geodesic_km_pairs

    by_name: dict[str, list[CenterRecord]] = defaultdict(list)
    for record in records:
        by_name[fold(record.name)[:300]].append(record)
    found, near_pairs = [], []
    names = list(by_name)
    for i in range(0, len(names), 5000):
        rows = session.execute(sa.select(Center.id, Center.name_folded, Center.postal_code,
                                         Center.latitude, Center.longitude, Center.source)
                               .where(Center.name_folded.in_(names[i:i + 5000]),
                                      Center.source != source)).all()
        for cid, name_folded, postal, lat, lon, other_source in rows:
            for record in by_name[name_folded]:
                same_postal = postal and record.postal_code and \
                    postal.replace(" ", "") == record.postal_code.replace(" ", "")
                if same_postal:
                    found.append((record.line, record.name, cid, other_source))
                elif lat is not None and record.latitude is not None:
                    near_pairs.append(((lat, lon), record, cid, other_source))
    distances = geodesic_km_pairs([p[0] for p in near_pairs],
                                  [(p[1].latitude, p[1].longitude) for p in near_pairs])
    for km, (_, record, cid, other_source) in zip(distances, near_pairs):
        if km <= within_km:
            found.append((record.line, record.name, cid, other_source))
    return sorted(found)


class Writer:
    """Applies a :class:`Plan` in the caller's transaction (flush only)."""

    def __init__(self, session: so.Session, source: str, *, run_id: int | None = None,
                 user: str | None = None):
        self.session = session
        self.source = source
        self.run_id = run_id
        self.user = user
        self.modalities = {m.slug: m for m in session.scalars(sa.select(Modality))}
        self.designations = {d.slug: d for d in session.scalars(sa.select(Designation))}
        self.organizations: dict[str, Organization] = {}

    def _organization(self, name: str | None) -> Organization | None:
        if not name:
            return None
        if name not in self.organizations:
            org = self.session.scalar(sa.select(Organization).where(Organization.name == name))
            if org is None:
                org = Organization(name=name)
                self.session.add(org)
            self.organizations[name] = org
        return self.organizations[name]

    def _fill(self, center: Center, record: CenterRecord) -> None:
        for f in CENTER_FIELDS:
            setattr(center, f, getattr(record, f))
        center.alternate_names = _alt_text(record.alternate_names)
        center.natural_key = record.natural_key
        center.name_folded = fold(record.name)[:300]
        center.city_folded = fold(record.city)[:120]
        center.organization = self._organization(record.organization)
        center.search_text = " ".join(filter(None, (
            fold(record.name), fold(" ".join(record.alternate_names)),
            fold(record.organization))))
        today = dt.date.today()
        self._set_claims(center, [(m.slug, m.provenance, m.evidence, m.verified_on or today)
                                  for m in record.modalities])
        # Updated in place, as in _set_claims (unique (center, designation)).
        kept = {cd.designation.slug: cd for cd in center.designations
                if cd.source == self.source}
        others = [cd for cd in center.designations if cd.source != self.source]
        as_of = record_as_of(record) or today
        wanted = []
        for slug in record.designations:
            if slug not in self.designations:
                continue
            cd = kept.get(slug) or CenterDesignation(designation=self.designations[slug],
                                                     source=self.source)
            cd.as_of = as_of
            wanted.append(cd)
        center.designations = others + wanted

    def _set_claims(self, center: Center, claims: list[tuple]) -> None:
        """Replace this source's modality claims with ``[(slug, provenance, evidence,
        verified_on)]``, updating rows already stored for the same modality in place (the
        unit of work inserts before it deletes, so a new row for the same (center, modality,
        source) would break the unique constraint)."""
        kept = {cm.modality.slug: cm for cm in center.modalities if cm.source == self.source}
        others = [cm for cm in center.modalities if cm.source != self.source]
        wanted = []
        for slug, provenance, evidence, verified_on in claims:
            if slug not in self.modalities:
                continue
            cm = kept.get(slug) or CenterModality(modality=self.modalities[slug],
                                                  source=self.source)
            cm.provenance, cm.evidence, cm.verified_on = provenance, evidence, verified_on
            wanted.append(cm)
        center.modalities = others + wanted

    def apply(self, plan: Plan) -> None:
        """Insert the adds, update the updates, replace modality-list claims, and record
        every change in the audit log; then flush."""
        from directory.audit import record_changes, snapshot

        self._bulk_add(plan.adds)
        changed = []
        for center, record, _fields in plan.updates:
            before = snapshot(center, self.source)
            self._fill(center, record)
            changed.append((center, before))
        for center, claims in (*plan.claim_adds, *plan.claim_updates):
            before = snapshot(center, self.source)
            self._set_claims(center, [(c.modality, "reported", c.evidence, c.verified_on)
                                      for c in claims])
            changed.append((center, before))
        self.session.flush()
        for center, before in changed:
            record_changes(self.session, center, before, snapshot(center, self.source),
                           user=self.user, run_id=self.run_id)
        self.session.flush()


    def _organization_ids(self, names: set[str]) -> dict[str, int]:
        """Ids of the organizations called ``names``, inserting the missing ones."""
        found: dict[str, int] = {}
        ordered = sorted(names)
        for i in range(0, len(ordered), BATCH):
            chunk = ordered[i:i + BATCH]
            found.update(self.session.execute(sa.select(Organization.name, Organization.id)
                                              .where(Organization.name.in_(chunk))).all())
        missing = [{"name": n} for n in ordered if n not in found]
        for i in range(0, len(missing), BATCH):
            chunk = missing[i:i + BATCH]
            ids = self.session.scalars(sa.insert(Organization).returning(
                Organization.id, sort_by_parameter_order=True), chunk).all()
            found.update({row["name"]: oid for row, oid in zip(chunk, ids)})
        return found

    def _bulk_add(self, records: list[CenterRecord]) -> None:
        """Insert new centers, their claims, designations and ``create`` audit records with
        batched multi-row INSERTs (no ORM objects): the fast path of large imports."""
        if not records:
            return
        from directory.vocabulary import load_vocabulary

        vocabulary = load_vocabulary()
        now, today = utcnow(), dt.date.today()
        org_ids = self._organization_ids({r.organization for r in records if r.organization})
        for start in range(0, len(records), BATCH):
            batch = records[start:start + BATCH]
            rows = []
            for r in batch:
                row = {f: getattr(r, f) for f in CENTER_FIELDS}
                row.update(
                    source=self.source, external_id=r.external_id, natural_key=r.natural_key,
                    name_folded=fold(r.name)[:300], city_folded=fold(r.city)[:120],
                    alternate_names=_alt_text(r.alternate_names),
                    organization_id=org_ids.get(r.organization) if r.organization else None,
                    search_text=" ".join(filter(None, (fold(r.name), fold(" ".join(
                        r.alternate_names)), fold(r.organization)))),
                    modality_mask=vocabulary.mask(m.slug for m in r.modalities
                                                  if m.slug in self.modalities),
                    created_at=now, updated_at=now)
                rows.append(row)
            table = Center.__table__  # Core, not the ORM bulk path: ~3x less overhead
            ids = self.session.connection().execute(sa.insert(table).returning(
                table.c.id, sort_by_parameter_order=True), rows).scalars().all()
            claims, designations, audit = [], [], []
            for center_id, r, row in zip(ids, batch, rows):
                as_of = record_as_of(r) or today
                kept_modalities = [m for m in r.modalities if m.slug in self.modalities]
                kept_designations = [d for d in r.designations if d in self.designations]
                record_claims = [
                    {"center_id": center_id, "modality_id": self.modalities[m.slug].id,
                     "provenance": m.provenance, "source": self.source,
                     "evidence": m.evidence, "verified_on": m.verified_on or today}
                    for m in kept_modalities]
                record_designations = [
                    {"center_id": center_id, "designation_id": self.designations[slug].id,
                     "source": self.source, "as_of": as_of} for slug in kept_designations]
                claims += record_claims
                designations += record_designations
                audit.append({"user": self.user, "center_id": center_id,
                              "center_name": r.name, "import_run_id": self.run_id,
                              "action": "create", "field": None, "before": None,
                              "after": _created_snapshot(row, r.organization, kept_modalities,
                                                         record_claims, kept_designations,
                                                         record_designations, self.source),
                              "at": now})
            for model, values in ((CenterModality, claims),
                                  (CenterDesignation, designations), (ChangeRecord, audit)):
                if values:
                    self.session.connection().execute(sa.insert(model.__table__), values)


def _created_snapshot(row: dict, organization: str | None, modalities: list, claims: list[dict],
                      designation_slugs: list[str], designations: list[dict],
                      source: str) -> str:
    """The ``create`` audit record's text: the same JSON shape as
    :func:`directory.audit.snapshot` of the new center."""
    import json

    from directory.audit import SCALAR_FIELDS

    snap = {f: (repr(row[f]) if isinstance(row[f], float) else
                (str(row[f]) if row[f] is not None else None)) for f in SCALAR_FIELDS}
    snap["organization"] = organization
    snap["modalities"] = json.dumps(sorted(
        ({"slug": m.slug, "provenance": m.provenance, "source": source,
          "evidence": m.evidence, "verified_on": c["verified_on"].isoformat()}
         for m, c in zip(modalities, claims)),
        key=lambda c: (c["slug"], c["source"])), sort_keys=True)
    snap["designations"] = json.dumps(sorted(
        ({"slug": slug, "source": source, "as_of": d["as_of"].isoformat()}
         for slug, d in zip(designation_slugs, designations)),
        key=lambda d: (d["slug"], d["source"])), sort_keys=True)
    return json.dumps(snap, sort_keys=True)


def record_as_of(record: CenterRecord) -> dt.date | None:
    """The evidence date of a record's designations: the earliest dated modality claim."""
    dates = [m.verified_on for m in record.modalities if m.verified_on]
    return min(dates) if dates else None
