"""Plan stage: compare validated records with the stored centers of their source.

Takes the caller's session and only reads. Centers are matched by ``(source, external_id)``,
else by ``(source, natural_key)``; the :class:`Plan` lists adds, updates (with the changed
fields), unchanged centers and, for modality lists, the claims per matched center."""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field

import sqlalchemy as sa
import sqlalchemy.orm as so

from directory.curation.link import Link
from directory.curation.records import dumps
from directory.importer.claim_formats import ClaimRow
from directory.importer.validate import CenterRecord
from directory.models import (
    NON_TREATING_KINDS,
    Center,
    CenterDesignation,
    CenterModality,
    Designation,
    Modality,
    SourceRecord,
)

CHUNK = 900  # values per IN list

CENTER_FIELDS = ("name", "kind", "address", "city", "region", "postal_code", "country",
                 "latitude", "longitude", "geocode_precision", "phone", "website", "email",
                 "status", "description")


@dataclass
class Plan:
    """What an import would do: new records, (stored center, record, changed fields)
    updates, unchanged stored centers (:class:`StoredCenter`), and modality-list claims
    grouped by matched center (ORM :class:`Center`)."""

    adds: list[CenterRecord] = field(default_factory=list)
    updates: list[tuple[StoredCenter, CenterRecord, list[str]]] = field(default_factory=list)
    unchanged: list = field(default_factory=list)
    claim_adds: list[tuple[Center, list[ClaimRow]]] = field(default_factory=list)
    claim_updates: list[tuple[Center, list[ClaimRow]]] = field(default_factory=list)
    unmatched_keys: list[tuple[int, str]] = field(default_factory=list)
    skipped_kinds: list[tuple[int, str, str]] = field(default_factory=list)
    not_in_file: int = 0
    #: New rows that join a stored center of another source: (row, center id, link).
    attach: list[tuple[CenterRecord, int, Link]] = field(default_factory=list)
    #: Pairs for the duplicates review queue: (row, center id, link); never linked.
    review: list[tuple[CenterRecord, int, Link]] = field(default_factory=list)


def _centers_where(session: so.Session, condition, records: bool = True) -> list[Center]:
    """The centers matching ``condition`` with their claims, designations, organization
    and (unless not ``records``: a claims import does not read them) source records (ORM
    objects, for writing)."""
    options = [so.selectinload(Center.modalities), so.selectinload(Center.designations),
               so.joinedload(Center.organization)]
    if records:
        options.append(so.selectinload(Center.records))
    return list(session.scalars(sa.select(Center).where(condition).options(*options)))


def _alt_text(names: tuple[str, ...] | list[str]) -> str | None:
    return "; ".join(names) if names else None


def _record_claims(record: CenterRecord) -> set[tuple]:
    return {(m.slug, m.provenance, m.evidence) for m in record.modalities}


class StoredCenter:
    """What planning compares of a stored record of the importing source (a plain object,
    not an ORM one: a re-import of a 100k-row file used to hold 100k centers with their
    claims as ORM objects, 1.2 GB): the center's id, the record's id, match keys, its
    values as stored (``raw`` JSON, parsed on first use into ``values``: only the fields its
    files gave; :data:`CENTER_FIELDS` read as attributes, ``None`` when absent), and this
    source's claims ``(slug, provenance, evidence)`` and designation slugs on the center.
    """

    __slots__ = ("id", "record_id", "external_id", "natural_key", "raw", "_values", "claims",
                 "designation_slugs")

    def __init__(self, center_id: int, record_id: int, external_id: str | None,
                 natural_key: str, raw: str, claims: frozenset, designation_slugs: frozenset):
        self.id, self.record_id = center_id, record_id
        self.external_id, self.natural_key, self.raw = external_id, natural_key, raw
        self._values = None
        self.claims, self.designation_slugs = claims, designation_slugs

    @property
    def values(self) -> dict:
        if self._values is None:
            self._values = json.loads(self.raw or "{}")
        return self._values

    def __getattr__(self, name: str):
        if name in _VALUE_FIELDS:
            return self.values.get(name)
        raise AttributeError(name)

    @property
    def organization_name(self) -> str | None:
        return self.values.get("organization")

    @property
    def has_coordinates(self) -> bool:
        return self.latitude is not None and self.longitude is not None


