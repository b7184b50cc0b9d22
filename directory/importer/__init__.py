"""The import pipeline: decode -> read -> validate -> geocode -> plan -> write.

:func:`run_import` is the one entry point used by ``flask seed``, the
``import-centers`` command and (later) the admin upload. It writes inside the caller's
session and never commits: the caller commits when ``result.ok_to_commit`` (always, unless a
file-level error was raised) or rolls back for a dry run. Rejected rows never stop the
others; a :class:`~directory.importer.decode.FileError` means nothing was planned at all.
"""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import hashlib
import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

import sqlalchemy.orm as so

from directory.importer.decode import FileError, decode_bytes
from directory.importer.formats import (
    FORMAT_NAMES,
    Format,
    ModalityListFormat,
    RawRecord,
    detect_format,
    get_format,
)
from directory.importer.read import Row, Table, TableStream, stream_table
from directory.importer.validate import CenterRecord, Issue, Validator
from directory.importer.write import (
    ExistingCenters,
    Plan,
    Writer,
    ensure_source,
    likely_duplicates,
    plan_centers,
    plan_claims,
    reuse_coordinates,
)
from directory.models import ImportIssue, ImportRun
from directory.vocabulary import Vocabulary, load_vocabulary

__all__ = ["FileError", "ImportResult", "run_import", "FORMAT_NAMES", "Issue"]

# Rejects coordinates further than this from the geocoded city/ZIP when swapping them fits.
SWAP_TOLERANCE_KM = 250.0


@dataclass
class ImportResult:
    """What an import did (or would do, for a dry run).

    Counts are centers for center files; for modality lists ``added``/``updated`` count
    centers whose claims from this source were added or changed.
    """

    filename: str
    format: str
    source: str
    encoding: str
    delimiter: str
    sha256: str
    rows: int = 0
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0
    not_in_file: int = 0
    issues: list[Issue] = field(default_factory=list)
    ignored_columns: list[str] = field(default_factory=list)
    header: list[str] = field(default_factory=list)
    column_map: list[tuple[str, str | None]] = field(default_factory=list)
    rejected_rows: dict[int, list[str]] = field(default_factory=dict)
    duplicates: list[tuple[int, str, int, str]] = field(default_factory=list)
    plan: Plan | None = None
    run_id: int | None = None
    dry_run: bool = False

    @property
    def errors(self) -> list[Issue]:
        """Issues that rejected a row."""
        return [i for i in self.issues if i.severity == "error"]

    def rejected_csv(self) -> str:
        """The rejected rows as CSV: the file's own columns plus ``line`` and ``error``
        (every reason for the row, joined with ``; ``). Cells are written back unchanged."""
        import csv
        import io

        reasons: dict[int, list[str]] = {}
        for issue in self.errors:
            where = f"{issue.column}: " if issue.column else ""
            reasons.setdefault(issue.line, []).append(where + issue.message)
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow([*self.header, "line", "error"])
        for line in sorted(reasons):
            cells = self.rejected_rows.get(line, [])
            cells = cells + [""] * (len(self.header) - len(cells))
            writer.writerow([*cells[:len(self.header)], line, "; ".join(reasons[line])])
        return out.getvalue()

    @property
    def warnings(self) -> list[Issue]:
        """Issues that kept the row."""
        return [i for i in self.issues if i.severity == "warning"]


