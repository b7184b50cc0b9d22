"""One center from many source records: the precedence rules that choose each shown field.

A center links one or more :class:`~directory.models.SourceRecord` rows (CMS, HIFLD, NCI,
an admin's list...) and at most one record of source ``editor`` (editors' values). Each
field shown comes from one record, by these rules (docs: README "One center, many sources"):

1. **An editor's value wins** over every import, until an editor clears it (the field then
   leaves the editor record and the rules below apply again).
2. **Coordinates** (latitude, longitude and their precision, as one unit): the most precise
   record (``manual`` > ``rooftop`` > ``postal_code`` > ``city``); ties: the most recent
   dataset, then the oldest record.
3. **Phone, website, email, description**: the most recent dataset that has one.
4. **Status**: the most recent dataset's (a 2025 "active" beats a 2023 "closed"). For
   rules 3 and 4 an accepted suggestion is dated the day it was reviewed, and wins a tie.
5. **Name, organization and the address** (street, city, region, postal code, country, as
   one unit): the record of the first source in :data:`NAME_ORDER` that has one (for the
   address: a street address, else a city); sources not listed (admins' own lists) rank
   after NCI and before the government registers.
6. **Kind**: ``cancer-center`` when any record says so; otherwise as the name; a center
   no record gives a kind to is what its shown name says (as an import makes it:
   :func:`directory.importer.fields.kind_from_name`, "Lakeside Cancer Center" is a
   ``cancer-center``), else a ``hospital``.
7. **Alternate names**: every other record's name and alternate names, once each.

A record missing a field (the file had no such column) does not take part for that field;
an explicitly empty cell is a value (``None``) only for rule 5's units. Pure functions: no
session, no Flask; :func:`resolve_center` applies the result to an ORM center.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from directory.text import N_, fold

EDITOR = "editor"
#: Values a visitor reported and an editor accepted (:mod:`directory.curation.suggest`).
SUGGESTION = "suggestion"
#: The ``data_source`` row of each of the directory's own sources, as first written (in
#: English; marked for the catalog, so pages show it in their language:
#: :func:`directory.web.i18n_data.own_source_text`).
OWN_SOURCE_ROWS: dict[str, dict[str, str]] = {
    EDITOR: {
        "name": N_("Editors of this directory"),
        "note": N_("Values set by hand by the directory's editors; they win over every "
                   "import until an editor clears them."),
    },
    SUGGESTION: {
        "name": N_("Suggested updates (reviewed)"),
        "publisher": N_("Visitors of this directory: centers' staff, patients and families"),
        "note": N_("Updates that people sent through a center's \"Suggest an update\" form; "
                   "each was checked and accepted by an editor of this directory, who may "
                   "have corrected it."),
    },
}
#: Sources of values the directory's own people gave (not lists): they never make a center
#: on their own, so a center held by them alone keeps its other fields as they are.
OWN_SOURCES = (EDITOR, SUGGESTION)
#: The fields a record can hold, in display order.
RECORD_FIELDS = ("name", "kind", "address", "city", "region", "postal_code", "country",
                 "latitude", "longitude", "geocode_precision", "phone", "website", "email",
                 "status", "description", "alternate_names", "organization")
LOCATION = ("latitude", "longitude", "geocode_precision")
ADDRESS = ("address", "city", "region", "postal_code", "country")
MOST_RECENT = ("phone", "website", "email", "description")
#: Sources whose names (and addresses) are preferred, best first; unknown sources (admins'
#: lists) rank between ``nci`` and ``cms-hgi``. Government registers write names in upper
#: case; Wikidata labels can be bare ids. ``suggestion``: an address a visitor reported and
#: an editor accepted (:mod:`directory.curation.suggest`), newer than any list.
NAME_ORDER = (EDITOR, SUGGESTION, "nci", "*", "cms-hgi", "nhs-choices-2014",
              "eurostat-gisco", "hifld-hospitals", "wikidata-hospitals")
PRECISION_RANK = {"manual": 5, "rooftop": 4, "address": 3, "postal_code": 2, "city": 1,
                  "region": 0, "country": 0, "none": -1}


@dataclass(frozen=True)
class RecordValues:
    """The part of a source record resolution reads. ``values``: field -> value for the
    fields the source gave; ``dataset_date``: the date of its data (``None``: unknown,
    oldest)."""

    id: int
    source: str
    external_id: str | None
    values: Mapping[str, Any]
    dataset_date: dt.date | None = None

    def has(self, name: str) -> bool:
        return name in self.values

    def provenance(self) -> dict[str, str | None]:
        """``{"source", "external_id", "date"}`` as :attr:`Center.field_sources` stores it."""
        return {"source": self.source, "external_id": self.external_id,
                "date": self.dataset_date.isoformat() if self.dataset_date else None}


def _order(record: RecordValues) -> tuple:
    """Oldest record first; one not yet stored (no id) is the newest."""
    return (record.id is None, record.id or 0)


def _name_rank(source: str) -> int:
    return NAME_ORDER.index(source) if source in NAME_ORDER else NAME_ORDER.index("*")


def _contact(name: str, value: Any) -> Any:
    """A website or email as the field validation cleans it (``None`` when it refuses it:
    a ``javascript:`` link, an address that is not an email), whatever record holds it (an
    old import, a restored records package); other fields unchanged."""
    if name not in ("website", "email") or not value:
        return value
    from directory.importer.fields import normalise_email, safe_website  # (lazy, as below)

    return safe_website(value) if name == "website" else normalise_email(value)[0]


def _recent(record: RecordValues) -> tuple:
    """Sort key: most recent dataset first (on the same date an accepted suggestion, dated
    the day an editor reviewed it, first: a list's date is when it was published, so the
    reviewed report is the newer news), then the oldest record."""
    date = record.dataset_date or dt.date.min
    return (-date.toordinal(), record.source != SUGGESTION, *_order(record))


def resolve(records: Iterable[RecordValues]) -> tuple[dict[str, Any], dict[str, RecordValues]]:
    """The shown value of every :data:`RECORD_FIELDS` field and the record it came from.

    :param records: the center's records, the editor's included (any order).
    :returns: ``(values, origin)``; a field no record has is ``None`` with no origin
        (``kind`` defaults to what the name says, else ``hospital`` (rule 6),
        ``status`` to ``active``, ``geocode_precision`` to ``none``).
    """
    records = sorted(records, key=_order)
    editors = [r for r in records if r.source == EDITOR]  # several after a merge
    editor = editors[-1] if editors else None
    supplier: dict[str, RecordValues] = {}  # field -> the editor record it comes from
    if len(editors) > 1:  # the newest record's value of a field wins
        combined: dict[str, Any] = {}
        for record in editors:
            combined.update(record.values)
            supplier.update(dict.fromkeys(record.values, record))
        editor = RecordValues(editor.id, EDITOR, editor.external_id, combined,
                              editor.dataset_date)
    imported = [r for r in records if r.source != EDITOR]
    values: dict[str, Any] = dict.fromkeys(RECORD_FIELDS)
    origin: dict[str, RecordValues] = {}

    def take(fields: tuple[str, ...], record: RecordValues | None) -> None:
        if record is None:
            return
        for name in fields:
            values[name] = record.values.get(name)
            origin[name] = record

    by_name = sorted(imported, key=lambda r: (_name_rank(r.source), *_order(r)))
    take(("name",), next((r for r in by_name if r.values.get("name")), None))
    take(("organization",), next((r for r in by_name if r.values.get("organization")), None))
    # The address unit from the best-ranked record that has a street address; a record with
    # only a city or country (Wikidata, a list without addresses) never blanks a street.
    take(ADDRESS, next((r for r in by_name if r.values.get("address")), None)
         or next((r for r in by_name if r.values.get("city")), None)
         or next((r for r in by_name if any(r.values.get(f) for f in ADDRESS)), None))
    located = [r for r in imported if r.values.get("latitude") is not None
               and r.values.get("longitude") is not None]
    located.sort(key=lambda r: (-PRECISION_RANK.get(r.values.get("geocode_precision"), 0),
                                *_recent(r)))
    take(LOCATION, located[0] if located else None)
    recent = sorted(imported, key=_recent)
    for name in MOST_RECENT:  # (a website or email the validation refuses does not count)
        take((name,), next((r for r in recent if _contact(name, r.values.get(name))), None))
    take(("status",), next((r for r in recent if r.values.get("status")), None))
    cancer = next((r for r in by_name if r.values.get("kind") == "cancer-center"), None)
    take(("kind",), cancer or next((r for r in by_name if r.values.get("kind")), None))
    if editor is not None:
        for name, value in editor.values.items():
            if name in values:
                values[name] = value
                origin[name] = supplier.get(name, editor)
        if "latitude" in editor.values and "geocode_precision" not in editor.values:
            values["geocode_precision"] = "manual" if values["latitude"] is not None \
                else "none"
            origin["geocode_precision"] = supplier.get("latitude", editor)
    if not (editor is not None and "alternate_names" in editor.values):
        values["alternate_names"], alt_origin = _alternate_names(values["name"], imported)
        if alt_origin is not None:
            origin["alternate_names"] = alt_origin
        else:
            origin.pop("alternate_names", None)
    if not values["kind"]:
        from directory.importer.fields import kind_from_name  # (lazy: the importer package
        values["kind"] = kind_from_name("hospital", values["name"] or "")  # imports this)
    values["status"] = values["status"] or "active"
    values["geocode_precision"] = values["geocode_precision"] or "none"
    values["website"], values["email"] = (_contact(name, values[name])
                                          for name in ("website", "email"))
    return values, origin


def _alternate_names(name: str | None,
                     records: list[RecordValues]) -> tuple[str | None, RecordValues | None]:
    """Every record's name and alternate names that differ (folded) from ``name``, once
    each, in record order, joined with ``"; "``; and the first record that gave one."""
    seen = {fold(name)} if name else set()
    names, first = [], None
    for record in records:
        candidates = [record.values.get("name"),
                      *(record.values.get("alternate_names") or "").split(";")]
        for candidate in candidates:
            candidate = (candidate or "").strip()
            key = fold(candidate)
            if candidate and key not in seen:
                seen.add(key)
                names.append(candidate)
                first = first or record
    text = "; ".join(names)
    return (text[:4000] or None), first


def field_sources(origin: Mapping[str, RecordValues], primary: RecordValues | None) -> str | None:
    """:attr:`Center.field_sources` JSON: the fields whose record is not ``primary`` (the
    center's first record), or ``None`` when every field is the primary's."""
    out = {name: record.provenance() for name, record in origin.items()
           if primary is None or record is not primary}
    return json.dumps(out, sort_keys=True, separators=(",", ":")) if out else None


def record_values_of(row) -> RecordValues:
    """A :class:`RecordValues` from a :class:`~directory.models.SourceRecord`."""
    return RecordValues(row.id, row.source, row.external_id, json.loads(row.values or "{}"),
                        row.dataset_date)