_VALUE_FIELDS = frozenset((*CENTER_FIELDS, "alternate_names"))


def record_values(record: CenterRecord, old: dict | None = None,
                  id_kind: str | None = None) -> dict:
    """The values a source record stores for ``record``: ``old`` (the record as stored)
    with every field the row gave replaced, so a column the file lacks keeps its value and
    an empty cell clears it; ``id_kind`` (``"ccn"``) names what its external id is, for the
    linker. Claims and designations live in their own tables."""
    values = dict(old or {})
    if id_kind and record.external_id:
        values["id_kind"] = id_kind
    for name in record.given:
        if name in ("modalities", "designations"):
            continue
        if name == "alternate_names":
            values[name] = _alt_text(record.alternate_names)
        elif name == "facts":
            if record.facts:
                values["facts"] = record.facts
            else:
                values.pop("facts", None)
        else:
            values[name] = getattr(record, name)
    return values


def claims_given(record: CenterRecord) -> bool:
    """Whether the row speaks about its center's treatments: a modalities column, or a
    designations column (designations imply inferred claims)."""
    return "modalities" in record.given or "designations" in record.given


def _stored_centers(session: so.Session, source: str) -> list[StoredCenter]:
    """The records of ``source`` as :class:`StoredCenter` (three statements)."""
    rows = session.execute(sa.select(SourceRecord.center_id, SourceRecord.id,
                                     SourceRecord.external_id, SourceRecord.natural_key,
                                     SourceRecord.values)
                           .where(SourceRecord.source == source)).all()
    claims: defaultdict[int, set] = defaultdict(set)
    for center_id, *claim in session.execute(
            sa.select(CenterModality.center_id, Modality.slug, CenterModality.provenance,
                      CenterModality.evidence)
            .join(Modality, Modality.id == CenterModality.modality_id)
            .join(SourceRecord, SourceRecord.center_id == CenterModality.center_id)
            .where(SourceRecord.source == source, CenterModality.source == source)):
        claims[center_id].add(tuple(claim))
    held: defaultdict[int, set] = defaultdict(set)
    for center_id, slug in session.execute(
            sa.select(CenterDesignation.center_id, Designation.slug)
            .join(Designation, Designation.id == CenterDesignation.designation_id)
            .join(SourceRecord, SourceRecord.center_id == CenterDesignation.center_id)
            .where(SourceRecord.source == source, CenterDesignation.source == source)):
        held[center_id].add(slug)
    empty: frozenset = frozenset()
    return [StoredCenter(cid, rid, external_id, natural, values,
                         frozenset(claims[cid]) if cid in claims else empty,
                         frozenset(held[cid]) if cid in held else empty)
            for cid, rid, external_id, natural, values in rows]


def diff(center: StoredCenter, record: CenterRecord, raw: str | None = None) -> list[str]:
    """Names of the fields the row gives that differ from the stored record (claims and
    designations: the stored center holds those of the record's source only, the ones an
    import of it replaces). A field the row does not give is never a difference. ``raw``:
    the row's own values as stored JSON; when it equals the stored text, no field differs
    (compared without parsing: a re-import of an unchanged file is mostly this)."""
    given = record.given
    changed = []
    if raw is None or raw != center.raw:
        stored = center.values
        changed = [f for f in CENTER_FIELDS if f in given
                   and (f not in stored or stored[f] != getattr(record, f))]
        if "alternate_names" in given and (
                "alternate_names" not in stored
                or (stored["alternate_names"] or None) != _alt_text(record.alternate_names)):
            changed.append("alternate_names")
        if "organization" in given and (
                "organization" not in stored
                or stored["organization"] != record.organization):
            changed.append("organization")
    if claims_given(record) and center.claims != _record_claims(record):
        changed.append("modalities")
    if "designations" in given and center.designation_slugs != set(record.designations):
        changed.append("designations")
    return changed