def run_import(session: so.Session, data: bytes, *, filename: str, geocoder=None,
               format: str = "auto", source: str | None = None, dry_run: bool = False,
               user: str | None = None, mapping: dict[str, str] | None = None,
               vocabulary: Vocabulary | None = None, as_of: dt.date | None = None,
               target_source: str | None = None,
               progress: Callable[[int], None] | None = None,
               parallel: bool = False) -> ImportResult:
    """Import one file of centers or modality claims.

    :param data: the file's bytes (any of UTF-8 +/- BOM, UTF-16, cp1252; delimiters
        ``, ; TAB | ¬``).
    :param geocoder: an object with ``lookup_postal_code(code, country)`` and
        ``lookup_city(city, region=, country=)`` (see :mod:`directory.geocoding`), used only
        for rows without coordinates; ``None`` skips geocoding.
    :param format: ``"auto"`` or a name from :data:`FORMAT_NAMES`.
    :param source: data-source slug that keys re-imports; default from the format.
    :param as_of: the date of the evidence (for modality claims and designations); default today.
    :param target_source: for modality lists, the source whose centers the keys name.
    :param parallel: let a large file's cities be looked up in a helper process (forked)
        while the rows are validated; for the command line, not for web workers.
    :returns: :class:`ImportResult`; the session holds the changes unless ``dry_run``.
    :raises FileError: empty / binary / undecodable file, unknown format, missing required
        column. Nothing is written.
    """
    sha = hashlib.sha256(data).hexdigest()
    package = data[:4] == b"PK\x03\x04"
    if format == "hsds" and not package:
        raise FileError("the 'hsds' format expects an Open Referral HSDS package: a zip of "
                        "its CSV tables (organizations, locations, addresses, services, ...)")
    if package:  # an Open Referral HSDS tabular package (zip)
        data = _hsds_to_template(data, format)
        format, source = "native", source or "hsds"
    decoded = decode_bytes(data)
    # What the rows are read from, row by row, until the write: UTF-8 bytes as they are
    # (half the size of a text with a character beyond Latin-1), else the decoded text.
    text = data if decoded.encoding in ("utf-8", "utf-8-sig") else decoded.text
    data = None  # noqa: F841 - free the bytes if the caller let go (and they are not `text`)
    decoded = dataclasses.replace(decoded, text="")
    table = stream_table(text)
    if format == "auto":
        fmt = detect_format(table.header)
        if fmt is None and mapping:
            fmt = get_format("native")  # the admin's own column mapping
        if fmt is None:
            raise FileError("missing required column(s): name (the file's format was not "
                            "recognised; header: " + ", ".join(table.header[:12]) + ")")
    else:
        try:
            fmt = get_format(format)
        except KeyError:
            raise FileError(f"unknown format {format!r}; choose one of "
                            f"{', '.join(FORMAT_NAMES)}") from None
        if fmt.name != "native" and not mapping and fmt.detect(table.header) == 0:
            raise FileError(f"the file does not look like {fmt.label} (format {fmt.name!r}): "
                            f"its header lacks that format's columns. Header: "
                            + ", ".join(h.strip() for h in table.header[:12])
                            + ". Choose another format, or 'auto'.")
    source = source or fmt.default_source
    label = "hsds" if package else fmt.name
    result = ImportResult(filename=filename, format=label, source=source,
                          encoding=decoded.encoding, delimiter=table.delimiter, sha256=sha,
                          dry_run=dry_run, header=[h.strip() for h in table.header])
    if decoded.note:
        result.issues.append(Issue(1, None, "warning", decoded.note))
    vocabulary = vocabulary or load_vocabulary()
    if isinstance(fmt, ModalityListFormat):
        rows = Table(table.header, [row.packed() for row in table.rows], table.delimiter)
        result.rows = len(rows.rows)
        _import_claims(session, fmt, rows, result, target_source or fmt.target_source)
        rejected_lines = {i.line for i in result.errors}
        result.rejected_rows = {row.line: row.cells for row in rows.rows
                                if row.line in rejected_lines}
        rows = None  # noqa: F841
    else:
        # The rows are read, validated and let go one at a time; the cells of the rows
        # rejected then are kept on the way (result.rejected_rows).
        _import_centers(session, fmt, table, result, vocabulary, geocoder, mapping,
                        as_of or dt.date.today(), progress, parallel,
                        rows_hint=_line_count(text),
                        reread=lambda: stream_table(text, table.delimiter).rows)
        rejected_lines = {i.line for i in result.errors}
        _add_rejected_rows(result, rejected_lines, text, table.delimiter)
    result.rejected = len(rejected_lines)
    table = text = None  # noqa: F841 - free the text before writing
    if not dry_run:
        ensure_source(session, source)
        result.run_id = _record_run(session, result, user)
        Writer(session, source, run_id=result.run_id, user=user).apply(result.plan)
    return result


def _line_count(text: str | bytes) -> int:
    """About how many lines ``text`` has (a row count that ignores multi-line cells)."""
    if isinstance(text, str):
        return max(text.count("\n"), text.count("\r"))
    return max(text.count(b"\n"), text.count(b"\r"))


