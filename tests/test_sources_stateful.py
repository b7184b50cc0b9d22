"""Stateful property test of "one center, many sources" (issue 13 item 7).

A hypothesis :class:`~hypothesis.stateful.RuleBasedStateMachine` interleaves, on six
hospitals and three sources, the operations that move source records and editors' values
around, and checks after every step that nothing is lost and every shown field is explained.

Sources (all imported with ``format="native"``):

- ``reg``: ids ``R1``..``R6``, full address columns, no coordinates (placed at the ZIP
  centroid, precision ``postal_code``), names in upper case.
- ``pts``: other ids ``P1``..``P6``, exact points (precision ``rooftop``), no street.
- ``lst``: no ids (keyed by name | postal code | country), street and place, and only
  phone / website / description of the optional columns.

Operations (rules): an import of a source with a random subset of its rows, a random subset
of its optional columns (phone, website, description, modalities), values picked among two
variants or an explicitly empty cell, and a random dataset date; an editor's value set or
cleared on a random center; a merge of two random centers; an unmerge of a merged center; a
revert of a random committed import; and, when :mod:`directory.exchange.records` is there,
an export / restore into the emptied database round trip.

The model (what the test expects, computed without the product's code paths):

- ``history[(source, key)]``: the value writes of each live record, oldest first (run,
  values, dataset date): an import writes ``old values | the fields the file gave`` (a
  column the file lacks keeps the stored value, an empty cell clears it); a revert of run R
  drops R's write when it is the record's last one (the record goes back to the write
  before, or goes away), else the record is reported as skipped.
- ``claims[(source, key)]``: likewise, the claims of the record's source on its center
  (modality slugs and date); not predicted (``None``) while a center holds several records
  of one source (claims are kept per center and source).
- ``editor[external id]``: each editor record's values; ``intents[center id]``: what an
  editor set on each center (and so expects to see there), which moves with merges and
  unmerges.
- which records an unmerge gives back: the merged center's records that still exist
  (not a record made again since under the same key).

Invariants, after every step:

1. every live record's values, date and claims, and every editor record's values, equal
   the model's;
2. no two records share a key, every record belongs to a center, every center has a record,
   every claim's source has a record on the center;
3. every shown field names a record of its center that holds that value (``field_sources``,
   else the center's first record, which must be linked to it);
4. the center's shown values and ``field_sources`` equal :func:`resolve` of its records;
5. a revert restores exactly the records whose last write was the reverted import's, and
   lists the others as skipped;
6. an editor's value shows on the center it was set on (until cleared or merged over);
   an unmerge moves exactly the merged center's records back (or is refused when none is
   left);
7. the center's ``modality_mask`` and ``reported_mask`` are the masks of its claims (all,
   and those of provenance ``reported``), whatever wrote them (bulk import, ORM, merge).

Known and not checked (reported): records without ids are named in ``field_sources`` by
their source alone (two in one merged center are told apart by neither); a center held by
an editor's record alone (a revert took its imports) keeps the other fields it showed,
which name no record (invariants 3 and 4 skip it; a records round trip keeps them).

``HYPOTHESIS_PROFILE=fuzz`` runs many more and longer sequences than the default (CI) run.
Failures print every step (the rule calls and, for each, what it did: the CSV imported...).
"""

from __future__ import annotations

import datetime as dt
import json
import os
from collections import Counter, defaultdict
from dataclasses import dataclass, field

import pytest
import sqlalchemy as sa
import sqlalchemy.orm as so
from hypothesis import HealthCheck, note, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from directory.catalog import sync_vocabulary
from directory.curation.merge import UnmergeError, merge_centers, unmerge_center
from directory.curation.records import CENTER_COLUMNS, primary_record, set_editor_values
from directory.curation.resolve import EDITOR, field_sources, record_values_of, resolve
from directory.curation.revert import revert_import
from directory.extensions import db
from directory.importer import run_import
from directory.importer.fields import (
    natural_key,
    normalise_phone,
    normalise_website,
    resolve_region,
)
from directory.models import Center, CenterModality, ImportRun, SourceRecord
from directory.vocabulary import load_vocabulary
from tests.conftest import empty_database

try:
    from directory.exchange.records import export_records, import_records
except ImportError:  # pragma: no cover - the records export is optional here
    export_records = import_records = None

PROFILE = os.environ.get("HYPOTHESIS_PROFILE", "ci")
SETTINGS = settings(
    max_examples=400 if PROFILE == "fuzz" else 30,
    stateful_step_count=60 if PROFILE == "fuzz" else 25,
    deadline=None,
    database=None,  # no .hypothesis folder in the repository
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                           HealthCheck.filter_too_much],
)


# -- the universe --------------------------------------------------------------------------

@dataclass(frozen=True)
class Hospital:
    name: str
    address: str
    long_address: str
    city: str
    region: str
    postal_code: str
    latitude: float
    longitude: float


HOSPITALS = (
    Hospital("Lakeside Cancer Center", "1 Lake St", "1 Lake Street", "Boston", "MA", "02115",
             42.3400, -71.0900),
    Hospital("Harbor Hospital", "10 Pier Rd", "10 Pier Road", "Salem", "MA", "01970",
             42.5195, -70.8967),
    Hospital("Cedar Clinic", "1 Cedar St", "1 Cedar Street", "Denver", "CO", "80202",
             39.7500, -104.9900),
    # Two namesakes in two states: never one center.
    Hospital("Mercy Hospital", "100 Main St", "100 Main Street", "Springfield", "MO", "65801",
             37.2090, -93.2923),
    Hospital("Mercy Hospital", "100 Main St", "100 Main Street", "Springfield", "IL", "62701",
             39.7817, -89.6501),
    Hospital("Desert Regional Medical Center", "1150 N Indian Canyon Dr",
             "1150 North Indian Canyon Drive", "Palm Springs", "CA", "92262", 33.8370,
             -116.5450),
)


@dataclass(frozen=True)
class Source:
    prefix: str | None  # external ids are prefix + 1..6; None: no ids (natural keys)
    columns: tuple[str, ...]
    optional: tuple[str, ...]


OPTIONAL = ("phone", "website", "description", "modalities")
SOURCES = {
    "reg": Source("R", ("external_id", "name", "address", "city", "region", "postal_code",
                        "country"), OPTIONAL),
    "pts": Source("P", ("external_id", "name", "city", "region", "postal_code", "country",
                        "latitude", "longitude"), OPTIONAL),
    "lst": Source(None, ("name", "address", "city", "region", "postal_code", "country"),
                  ("phone", "website", "description")),
}
MODALITY_CELLS = ("chemotherapy", "chemotherapy; radiation therapy", "")
MODALITY_SLUGS = (frozenset({"chemotherapy"}), frozenset({"chemotherapy", "radiation-therapy"}),
                  frozenset())
