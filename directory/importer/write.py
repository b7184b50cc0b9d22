"""Plan and write steps: compare validated records with the database, then apply the plan.

Both take the caller's session; neither commits (the edge commits once, or rolls back for a
dry run). Centers are matched by ``(source, external_id)``, else by ``(source, natural_key)``.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import json.encoder
import re
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
    search_text_of,
    utcnow,
)
from directory.text import fold

# Rows per multi-row INSERT (SQLite allows 32,766 parameters; a center row has ~25).
BATCH = 1000
# Bulk-load mode on SQLite (see _SqliteBulkLoad): at least this many new centers, and the
# page cache (KiB, negative as PRAGMA cache_size takes it) used meanwhile.
BULK_MIN_ROWS = 2000
BULK_CACHE_KIB = -16384
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


def ensure_source(session: so.Session, slug: str, name: str | None = None) -> DataSource:
    """The :class:`DataSource` ``slug``, created (flushed) with ``name`` when missing."""
    source = session.get(DataSource, slug)
    if source is None:
        source = DataSource(slug=slug, name=name or slug)
        session.add(source)
        session.flush()
    return source


def _centers_where(session: so.Session, condition) -> list[Center]:
    """The centers matching ``condition`` with their claims, designations and
    organization (ORM objects, for writing)."""
    return list(session.scalars(
        sa.select(Center).where(condition)
        .options(so.selectinload(Center.modalities), so.selectinload(Center.designations),
                 so.joinedload(Center.organization))))


def _alt_text(names: tuple[str, ...] | list[str]) -> str | None:
    return "; ".join(names) if names else None


def _record_claims(record: CenterRecord) -> set[tuple]:
    return {(m.slug, m.provenance, m.evidence) for m in record.modalities}


class StoredCenter:
    """What planning compares of a stored center (a plain object, not an ORM one: a
    re-import of a 100k-row file used to hold 100k centers with their claims as ORM objects,
    1.2 GB): its id, match keys, :data:`CENTER_FIELDS`, alternate names, organization
    name, and this source's claims ``(slug, provenance, evidence)`` and designation slugs.
    """

    COLUMNS = ("id", "external_id", "natural_key", *CENTER_FIELDS, "alternate_names")
    __slots__ = (*COLUMNS, "organization_name", "claims", "designation_slugs")

    def __init__(self, row, claims: frozenset, designation_slugs: frozenset):
        """``row``: the :data:`COLUMNS` of the center, then its organization's name."""
        for name, value in zip(self.__slots__, row):
            setattr(self, name, value)
        self.claims, self.designation_slugs = claims, designation_slugs

    @property
    def has_coordinates(self) -> bool:
        return self.latitude is not None and self.longitude is not None


def _stored_centers(session: so.Session, source: str) -> list[StoredCenter]:
    """The centers of ``source`` as :class:`StoredCenter` (three statements)."""
    columns = [getattr(Center, n) for n in StoredCenter.COLUMNS]
    rows = session.execute(sa.select(*columns, Organization.name)
                           .outerjoin(Organization, Organization.id == Center.organization_id)
                           .where(Center.source == source)).all()
    claims: defaultdict[int, set] = defaultdict(set)
    for center_id, *claim in session.execute(
            sa.select(CenterModality.center_id, Modality.slug, CenterModality.provenance,
                      CenterModality.evidence)
            .join(Modality, Modality.id == CenterModality.modality_id)
            .join(Center, Center.id == CenterModality.center_id)
            .where(Center.source == source, CenterModality.source == source)):
        claims[center_id].add(tuple(claim))
    held: defaultdict[int, set] = defaultdict(set)
    for center_id, slug in session.execute(
            sa.select(CenterDesignation.center_id, Designation.slug)
            .join(Designation, Designation.id == CenterDesignation.designation_id)
            .join(Center, Center.id == CenterDesignation.center_id)
            .where(Center.source == source, CenterDesignation.source == source)):
        held[center_id].add(slug)
    empty: frozenset = frozenset()
    return [StoredCenter(row, frozenset(claims[row[0]]) if row[0] in claims else empty,
                         frozenset(held[row[0]]) if row[0] in held else empty)
            for row in rows]