def _add_rejected_rows(result: ImportResult, rejected_lines: set[int], text: str | bytes,
                       delimiter: str) -> None:
    """Complete ``result.rejected_rows`` (line -> cells, in line order) with the rows
    rejected after validation (by the geocoding checks), read again from ``text`` (see
    :func:`~directory.importer.read.stream_table`)."""
    missing = rejected_lines - result.rejected_rows.keys()
    if missing:
        for row in stream_table(text, delimiter).rows:
            if row.line in missing:
                result.rejected_rows[row.line] = row.cells
        result.rejected_rows = dict(sorted(result.rejected_rows.items()))


def _hsds_to_template(data: bytes, format: str) -> bytes:
    """The CSV-template bytes of an HSDS package zip. Raises :class:`FileError`."""
    import zipfile

    from directory.hsds import PackageError, read_package

    if format not in ("auto", "hsds", "native"):
        raise FileError(f"this is a zip file (an HSDS package?), not the {format!r} format")
    try:
        return read_package(data)
    except zipfile.BadZipFile as exc:
        raise FileError(f"the zip file cannot be read ({exc})") from exc
    except (PackageError, csv.Error) as exc:
        raise FileError(f"the HSDS package cannot be read: {exc}") from exc


def _assumed_country(rows: Iterable[Row], columns: dict[int, str],
                     result: ImportResult) -> str | None:
    """``"US"`` for a file without a country column whose regions are US states (or
    whose postal codes are 5-digit ZIPs) in at least 95 % of its ``rows`` (read once, as
    they come), with a warning saying so; else ``None``."""
    if "country" in columns.values():
        return None
    from directory.importer.validate import resolve_region

    by_field = {f: i for i, f in columns.items()}
    if "region" in by_field:
        i = by_field["region"]

        def is_us(cells):
            return i < len(cells) and cells[i].strip() and resolve_region(cells[i], "US")
        basis = "state"
    elif "postal_code" in by_field:
        i = by_field["postal_code"]

        def is_us(cells):
            digits = cells[i].strip().split(".")[0].split("-")[0] if i < len(cells) else ""
            return digits.isdigit() and 3 <= len(digits) <= 5
        basis = "ZIP code"
    else:
        return None
    count = hits = 0
    for row in rows:
        count += 1
        hits += bool(is_us(row.cells))
    if not count or hits < 0.95 * count:
        return None
    result.issues.append(Issue(1, None, "warning",
                               f"the file has no country column; every row's {basis} is a US "
                               f"one, so the country is taken to be US"))
    return "US"


def _import_centers(session, fmt: Format, table: TableStream, result: ImportResult,
                    vocabulary, geocoder, mapping, as_of: dt.date, progress,
                    parallel: bool = False, rows_hint: int = 0,
                    reread: Callable[[], Iterable[Row]] = tuple) -> None:
    """Validate, geocode and plan the rows of ``table`` (read once, as they come): sets
    ``result.rows``, its issues, the cells of the rows rejected by validation
    (``result.rejected_rows``), the plan and its counts. ``rows_hint``: about how many
    rows the file has (whether a city-lookup helper is worth starting); ``reread``: the
    file's rows again, from the start (a file without a country column is read twice, to
    see whether every row is a US one)."""
    columns, ignored = fmt.map_columns(table.header, mapping)
    result.ignored_columns = ignored
    result.column_map = [(h.strip(), columns.get(i)) for i, h in enumerate(table.header)]
    fields = set(columns.values())
    if "name" not in fields:
        raise FileError("missing required column(s): name")
    default_country = fmt.country
    if default_country is None and "country" not in fields:  # a first pass over the file
        default_country = _assumed_country(reread(), columns, result)
    rows = table.rows
    if not ({"city", "country"} <= fields or {"latitude", "longitude"} <= fields
            or ("city" in fields and default_country)):
        raise FileError("missing required column(s): either city and country, or latitude "
                        "and longitude")
    if ignored:
        result.issues.append(Issue(1, None, "warning",
                                   "ignored column(s): " + ", ".join(ignored)))
    header_of = {f: table.header[i].strip() for i, f in columns.items()}
    validator = Validator(vocabulary, source=result.source, today=as_of)
    prefetch = _CityPrefetch.start(geocoder, rows_hint) if parallel else None
    try:
        records = _validate_rows(rows, table, columns, header_of, fmt, default_country,
                                 validator, result, progress, prefetch)
        validator = rows = None  # noqa: F841 - free the in-file duplicate index
        _geocode_and_plan(session, records, result, geocoder, prefetch)
    finally:
        if prefetch is not None:
            prefetch.close()