DATES = (dt.date(2024, 1, 1), dt.date(2025, 6, 1), dt.date(2026, 1, 1))
#: Shown fields whose origin invariant 3 checks.
SHOWN = ("name", "address", "city", "postal_code", "country", "latitude", "longitude",
         "phone", "website", "description")
#: What an editor may set (index 0 or 1); ``latitude`` is the coordinates as a unit.
EDITS = {
    "name": ("Edited Name A", "Edited Name B"),
    "address": ("9 Edited Ave", None),
    "city": ("Editville", None),
    "postal_code": ("99999", None),
    "country": ("CA", None),
    "phone": ("+16175559999", None),
    "website": ("https://edited.example.org", None),
    "description": ("Checked by phone", None),
    "latitude": ((40.0, -75.0), None),
}
#: A row's variant choices: (name, place, phone, website, description, modalities); 2 is
#: an empty cell for the optional columns.
VARIANTS = st.tuples(st.integers(0, 1), st.integers(0, 1), *[st.integers(0, 2)] * 4)
ROWS = st.dictionaries(st.integers(0, len(HOSPITALS) - 1), VARIANTS, max_size=len(HOSPITALS))
PICK = st.integers(0, 40)  # an index into a list of live things, modulo its length


def editor_changes(name: str, value) -> dict:
    if name != "latitude":
        return {name: value}
    if value is None:
        return {"latitude": None, "longitude": None, "geocode_precision": "none"}
    return {"latitude": value[0], "longitude": value[1], "geocode_precision": "manual"}


def cleared(name: str) -> set[str]:
    return {"latitude", "longitude", "geocode_precision"} if name == "latitude" else {name}


# -- the model ---------------------------------------------------------------------------

UNKNOWN = object()  # an editor's value the model cannot predict (conflicting merges)


@dataclass
class Write:
    """One import's write of a record's values: the run, the values after it, the dataset
    date it gave the record."""

    run: int | None
    values: dict
    date: dt.date | None


@dataclass
class ClaimWrite:
    """One import's write of the claims of a record's source on its center (modality
    slugs; ``None``: not predictable, the center held several records of the source), and
    their date (an import that re-dates the same claims writes them too)."""

    run: int | None
    slugs: frozenset | None
    date: dt.date | None


@dataclass(eq=False)
class Intent:
    """An editor's value set on a center (compared by identity while it moves with merges)."""

    value: object
    owner: int
    step: int


@dataclass
class Merged:
    keep: int
    intents: dict[str, Intent]
    step: int
    records: dict[tuple[str, str], int]  # the merged center's records: key -> generation


@dataclass
class Model:
    history: dict[tuple[str, str], list[Write]] = field(default_factory=dict)
    claims: dict[tuple[str, str], list[ClaimWrite]] = field(default_factory=dict)
    editor: dict[str, dict] = field(default_factory=dict)
    intents: dict[int, dict[str, Intent]] = field(default_factory=lambda: defaultdict(dict))
    merged: dict[int, Merged] = field(default_factory=dict)
    runs: dict[int, str] = field(default_factory=dict)  # committed run id -> source
    #: How many times each record key was created (a reverted record made again is
    #: another record: an unmerge does not take it).
    generation: Counter = field(default_factory=Counter)


def record_key(record: SourceRecord) -> tuple[str, str]:
    return (record.source, record.external_id or record.natural_key)


def show(key: tuple[str, str]) -> str:
    return f"{key[0]}:{key[1]}"