class ExistingCenters:
    """The stored records of one source (:class:`StoredCenter`), indexed by external id and
    by natural key."""

    def __init__(self, session: so.Session, source: str):
        self.centers = _stored_centers(session, source)
        self.by_id = {c.external_id: c for c in self.centers if c.external_id}
        self.by_key = {c.natural_key: c for c in self.centers if not c.external_id}
        # A file of the source without its id column still names its records: by natural
        # key among all of them (else every row would be a duplicate).
        self.by_any_key: dict[str, StoredCenter] = {}
        for c in self.centers:
            self.by_any_key.setdefault(c.natural_key, c)

    def match(self, record: CenterRecord) -> StoredCenter | None:
        """The stored record a row updates, or ``None`` for a new one."""
        if record.external_id:
            return self.by_id.get(record.external_id)
        return self.by_key.get(record.natural_key) or self.by_any_key.get(record.natural_key)


def reuse_coordinates(record: CenterRecord, center: StoredCenter | None) -> bool:
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
                 existing: ExistingCenters | None = None, id_kind: str | None = None) -> Plan:
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
        changed = diff(center, record, dumps(record_values(record, id_kind=id_kind)))
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
    keys = dict(session.execute(sa.select(SourceRecord.center_id, SourceRecord.external_id)
                                .where(SourceRecord.source == target_source,
                                       SourceRecord.external_id.is_not(None))).all())
    # Only the centers the file names (by the key each center is known by here).
    named = sorted(cid for cid, key in keys.items() if key in grouped)
    centers = {keys[c.id]: c for i in range(0, len(named), CHUNK)
               for c in _centers_where(session, Center.id.in_(named[i:i + CHUNK]),
                                       records=False)}
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
        have = {(cm.modality.slug, cm.provenance, cm.evidence, cm.verified_on)
                for cm in center.modalities if cm.source == claim_source}
        if not have:
            plan.claim_adds.append((center, wanted))
        elif have != {(c.modality, c.provenance, c.evidence, c.verified_on) for c in wanted}:
            plan.claim_updates.append((center, wanted))
        else:
            plan.unchanged.append(center)
    return plan


def _merge_claims(rows: list[ClaimRow]) -> list[ClaimRow]:
    """One claim per modality: the latest date, with every distinct evidence line joined;
    reported if any row reports it (inferred rows of that modality are then dropped)."""
    by_slug: dict[str, list[ClaimRow]] = defaultdict(list)
    for row in rows:
        by_slug[row.modality].append(row)
    merged = []
    for slug, items in by_slug.items():
        provenance = "reported" if any(r.provenance == "reported" for r in items) \
            else "inferred"
        items = sorted((r for r in items if r.provenance == provenance),
                       key=lambda r: r.verified_on)
        evidence = "; ".join(dict.fromkeys(r.evidence for r in reversed(items)))[:300]
        merged.append(ClaimRow(items[0].line, items[0].external_id, slug, evidence,
                               items[-1].verified_on, provenance))
    return merged


def likely_duplicates(session: so.Session, records: list[CenterRecord], source: str,
                      within_km: float = 0.1) -> list[tuple[int, str, int, str]]:
    """Records about to be added that look like a center already stored from another
    source: the same folded name and either the same postal code or within ``within_km``
    (geodesic). Returns ``[(line, record name, center id, center source)]``."""
    from directory.geo import geodesic_km_pairs

    if not records or session.execute(sa.select(Center.id).where(
            Center.source != source).limit(1)).first() is None:
        return []  # no center from another source to resemble
    by_name: dict[str, list[CenterRecord]] = defaultdict(list)
    for record in records:
        by_name[record.name_folded[:300]].append(record)
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
