"""The import pipeline: decode -> read -> formats -> validate -> locate -> plan -> write.

:func:`run_import` is the one entry point used by ``flask seed``, the ``import-centers``
command and the admin upload. It writes inside the caller's session and never commits: the
caller commits when the import returns (unless it was a dry run) or rolls back. Rejected rows
never stop the others; a :class:`~directory.importer.decode.FileError` means nothing was
planned at all.
"""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import hashlib
import re
from collections.abc import Callable, Iterable

import sqlalchemy.orm as so

from directory.importer.claim_formats import with_inferred
from directory.importer.decode import Decoded, FileError, decode_bytes
from directory.importer.formats import (
    FORMAT_NAMES,
    Format,
    ModalityListFormat,
    RawRecord,
    detect_format,
    get_format,
)
from directory.importer.link import ID_KINDS, link_adds
from directory.importer.locate import (
    MemoGeocoder,
    geocode_records,
)
from directory.importer.plan import (
    ExistingCenters,
    likely_duplicates,
    plan_centers,
    plan_claims,
    reuse_coordinates,
)
from directory.importer.prefetch import CityPrefetch
from directory.importer.read import Row, Table, TableStream, stream_table
from directory.importer.result import ImportResult, record_run
from directory.importer.sniff import identify
from directory.importer.validate import CenterRecord, Issue, Validator
from directory.importer.write import Writer, ensure_source, lock_imports
from directory.inference import load_inferences
from directory.vocabulary import Vocabulary, load_vocabulary


def run_import(session: so.Session, data: bytes, *, filename: str, geocoder=None,
               format: str = "auto", source: str | None = None, dry_run: bool = False,
               user: str | None = None, mapping: dict[str, str] | None = None,
               vocabulary: Vocabulary | None = None, as_of: dt.date | None = None,
               target_source: str | None = None,
               progress: Callable[[int], None] | None = None,
               parallel: bool = False, sheet: str | None = None,
               keep_coordinates: bool = False) -> ImportResult:
    """Import one file of centers or modality claims.

    :param data: the file's bytes: CSV (any of UTF-8 +/- BOM, UTF-16, cp1252; delimiters
        ``, ; TAB | ¬``), an Excel workbook (.xlsx) or an HSDS package (zip), told apart
        by content (:func:`~directory.importer.sniff.identify`).
    :param geocoder: an object with ``lookup_postal_code(code, country)`` and
        ``lookup_city(city, region=, country=)`` (see :mod:`directory.geo`), used only
        for rows without coordinates; ``None`` skips geocoding.
    :param format: ``"auto"`` or a name from :data:`FORMAT_NAMES`.
    :param source: data-source slug that keys re-imports; default from the format.
    :param as_of: the date of the evidence (for modality claims and designations); default today.
    :param target_source: for modality lists, the source whose centers the keys name.
    :param parallel: let a large file's cities be looked up in a helper process (forked)
        while the rows are validated; for the command line, not for web workers.
    :param sheet: a workbook's sheet (name, or number from 1); default the first visible
        sheet with data. Ignored for other files.
    :param keep_coordinates: use a row's coordinates even where they contradict its
        address (an admin confirmed them); by default such coordinates are discarded and
        the row placed from its address (:mod:`directory.importer.locate`).
    :returns: :class:`ImportResult`; the session holds the changes unless ``dry_run``.
    :raises FileError: empty / binary / undecodable file, a file that is not a table
        (PDF, image, XLS, ODS...: named), an unreadable HSDS package or workbook, unknown
        format, missing required column. Nothing is written.
    """
    sha = hashlib.sha256(data).hexdigest()
    if not dry_run:  # plan against what the import before this one committed
        lock_imports(session)
    kind = identify(data)  # by content, not by name; a FileError names anything else
    package = kind == "hsds"
    if format == "hsds" and not package:
        raise FileError("the 'hsds' format expects an Open Referral HSDS package: a zip of "
                        "its CSV tables (organizations, locations, addresses, services, ...)")
    if package:  # an Open Referral HSDS tabular package (zip)
        data = _hsds_to_template(data, format)
        format, source = "native", source or "hsds"
    workbook = None
    if kind == "xlsx":  # one sheet's rows, kept (line = the sheet's row number)
        from directory.importer.workbook import read_workbook

        workbook = read_workbook(data, sheet)
        text = data = None
        decoded = Decoded("", "xlsx", False, workbook.note)
        table = TableStream(workbook.header, iter(workbook.rows), "")
    else:
        decoded = decode_bytes(data)
        # What the rows are read from, row by row, until the write: UTF-8 bytes as they
        # are (half the size of a text with a character beyond Latin-1), else the text.
        text = data if decoded.encoding in ("utf-8", "utf-8-sig") else decoded.text
        data = None  # noqa: F841 - free the bytes if the caller let go (and not `text`)
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
    quoting = getattr(fmt, "quoting", csv.QUOTE_MINIMAL)
    if quoting != csv.QUOTE_MINIMAL and workbook is None:  # again, with the format's quoting
        table = stream_table(text, table.delimiter, quoting)

    def reread() -> Iterable[Row]:
        """The file's rows again, from the start."""
        if workbook is not None:
            return iter(workbook.rows)
        return stream_table(text, table.delimiter, quoting).rows
    source = check_source(source or fmt.default_source)
    label = "hsds" if package else fmt.name
    result = ImportResult(filename=filename, format=label, source=source,
                          encoding=decoded.encoding, delimiter=table.delimiter, sha256=sha,
                          dry_run=dry_run, header=[h.strip() for h in table.header],
                          sheet=workbook.name if workbook else None)
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
                        rows_hint=len(workbook.rows) if workbook else _line_count(text),
                        reread=reread, keep_coordinates=keep_coordinates)
        rejected_lines = {i.line for i in result.errors}
        _add_rejected_rows(result, rejected_lines, reread)
    result.rejected = len(rejected_lines)
    table = text = workbook = None  # noqa: F841 - free the rows before writing
    if not dry_run:
        ensure_source(session, source)
        result.run_id = record_run(session, result, user)
        Writer(session, source, run_id=result.run_id, user=user, as_of=as_of,
               id_kind=ID_KINDS.get(result.format)).apply(result.plan)
    return result