def _validate_rows(rows, table: TableStream, columns, header_of, fmt, default_country,
                   validator, result: ImportResult, progress,
                   prefetch) -> list[CenterRecord]:
    """The valid records of ``rows``; counts them in ``result.rows``, adds their issues and
    keeps the cells of each rejected row in ``result.rejected_rows``."""
    records: list[CenterRecord] = []
    rejected = result.rejected_rows
    width = len(table.header)
    n = 0
    for n, row in enumerate(rows, 1):
        if progress and n % 1000 == 0:
            progress(1000)
        if prefetch is not None and n % _CityPrefetch.EVERY == 0:
            prefetch.send(records)
        row_cells = row.cells
        if row.end_line > row.line and row.swallowed_rows(table.delimiter, width):
            result.issues.append(Issue(
                row.line, None, "error",
                f"a quoted cell runs from line {row.line} to line {row.end_line} and holds "
                f"what look like whole rows: a quote is probably not closed; those lines "
                f"were not imported"))
            rejected[row.line] = row_cells
            continue
        extra = row_cells[width:]
        if any(c.strip() for c in extra):
            result.issues.append(Issue(row.line, None, "error",
                                       f"row has {len(row_cells)} cells but the header has "
                                       f"{width}; check quoting and delimiters"))
            rejected[row.line] = row_cells
            continue
        if len(row_cells) < width:
            result.issues.append(Issue(row.line, None, "warning",
                                       f"row has {len(row_cells)} cells, header has {width}; "
                                       f"missing cells read as empty"))
        cells = row_cells + [""] * (width - len(row_cells))
        raw = RawRecord(row.line, {f: cells[i] for i, f in columns.items()}, header_of)
        fmt.extras(raw)
        if default_country and not raw.values.get("country"):
            raw.defaults.setdefault("country", default_country)
        too_long = [table.header[i] for i in row.too_long if i < width]
        record, issues = validator.validate(raw, too_long)
        result.issues.extend(issues)
        if record is not None:
            records.append(record)
        elif any(i.severity == "error" for i in issues):
            rejected[row.line] = row_cells
    result.rows = n
    return records


def _geocode_and_plan(session, records: list[CenterRecord], result: ImportResult, geocoder,
                      prefetch) -> None:
    existing = ExistingCenters(session, result.source)
    if geocoder is not None:
        if not hasattr(geocoder, "last_error"):  # online geocoders cache (and explain) alone
            geocoder = MemoGeocoder(geocoder)
            if prefetch is not None:
                prefetch.send(records)
                geocoder.prime_cities(prefetch.results())
        kept = []
        reused = [reuse_coordinates(r, existing.match(r)) for r in records]
        issues = iter(geocode_records([r for r, done in zip(records, reused) if not done],
                                      geocoder))
        for record, done in zip(records, reused):
            if done:
                kept.append(record)
                continue
            issue = next(issues)
            if issue is not None:
                result.issues.append(issue)
                if issue.severity == "error":
                    continue
            kept.append(record)
        records = kept
    result.plan = plan_centers(session, records, result.source, existing)
    result.not_in_file = result.plan.not_in_file
    result.duplicates = likely_duplicates(session, result.plan.adds, result.source)
    result.added = len(result.plan.adds)
    result.updated = len(result.plan.updates)
    result.unchanged = len(result.plan.unchanged)


class MemoGeocoder:
    """Wraps a geocoder for one import: repeated postal codes and cities are looked up once
    (files list many centers per city). Other attributes pass through."""

    def __init__(self, geocoder):
        self._geocoder = geocoder
        self._postal: dict[tuple, object] = {}
        self._city: dict[tuple, object] = {}

    def __getattr__(self, name):
        return getattr(self._geocoder, name)

    def prime_cities(self, places: Iterable[tuple[tuple, tuple | None]]) -> None:
        """Take ``((city, region, country), (name, latitude, longitude) or None)`` pairs
        looked up elsewhere (by :class:`_CityPrefetch`) as the answers of
        :meth:`lookup_city`."""
        for key, place in places:
            self._city.setdefault(key, _CityPlace(*place) if place is not None else None)

    def lookup_postal_code(self, code, country="US"):
        key = (code, country)
        if key not in self._postal:
            self._postal[key] = self._geocoder.lookup_postal_code(code, country)
        return self._postal[key]

    def lookup_city(self, city, *, region=None, country=None):
        key = (city, region, country)
        if key not in self._city:
            self._city[key] = self._geocoder.lookup_city(city, region=region, country=country)
        return self._city[key]