def diff(center: StoredCenter, record: CenterRecord) -> list[str]:
    """Names of the fields that differ between a stored center and a record (claims and
    designations: the stored center holds those of the record's source only, the ones an
    import of it replaces)."""
    changed = [f for f in CENTER_FIELDS if getattr(center, f) != getattr(record, f)]
    if (center.alternate_names or None) != _alt_text(record.alternate_names):
        changed.append("alternate_names")
    if center.organization_name != record.organization:
        changed.append("organization")
    if center.claims != _record_claims(record):
        changed.append("modalities")
    if center.designation_slugs != set(record.designations):
        changed.append("designations")
    return changed


class ExistingCenters:
    """The stored centers of one source (:class:`StoredCenter`), indexed by external id and
    by natural key."""

    def __init__(self, session: so.Session, source: str):
        self.centers = _stored_centers(session, source)
        self.by_id = {c.external_id: c for c in self.centers if c.external_id}
        self.by_key = {c.natural_key: c for c in self.centers if not c.external_id}

    def match(self, record: CenterRecord) -> StoredCenter | None:
        """The stored center a record updates, or ``None`` for a new one."""
        return self.by_id.get(record.external_id) if record.external_id else \
            self.by_key.get(record.natural_key)


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
        changed = diff(center, record)
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
    centers = {c.external_id: c for c in _centers_where(session, Center.source == target_source)}
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