class SourcesMachine(RuleBasedStateMachine):
    """See the module docstring."""

    geocoder = None  # set by the test (the session's offline geocoder)

    def __init__(self):
        super().__init__()
        db.session.rollback()
        empty_database()
        sync_vocabulary(db.session)
        db.session.commit()
        self.model = Model()
        self.step = 0
        self.centroids = {}
        for h in HOSPITALS:
            place = self.geocoder.lookup_postal_code(h.postal_code, "US")
            self.centroids[h.postal_code] = (place.latitude, place.longitude)

    # -- helpers -------------------------------------------------------------------------

    def say(self, text: str) -> None:
        self.step += 1
        note(f"[{self.step}] {text}")

    def center_ids(self) -> list[int]:
        return list(db.session.scalars(sa.select(Center.id).order_by(Center.id)))

    def cells(self, source: str, i: int, variant: tuple) -> dict[str, str]:
        h, spec = HOSPITALS[i], SOURCES[source]
        name_v, place_v, phone_v, web_v, text_v, mod_v = variant
        n = list(SOURCES).index(source)
        names = {"reg": (h.name.upper(), h.name.upper() + " INC"),
                 "pts": (h.name, h.name + " Main Campus"),
                 "lst": (h.name, h.name)}[source]
        addresses = (h.address, h.long_address) if source == "reg" else \
            (h.long_address, h.address)
        points = ((h.latitude, h.longitude), (h.latitude + 0.0004, h.longitude - 0.0004))
        lat, lon = points[place_v]
        return {
            "external_id": f"{spec.prefix}{i + 1}" if spec.prefix else "",
            "name": names[name_v], "address": addresses[place_v], "city": h.city,
            "region": h.region, "postal_code": h.postal_code, "country": "US",
            "latitude": f"{lat:.4f}", "longitude": f"{lon:.4f}",
            "phone": ("", f"+1617555{1000 * n + 10 * i + phone_v:04d}")[phone_v < 2],
            "website": ("", f"https://{source}-{i}.example.org"
                            + ("/new" if web_v else ""))[web_v < 2],
            "description": ("", f"{source} {i}: " + ("radiation" if text_v else "infusion"))
            [text_v < 2],
            "modalities": MODALITY_CELLS[mod_v],
        }

    def given(self, source: str, header: list[str], cells: dict[str, str]) -> dict:
        """The record values an import of a row writes (the fields the file gives)."""
        values = {"name": cells["name"]}
        if "latitude" in header:
            values.update(latitude=float(cells["latitude"]),
                          longitude=float(cells["longitude"]), geocode_precision="rooftop")
        else:
            lat, lon = self.centroids[cells["postal_code"]]
            values.update(latitude=lat, longitude=lon, geocode_precision="postal_code")
        for name in ("address", "city", "postal_code", "country", "description"):
            if name in header:
                values[name] = cells[name] or None
        if "region" in header:
            values["region"] = resolve_region(cells["region"], "US")
        if "phone" in header:
            values["phone"] = normalise_phone(cells["phone"], "US")[0] if cells["phone"] \
                else None
        if "website" in header:
            values["website"] = normalise_website(cells["website"])[0] \
                if cells["website"] else None
        return values

    # -- rules ---------------------------------------------------------------------------

    @rule(source=st.sampled_from(sorted(SOURCES)), rows=ROWS,
          columns=st.sets(st.sampled_from(OPTIONAL)), as_of=st.sampled_from(DATES))
    def import_rows(self, source, rows, columns, as_of):
        spec = SOURCES[source]
        header = [*spec.columns, *(c for c in spec.optional if c in columns)]
        lines, expected = [",".join(header)], {}
        for i, variant in sorted(rows.items()):
            cells = self.cells(source, i, variant)
            lines.append(",".join(cells[c] for c in header))
            key = (source, cells["external_id"] or natural_key(cells["name"],
                                                                 cells["postal_code"], "US"))
            claims = MODALITY_SLUGS[variant[5]] if "modalities" in header else None
            expected[key] = (self.given(source, header, cells), claims)
        data = ("\n".join(lines) + "\n").encode()
        result = run_import(db.session, data, filename=f"{source}.csv", geocoder=self.geocoder,
                            format="native", source=source, as_of=as_of, user="stateful")
        db.session.commit()
        self.say(f"import {source} (as of {as_of}) -> run {result.run_id}: added "
                 f"{result.added}, linked {result.linked}, updated {result.updated}, "
                 f"unchanged {result.unchanged}\n    " + "\n    ".join(lines))
        errors = [i for i in result.issues if i.severity == "error"]
        assert not errors and not result.rejected, errors
        run = result.run_id
        self.model.runs[run] = source
        touched = {(source, r.external_id or r.natural_key) for _, r, _ in result.plan.updates}
        for key, (given, claims) in expected.items():
            writes = self.model.history.get(key)
            if not writes:
                self.model.history[key] = [Write(run, given, as_of)]
                self.model.claims[key] = [ClaimWrite(run, claims or frozenset(), as_of)]
                self.model.generation[key] += 1
                continue
            values = {**writes[-1].values, **given}
            if values != writes[-1].values:
                assert key in touched, f"{show(key)}: its values changed, not updated"
                writes.append(Write(run, values, as_of))
            if claims is None:
                continue
            top = self.model.claims[key][-1]
            if key not in touched:  # they were the file's already
                assert top.slugs in (None, claims), f"{show(key)}: claims not updated"
                top.slugs = claims
            elif top.slugs is None or (top.slugs, top.date) != (claims, as_of):
                self.model.claims[key].append(ClaimWrite(run, claims, as_of))

    @precondition(lambda self: self.model.runs)
    @rule(pick=PICK)
    def revert(self, pick):
        run_id = sorted(self.model.runs)[pick % len(self.model.runs)]
        self.model.runs.pop(run_id)
        restore, skip = [], set()
        for key, writes in self.model.history.items():
            if writes[-1].run == run_id:
                restore.append(key)
            elif any(w.run == run_id for w in writes):
                skip.add(show(key))
        claims = [key for key, stack in self.model.claims.items() if stack[-1].run == run_id]
        result = revert_import(db.session, db.session.get(ImportRun, run_id), user="stateful")
        db.session.commit()
        self.say(f"revert run {run_id}: removed {result.removed}, restored "
                 f"{result.restored}, skipped {result.skipped}")
        for key in claims:
            stack = self.model.claims[key]
            if len(stack) > 1:
                stack.pop()
            elif key not in restore:  # the claims of a record the run made and a later
                stack[0].slugs = None  # import changed: kept, or not (see the report)
        for key in restore:
            writes = self.model.history[key]
            writes.pop()
            if not writes:  # (else back to the write before: its values and date)
                del self.model.history[key]
                del self.model.claims[key]
        reported = {what[len("record "):what.rindex(" (changed")]
                    for _, what in result.skipped if what.startswith("record ")}
        assert reported == skip, (
            f"invariant 5: revert of run {run_id} skipped {sorted(reported)}, expected "
            f"{sorted(skip)} (the records a later import wrote since)")

    @precondition(lambda self: len(self.center_ids()) >= 2)
    @rule(keep=PICK, drop=PICK)
    def merge(self, keep, drop):
        ids = self.center_ids()
        keep_id = ids[keep % len(ids)]
        others = [i for i in ids if i != keep_id]
        drop_id = others[drop % len(others)]
        drop = db.session.get(Center, drop_id)
        records = {record_key(r): self.model.generation[record_key(r)] for r in drop.records}
        merge_centers(db.session, db.session.get(Center, keep_id), drop, user="stateful")
        db.session.commit()
        self.say(f"merge center {drop_id} into {keep_id}")
        intents = self.model.intents
        dropped = intents.pop(drop_id, {})
        kept = intents[keep_id]
        for name, intent in dropped.items():
            if name not in kept:
                kept[name] = intent
            elif kept[name].value is UNKNOWN or intent.value is UNKNOWN \
                    or kept[name].value != intent.value:
                kept[name] = Intent(UNKNOWN, keep_id, self.step)
        self.model.merged[drop_id] = Merged(keep_id, dict(dropped), self.step, records)

    @precondition(lambda self: self.model.merged)
    @rule(pick=PICK)
    def unmerge(self, pick):
        center_id = sorted(self.model.merged)[pick % len(self.model.merged)]
        merged = self.model.merged.pop(center_id)
        where = {record_key(r): r.center_id for r in db.session.scalars(sa.select(SourceRecord))}
        into = merged.keep  # the center it joined, or the one that center joined since
        while into in self.model.merged and into != center_id:
            into = self.model.merged[into].keep
        back = {key for key, generation in merged.records.items()  # (not what an unmerge
                if key in where and self.model.generation[key] == generation  # gave back)
                and where[key] in (merged.keep, into)}
        refuse = not back or (all(k[0] == EDITOR for k in back)
                              and any(k[0] != EDITOR for k in merged.records))
        try:
            unmerge_center(db.session, center_id, user="stateful")
        except UnmergeError as exc:
            db.session.rollback()
            self.say(f"unmerge center {center_id}: refused ({exc})")
            assert refuse, f"unmerge refused, but {sorted(map(show, back))} are there"
            return
        db.session.commit()
        self.say(f"unmerge center {center_id} (merged into {merged.keep} at step "
                 f"{merged.step}): takes back {sorted(map(show, back))}")
        for other in self.model.merged.values():  # merged after it (with its records):
            if other.step > merged.step:  # those are its own again
                for key in back:
                    other.records.pop(key, None)
        assert not refuse, "unmerge gave back a center none of whose records is left"
        after = {record_key(r): r.center_id for r in db.session.scalars(sa.select(SourceRecord))}
        moved = {show(k): (where[k], after[k]) for k in where
                 if after[k] != (center_id if k in back else where[k])}
        assert not moved, f"unmerge moved records wrongly (key: (before, after)): {moved}"
        back: dict[str, Intent] = {}
        for name, intent in merged.intents.items():
            holder = next((c for c, held in self.model.intents.items()  # (an earlier
                           if c in (merged.keep, into)  # unmerge may have given it back)
                           and held.get(name) is intent), None)
            if holder is not None:  # unchanged since: back with the center's editor record
                del self.model.intents[holder][name]
                back[name] = intent
            else:  # set again, cleared or merged over since: not predicted
                back[name] = Intent(UNKNOWN, center_id, self.step)
        self.model.intents[center_id] = back

    @precondition(lambda self: self.center_ids())
    @rule(pick=PICK, name=st.sampled_from(sorted(EDITS)), value=st.integers(0, 1))
    def edit(self, pick, name, value):
        ids = self.center_ids()
        center = db.session.get(Center, ids[pick % len(ids)])
        changes = editor_changes(name, EDITS[name][value])
        editors = [r.external_id for r in center.records if r.source == EDITOR]
        set_editor_values(db.session, center, changes)
        db.session.commit()
        target = [r.external_id for r in center.records  # the center's own
                  if r.source == EDITOR and r.natural_key == f"center-{center.id}"][-1]
        self.say(f"edit center {center.id}: {changes} (editor record {target})")
        for external_id in editors:  # the merged-in centers' lose the fields set now
            for key in changes:
                self.model.editor[external_id].pop(key, None)
        self.model.editor.setdefault(target, {}).update(changes)
        for key, value_ in changes.items():
            self.model.intents[center.id][key] = Intent(value_, center.id, self.step)

    @precondition(lambda self: self.center_ids())
    @rule(pick=PICK, name=st.sampled_from(sorted(EDITS)))
    def clear(self, pick, name):
        ids = self.center_ids()
        center = db.session.get(Center, ids[pick % len(ids)])
        editors = [r.external_id for r in center.records if r.source == EDITOR]
        set_editor_values(db.session, center, {}, clear=[name])
        db.session.commit()
        self.say(f"clear {name} on center {center.id}")
        for external_id in editors:
            values = self.model.editor[external_id]
            for key in cleared(name):
                values.pop(key, None)
        for key in cleared(name):
            self.model.intents[center.id].pop(key, None)

    @staticmethod
    def shown() -> dict[int, tuple]:
        """Every center's shown fields and field sources, by id."""
        db.session.expire_all()
        return {c.id: (*(getattr(c, n) for n in CENTER_COLUMNS), c.field_sources)
                for c in db.session.scalars(sa.select(Center))}

    @precondition(lambda self: export_records is not None)
    @rule()
    def round_trip(self):
        """Export the records, restore them into the emptied database: everything the
        model holds survives, and every center shows what it showed (also one held by an
        editor's record alone); the audit log does not (no revert or unmerge after)."""
        data, before = export_records(db.session), self.shown()
        db.session.rollback()
        db.session.expunge_all()  # (a restore runs in a new session: no stale centers)
        empty_database()
        import_records(db.session, data)
        db.session.commit()
        self.say("records export, restore into an empty database")
        assert export_records(db.session) == data, "export after restore differs"
        after = self.shown()
        assert after == before, {i: (before.get(i), after.get(i)) for i in before.keys()
                                 | after.keys() if before.get(i) != after.get(i)}
        self.model.runs.clear()
        self.model.merged.clear()
        for stacks in (self.model.history.values(), self.model.claims.values()):
            for writes in stacks:
                del writes[:-1]
                writes[0].run = None

    # -- invariants ----------------------------------------------------------------------

    @invariant()
    def consistent(self):
        db.session.expire_all()
        centers = db.session.scalars(sa.select(Center).order_by(Center.id).options(
            so.selectinload(Center.records),
            so.selectinload(Center.modalities).joinedload(CenterModality.modality))).all()
        records = db.session.scalars(sa.select(SourceRecord).order_by(SourceRecord.id)).all()
        problems: list[str] = []
        self.check_structure(centers, records, problems)
        self.check_values(records, problems)
        for center in centers:
            self.check_center(center, problems)
        assert not problems, "\n".join(problems)

    def check_structure(self, centers, records, problems) -> None:
        """Invariant 2."""
        ids = {c.id for c in centers}
        for record in records:
            if record.center_id not in ids:
                problems.append(f"2: record {show(record_key(record))} belongs to no center")
        for key, n in Counter(record_key(r) for r in records).items():
            if n > 1:
                problems.append(f"2: {n} records {show(key)}")
        for center in centers:
            if not center.records:
                problems.append(f"2: center {center.id} ({center.name}) has no record")
        for center_id in self.model.intents:
            if self.model.intents[center_id] and center_id not in ids:
                problems.append(f"6: center {center_id} holding editor's values is gone")

    def check_values(self, records, problems) -> None:
        """Invariant 1: records and editor records hold the model's values."""
        stored = {record_key(r): json.loads(r.values) for r in records if r.source != EDITOR}
        model = {key: writes[-1].values for key, writes in self.model.history.items()}
        for key in sorted(model.keys() - stored.keys()):
            problems.append(f"1: record {show(key)} is gone; it held {model[key]}")
        for key in sorted(stored.keys() - model.keys()):
            problems.append(f"1: record {show(key)} should be gone; it holds {stored[key]}")
        for key in sorted(model.keys() & stored.keys()):
            if model[key] != stored[key]:
                diff = {f: (stored[key].get(f, "<absent>"), model[key].get(f, "<absent>"))
                        for f in model[key].keys() | stored[key].keys()
                        if stored[key].get(f, "<absent>") != model[key].get(f, "<absent>")}
                problems.append(f"1: record {show(key)}: field: (stored, expected) {diff}")
        dates = {record_key(r): r.dataset_date for r in records if r.source != EDITOR}
        for key in sorted(model.keys() & dates.keys()):
            if dates[key] != self.model.history[key][-1].date:
                problems.append(f"1: record {show(key)} is dated {dates[key]}, expected "
                                f"{self.model.history[key][-1].date}")
        editors = {r.external_id: json.loads(r.values) for r in records if r.source == EDITOR}
        if editors != self.model.editor:
            problems.append(f"1: editor records {editors}, expected {self.model.editor}")

    def check_center(self, center: Center, problems) -> None:
        """Invariants 1 (claims), 2 (claims' sources), 3, 4 and 6 for one center."""
        cid = f"center {center.id}"
        by_source: dict[str, list[SourceRecord]] = defaultdict(list)
        for record in center.records:
            by_source[record.source].append(record)
        claims: dict[str, set] = defaultdict(set)
        for cm in center.modalities:
            claims[cm.source].add(cm.modality.slug)
        vocabulary = load_vocabulary()  # the derived masks follow the claims, whatever wrote
        masks = (vocabulary.mask(cm.modality.slug for cm in center.modalities),
                 vocabulary.mask(cm.modality.slug for cm in center.modalities
                                 if cm.provenance == "reported"))
        if (center.modality_mask, center.reported_mask) != masks:
            problems.append(f"7: {cid} has masks {(center.modality_mask, center.reported_mask)}"
                            f", its claims give {masks}")
        for source in sorted(claims.keys() - by_source.keys()):
            problems.append(f"2: {cid} has claims of {source} {sorted(claims[source])} "
                            f"but no record of it")
        for source, held in by_source.items():
            if source == EDITOR:
                continue
            stacks = [self.model.claims.get(record_key(r)) for r in held]
            if len(held) > 1:  # one claim list per center and source: not predictable
                for stack in stacks:
                    for write in stack or ():
                        write.slugs = None
                continue
            if stacks[0] and stacks[0][-1].slugs is not None \
                    and claims.get(source, set()) != stacks[0][-1].slugs:
                problems.append(f"1: {cid} has claims of {source} "
                                f"{sorted(claims.get(source, ()))}, its record "
                                f"{show(record_key(held[0]))} gave "
                                f"{sorted(stacks[0][-1].slugs)}")
        for name, intent in self.model.intents.get(center.id, {}).items():
            if intent.value is not UNKNOWN and getattr(center, name) != intent.value:
                problems.append(f"6: {cid} shows {name}={getattr(center, name)!r}; an editor "
                                f"set {intent.value!r} on it at step {intent.step}")
        imported = [r for r in center.records if r.source != EDITOR]
        if not imported:
            return  # held by an editor's values only (revert keeps it as it was)
        views = [record_values_of(r) for r in center.records]
        values, origin = resolve(views)
        wrong = {name: (getattr(center, name), values[name]) for name in CENTER_COLUMNS
                 if getattr(center, name) != values[name]}
        if wrong:
            problems.append(f"4: {cid} field: (shown, resolved) {wrong}")
        expected_sources = field_sources(origin, primary_record(center, views))
        if center.field_sources != expected_sources:
            problems.append(f"4: {cid} field_sources {center.field_sources}, resolved "
                            f"{expected_sources}")
        named = json.loads(center.field_sources or "{}")
        first = [r for r in center.records
                 if (r.source, r.external_id) == (center.source, center.external_id)]
        if not first:
            problems.append(f"3: {cid}'s first record {center.source}:{center.external_id} "
                            f"is not linked to it")
        for name in SHOWN:
            value = getattr(center, name)
            if value is None or value == "":
                continue
            if name in named:
                ident = (named[name]["source"], named[name]["external_id"])
                candidates = [r for r in center.records if (r.source, r.external_id) == ident]
            else:
                ident, candidates = (center.source, center.external_id), first
            holders = [r for r in candidates if json.loads(r.values).get(name) == value]
            if not holders:
                problems.append(f"3: {cid} shows {name}={value!r} from {ident[0]}:{ident[1]}, "
                                f"which {'does not hold it' if candidates else 'is not linked'}")
            elif len(candidates) > 1 and ident[1] is not None:
                problems.append(f"3: {cid} shows {name}={value!r} from {ident[0]}:{ident[1]}, "
                                f"which names {len(candidates)} of its records")
            # (Records without ids, keyed by natural key, are named by their source alone:
            # after a merge of two such centers, "lst:None" names both. Known, reported.)