class _CityPlace:
    """The part of a :class:`~directory.geocoding.Place` the importer reads (a third of
    the memory), and the city lookup's answer as geocode_record reads it
    (``resolution.place``: itself)."""

    __slots__ = ("name", "latitude", "longitude")

    def __init__(self, name: str, latitude: float, longitude: float):
        self.name, self.latitude, self.longitude = name, latitude, longitude

    @property
    def place(self) -> _CityPlace:
        return self

    def point(self) -> tuple[float, float]:
        return (self.latitude, self.longitude)


class _CityPrefetch:
    """Looks up the cities of a large file in a second process (fork) while this one
    validates the rows: the offline gazetteer's ``lookup_city`` is a third of the work of a
    large import and the machine usually has a spare CPU. The answers only fill the
    :class:`MemoGeocoder` cache, keyed as the lookups made afterwards; a key the helper
    could not answer (or a helper that failed) is looked up here as before. The helper
    exits when this process goes away (even killed), and :meth:`close` stops it."""

    EVERY = 2000       # rows validated between two batches of cities sent
    MIN_ROWS = 2000    # smaller files: not worth a process

    def __init__(self, path: str):
        import multiprocessing

        context = multiprocessing.get_context("fork")
        self.keys = context.Queue()
        self.reader, writer = context.Pipe(duplex=False)
        self.process = context.Process(target=_prefetch_cities, daemon=True,
                                       args=(path, self.keys, self.reader, writer))
        self.process.start()
        writer.close()  # the helper holds the only writing end: EOF here if it dies
        self.sent: dict[tuple, None] = {}  # the keys sent, in order (the answers' order)
        self.done = 0

    @classmethod
    def start(cls, geocoder, rows: int) -> _CityPrefetch | None:
        import multiprocessing
        import os

        from directory.geocoding import OfflineGeocoder

        if type(geocoder) is not OfflineGeocoder or rows < cls.MIN_ROWS or \
                (os.cpu_count() or 1) < 2 or \
                "fork" not in multiprocessing.get_all_start_methods():
            return None
        try:
            return cls(geocoder.path)
        except OSError:
            return None

    def send(self, records: list[CenterRecord]) -> None:
        """Queue the cities of ``records[self.done:]`` not sent yet."""
        batch = []
        for record in records[self.done:]:
            key = (record.city, record.region, record.country)
            if record.city and key not in self.sent:
                self.sent[key] = None
                batch.append(key)
        self.done = len(records)
        if batch:
            self.keys.put(batch)

    def results(self) -> Iterator[tuple[tuple, tuple | None]]:
        """``(key, (name, latitude, longitude) or None)`` for every key answered (none if
        the helper failed), one pair at a time (the keys are the tuples sent)."""
        self.keys.put(None)
        try:
            flags, names, latitudes, longitudes = self.reader.recv()
        except (EOFError, OSError):  # the helper died without answering
            flags, names, latitudes, longitudes = b"", [], [], []
        self.close()
        sent, self.sent = self.sent, {}
        return _answers(sent, flags, zip(names, latitudes, longitudes))

    def close(self) -> None:
        """Stop the helper (it has answered, or its answers are not wanted any more) and
        release the pipes. Idempotent."""
        if self.process.is_alive():
            self.process.kill()
        self.process.join()
        self.reader.close()
        self.keys.close()
        self.keys.cancel_join_thread()


def _answers(keys: Iterable[tuple], flags: bytes,
             places: Iterator[tuple]) -> Iterator[tuple[tuple, tuple | None]]:
    """Pair the keys sent to :func:`_prefetch_cities` with its answers (see there)."""
    for key, flag in zip(keys, flags):
        if flag == _PLACE:
            yield key, next(places)
        elif flag == _NO_PLACE:
            yield key, None


# What _prefetch_cities says of each key, in the order received.
_UNANSWERED, _NO_PLACE, _PLACE = 0, 1, 2