class Writer:
    """Applies a :class:`Plan` in the caller's transaction (flush only)."""

    def __init__(self, session: so.Session, source: str, *, run_id: int | None = None,
                 user: str | None = None):
        self.session = session
        self.source = source
        self.run_id = run_id
        self.user = user
        from directory.vocabulary import load_vocabulary, sync_vocabulary

        self._load_vocabulary()
        vocabulary = load_vocabulary()
        if ({m.slug for m in vocabulary.modalities} - self.modalities.keys()
                or {d.slug for d in vocabulary.designations} - self.designations.keys()):
            # A database migrated but never seeded (or seeded before the vocabulary grew):
            # without the rows, every claim and designation would be dropped silently.
            sync_vocabulary(session, vocabulary)
            self._load_vocabulary()
        self.organizations: dict[str, Organization] = {}

    def _load_vocabulary(self) -> None:
        self.modalities = {m.slug: m for m in self.session.scalars(sa.select(Modality))}
        self.designations = {d.slug: d for d in
                             self.session.scalars(sa.select(Designation))}

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
        center.organization = self._organization(record.organization)
        # name_folded, city_folded and search_text follow at flush (models hook)
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
        for start in range(0, len(plan.updates), BATCH):  # only updated centers as ORM objects
            batch = plan.updates[start:start + BATCH]
            centers = {c.id: c for c in _centers_where(
                self.session, Center.id.in_([u[0].id for u in batch]))}
            for stored, record, _fields in batch:
                center = centers[stored.id]
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
        batched ``executemany`` INSERTs (no ORM objects): the fast path of large imports.

        On SQLite the rows go straight to the driver (ids are the ones SQLite would assign:
        ``max(id) + 1`` on), and a large load into a comparatively small table drops the
        center table's secondary indexes and rebuilds them at the end, inside the same
        transaction (see :class:`_SqliteBulkLoad`)."""
        if not records:
            return
        from directory.vocabulary import load_vocabulary

        vocabulary = load_vocabulary()
        now, today = utcnow(), dt.date.today()
        org_ids = self._organization_ids({r.organization for r in records if r.organization})
        connection = self.session.connection()
        dialect = connection.dialect
        sqlite = dialect.name == "sqlite"
        tables = {m: m.__table__ for m in (Center, CenterModality, CenterDesignation,
                                           ChangeRecord)}
        # Raw driver rows on SQLite take the values SQLAlchemy would bind (its text formats).
        date_bind = _bind_processor(Center.__table__.c.verified_at, dialect) if sqlite else \
            (lambda value: value)
        stamp = _bind_processor(Center.__table__.c.created_at, dialect)(now) if sqlite else now
        dates: dict[dt.date, object] = {}

        def date_value(value):
            if value not in dates:
                dates[value] = date_bind(value)
            return dates[value]

        modality_ids = {slug: m.id for slug, m in self.modalities.items()}
        designation_ids = {slug: d.id for slug, d in self.designations.items()}
        masks: dict[tuple, int] = {}
        cities: dict[str | None, str] = {}

        def city_folded(city):
            if city not in cities:
                cities[city] = fold(city)
            return cities[city]

        snapshots = _SnapshotParts(self.source)
        source, user, run_id = self.source, self.user, self.run_id
        loader = None
        next_id = None
        if sqlite:
            raw = connection.connection.driver_connection
            # Never an id the audit log already names: SQLite would reuse the id of a
            # deleted (merged, reverted) center, and the log's records of the old center
            # (its history, a revert of its import) would then act on the new one.
            next_id = raw.execute("SELECT max(coalesce((SELECT max(id) FROM center), 0), "
                                  "coalesce((SELECT max(center_id) FROM change_record), 0))"
                                  ).fetchone()[0] + 1
            loader = _SqliteBulkLoad(raw, len(records), next_id)
            loader.begin()
        try:
            for start in range(0, len(records), BATCH):
                batch = records[start:start + BATCH]
                rows = []
                for r in batch:
                    # (not r.name_folded: that would keep one more string per record)
                    name_folded = r._folded if r._folded is not None else fold(r.name)
                    slugs = tuple(m.slug for m in r.modalities if m.slug in modality_ids)
                    mask = masks.get(slugs)
                    if mask is None:
                        mask = masks[slugs] = vocabulary.mask(slugs)
                    alternate = _alt_text(r.alternate_names)
                    rows.append((
                        r.name, r.kind, r.address, r.city, r.region, r.postal_code, r.country,
                        r.latitude, r.longitude, r.geocode_precision, r.phone, r.website,
                        r.email, r.status, r.description, source, r.external_id,
                        r.natural_key, name_folded[:300], city_folded(r.city)[:120], alternate,
                        org_ids.get(r.organization) if r.organization else None,
                        search_text_of(r.name, alternate, r.organization)
                        if alternate or r.organization else name_folded,
                        mask, stamp, stamp))
                if sqlite:
                    ids = range(next_id, next_id + len(rows))
                    next_id += len(rows)
                    _executemany(raw, "center", ("id", *_CENTER_COLUMNS),
                                 [(i, *row) for i, row in zip(ids, rows)])
                else:
                    table = tables[Center]
                    ids = connection.execute(sa.insert(table).returning(
                        table.c.id, sort_by_parameter_order=True),
                        [dict(zip(_CENTER_COLUMNS, row)) for row in rows]).scalars().all()
                claims, designations, audit = [], [], []
                for center_id, r, row in zip(ids, batch, rows):
                    kept = [m for m in r.modalities if m.slug in modality_ids]
                    for m in kept:
                        claims.append((center_id, modality_ids[m.slug], m.provenance, source,
                                       m.evidence, date_value(m.verified_on or today)))
                    kept_designations = [d for d in r.designations if d in designation_ids]
                    if kept_designations:
                        as_of = record_as_of(r) or today
                        for slug in kept_designations:
                            designations.append((center_id, designation_ids[slug], source,
                                                 date_value(as_of)))
                    else:
                        as_of = None
                    audit.append((user, center_id, r.name, run_id, "create", None, None,
                                  snapshots.created(row, r.organization, kept, today,
                                                    kept_designations, as_of), stamp))
                for model, columns, values in (
                        (CenterModality, _CLAIM_COLUMNS, claims),
                        (CenterDesignation, _DESIGNATION_COLUMNS, designations),
                        (ChangeRecord, _AUDIT_COLUMNS, audit)):
                    if not values:
                        continue
                    if sqlite:
                        _executemany(raw, tables[model].name, columns, values)
                    else:
                        connection.execute(sa.insert(tables[model]),
                                           [dict(zip(columns, v)) for v in values])
        except BaseException:
            if loader is not None:  # best effort: the caller rolls back anyway
                with contextlib.suppress(Exception):
                    loader.end()
            raise
        if loader is not None:
            loader.end()


# Column order of the tuples built by Writer._bulk_add.
_CENTER_COLUMNS = (*CENTER_FIELDS, "source", "external_id", "natural_key", "name_folded",
                   "city_folded", "alternate_names", "organization_id", "search_text",
                   "modality_mask", "created_at", "updated_at")
_CLAIM_COLUMNS = ("center_id", "modality_id", "provenance", "source", "evidence",
                  "verified_on")
_DESIGNATION_COLUMNS = ("center_id", "designation_id", "source", "as_of")
_AUDIT_COLUMNS = ("user", "center_id", "center_name", "import_run_id", "action", "field",
                  "before", "after", "at")


def _bind_processor(column, dialect):
    """The dialect's Python -> driver conversion of ``column`` (identity when none)."""
    process = column.type.dialect_impl(dialect).bind_processor(dialect)
    return (lambda value: process(value) if value is not None else None) if process else \
        (lambda value: value)