def test_sources_stateful(app, geocoder):
    """Imports, edits, merges, unmerges, reverts (and records round trips) in any order
    keep every record's values and explain every shown field (see the module docstring)."""
    SourcesMachine.geocoder = geocoder
    try:
        run_state_machine_as_test(SourcesMachine, settings=SETTINGS)
    finally:
        db.session.rollback()


# -- regression tests for what the state machine found -----------------------------------

LST_HEADER = "name,address,city,region,postal_code,country"
LAKESIDE = "Lakeside Cancer Center,1 Lake Street,Boston,MA,02115,US"
HARBOR = "Harbor Hospital,10 Pier Road,Salem,MA,01970,US"
CEDAR = "Cedar Clinic,1 Cedar Street,Denver,CO,80202,US"
REG_HEADER = "external_id,name,address,city,region,postal_code,country"


def lst_file(*rows: str) -> bytes:
    return ("\n".join([LST_HEADER, *rows]) + "\n").encode()


def csv_file(header: str, *rows: str) -> bytes:
    return ("\n".join([header, *rows]) + "\n").encode()


def centers() -> list[Center]:
    db.session.expire_all()
    return list(db.session.scalars(sa.select(Center).order_by(Center.id)))


def revert(run_id: int):
    result = revert_import(db.session, db.session.get(ImportRun, run_id), user="a")
    db.session.commit()
    return result