def _prefetch_cities(path: str, keys, reader, writer) -> None:
    """The helper process: ``lookup_city`` for each batch of keys received until ``None``,
    then all answers at once through ``writer``, compactly: ``(flags, names, latitudes,
    longitudes)``, one flag byte per key received (in order: :data:`_PLACE` when it names a
    place, whose name and coordinates are the next ones of the three lists, else
    :data:`_NO_PLACE` or :data:`_UNANSWERED`); all empty if the helper failed."""
    import array
    import os
    import queue

    from directory.geocoding import OfflineGeocoder

    reader.close()  # the parent's end, inherited: without it a dead parent is not noticed
    parent = os.getppid()
    flags, names = bytearray(), []
    latitudes, longitudes = array.array("d"), array.array("d")
    try:
        geocoder = OfflineGeocoder(path, build_if_missing=False)
        while True:
            try:
                batch = keys.get(timeout=1)
            except queue.Empty:
                if os.getppid() != parent:
                    return  # the importer is gone
                continue
            if batch is None:
                break
            for city, region, country in batch:
                try:
                    resolution = geocoder.lookup_city(city, region=region, country=country)
                except Exception:  # noqa: BLE001 - the importer repeats it and reports
                    flags.append(_UNANSWERED)
                    continue
                place = resolution.place if resolution else None
                if place is None:
                    flags.append(_NO_PLACE)
                else:
                    flags.append(_PLACE)
                    names.append(place.name)
                    latitudes.append(place.latitude)
                    longitudes.append(place.longitude)
    except Exception:  # noqa: BLE001 - the importer looks everything up itself
        flags, names = bytearray(), []
        latitudes, longitudes = array.array("d"), array.array("d")
    try:
        writer.send((bytes(flags), names, latitudes, longitudes))
    except OSError:  # the importer is gone
        pass


def geocode_records(records: list[CenterRecord], geocoder) -> list[Issue | None]:
    """:func:`geocode_record` for each record (same results, same order), with the
    coordinate consistency checks computed in one batch."""
    if hasattr(geocoder, "lookup_address"):
        return [geocode_record(record, geocoder) for record in records]
    out: list[Issue | None] = []
    checks = []  # (index in out, record, place, swapped_ok)
    for record in records:
        place = _lookup_place(record, geocoder)
        if record.latitude is not None:
            if place is not None:
                checks.append((len(out), record, place[0], -90 <= record.longitude <= 90))
            out.append(None)
            if len(checks) == 5000:  # in slices: bounded memory
                _check_coordinates(checks, out)
                checks = []
        else:
            out.append(_fill_coordinates(record, geocoder, place))
    _check_coordinates(checks, out)
    return out


def _check_coordinates(checks: list[tuple], out: list[Issue | None]) -> None:
    """Set ``out[i]`` to the consistency issue of each ``(i, record, place, swapped_ok)``
    (one batch of geodesic distances)."""
    from directory.geocoding import geodesic_km_pairs

    origins, points = [], []
    for _, record, place, swapped_ok in checks:
        origins.append(place.point())
        points.append((record.latitude, record.longitude))
        if swapped_ok:
            origins.append(place.point())
            points.append((record.longitude, record.latitude))
    distances = iter(geodesic_km_pairs(origins, points))
    for i, record, place, swapped_ok in checks:
        off = next(distances)
        swapped = [next(distances)] if swapped_ok else []
        out[i] = _consistency_issue(record, place, off, swapped)


def _lookup_place(record: CenterRecord, geocoder) -> tuple | None:
    """``(place, precision)`` for the record's US ZIP code, else its city; or ``None``."""
    place = None
    if record.postal_code and record.country == "US":
        place = geocoder.lookup_postal_code(record.postal_code, "US")
        precision = "postal_code"
    if place is None and record.city:
        resolution = geocoder.lookup_city(record.city, region=record.region,
                                          country=record.country)
        place = resolution.place if resolution else None
        precision = "city"
    return (place, precision) if place is not None else None


def _fill_coordinates(record: CenterRecord, geocoder, found: tuple | None) -> Issue | None:
    """Put the looked-up place's coordinates on a record without any, or say why not."""
    if found is None:
        what = record.postal_code or record.city or record.name
        why = getattr(geocoder, "last_error", None)
        return Issue(record.line, record.columns.get("city", "city"), "warning",
                     f"place {what!r} could not be geocoded"
                     f"{f' ({why})' if why else ''}; imported without coordinates "
                     f"(not shown in radius searches)")
    place, precision = found
    record.latitude, record.longitude = place.latitude, place.longitude
    record.geocode_precision = precision
    return None