def _executemany(raw, table: str, columns: tuple[str, ...], rows: list[tuple]) -> None:
    """``INSERT INTO table (columns) VALUES (?, ...)`` for every row, on the sqlite3 driver
    connection (inside the session's transaction)."""
    names = ", ".join(f'"{c}"' for c in columns)
    raw.executemany(f'INSERT INTO "{table}" ({names}) VALUES '
                    f'({", ".join("?" * len(columns))})', rows)


class _SqliteBulkLoad:
    """Makes a large insert into ``center`` cheap on SQLite, inside the caller's transaction.

    Maintaining ten secondary indexes, the full-text index and the data-version counter row
    by row costs ~100 µs a center; building them once afterwards costs ~10 µs a center of
    the whole table. So when the new rows are many (:data:`BULK_MIN_ROWS`) and at least a
    quarter of the table, :meth:`begin` drops the table's non-unique indexes and the
    ``AFTER INSERT`` triggers whose bodies it knows how to replay, and :meth:`end` replays
    them for the new rows (ids from ``first_id`` on) and recreates everything from the SQL
    text stored in ``sqlite_master``. DDL is transactional in SQLite: a rollback restores the
    indexes and triggers with the data, and other connections never see them missing. Unique
    indexes and unknown triggers are left alone (they keep working row by row)."""

    # Normalised trigger body -> replay statement (parameters: first new id, row count).
    KNOWN_TRIGGERS = {
        "INSERT INTO center_fts(rowid, search_text) VALUES (new.id, new.search_text);":
            ("INSERT INTO center_fts(rowid, search_text) SELECT id, search_text FROM center "
             "WHERE id >= :first ORDER BY id"),
        "UPDATE data_version SET version = version + 1 WHERE id = 1;":
            "UPDATE data_version SET version = version + :count WHERE id = 1",
    }
    _TRIGGER = re.compile(r"^CREATE TRIGGER (\S+) AFTER INSERT ON (\S+) BEGIN (.*) END;?$",
                          re.IGNORECASE | re.DOTALL)

    def __init__(self, raw, count: int, first_id: int):
        self.raw, self.count, self.first_id = raw, count, first_id
        self.indexes: list[tuple[str, str]] = []
        self.triggers: list[tuple[str, str, str]] = []
        self.cache_size = None
        self.active = False

    def begin(self) -> None:
        raw = self.raw
        if self.count < BULK_MIN_ROWS:
            return
        stored = raw.execute("SELECT count(*) FROM center").fetchone()[0]
        if self.count * 4 < stored:
            return
        self.active = True
        self.cache_size = raw.execute("PRAGMA cache_size").fetchone()[0]
        raw.execute(f"PRAGMA cache_size = {BULK_CACHE_KIB}")
        for name, sql in raw.execute(
                "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND "
                "tbl_name = 'center' AND sql IS NOT NULL").fetchall():
            if not re.match(r"\s*CREATE\s+UNIQUE\b", sql, re.IGNORECASE):
                self.indexes.append((name, sql))
        for name, sql in raw.execute(
                "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND "
                "tbl_name = 'center'").fetchall():
            match = self._TRIGGER.match(" ".join(sql.split()))
            if match and match.group(3).strip() in self.KNOWN_TRIGGERS:
                self.triggers.append((name, sql, self.KNOWN_TRIGGERS[match.group(3).strip()]))
        for name, _ in self.indexes:
            raw.execute(f'DROP INDEX "{name}"')
        for name, _, _ in self.triggers:
            raw.execute(f'DROP TRIGGER "{name}"')

    def end(self) -> None:
        if not self.active:
            return
        self.active = False
        raw = self.raw
        for _, _, replay in self.triggers:
            raw.execute(replay, {"first": self.first_id, "count": self.count})
        for _, sql, _ in self.triggers:
            raw.execute(sql)
        for _, sql in self.indexes:
            raw.execute(sql)
        raw.execute(f"PRAGMA cache_size = {self.cache_size}")