def edit(center: Center, changes: dict, clear=()) -> None:
    set_editor_values(db.session, center, changes, clear)
    db.session.commit()


def record_of(source: str, key: str) -> SourceRecord:
    db.session.expire_all()
    return db.session.scalar(sa.select(SourceRecord).where(
        SourceRecord.source == source,
        sa.or_(SourceRecord.external_id == key, SourceRecord.natural_key == key)))


def assert_resolved(center: Center) -> None:
    """Invariant 4 for one center."""
    views = [record_values_of(r) for r in center.records]
    values, origin = resolve(views)
    assert {n: getattr(center, n) for n in CENTER_COLUMNS} == \
        {n: values[n] for n in CENTER_COLUMNS}
    assert center.field_sources == field_sources(origin, primary_record(center, views))


def test_editing_a_center_held_by_an_editor_alone(app, import_file):
    """Import a center, an editor sets its address, the import is reverted (the center
    stays: the editor's value holds it), then the editor clears or sets a value: resolving
    from the editor's record alone set the name to None (IntegrityError, a 500)."""
    run = import_file(lst_file(LAKESIDE), source="lst").run_id
    edit(centers()[0], {"address": "9 Edited Ave"})
    revert(run)
    center = centers()[0]
    assert [r.source for r in center.records] == [EDITOR]
    edit(center, {"phone": "+16175559999"}, clear=["address"])
    center = centers()[0]
    assert (center.name, center.phone) == ("Lakeside Cancer Center", "+16175559999")


def test_merged_editor_values_name_the_editor_record_that_holds_them(app, import_file):
    """Two centers with an editor's value each, merged: every editor field named the
    newest editor record, also the ones an older editor record holds."""
    import_file(lst_file(LAKESIDE, HARBOR), source="lst")
    lakeside, harbor = centers()
    edit(lakeside, {"address": "9 Edited Ave"})
    edit(harbor, {"phone": "+16175559999"})
    merge_centers(db.session, lakeside, harbor, user="e")
    db.session.commit()
    (center,) = centers()
    named = json.loads(center.field_sources)
    assert (center.address, named["address"]["external_id"]) == \
        ("9 Edited Ave", f"center-{center.id}")
    assert (center.phone, named["phone"]["external_id"]) == \
        ("+16175559999", f"center-{harbor.id}")


