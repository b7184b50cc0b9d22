"""Plan and write steps: compare validated records with the database, then apply the plan.

Both take the caller's session; neither commits (the edge commits once, or rolls back for a
dry run). Centers are matched by ``(source, external_id)``, else by ``(source, natural_key)``.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import json.encoder

import sqlalchemy as sa
import sqlalchemy.orm as so

from directory.curation.records import dumps, resolve_center
from directory.importer.bulk import SqliteBulkLoad, bind_processor, executemany
from directory.importer.plan import (
    CENTER_FIELDS,
    Plan,
    _alt_text,
    _centers_where,
    claims_given,
    record_values,
)
from directory.importer.validate import CenterRecord
from directory.models import (
    Center,
    CenterDesignation,
    CenterModality,
    ChangeRecord,
    DataSource,
    Designation,
    LinkReview,
    Modality,
    Organization,
    SourceRecord,
    search_text_of,
    utcnow,
)
from directory.text import fold, has_initials

# Rows per multi-row INSERT (SQLite allows 32,766 parameters; a center row has ~25).
BATCH = 1000

def ensure_source(session: so.Session, slug: str, name: str | None = None) -> DataSource:
    """The :class:`DataSource` ``slug``, created (flushed) with ``name`` when missing."""
    source = session.get(DataSource, slug)
    if source is None:
        source = DataSource(slug=slug, name=name or slug)
        session.add(source)
        session.flush()
    return source


#: The advisory lock key of imports on PostgreSQL (pg_advisory_xact_lock(hashtext(...))).
IMPORT_LOCK = "directory:import"


def lock_imports(session: so.Session) -> None:
    """Serialise committing imports: the caller's transaction holds the lock until it ends.

    PostgreSQL: a transaction-level advisory lock (one for every import: two imports of
    different sources could otherwise each add the same hospital, neither seeing the
    other's). SQLite: the database write lock, taken now rather than at the first write
    (a second writer waits up to the busy timeout). Dry runs (previews) take no lock."""
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        session.execute(sa.text("SELECT pg_advisory_xact_lock(hashtext(:key))"),
                        {"key": IMPORT_LOCK})
    elif dialect == "sqlite":
        session.execute(sa.text("UPDATE data_version SET version = version WHERE id = 1"))


class Writer:
    """Applies a :class:`Plan` in the caller's transaction (flush only)."""

    def __init__(self, session: so.Session, source: str, *, run_id: int | None = None,
                 user: str | None = None, as_of: dt.date | None = None,
                 id_kind: str | None = None):
        self.session = session
        self.source = source
        self.run_id = run_id
        self.user = user
        self.as_of = as_of or dt.date.today()  # the dataset's date, on its records
        self.id_kind = id_kind
        from directory.catalog import sync_vocabulary
        from directory.vocabulary import load_vocabulary

        self._load_vocabulary()
        vocabulary = load_vocabulary()
        if ({m.slug for m in vocabulary.modalities} - self.modalities.keys()
                or {d.slug for d in vocabulary.designations} - self.designations.keys()):
            # A database migrated but never seeded (or seeded before the vocabulary grew):
            # without the rows, every claim and designation would be dropped silently.
            sync_vocabulary(session, vocabulary)
            self._load_vocabulary()
        self.organizations: dict[str, Organization] = {}
        self._dropped_claims: dict[int, dict[str, CenterModality]] = {}

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

    def values(self, record: CenterRecord, old: dict | None = None) -> dict:
        """The source record's values for ``record`` (see :func:`record_values`)."""
        return record_values(record, old, self.id_kind)

    def _fill(self, center: Center, record: CenterRecord, row: SourceRecord) -> None:
        """Apply a row to its center: this source's claims and designations (when the file
        has those columns), then the center's shown fields from all its records."""
        if center.source == self.source and center.external_id == row.external_id:
            center.natural_key = record.natural_key  # the center's first record
        today = dt.date.today()
        if claims_given(record):
            self._set_claims(center, [(m.slug, m.provenance, m.evidence, m.verified_on or today)
                                      for m in record.modalities])
        if "designations" in record.given:
            # Updated in place, as in _set_claims (unique (center, designation)).
            kept = {cd.designation.slug: cd for cd in center.designations
                    if cd.source == self.source}
            others = [cd for cd in center.designations if cd.source != self.source]
            held = {cd.designation.slug for cd in others}
            as_of = record_as_of(record) or today
            wanted = []
            for slug in record.designations:
                if slug not in self.designations or slug in held:
                    continue
                cd = kept.get(slug) or CenterDesignation(designation=self.designations[slug],
                                                         source=self.source)
                cd.as_of = as_of
                wanted.append(cd)
            center.designations = others + wanted
        resolve_center(self.session, center, self._organization)

    def _set_claims(self, center: Center, claims: list[tuple]) -> None:
        """Replace this source's modality claims with ``[(slug, provenance, evidence,
        verified_on)]``, updating rows already stored for the same modality in place (the
        unit of work inserts before it deletes, so a new row for the same (center, modality,
        source) would break the unique constraint)."""
        kept = {cm.modality.slug: cm for cm in center.modalities if cm.source == self.source}
        others = [cm for cm in center.modalities if cm.source != self.source]
        # Claims this import already took off the center (a merged center can hold two
        # records of one source, both in the file): taken back, not inserted again.
        dropped = self._dropped_claims.setdefault(id(center), {})
        wanted = []
        for slug, provenance, evidence, verified_on in claims:
            if slug not in self.modalities:
                continue
            cm = kept.pop(slug, None) or dropped.pop(slug, None)
            if cm is None or sa.inspect(cm).was_deleted:  # (deleted by a flush since)
                cm = CenterModality(modality=self.modalities[slug], source=self.source)
            cm.provenance, cm.evidence, cm.verified_on = provenance, evidence, verified_on
            wanted.append(cm)
        dropped.update(kept)
        center.modalities = others + wanted

    def apply(self, plan: Plan) -> None:
        """Insert the adds, attach the rows that join stored centers, update the updates,
        replace modality-list claims, and record every change in the audit log (the
        records' values too: what a revert restores); then flush."""
        from directory.curation.audit import record_changes, snapshot

        self._bulk_add(plan.adds)
        changed = []  # (center, snapshot before, record row, its values before or None)
        for start in range(0, len(plan.updates), BATCH):  # only updated centers as ORM objects
            batch = plan.updates[start:start + BATCH]
            centers = {c.id: c for c in _centers_where(
                self.session, Center.id.in_([u[0].id for u in batch]))}
            for stored, record, _fields in batch:
                center = centers[stored.id]
                row = next(r for r in center.records if r.id == stored.record_id)
                before = snapshot(center, self.source)
                old = row.values
                row.values = dumps(self.values(record, stored.values))
                row.natural_key = record.natural_key
                if row.values != old:  # an import that changed only this source's claims
                    # is not the writer of the values (a revert of their writer skipped them)
                    row.dataset_date, row.import_run_id = self.as_of, self.run_id
                self._fill(center, record, row)
                changed.append((center, before, row, old))
        for start in range(0, len(plan.attach), BATCH):
            batch = plan.attach[start:start + BATCH]
            centers = {c.id: c for c in _centers_where(
                self.session, Center.id.in_([cid for _, cid, _ in batch]))}
            for record, center_id, link in batch:
                center = centers[center_id]
                before = snapshot(center, self.source)
                row = SourceRecord(source=self.source, external_id=record.external_id,
                                   natural_key=record.natural_key,
                                   values=dumps(self.values(record)),
                                   dataset_date=self.as_of, import_run_id=self.run_id,
                                   link_rule=link.rule, link_score=round(link.score, 4),
                                   link_reason=link.reason[:2000])
                center.records.append(row)
                self._fill(center, record, row)
                changed.append((center, before, row, None))
        self._queue_reviews(plan.review)
        for center, claims in (*plan.claim_adds, *plan.claim_updates):
            before = snapshot(center, self.source)
            self._set_claims(center, [(c.modality, c.provenance, c.evidence, c.verified_on)
                                      for c in claims])
            changed.append((center, before, None, None))
        self.session.flush()
        for center, before, row, old in changed:
            record_changes(self.session, center, before, snapshot(center, self.source),
                           user=self.user, run_id=self.run_id)
            if row is not None and row.values != old:
                self.session.add(ChangeRecord(
                    user=self.user, center_id=center.id, center_name=center.name,
                    import_run_id=self.run_id, action="link" if old is None else "update",
                    record_id=row.id, field="record", before=old, after=row.values))
        self.session.flush()

    def _queue_reviews(self, pairs: list) -> None:
        """Put each (new row, stored center, link) pair in the review queue, naming the
        center the row became (see :class:`~directory.models.LinkReview`)."""
        if not pairs:
            return
        by_id = {r.external_id: r for r, _, _ in pairs if r.external_id}
        by_key = {r.natural_key: r for r, _, _ in pairs if not r.external_id}
        made: dict[int, int] = {}  # id(row) -> its center
        for column, wanted in ((SourceRecord.external_id, by_id),
                               (SourceRecord.natural_key, by_key)):
            keys = sorted(wanted)
            for i in range(0, len(keys), BATCH):
                for key, center_id in self.session.execute(
                        sa.select(column, SourceRecord.center_id).where(
                            SourceRecord.source == self.source,
                            column.in_(keys[i:i + BATCH]))):
                    made[id(wanted[key])] = center_id
        known = set(self.session.execute(sa.select(LinkReview.center_id,
                                                   LinkReview.other_center_id)).all())
        for record, center_id, link in pairs:
            other = made.get(id(record))
            if other is None or (center_id, other) in known or other == center_id:
                continue
            known.add((center_id, other))
            self.session.add(LinkReview(center_id=center_id, other_center_id=other,
                                        score=round(link.score, 4), rule=link.rule,
                                        reason=link.reason[:2000],
                                        import_run_id=self.run_id))

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
        transaction (see :class:`SqliteBulkLoad`)."""
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
                                           ChangeRecord, SourceRecord)}
        # Raw driver rows on SQLite take the values SQLAlchemy would bind (its text formats).
        date_bind = bind_processor(Center.__table__.c.verified_at, dialect) if sqlite else \
            (lambda value: value)
        stamp = bind_processor(Center.__table__.c.created_at, dialect)(now) if sqlite else now
        dates: dict[dt.date, object] = {}
        as_of_value = date_bind(self.as_of)

        def date_value(value):
            if value not in dates:
                dates[value] = date_bind(value)
            return dates[value]

        modality_ids = {slug: m.id for slug, m in self.modalities.items()}
        designation_ids = {slug: d.id for slug, d in self.designations.items()}
        masks: dict[tuple, tuple[int, int]] = {}
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
            next_record_id = raw.execute(
                "SELECT max(coalesce((SELECT max(id) FROM source_record), 0), "
                "coalesce((SELECT max(record_id) FROM change_record), 0))").fetchone()[0] + 1
            loader = SqliteBulkLoad(raw, len(records), next_id)
            loader.begin()
        try:
            for start in range(0, len(records), BATCH):
                batch = records[start:start + BATCH]
                rows = []
                for r in batch:
                    # (not r.name_folded: that would keep one more string per record)
                    name_folded = r._folded if r._folded is not None else fold(r.name)
                    slugs = tuple((m.slug, m.provenance == "reported")
                                  for m in r.modalities if m.slug in modality_ids)
                    found = masks.get(slugs)
                    if found is None:
                        found = masks[slugs] = (
                            vocabulary.mask(s for s, _ in slugs),
                            vocabulary.mask(s for s, reported in slugs if reported))
                    mask, reported_mask = found
                    alternate = _alt_text(r.alternate_names)
                    rows.append((
                        r.name, r.kind, r.address, r.city, r.region, r.postal_code, r.country,
                        r.latitude, r.longitude, r.geocode_precision, r.phone, r.website,
                        r.email, r.status, r.description, source, r.external_id,
                        r.natural_key, name_folded[:300], city_folded(r.city)[:120], alternate,
                        org_ids.get(r.organization) if r.organization else None,
                        search_text_of(r.name, alternate, r.organization)
                        if alternate or r.organization or has_initials(name_folded)
                        else name_folded,
                        mask, reported_mask, stamp, stamp))
                if sqlite:
                    ids = range(next_id, next_id + len(rows))
                    next_id += len(rows)
                    executemany(raw, "center", ("id", *_CENTER_COLUMNS),
                                 [(i, *row) for i, row in zip(ids, rows)])
                else:
                    table = tables[Center]
                    ids = connection.execute(sa.insert(table).returning(
                        table.c.id, sort_by_parameter_order=True),
                        [dict(zip(_CENTER_COLUMNS, row)) for row in rows]).scalars().all()
                values = [dumps(self.values(r)) for r in batch]
                record_rows = [(center_id, source, r.external_id, r.natural_key, v, as_of_value,
                                run_id, "first", stamp)
                               for center_id, r, v in zip(ids, batch, values)]
                if sqlite:
                    record_ids = range(next_record_id, next_record_id + len(record_rows))
                    next_record_id += len(record_rows)
                    executemany(raw, "source_record", ("id", *_RECORD_COLUMNS),
                                 [(i, *row) for i, row in zip(record_ids, record_rows)])
                else:
                    table = tables[SourceRecord]
                    record_ids = connection.execute(sa.insert(table).returning(
                        table.c.id, sort_by_parameter_order=True),
                        [dict(zip(_RECORD_COLUMNS, row)) for row in record_rows]
                    ).scalars().all()
                claims, designations, audit = [], [], []
                for center_id, r, row, record_id in zip(ids, batch, rows, record_ids):
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
                                                    kept_designations, as_of), stamp,
                                   record_id))
                for model, columns, values in (
                        (CenterModality, _CLAIM_COLUMNS, claims),
                        (CenterDesignation, _DESIGNATION_COLUMNS, designations),
                        (ChangeRecord, _AUDIT_COLUMNS, audit)):
                    if not values:
                        continue
                    if sqlite:
                        executemany(raw, tables[model].name, columns, values)
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
                   "modality_mask", "reported_mask", "created_at", "updated_at")
_CLAIM_COLUMNS = ("center_id", "modality_id", "provenance", "source", "evidence",
                  "verified_on")
_DESIGNATION_COLUMNS = ("center_id", "designation_id", "source", "as_of")
_AUDIT_COLUMNS = ("user", "center_id", "center_name", "import_run_id", "action", "field",
                  "before", "after", "at", "record_id")
_RECORD_COLUMNS = ("center_id", "source", "external_id", "natural_key", "values",
                   "dataset_date", "import_run_id", "link_rule", "updated_at")


# What json.dumps (ensure_ascii) writes for a str.
_encode = json.encoder.encode_basestring_ascii


class _SnapshotParts:
    """Builds the ``create`` audit records' text: the same JSON as
    :func:`directory.curation.audit.snapshot` of the new center, with the modality and designation
    lists (repeated from row to row) encoded once per distinct value."""

    def __init__(self, source: str):
        from directory.curation.audit import SCALAR_FIELDS

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
