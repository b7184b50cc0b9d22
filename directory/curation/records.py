"""Source records on ORM centers: applying the precedence rules of :mod:`.resolve` to a
center, and the editor record that holds editors' values.

Functions take the caller's session and flush at most; the edge commits.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterable

import sqlalchemy as sa
import sqlalchemy.orm as so

from directory.curation.resolve import (
    EDITOR,
    OWN_SOURCE_ROWS,
    OWN_SOURCES,
    RECORD_FIELDS,
    RecordValues,
    field_sources,
    record_values_of,
    resolve,
)
from directory.models import Center, DataSource, Organization, SourceRecord

#: Center columns that resolution writes (``organization`` is a relationship).
CENTER_COLUMNS = tuple(f for f in RECORD_FIELDS if f != "organization")


def dumps(values: dict) -> str:
    """Record values as stored: JSON, sorted keys, non-ASCII kept."""
    return json.dumps(values, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def primary_record(center: Center, records: Iterable[RecordValues]) -> RecordValues | None:
    """The record that made ``center`` (its ``source`` and ``external_id``), else the
    oldest imported one."""
    records = sorted(records, key=lambda r: (r.id is None, r.id or 0))
    for record in records:
        if record.source == center.source and record.external_id == center.external_id:
            return record
    return next((r for r in records if r.source not in OWN_SOURCES), None)


def reidentify(center: Center, records: Iterable[SourceRecord]) -> None:
    """Keep ``center`` named by (``source``, ``external_id``) after a record it holds: when
    its first record is not among ``records`` any more (reverted, or taken back by an
    unmerge), its oldest imported record becomes the first, else its editor record. (A
    center must never keep the key of a record it lacks: a new center of that record, or
    the one an unmerge gives back, could not be stored.)"""
    records = sorted(records, key=lambda r: (r.id is None, r.id or 0))
    if not records or any((r.source, r.external_id) == (center.source, center.external_id)
                          for r in records):
        return
    first = next((r for r in records if r.source not in OWN_SOURCES), records[0])
    center.source, center.external_id = first.source, first.external_id
    center.natural_key = first.natural_key


def organization_finder(session: so.Session) -> Callable[[str | None], Organization | None]:
    """``find(name)``: the :class:`Organization` called ``name``, created when missing
    (cached for the session's work)."""
    cache: dict[str, Organization] = {}

    def find(name: str | None) -> Organization | None:
        if not name:
            return None
        if name not in cache:
            with session.no_autoflush:
                org = session.scalar(sa.select(Organization).where(Organization.name == name))
            cache[name] = org or Organization(name=name)
        return cache[name]
    return find


def resolve_center(session: so.Session, center: Center,
                   organization: Callable[[str | None], Organization | None] | None = None,
                   records: list[SourceRecord] | None = None) -> bool:
    """Set ``center``'s shown fields and :attr:`~Center.field_sources` from its records
    (``records``: already loaded, else ``center.records``). Returns whether any field
    changed. A center without records is left as it is."""
    rows = records if records is not None else list(center.records)
    views = [record_values_of(r) for r in rows if r not in session.deleted]
    if not views:
        return False
    values, origin = resolve(views)
    changed = False
    if not any(v.source not in OWN_SOURCES for v in views):
        # Held by editors' values (or accepted suggestions) only (a revert took its
        # imported records): there is nothing to resolve the other fields from, so they
        # keep their values (a name of None would not even be stored) and those values
        # show over them.
        for name in CENTER_COLUMNS:
            if name in origin and getattr(center, name) != values[name]:
                setattr(center, name, values[name])
                changed = True
        return changed
    for name in CENTER_COLUMNS:
        if getattr(center, name) != values[name]:
            setattr(center, name, values[name])
            changed = True
    wanted_org = values["organization"]
    current = center.organization.name if center.organization is not None else None
    if current != wanted_org:
        center.organization = (organization or organization_finder(session))(wanted_org)
        changed = True
    sources = field_sources(origin, primary_record(center, views))
    if center.field_sources != sources:
        center.field_sources = sources
        changed = True
    return changed


def editor_record(session: so.Session, center: Center) -> SourceRecord:
    """The center's own ``editor`` record (created, empty, when it has none). A merged
    center also holds the editor records of the centers merged into it; those leave with
    them on an unmerge, so an edit of the merged center never goes into one of them."""
    own = f"center-{center.id}"
    existing = [r for r in center.records if r.source == EDITOR and r.natural_key == own]
    if existing:
        return existing[-1]
    if session.get(DataSource, EDITOR) is None:
        session.add(DataSource(slug=EDITOR, **OWN_SOURCE_ROWS[EDITOR]))
    # A records restore can give a new center the id of one merged away before it, whose
    # editor record (key center-<id>) lives on in the center it was merged into.
    taken = set(session.scalars(sa.select(SourceRecord.external_id).where(
        SourceRecord.source == EDITOR, SourceRecord.natural_key == own)))
    key, n = own, 1
    while key in taken:
        n += 1
        key = f"{own}-{n}"
    record = SourceRecord(source=EDITOR, external_id=key, natural_key=own, values="{}",
                          dataset_date=dt.date.today(), link_rule="editor")
    center.records.append(record)
    return record


def set_editor_values(session: so.Session, center: Center, changes: dict,
                      clear: Iterable[str] = ()) -> None:
    """Record editors' values (``changes``: field -> value, ``None`` for "no value") in
    the center's own editor record, and drop them from the editor records of the centers
    merged into it (the value set now is the one shown); drop the ones in ``clear`` from
    every editor record (the sources' values show again); then resolve. Clearing
    ``latitude`` clears the coordinates as a unit."""
    clear = set(clear)
    if "latitude" in clear:
        clear |= {"longitude", "geocode_precision"}
    own = editor_record(session, center) if changes else None
    for record in [r for r in center.records if r.source == EDITOR]:
        values = json.loads(record.values or "{}")
        drop = clear if record is own else clear | changes.keys()
        if drop & values.keys():
            record.values = dumps({k: v for k, v in values.items() if k not in drop})
    if changes:
        record = own
        values = json.loads(record.values or "{}")
        values.update(changes)
        record.values = dumps(values)
        record.dataset_date = dt.date.today()
    resolve_center(session, center)


def editor_fields(center: Center) -> set[str]:
    """The fields an editor has set on ``center``."""
    fields: set[str] = set()
    for record in center.records:
        if record.source == EDITOR:
            fields |= set(json.loads(record.values or "{}"))
    return fields