def test_an_edit_of_a_merged_center_stays_with_it_after_an_unmerge(app, import_file):
    """An edit of the merged center went into the newest editor record, the merged-away
    center's: the unmerge took it there, and the center edited lost it."""
    import_file(lst_file(LAKESIDE, HARBOR), source="lst")
    lakeside, harbor = centers()
    harbor_id = harbor.id
    edit(harbor, {"description": "Checked by phone"})
    merge_centers(db.session, lakeside, harbor, user="e")
    db.session.commit()
    edit(centers()[0], {"phone": "+16175559999"})
    unmerge_center(db.session, harbor_id, user="e")
    db.session.commit()
    lakeside, harbor = centers()
    assert (lakeside.phone, lakeside.description) == ("+16175559999", None)
    assert (harbor.phone, harbor.description) == (None, "Checked by phone")


def test_an_edit_of_a_merged_center_wins_over_the_merged_in_editors_values(app,
                                                                         import_file):
    """An edit of a merged center goes into its own editor record (so that it stays with
    it on an unmerge), but editor records are combined in id order, the newest winning:
    when its own record was the older one, the edit did not show. The fields set now
    leave the merged-in centers' editor records."""
    import_file(lst_file(LAKESIDE, HARBOR), source="lst")
    lakeside, harbor = centers()
    edit(lakeside, {"address": "9 Edited Ave"})
    edit(harbor, {"address": "10 Harbor Edit"})
    merge_centers(db.session, lakeside, harbor, user="e")
    db.session.commit()
    edit(centers()[0], {"address": None})
    (center,) = centers()
    assert center.address is None
    assert {r.external_id: json.loads(r.values) for r in center.records
            if r.source == EDITOR} == {f"center-{lakeside.id}": {"address": None},
                                       f"center-{harbor.id}": {}}


def test_nested_merges_undone_out_of_order(app, import_file):
    """Cedar merged into Harbor, Harbor into Lakeside; Cedar unmerged first, then Lakeside
    merged into Cedar and Harbor unmerged: Harbor took Cedar's records (they had been in
    Harbor when it was merged) out of Cedar again, and Cedar lost its editor's value."""
    import_file(lst_file(LAKESIDE, HARBOR, CEDAR), source="lst")
    lakeside, harbor, cedar = centers()
    ids = lakeside.id, harbor.id, cedar.id
    edit(cedar, {"phone": "+16175559999"})
    merge_centers(db.session, harbor, cedar, user="e")
    merge_centers(db.session, lakeside, harbor, user="e")
    db.session.commit()
    unmerge_center(db.session, ids[2], user="e")
    db.session.commit()
    merge_centers(db.session, db.session.get(Center, ids[2]), db.session.get(Center, ids[0]),
                  user="e")
    db.session.commit()
    unmerge_center(db.session, ids[1], user="e")
    db.session.commit()
    harbor, cedar = centers()
    assert (harbor.id, cedar.id) == ids[1:]
    assert sorted(r.natural_key for r in harbor.records) == ["harbor hospital|01970|US"]
    assert cedar.phone == "+16175559999"
    assert sorted(r.natural_key for r in cedar.records) == sorted([
        f"center-{cedar.id}", "cedar clinic|80202|US", "lakeside cancer center|02115|US"])


def test_a_center_merged_unmerged_and_merged_again_comes_back_again(app, import_file):
    """Harbor merged into Lakeside, Lakeside into Cedar; Harbor unmerged and merged into
    Mercy; then Lakeside unmerged took Harbor's record out of Mercy too (it had been in
    Lakeside when merged), or, once it did not, Harbor's unmerge was refused ("nothing to
    give back") because Lakeside's merge had held Harbor's record."""
    mercy = "Mercy Hospital,100 Main Street,Springfield,MO,65801,US"
    import_file(lst_file(LAKESIDE, HARBOR, CEDAR, mercy), source="lst")
    lakeside, harbor, cedar, mercy = (c.id for c in centers())

    def merge(keep, drop):
        merge_centers(db.session, db.session.get(Center, keep), db.session.get(Center, drop),
                      user="e")
        db.session.commit()

    def unmerge(center_id):
        unmerge_center(db.session, center_id, user="e")
        db.session.commit()

    merge(lakeside, harbor)
    merge(cedar, lakeside)
    unmerge(harbor)
    merge(mercy, harbor)
    unmerge(lakeside)
    assert [r.natural_key.split("|")[0] for r in db.session.get(Center, lakeside).records] \
        == ["lakeside cancer center"]
    unmerge(harbor)
    assert {c.id: sorted(r.natural_key.split("|")[0] for r in c.records)
            for c in centers()} == {lakeside: ["lakeside cancer center"],
                                    harbor: ["harbor hospital"], cedar: ["cedar clinic"],
                                    mercy: ["mercy hospital"]}


def test_a_revert_after_a_merge_gives_the_claims_back_too(app, import_file):
    """An import changed a record's claims, its center was merged into another, the import
    reverted: the record's values went back, its claims not (the audit record of the
    claims names the center merged away, and the revert passed over it)."""
    points = "external_id,name,city,region,postal_code,country,latitude,longitude,modalities"
    row = "P1,Lakeside Cancer Center,Boston,MA,02115,US,42.34,-71.09,"
    import_file(csv_file(points, row + "chemotherapy"), source="pts")
    run = import_file(csv_file(points, row + "chemotherapy; radiation therapy"),
                      source="pts").run_id
    import_file(lst_file(HARBOR), source="lst")
    lakeside, harbor = centers()
    merge_centers(db.session, harbor, lakeside, user="e")
    db.session.commit()
    revert(run)
    (center,) = centers()
    assert [(cm.modality.slug, cm.source) for cm in center.modalities] == \
        [("chemotherapy", "pts")]


def test_a_revert_skips_a_record_a_later_import_wrote_after_another_revert(app,
                                                                         import_file):
    """Import 1 makes a record, 2 and 3 change it, 3 is reverted, then 1: the record
    (holding import 2's values) was removed, because reverting 3 forgot who wrote it."""
    header = REG_HEADER + ",phone"
    row = "R1,LAKESIDE CANCER CENTER,1 Lake St,Boston,MA,02115,US,"
    one = import_file(csv_file(header, row + "+16175550001"), source="reg").run_id
    import_file(csv_file(header, row + "+16175550002"), source="reg")
    three = import_file(csv_file(header, row + "+16175550003"), source="reg").run_id
    revert(three)
    result = revert(one)
    assert [what for _, what in result.skipped] == \
        ["record reg:R1 (changed by a later import)"]
    assert json.loads(record_of("reg", "R1").values)["phone"] == "+16175550002"