# What json.dumps (ensure_ascii) writes for a str.
_encode = json.encoder.encode_basestring_ascii


class _SnapshotParts:
    """Builds the ``create`` audit records' text: the same JSON as
    :func:`directory.audit.snapshot` of the new center, with the modality and designation
    lists (repeated from row to row) encoded once per distinct value."""

    def __init__(self, source: str):
        from directory.audit import SCALAR_FIELDS

        self.source = source
        position = {c: i for i, c in enumerate(_CENTER_COLUMNS)}
        self.positions = [(f, position[f]) for f in SCALAR_FIELDS]
        self.modalities: dict[tuple, str] = {}
        self.designations: dict[tuple, str] = {}
        self.sorted_keys = [(f, _encode(f) + ": ") for f in sorted(
            (*SCALAR_FIELDS, "organization", "modalities", "designations"))]

    def created(self, row: tuple, organization: str | None, modalities: list,
                today: dt.date, designation_slugs: list[str], as_of: dt.date | None) -> str:
        snap = {}
        for f, i in self.positions:
            value = row[i]
            snap[f] = (repr(value) if isinstance(value, float) else
                       (str(value) if value is not None else None))
        snap["organization"] = organization
        return self._dumps(snap, modalities, today, designation_slugs, as_of)

    def _dumps(self, snap: dict, modalities: list, today: dt.date,
               designation_slugs: list[str], as_of: dt.date | None) -> str:
        """``json.dumps(snap + the two lists, sort_keys=True)`` for str/None values, built
        from the pre-encoded keys (the same text, without sorting per row)."""
        key = tuple((m.slug, m.provenance, m.evidence, m.verified_on or today)
                    for m in modalities)
        text = self.modalities.get(key)
        if text is None:
            text = self.modalities[key] = json.dumps(sorted(
                ({"slug": slug, "provenance": provenance, "source": self.source,
                  "evidence": evidence, "verified_on": verified_on.isoformat()}
                 for slug, provenance, evidence, verified_on in key),
                key=lambda c: (c["slug"], c["source"])), sort_keys=True)
        snap["modalities"] = text
        key = (tuple(designation_slugs), as_of)
        text = self.designations.get(key)
        if text is None:
            text = self.designations[key] = json.dumps(sorted(
                ({"slug": slug, "source": self.source, "as_of": as_of.isoformat()}
                 for slug in designation_slugs),
                key=lambda d: (d["slug"], d["source"])), sort_keys=True)
        snap["designations"] = text
        return "{" + ", ".join([prefix + (_encode(snap[f]) if snap[f] is not None else "null")
                                for f, prefix in self.sorted_keys]) + "}"


def record_as_of(record: CenterRecord) -> dt.date | None:
    """The evidence date of a record's designations: the earliest dated modality claim."""
    dates = [m.verified_on for m in record.modalities if m.verified_on]
    return min(dates) if dates else None
