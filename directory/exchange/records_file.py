"""The records export's file format (README "API and exports"): its members and columns,
how a value becomes a CSV cell and back, and :func:`read_records`, which decodes and checks
a zip without touching a database.

A records export is a zip holding:

- ``manifest.json``: ``{"format": FORMAT, "version": 1, "files": {...}, "counts": {...}}``
  (the counts let a reader notice a truncated or edited file);
- ``data_sources.csv``: every data source (:data:`SOURCE_COLUMNS`), by slug;
- ``organizations.csv``: every health system with its id (:data:`ORGANIZATION_COLUMNS`);
- ``records.csv``: one row per source record, by center id then record id
  (:data:`RECORD_COLUMNS`). ``given`` lists, ``;``-separated, the record fields present in
  the record's values (a field absent from a record is not an empty one); the field columns
  follow (coordinates as Python ``repr`` of the float); ``other_values`` (JSON object) holds
  the values' other keys (``id_kind``); ``claims`` is a JSON list of ``[modality slug,
  provenance, verified_on, evidence]`` and ``designations`` of ``[designation slug, as_of]``:
  what the row's source holds on the center, on that source's first row of the center. A
  source with claims or designations on a center where it has no record gets a row of its
  own, ``link_rule`` :data:`CLAIMS_ONLY`, field columns empty. ``center`` (JSON object, on
  the first row of each center only): the center's own ``source``, ``external_id`` and
  ``natural_key`` (the record that made it), ``created_at`` and ``updated_at`` (UTC),
  ``verified_at`` when set; and ``fields`` (the shown fields, with ``field_sources``) when
  no imported record gives them: a center without records, or held by an editor's alone.

Every cell goes through :func:`~directory.exchange.cells.neutralise` (as in every CSV
the app writes) and comes back through :func:`~directory.exchange.cells.unneutralise`.
A value that its plain cell would not give back identically (an empty string where empty
means ``None``, a number where text belongs, text beginning with ``'=``) is written in the
row's ``exact`` cell (JSON object, column -> value) and its own cell is left empty.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import math
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from directory.curation.resolve import RECORD_FIELDS
from directory.exchange.cells import neutralise, unneutralise
from directory.models import CENTER_KINDS, CENTER_STATUSES, GEOCODE_PRECISIONS, PROVENANCES

FORMAT = "oncology-directory-records"
VERSION = 1
MANIFEST, SOURCES_CSV, ORGANIZATIONS_CSV, RECORDS_CSV = (
    "manifest.json", "data_sources.csv", "organizations.csv", "records.csv")
MEMBERS = (MANIFEST, SOURCES_CSV, ORGANIZATIONS_CSV, RECORDS_CSV)
SOURCE_FIELDS = ("name", "publisher", "licence", "url", "as_of", "attribution", "note")
SOURCE_COLUMNS = ("slug", *SOURCE_FIELDS, "exact")
ORGANIZATION_COLUMNS = ("id", "name", "website", "exact")
RECORD_META = ("center_id", "source", "external_id", "natural_key", "dataset_date",
               "link_rule", "link_score", "link_reason")
RECORD_COLUMNS = (*RECORD_META, "given", *RECORD_FIELDS, "other_values", "claims",
                  "designations", "center", "exact")
#: ``link_rule`` of a row that carries only a source's claims and designations on a center
#: where that source has no record (modality lists keyed by CCN, admins' confirmations).
CLAIMS_ONLY = "claims-only"
#: ``link_rule`` of the one row of a center that has neither records nor claims.
CENTER_ONLY = "center-only"
PSEUDO_RULES = (CLAIMS_ONLY, CENTER_ONLY)
DATE = dt.date.fromisoformat
#: What each record column must hold once read (a hand-edited ``exact`` could say else).
META_TYPES = {"center_id": int, "source": str, "external_id": (str, type(None)),
              "natural_key": str, "dataset_date": (dt.date, type(None)), "link_rule": str,
              "link_score": (float, int, type(None)), "link_reason": (str, type(None))}
MAX_UNPACKED_BYTES = 4 * 1024 ** 3
MAX_RATIO = 200


class RecordsError(ValueError):
    """A records export that cannot be restored (malformed file, non-empty database)."""


def dumps_json(value) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


# -- cells -------------------------------------------------------------------------------

def _text(cell: str):
    return cell


def _text_or_none(cell: str):
    return cell or None


def _float_or_none(cell: str):
    return float(cell) if cell else None


def _int(cell: str):
    return int(cell)


def _date_or_none(cell: str):
    return DATE(cell) if cell else None


def _encode(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


#: How each plain column reads back (anything not listed is text, empty meaning ``None``).
DECODERS: dict[str, Callable[[str], object]] = {
    "center_id": _int, "id": _int, "source": _text, "natural_key": _text, "slug": _text,
    "name": _text_or_none, "link_rule": _text, "dataset_date": _date_or_none,
    "link_score": _float_or_none, "latitude": _float_or_none, "longitude": _float_or_none,
}


def _same(a, b) -> bool:
    return type(a) is type(b) and a == b


def cells_of(columns: Iterable[str], values: dict, exact: dict) -> list[str]:
    """Plain cells for ``values`` (column -> value); a value its cell would not give back
    identically goes to ``exact`` and its cell stays empty."""
    out = []
    for column in columns:
        value = values.get(column)
        cell = _encode(value)
        decode = DECODERS.get(column, _text_or_none)
        try:
            ok = _same(decode(unneutralise(neutralise(cell))), value)
        except ValueError:
            ok = False
        if not ok:
            exact[column] = value
            cell = ""
        out.append(cell)
    return out


def stamp(value: dt.datetime | None) -> str | None:
    """A timestamp as ISO 8601 UTC (SQLite gives naive UTC, PostgreSQL aware)."""
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC).isoformat()


# -- reading ------------------------------------------------------------------------------

@dataclass
class RecordRow:
    """One row of ``records.csv``, decoded. ``values`` is ``None`` on pseudo rows."""

    line: int
    meta: dict
    values: dict | None
    claims: list
    designations: list
    center: dict | None


@dataclass
class Package:
    """A records export, decoded and checked (not yet written)."""

    manifest: dict
    sources: list[dict] = field(default_factory=list)
    organizations: list[dict] = field(default_factory=list)
    rows: list[RecordRow] = field(default_factory=list)


def _members(data: bytes) -> dict[str, str]:
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile as exc:
        raise RecordsError("not a records export: the file is not a zip "
                           "(make one with `flask export-centers PATH --format records`)"
                           ) from exc
    with zf:
        infos = {i.filename: i for i in zf.infolist()}
        missing = [n for n in MEMBERS if n not in infos]
        if missing:
            raise RecordsError(f"not a records export: the zip has no {', '.join(missing)}")
        total = sum(i.file_size for i in infos.values())
        if total > MAX_UNPACKED_BYTES or any(
                i.file_size > 1_000_000 and i.file_size > MAX_RATIO * max(i.compress_size, 1)
                for i in infos.values()):
            raise RecordsError(f"the zip would unpack to {total:,} bytes; refused (at most "
                               f"{MAX_UNPACKED_BYTES:,} bytes, compression ratio "
                               f"{MAX_RATIO})")
        out = {}
        for name in MEMBERS:
            try:
                out[name] = zf.read(name).decode("utf-8-sig")
            except UnicodeDecodeError as exc:
                raise RecordsError(f"{name} is not UTF-8 text") from exc
            except (zipfile.BadZipFile, EOFError, OSError) as exc:
                raise RecordsError(f"{name} cannot be unpacked: {exc}") from exc
    return out


def _rows(name: str, text: str, columns: tuple[str, ...]):
    """``(line, {column: cell})`` per row, cells un-neutralised; checks the header."""
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader, None)
        if header is None or tuple(header) != columns:
            found = set(header or ())
            missing = [c for c in columns if c not in found]
            extra = [c for c in header or () if c not in columns]
            raise RecordsError(
                f"{name}: the header is not that of a records export (version {VERSION})"
                + (f"; missing {', '.join(missing)}" if missing else "")
                + (f"; unexpected {', '.join(extra)}" if extra else "")
                + ("; columns out of order" if not missing and not extra else ""))
        for cells in reader:
            if len(cells) != len(columns):
                raise RecordsError(f"{name} line {reader.line_num}: {len(cells)} cells, "
                                   f"expected {len(columns)}")
            yield reader.line_num, {c: unneutralise(v) for c, v in zip(columns, cells)}
    except csv.Error as exc:
        raise RecordsError(f"{name} line {reader.line_num}: {exc}") from exc


def _load_json(name: str, line: int, column: str, cell: str, kind: type, empty):
    if not cell:
        return empty
    try:
        value = json.loads(cell)
    except ValueError as exc:
        raise RecordsError(f"{name} line {line}: column {column}: not JSON ({exc})") from exc
    if not isinstance(value, kind):
        raise RecordsError(f"{name} line {line}: column {column}: expected a JSON "
                           f"{'object' if kind is dict else 'list'}")
    return value


def _decode(name: str, line: int, cells: dict, columns: Iterable[str], exact: dict) -> dict:
    out = {}
    for column in columns:
        if column in exact:
            if cells[column]:
                raise RecordsError(f"{name} line {line}: column {column}: a value both in "
                                   f"its cell and in exact")
            out[column] = exact[column]
            continue
        try:
            out[column] = DECODERS.get(column, _text_or_none)(cells[column])
        except ValueError as exc:
            raise RecordsError(f"{name} line {line}: column {column}: "
                               f"{cells[column][:60]!r} cannot be read ({exc})") from exc
    return out


def _check_claims(line: int, claims: list, designations: list) -> None:
    def bad(what: str):
        raise RecordsError(f"{RECORDS_CSV} line {line}: column {what}: each item must be "
                           + ("[slug, provenance, verified_on, evidence]" if what == "claims"
                              else "[slug, as_of]"))

    for claim in claims:
        if not (isinstance(claim, list) and len(claim) == 4 and isinstance(claim[0], str)
                and claim[1] in PROVENANCES and isinstance(claim[3], str | None)):
            bad("claims")
        try:
            claim[2] = DATE(claim[2]) if claim[2] is not None else None
        except (TypeError, ValueError):
            bad("claims")
    for item in designations:
        if not (isinstance(item, list) and len(item) == 2 and isinstance(item[0], str)):
            bad("designations")
        try:
            item[1] = DATE(item[1]) if item[1] is not None else None
        except (TypeError, ValueError):
            bad("designations")


def read_records(data: bytes) -> Package:
    """Decode and check a records export (no database).

    :raises RecordsError: naming the file, line and column of the first problem.
    """
    texts = _members(data)
    try:
        manifest = json.loads(texts[MANIFEST])
    except ValueError as exc:
        raise RecordsError(f"{MANIFEST} is not JSON ({exc})") from exc
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise RecordsError(f"not a records export: {MANIFEST} does not say format {FORMAT!r}")
    if manifest.get("version") != VERSION:
        raise RecordsError(f"records export version {manifest.get('version')!r}; this "
                           f"version of the directory reads version {VERSION}")
    package = Package(manifest)
    for name, columns, target in ((SOURCES_CSV, SOURCE_COLUMNS, package.sources),
                                  (ORGANIZATIONS_CSV, ORGANIZATION_COLUMNS,
                                   package.organizations)):
        for line, cells in _rows(name, texts[name], columns):
            exact = _load_json(name, line, "exact", cells["exact"], dict, {})
            target.append(_decode(name, line, cells, columns[:-1], exact))
    for line, cells in _rows(RECORDS_CSV, texts[RECORDS_CSV], RECORD_COLUMNS):
        package.rows.append(_record_row(line, cells))
    _check_counts(package)
    return package


def _record_row(line: int, cells: dict) -> RecordRow:
    name = RECORDS_CSV
    exact = _load_json(name, line, "exact", cells["exact"], dict, {})
    unknown = set(exact) - set(RECORD_META) - set(RECORD_FIELDS)
    if unknown:
        raise RecordsError(f"{name} line {line}: column exact: unknown column(s) "
                           f"{', '.join(sorted(unknown))}")
    meta = _decode(name, line, cells, RECORD_META, exact)
    for column, kinds in META_TYPES.items():
        if not isinstance(meta[column], kinds) or isinstance(meta[column], bool):
            raise RecordsError(f"{name} line {line}: column {column}: "
                               f"{meta[column]!r} is not a valid value")
    given = [f for f in cells["given"].split(";") if f]
    wrong = [f for f in given if f not in RECORD_FIELDS]
    if wrong:
        raise RecordsError(f"{name} line {line}: column given: unknown field(s) "
                           f"{', '.join(wrong)}")
    stray = [f for f in RECORD_FIELDS if f not in given and (cells[f] or f in exact)]
    if stray:
        raise RecordsError(f"{name} line {line}: column(s) {', '.join(stray)} hold a value "
                           f"but are not listed in given")
    other = _load_json(name, line, "other_values", cells["other_values"], dict, {})
    if set(other) & set(RECORD_FIELDS):
        raise RecordsError(f"{name} line {line}: column other_values: holds record fields")
    claims = _load_json(name, line, "claims", cells["claims"], list, [])
    designations = _load_json(name, line, "designations", cells["designations"], list,
                              [])
    _check_claims(line, claims, designations)
    center = _load_json(name, line, "center", cells["center"], dict, None)
    if meta["link_rule"] in PSEUDO_RULES:
        values = None
        if given or other:
            raise RecordsError(f"{name} line {line}: a {meta['link_rule']} row holds no "
                               f"record values")
    else:
        values = {**_decode(name, line, cells, given, exact), **other}
        _check_values(line, values)
    return RecordRow(line, meta, values, claims, designations, center)


#: Bounds of the values a record may hold (what the importer itself would accept).
_CHOICES = {"kind": CENTER_KINDS, "status": CENTER_STATUSES,
            "geocode_precision": GEOCODE_PRECISIONS}
_RANGES = {"latitude": 90.0, "longitude": 180.0}
_LENGTHS = {"name": 300, "city": 120, "region": 120, "postal_code": 20, "country": 2,
            "phone": 40, "website": 500, "email": 254}


def _check_values(line: int, values: dict) -> None:
    """Refuse values no import would store: coordinates that are not finite or out of
    range, kinds, statuses and precisions outside the vocabulary, an empty name, texts
    longer than their columns or holding NUL."""
    where = f"{RECORDS_CSV} line {line}"
    for column, value in values.items():
        if isinstance(value, str) and "\x00" in value:
            raise RecordsError(f"{where}: column {column}: holds a NUL character")
    if "name" in values and not (values["name"] or "").strip():
        raise RecordsError(f"{where}: column name: a record's name cannot be empty")
    for column, limit in _RANGES.items():
        value = values.get(column)
        if value is not None and not (isinstance(value, int | float)
                                      and math.isfinite(value) and -limit <= value <= limit):
            raise RecordsError(f"{where}: column {column}: {value!r} is not a valid "
                               f"{column} (-{limit:g} to {limit:g})")
    for column, choices in _CHOICES.items():
        value = values.get(column)
        if value is not None and value not in choices:
            raise RecordsError(f"{where}: column {column}: {str(value)[:40]!r} is not one "
                               f"of {', '.join(choices)}")
    for column, limit in _LENGTHS.items():
        value = values.get(column)
        if isinstance(value, str) and len(value) > limit:
            raise RecordsError(f"{where}: column {column}: {len(value)} characters "
                               f"(at most {limit})")


def _check_counts(package: Package) -> None:
    counts = package.manifest.get("counts") or {}
    found = {
        "data_sources": len(package.sources), "organizations": len(package.organizations),
        "rows": len(package.rows),
        "centers": sum(1 for r in package.rows if r.center is not None),
        "records": sum(1 for r in package.rows if r.values is not None),
        "claims": sum(len(r.claims) for r in package.rows),
        "designations": sum(len(r.designations) for r in package.rows),
    }
    wrong = [f"{k} {found[k]:,} (the manifest says {counts.get(k)!r})"
             for k in found if counts.get(k) != found[k]]
    if wrong:
        raise RecordsError("the export is incomplete or was edited: " + "; ".join(wrong))