def test_an_import_that_changes_only_claims_does_not_take_the_record(app, import_file):
    """Import 2 changed a record's values, import 3 only its claims; 3 reverted, 2 could
    not be any more ("changed by a later import": 3 had taken the record)."""
    header = REG_HEADER + ",phone,modalities"
    row = "R1,LAKESIDE CANCER CENTER,1 Lake St,Boston,MA,02115,US,"
    import_file(csv_file(header, row + "+16175550001,chemotherapy"), source="reg")
    two = import_file(csv_file(header, row + "+16175550002,chemotherapy"),
                      source="reg").run_id
    three = import_file(csv_file(header, row + "+16175550002,immunotherapy"),
                        source="reg").run_id
    revert(three)
    assert revert(two).skipped == []
    assert json.loads(record_of("reg", "R1").values)["phone"] == "+16175550001"
    assert [cm.modality.slug for cm in centers()[0].modalities] == ["chemotherapy"]


def test_two_records_of_one_source_in_a_merged_center_in_one_import(app, import_file):
    """A merged center holds two records of one source; an import moved a claim from one
    to the other: the second record's claim was inserted before the first's was deleted
    (UNIQUE center_modality, a 500)."""
    header = REG_HEADER + ",phone,modalities"
    one = "R1,LAKESIDE CANCER CENTER,1 Lake St,Boston,MA,02115,US,"
    two = "R2,HARBOR HOSPITAL,10 Pier Rd,Salem,MA,01970,US,"
    import_file(csv_file(header, one + ",chemotherapy", two + ","), source="reg")
    lakeside, harbor = centers()
    merge_centers(db.session, lakeside, harbor, user="e")
    db.session.commit()
    # Both rows change: the first takes the claim off the center, the second puts it back.
    import_file(csv_file(header, one + "+16175550001,", two + "+16175550002,chemotherapy"),
                source="reg")
    assert [(cm.modality.slug, cm.source) for cm in centers()[0].modalities] == \
        [("chemotherapy", "reg")]


def test_unmerge_after_the_import_that_made_it_was_reverted(app, import_file):
    """Both centers came from one import, one merged into the other, the import reverted
    (both gone): the unmerge gave back a center without any record."""
    run = import_file(lst_file(LAKESIDE, HARBOR), source="lst").run_id
    lakeside, harbor = centers()
    merge_centers(db.session, lakeside, harbor, user="e")
    db.session.commit()
    revert(run)
    with pytest.raises(UnmergeError, match="nothing to give back"):
        unmerge_center(db.session, harbor.id, user="e")
    db.session.rollback()
    assert centers() == []


def test_unmerge_does_not_take_a_record_that_got_the_id_of_a_reverted_one(app,
                                                                        import_file):
    """SQLite gives the id of a deleted record to the next new one: after the merged-away
    center's record was reverted, the unmerge took the kept center's new editor record."""
    import_file(lst_file(LAKESIDE), source="lst")
    run = import_file(lst_file(HARBOR), source="lst").run_id
    lakeside, harbor = centers()
    merge_centers(db.session, lakeside, harbor, user="e")
    db.session.commit()
    revert(run)
    edit(centers()[0], {"phone": "+16175559999"})
    with pytest.raises(UnmergeError):
        unmerge_center(db.session, harbor.id, user="e")
    db.session.rollback()
    (center,) = centers()
    assert sorted(r.source for r in center.records) == [EDITOR, "lst"]
    assert center.phone == "+16175559999"


def test_unmerge_when_the_kept_center_took_the_key_of_a_merged_record(app, import_file):
    """The kept center's own record was reverted, so it took the first merged-in record's
    key (reg:R2); the unmerge then gave that key back to the merged center too (UNIQUE
    center.source, external_id, a 500). Now the emptied kept center goes."""
    import_file(csv_file(REG_HEADER, "R2,HARBOR HOSPITAL,10 Pier Rd,Salem,MA,01970,US"),
                source="reg")
    run = import_file(lst_file(LAKESIDE), source="lst").run_id
    harbor, lakeside = centers()
    merge_centers(db.session, lakeside, harbor, user="e")
    db.session.commit()
    revert(run)
    (kept,) = centers()
    assert (kept.id, kept.source, kept.external_id) == (lakeside.id, "reg", "R2")
    unmerge_center(db.session, harbor.id, user="e")
    db.session.commit()
    (center,) = centers()
    assert (center.id, center.source, center.external_id) == (harbor.id, "reg", "R2")
    assert center.name == "HARBOR HOSPITAL"


def test_a_center_held_by_an_editor_alone_frees_its_records_key(app, import_file):
    """A revert kept a center for its editor's values under the key of the record it
    removed (reg:R1): importing R1 again, now unlike the edited center, could not store
    its new center (UNIQUE center.source, external_id, a 500)."""
    row = "R1,LAKESIDE CANCER CENTER,1 Lake St,Boston,MA,02115,US"
    run = import_file(csv_file(REG_HEADER, row), source="reg").run_id
    edit(centers()[0], {"name": "Edited Name A", "city": "Editville", "postal_code": "99999"})
    revert(run)
    result = import_file(csv_file(REG_HEADER, row), source="reg")
    assert result.added == 1
    held, new = centers()
    assert (held.name, held.source, held.external_id) == \
        ("Edited Name A", EDITOR, f"center-{held.id}")
    assert (new.name, new.source, new.external_id) == ("LAKESIDE CANCER CENTER", "reg", "R1")


def test_unmerge_through_a_later_merge_resolves_where_the_records_were(app, import_file):
    """Harbor merged into Lakeside, Lakeside into Cedar, then Harbor unmerged: its records
    left Cedar, which still showed them (only the center first kept was resolved)."""
    import_file(lst_file(LAKESIDE, HARBOR, CEDAR), source="lst")
    lakeside, harbor, cedar = centers()
    harbor_id, cedar_id = harbor.id, cedar.id
    merge_centers(db.session, lakeside, harbor, user="e")
    merge_centers(db.session, cedar, lakeside, user="e")
    db.session.commit()
    unmerge_center(db.session, harbor_id, user="e")
    db.session.commit()
    for center in centers():
        assert_resolved(center)
    cedar = db.session.get(Center, cedar_id)
    assert "Harbor Hospital" not in (cedar.alternate_names or "")


def test_claims_given_after_a_merge_leave_with_their_record(app, import_file):
    """A re-import gave claims to a merged record; the unmerge took the record back and
    left its claims on the kept center, which then had claims of a source it has no
    record of."""
    header = REG_HEADER + ",modalities"
    row = "R1,LAKESIDE CANCER CENTER,1 Lake St,Boston,MA,02115,US,"
    import_file(csv_file(header, row), source="reg")
    import_file(lst_file(HARBOR), source="lst")
    lakeside, harbor = centers()
    lakeside_id = lakeside.id
    merge_centers(db.session, harbor, lakeside, user="e")
    db.session.commit()
    import_file(csv_file(header, row + "chemotherapy"), source="reg")
    unmerge_center(db.session, lakeside_id, user="e")
    db.session.commit()
    lakeside, harbor = centers()
    assert [(cm.modality.slug, cm.source) for cm in lakeside.modalities] == \
        [("chemotherapy", "reg")]
    assert harbor.modalities == []