#: Source names the directory uses itself: an editor's values, the linker's stored
#: centers, the records export's claim-only rows.
RESERVED_SOURCES = frozenset({"editor", "stored-center", "claims-only", "center-only"})
_SOURCE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")


def check_source(source: str) -> str:
    """``source`` if it can name a data source: 1-64 lower-case letters, digits, ``.``,
    ``_`` or ``-``, not one of :data:`RESERVED_SOURCES`. Raises :class:`FileError`."""
    if source in RESERVED_SOURCES:
        raise FileError(f"source {source!r} is reserved for the directory's own records; "
                        f"choose another name")
    if not _SOURCE.match(source or ""):
        raise FileError(f"source {source[:80]!r} is not a usable name: use 1-64 lower-case "
                        f"letters, digits, '.', '_' or '-' (e.g. 'state-cancer-list-2026')")
    return source


def _line_count(text: str | bytes) -> int:
    """About how many lines ``text`` has (a row count that ignores multi-line cells)."""
    if isinstance(text, str):
        return max(text.count("\n"), text.count("\r"))
    return max(text.count(b"\n"), text.count(b"\r"))


def _add_rejected_rows(result: ImportResult, rejected_lines: set[int],
                       reread: Callable[[], Iterable[Row]]) -> None:
    """Complete ``result.rejected_rows`` (line -> cells, in line order) with the rows
    rejected after validation (by the geocoding checks), read again by ``reread``."""
    missing = rejected_lines - result.rejected_rows.keys()
    if missing:
        for row in reread():
            if row.line in missing:
                result.rejected_rows[row.line] = row.cells
        result.rejected_rows = dict(sorted(result.rejected_rows.items()))


def _hsds_to_template(data: bytes, format: str) -> bytes:
    """The CSV-template bytes of an HSDS package zip. Raises :class:`FileError`."""
    import zipfile

    from directory.exchange.hsds_read import PackageError, read_package

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
                    reread: Callable[[], Iterable[Row]] = tuple,
                    keep_coordinates: bool = False) -> None:
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
            or "point" in fields or ("city" in fields and default_country)):
        raise FileError("missing required column(s): either city and country, or latitude "
                        "and longitude")
    if ignored:
        result.issues.append(Issue(1, None, "warning",
                                   "ignored column(s): " + ", ".join(ignored)))
    header_of = {f: table.header[i].strip() for i, f in columns.items()}
    validator = Validator(vocabulary, source=result.source, today=as_of,
                          repeated_ids=fmt.repeated_ids)
    prefetch = CityPrefetch.start(geocoder, rows_hint) if parallel else None
    try:
        records = _validate_rows(rows, table, columns, header_of, fmt, default_country,
                                 validator, result, progress, prefetch)
        validator = rows = None  # noqa: F841 - free the in-file duplicate index
        _geocode_and_plan(session, records, result, geocoder, prefetch, keep_coordinates)
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
        if prefetch is not None and n % CityPrefetch.EVERY == 0:
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
                      prefetch, keep_coordinates: bool = False) -> None:
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
                                      geocoder, keep_coordinates))
        for record, done in zip(records, reused):
            if done:
                kept.append(record)
                continue
            found = next(issues)
            result.issues.extend(found)
            if any(issue.severity == "error" for issue in found):
                continue
            kept.append(record)
        records = kept
    result.plan = plan = plan_centers(session, records, result.source, existing,
                                      ID_KINDS.get(result.format))
    links = link_adds(session, plan.adds, result.source, ID_KINDS.get(result.format))
    if links.attach or links.review:
        joined = {i for i, _, _ in links.attach}
        plan.attach = [(plan.adds[i], cid, link) for i, cid, link in links.attach]
        plan.review = [(plan.adds[i], cid, link) for i, cid, link in links.review]
        plan.adds = [r for i, r in enumerate(plan.adds) if i not in joined]
    result.linked = len(plan.attach)
    result.review = len(plan.review)
    result.not_in_file = result.plan.not_in_file
    result.duplicates = likely_duplicates(session, result.plan.adds, result.source)
    result.added = len(result.plan.adds)
    result.updated = len(result.plan.updates)
    result.unchanged = len(result.plan.unchanged)


def _import_claims(session, fmt: ModalityListFormat, table, result: ImportResult,
                   target_source: str) -> None:
    claims, issues = fmt.claims(table.header, table.rows)
    claims = with_inferred(claims, fmt.name, load_inferences())
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