def _consistency_issue(record: CenterRecord, place, off: float,
                       swapped: list[float]) -> Issue | None:
    """The issue for given coordinates ``off`` km from the place named in the row
    (``swapped``: the distance with latitude and longitude exchanged, when that is valid)."""
    col = record.columns.get
    if off > SWAP_TOLERANCE_KM and swapped and swapped[0] < SWAP_TOLERANCE_KM:
        where = "/".join(filter(None, (record.country, (record.region or "")
                                       .split("-")[-1] or None)))
        return Issue(record.line, col("latitude", "latitude"), "error",
                     f"coordinates inconsistent with {where or record.city}; possibly "
                     f"swapped (latitude and longitude); not imported")
    if off > SWAP_TOLERANCE_KM:
        return Issue(record.line, col("latitude", "latitude"), "warning",
                     f"coordinates are {off:.0f} km from {place.name}")
    return None


def geocode_record(record: CenterRecord, geocoder) -> Issue | None:
    """Fill missing coordinates from the postal code (US) or city; check given coordinates
    against the place named in the row. Returns an issue or ``None``; mutates ``record``."""
    col = record.columns.get
    place = None
    if record.latitude is None and record.address and hasattr(geocoder, "lookup_address"):
        place = geocoder.lookup_address(record.address, city=record.city, region=record.region,
                                        postal_code=record.postal_code, country=record.country)
        if place is not None:
            record.latitude, record.longitude = place.latitude, place.longitude
            record.geocode_precision = "rooftop"
            return None
        online_error = getattr(geocoder, "last_error", None)
        if online_error and geocoder.offline is not None:
            fallback = geocode_record(record, geocoder.offline)
            return fallback or Issue(record.line, col("address", "address"), "warning",
                                     f"street address not geocoded ({online_error}); "
                                     f"placed at the {record.geocode_precision.replace('_', ' ')}"
                                     f" centre instead")
    found = _lookup_place(record, geocoder)
    if record.latitude is not None:
        if found is not None:
            from directory.geocoding import geodesic_km_many

            swapped_ok = -90 <= record.longitude <= 90
            points = [(record.latitude, record.longitude)] + (
                [(record.longitude, record.latitude)] if swapped_ok else [])
            off, *swapped = geodesic_km_many(found[0].point(), points)
            return _consistency_issue(record, found[0], off, swapped)
        return None
    return _fill_coordinates(record, geocoder, found)


def _import_claims(session, fmt: ModalityListFormat, table, result: ImportResult,
                   target_source: str) -> None:
    claims, issues = fmt.claims(table.header, table.rows)
    result.issues.extend(Issue(*i) for i in issues)
    result.plan = plan_claims(session, claims, result.source, target_source)
    for line, key in result.plan.unmatched_keys:
        result.issues.append(Issue(line, table.header[0], "warning",
                                   f"{key} matches no center of source {target_source!r}"))
    for line, key, kind in result.plan.skipped_kinds:
        result.issues.append(Issue(line, table.header[0], "warning",
                                   f"{key} is a {kind.replace('-', ' ')} facility; its treatment "
                                   f"claims are not applied"))
    result.added = len(result.plan.claim_adds)
    result.updated = len(result.plan.claim_updates)
    result.unchanged = len(result.plan.unchanged)


def _record_run(session, result: ImportResult, user: str | None) -> int:
    run = ImportRun(source=result.source, filename=result.filename[:300], sha256=result.sha256,
                    format=result.format, encoding=result.encoding, user=user,
                    added=result.added, updated=result.updated, unchanged=result.unchanged,
                    rejected=result.rejected)
    run.issues = [ImportIssue(line=i.line, column=i.column, severity=i.severity,
                              message=i.message[:2000]) for i in result.issues[:10000]]
    run.header = json.dumps(result.header)
    for issue in run.issues:
        if issue.severity == "error" and issue.line in result.rejected_rows:
            issue.row_data = json.dumps(result.rejected_rows[issue.line])
    session.add(run)
    session.flush()
    return run.id