def test_unmerge_does_not_bring_back_claims_of_a_source_reverted_since(app, import_file):
    """The merged-away center's claim that the kept center also had (same modality and
    source) stayed in the merge's record; its source record was reverted since, and the
    unmerge made the claim again, on a center without a record of that source."""
    points = "external_id,name,city,region,postal_code,country,latitude,longitude,modalities"
    import_file(csv_file(REG_HEADER, "R2,HARBOR HOSPITAL,10 Pier Rd,Salem,MA,01970,US"),
                source="reg")
    import_file(csv_file(points, "P1,Lakeside Cancer Center,Boston,MA,02115,US,42.34,-71.09,"
                                 "chemotherapy"), source="pts")
    run = import_file(csv_file(points, "P2,Harbor Hospital,Salem,MA,01970,US,42.5195,"
                                       "-70.8967,chemotherapy"), source="pts")
    assert run.linked == 1
    harbor, lakeside = centers()
    harbor_id = harbor.id
    merge_centers(db.session, lakeside, harbor, user="e")
    db.session.commit()
    revert(run.run_id)
    unmerge_center(db.session, harbor_id, user="e")
    db.session.commit()
    harbor, lakeside = centers()
    assert [r.source for r in harbor.records] == ["reg"] and harbor.modalities == []
    assert [(cm.modality.slug, cm.source) for cm in lakeside.modalities] == \
        [("chemotherapy", "pts")]


def test_a_new_center_with_the_id_of_one_merged_before_a_restore(app, import_file):
    """After a records export and restore, a new center can get the id of a center merged
    away before: its first edit made an editor record under the key the merged one's
    still holds (UNIQUE source_record.source, external_id, a 500)."""
    import_file(lst_file(LAKESIDE, HARBOR), source="lst")
    lakeside, harbor = centers()
    edit(harbor, {"description": "Checked by phone"})
    merge_centers(db.session, lakeside, harbor, user="e")
    db.session.commit()
    data = export_records(db.session)
    empty_database()
    import_records(db.session, data)
    db.session.commit()
    import_file(lst_file(CEDAR), source="lst")
    merged, cedar = centers()
    edit(cedar, {"phone": "+16175559999"})
    merged, cedar = centers()
    assert (merged.description, merged.phone) == ("Checked by phone", None)
    assert (cedar.description, cedar.phone) == (None, "+16175559999")


def test_a_revert_gives_the_record_its_date_back(app, import_file):
    """A revert gave a record its values back, but left the reverted import's dataset date
    on it (the audit record of the values did not keep the date): a 2024 phone then
    counted as 2026's. Twice: each revert gives the date before its import back."""
    header = REG_HEADER + ",phone"
    row = "R1,LAKESIDE CANCER CENTER,1 Lake St,Boston,MA,02115,US,"
    runs = [import_file(csv_file(header, row + f"+1617555000{i}"), source="reg",
                        as_of=dt.date(2024 + i, 1, 1)).run_id for i in range(3)]
    revert(runs[2])
    assert record_of("reg", "R1").dataset_date == dt.date(2025, 1, 1)
    revert(runs[1])
    record = record_of("reg", "R1")
    assert (record.dataset_date, json.loads(record.values)["phone"]) == \
        (dt.date(2024, 1, 1), "+16175550000")


def test_records_round_trip_of_a_center_held_by_an_editor_alone(app, import_file):
    """A revert took a center's imported record; an editor's value holds it. The records
    export carried its shown fields only for a center without any record, so its restore
    resolved it from the editor's record alone (name None: NOT NULL, nothing restored)."""
    run = import_file(lst_file(LAKESIDE), source="lst").run_id
    edit(centers()[0], {"address": "9 Edited Ave"})
    revert(run)
    data, before = export_records(db.session), SourcesMachine.shown()
    db.session.rollback()
    db.session.expunge_all()
    empty_database()
    import_records(db.session, data)
    db.session.commit()
    (center,) = centers()
    assert (center.name, center.address) == ("Lakeside Cancer Center", "9 Edited Ave")
    assert [r.source for r in center.records] == [EDITOR]
    assert SourcesMachine.shown() == before
    assert export_records(db.session) == data


def test_unmerge_does_not_take_a_claim_that_got_the_id_of_a_moved_one(app, import_file):
    """The merge moved Harbor's claim (chemotherapy, pts) to Lakeside; a re-import took it
    off again and SQLite gave its id to Lakeside's next new claim (radiation, reg): the
    unmerge, finding a claim under the moved claim's id, took that one to Harbor (or, when
    it matched a claim the merge had left behind, inserted it twice: UNIQUE
    center_modality, a 500)."""
    points = "external_id,name,city,region,postal_code,country,latitude,longitude,modalities"
    harbor_row = "P2,Harbor Hospital,Salem,MA,01970,US,42.5195,-70.8967,"
    header = REG_HEADER + ",modalities"
    lakeside_row = "R1,LAKESIDE CANCER CENTER,1 Lake St,Boston,MA,02115,US,"
    import_file(csv_file(header, lakeside_row + "chemotherapy"), source="reg")
    import_file(csv_file(points, harbor_row + "chemotherapy"), source="pts")
    lakeside, harbor = centers()
    harbor_id = harbor.id
    merge_centers(db.session, lakeside, harbor, user="e")
    db.session.commit()
    import_file(csv_file(points, harbor_row), source="pts")
    import_file(csv_file(header, lakeside_row + "chemotherapy; radiation therapy"),
                source="reg")
    unmerge_center(db.session, harbor_id, user="e")
    db.session.commit()
    lakeside, harbor = centers()
    assert sorted((cm.modality.slug, cm.source) for cm in lakeside.modalities) == \
        [("chemotherapy", "reg"), ("radiation-therapy", "reg")]
    assert harbor.modalities == []


def test_a_revert_leaves_claims_a_later_import_wrote_again(app, import_file):
    """Import 2 gave a record's center a claim, 3 took it off, 4 gave the same claim
    again; reverting 2 (its values skipped: 3 changed them) took 4's claim off, because
    the claims looked like the ones 2 had written."""
    header = REG_HEADER + ",phone,modalities"
    row = "R1,LAKESIDE CANCER CENTER,1 Lake St,Boston,MA,02115,US,"
    import_file(csv_file(header, row + "+16175550001,"), source="reg")
    two = import_file(csv_file(header, row + "+16175550002,chemotherapy"),
                      source="reg").run_id
    import_file(csv_file(header, row + "+16175550003,"), source="reg")
    import_file(csv_file(header, row + "+16175550003,chemotherapy"), source="reg")
    result = revert(two)
    assert [what for _, what in result.skipped][0] == \
        "record reg:R1 (changed by a later import)"
    assert [(cm.modality.slug, cm.source) for cm in centers()[0].modalities] == \
        [("chemotherapy", "reg")]
