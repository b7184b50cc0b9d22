"""Reverting an import: for each source record it created or changed, exactly the state
before it; what later imports and editors did is kept (a record changed since is not touched
and is listed as a conflict); a center is deleted only when no record and no editor's value
holds it any more. Every step is audited (actions ``revert`` and ``delete``).

Functions take the caller's session and flush; the edge commits.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import sqlalchemy as sa
import sqlalchemy.orm as so

from directory.curation.audit import apply_field, record_changes, snapshot
from directory.curation.merge import merged_into, records_of_merge
from directory.curation.records import reidentify, resolve_center
from directory.curation.resolve import OWN_SOURCES
from directory.models import Center, ChangeRecord, ImportRun, SourceRecord


@dataclass
class RevertResult:
    """What reverting an import did: centers removed and restored, and the changes skipped
    because the field was edited again after the import (``(center_id, field)``)."""

    removed: int = 0
    restored: int = 0
    skipped: list[tuple[int, str]] = field(default_factory=list)


def _revert_fields(session: so.Session, run: ImportRun, *, user: str | None) -> RevertResult:
    """The revert of an import made before source records existed (its changes name no
    record): centers it added are deleted unless records of other sources or an editor
    hold them, fields it changed get their previous values back unless changed since."""
    result = RevertResult()
    changes = list(session.scalars(sa.select(ChangeRecord)
                                   .where(ChangeRecord.import_run_id == run.id)
                                   .order_by(ChangeRecord.id.desc())))
    touched: set[int] = set()
    for change in changes:
        center = session.get(Center, change.center_id) if change.center_id else None
        if center is None and change.field in ("modalities", "designations"):
            center = _claims_center(session, change.center_id, run.source)
        if center is None:
            continue
        if change.action == "create":
            if any(r.source != run.source for r in center.records):
                result.skipped.append((center.id, "center (other sources hold it)"))
                continue
            session.add(ChangeRecord(user=user, center_id=center.id, center_name=center.name,
                                     action="delete", field=None,
                                     before=json.dumps(snapshot(center), sort_keys=True),
                                     after=f"reverted import #{run.id}"))
            session.delete(center)
            result.removed += 1
            continue
        current = snapshot(center, run.source).get(change.field)
        if current != change.after:
            result.skipped.append((center.id, change.field))
            continue
        apply_field(session, center, change.field, change.before, run.source)
        session.add(ChangeRecord(user=user, center_id=center.id, center_name=center.name,
                                 action="revert", field=change.field, before=change.after,
                                 after=change.before))
        touched.add(center.id)
    result.restored = len(touched)
    run.status = "reverted"
    session.flush()
    return result


def _claims_center(session: so.Session, center_id: int | None,
                   source: str) -> Center | None:
    """Where the claims (or designations) of ``source`` that an import gave center
    ``center_id`` are now that it was merged away: the center it went into, when every
    record of ``source`` there came with it (else they are not told apart: ``None``)."""
    into = merged_into(session, center_id) if center_id else None
    target = session.get(Center, into) if into else None
    merge = session.scalar(sa.select(ChangeRecord).where(
        ChangeRecord.center_id == center_id, ChangeRecord.field == "center",
        ChangeRecord.action == "merge").order_by(ChangeRecord.id.desc()).limit(1))
    if target is None or merge is None:
        return None
    came = {r.id for r in records_of_merge(session, merge)}
    held = [r.id for r in target.records if r.source == source]
    return target if held and set(held) <= came else None


def _claims_written_since(session: so.Session, change: ChangeRecord, center: Center,
                          source: str) -> bool:
    """Whether an import of ``source`` that is not reverted changed the claims (or
    designations: ``change.field``) of ``center`` after ``change`` (on ``center``, or on
    the center ``change`` names, merged into it since): they are that import's then, even
    when they equal the ones ``change`` wrote."""
    return session.scalar(
        sa.select(ChangeRecord.id).join(ImportRun, ImportRun.id == ChangeRecord.import_run_id)
        .where(ChangeRecord.field == change.field, ChangeRecord.record_id.is_(None),
               ChangeRecord.center_id.in_({change.center_id, center.id}),
               ChangeRecord.id > change.id, ImportRun.source == source,
               ImportRun.status != "reverted").limit(1)) is not None


def _set_writers(session: so.Session, restored: list[tuple[SourceRecord, ChangeRecord]]
                 ) -> None:
    """Give each record a revert gave its values back (``(row, the reverted change)``) the
    import that wrote those values as ``import_run_id``: the latest earlier import that
    wrote exactly them, else the one that made the record (writes undone by reverts since
    are passed over), so that a revert of an earlier import skips the record rather than
    undo values a later import wrote. One statement per 900 records."""
    history: dict[int, list[tuple]] = {}
    ids = sorted({row.id for row, _ in restored})
    for i in range(0, len(ids), 900):
        for record_id, change_id, run_id, action, after in session.execute(
                sa.select(ChangeRecord.record_id, ChangeRecord.id, ChangeRecord.import_run_id,
                          ChangeRecord.action, ChangeRecord.after)
                .where(ChangeRecord.record_id.in_(ids[i:i + 900]),
                       ChangeRecord.import_run_id.is_not(None))
                .order_by(ChangeRecord.id.desc())):
            history.setdefault(record_id, []).append((change_id, run_id, action, after))
    for row, change in restored:
        row.import_run_id = next(
            (run_id for change_id, run_id, action, after in history.get(row.id, ())
             if change_id < change.id and (action in ("create", "link")
                                           or after == change.before)), None)


def revert_import(session: so.Session, run: ImportRun, *, user: str | None) -> RevertResult:
    """Undo import ``run``: its records go back to their values and dataset dates before
    it (records it created are removed, with their source's claims and designations on the
    center), claim changes are undone, and each touched center is resolved again from what
    remains. A record or claim list changed again since (by a later import) is skipped and
    listed in ``skipped`` as ``(center id, what)``. A center is deleted only when it has no
    record left and no editor's value. Flushes; the caller commits."""
    changes = list(session.scalars(sa.select(ChangeRecord)
                                   .where(ChangeRecord.import_run_id == run.id)
                                   .order_by(ChangeRecord.id.desc())))
    if not any(c.record_id is not None for c in changes):
        return _revert_fields(session, run, user=user)
    result = RevertResult()
    touched: dict[int, tuple[Center, dict]] = {}
    restored: list[tuple[SourceRecord, ChangeRecord]] = []

    def touch(center: Center) -> None:
        if center.id not in touched:
            touched[center.id] = (center, snapshot(center))

    for change in changes:
        if change.record_id is None:
            continue
        row = session.get(SourceRecord, change.record_id)
        if row is None or row.center is None:
            continue
        center = row.center
        changed = change.action != "create" and row.values != change.after
        if changed or row.import_run_id not in (run.id, None):
            result.skipped.append((center.id, f"record {row.source}:"
                                              f"{row.external_id or row.natural_key} "
                                              f"(changed by a later import)"))
            continue
        touch(center)
        if change.action in ("create", "link"):
            center.records.remove(row)
            if not any(r.source == run.source for r in center.records):
                center.modalities = [cm for cm in center.modalities if cm.source != run.source]
                center.designations = [cd for cd in center.designations
                                       if cd.source != run.source]
        else:  # back to the values the import before wrote, and their dataset date
            row.values = change.before or "{}"
            if change.before_date is not None:  # (None: audited before it was kept)
                row.dataset_date = change.before_date
            restored.append((row, change))  # (their import: below)
    _set_writers(session, restored)
    for change in changes:  # claim lists (modality files) and claims of updated records
        if change.record_id is not None or change.field not in ("modalities", "designations"):
            continue
        center = session.get(Center, change.center_id) if change.center_id else None
        if center is None:
            center = _claims_center(session, change.center_id, run.source)
        if center is None:
            continue
        if snapshot(center, run.source).get(change.field) != change.after:
            if center.id not in touched or not any(
                    r.source == run.source for r in center.records):
                continue  # gone with the record, or changed since
            result.skipped.append((center.id, change.field))
            continue
        if _claims_written_since(session, change, center, run.source):
            result.skipped.append((center.id, change.field))  # (the same claims again)
            continue
        touch(center)
        apply_field(session, center, change.field, change.before, run.source)
    session.flush()
    for center, before in touched.values():
        imported = [r for r in center.records if r.source not in OWN_SOURCES]
        if not imported and not any(r.source in OWN_SOURCES for r in center.records):
            session.add(ChangeRecord(user=user, center_id=center.id, center_name=center.name,
                                     action="delete", field=None,
                                     before=json.dumps(before, sort_keys=True),
                                     after=f"reverted import #{run.id}"))
            session.delete(center)
            result.removed += 1
            continue
        reidentify(center, center.records)  # its first record may be gone
        if imported:
            resolve_center(session, center)
        session.flush()
        record_changes(session, center, before, snapshot(center), user=user, action="revert")
        result.restored += 1
    run.status = "reverted"
    session.flush()
    return result
