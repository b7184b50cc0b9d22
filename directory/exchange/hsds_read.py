"""Read an Open Referral HSDS 3.0 tabular package (ours or another publisher's) back into
CSV-template bytes for ``run_import(format="native")``, so HSDS goes through the one import
pipeline (the mapping is the reverse of :mod:`directory.exchange.hsds`).

The zip is read as a stream: each table's CSV is parsed row by row straight from the zip
(never unpacked whole), only the cells the join needs are kept, and the locations are
written out one at a time. Limits, each named in the error an admin sees:

- the zip: :data:`MAX_UNPACKED_BYTES`, :data:`MAX_MEMBERS` files, a compression ratio of
  :data:`MAX_RATIO` (:func:`directory.importer.sniff.check_zip`);
- rows: :data:`MAX_LOCATIONS` locations (the centers of the largest CSV an admin can
  upload: about 200,000 rows in 20 MB) and :data:`MAX_ROWS` rows in all tables together,
  read before the limit is passed (a 10 MB zip that unpacks to 642k rows is refused in
  about a second instead of taking 71 s and 1.3 GB);
- memory: :data:`MAX_KEPT_CHARS` characters of the other tables kept to join them to the
  locations (ids, names, addresses): what the reader's memory grows with.

Every problem with the package (not JSON, a resource without a text ``path``, a table
without the column that keys it, not UTF-8, broken CSV) raises :class:`PackageError` with
a message for an admin, never another exception.
"""

from __future__ import annotations

import csv
import io
import json
import zipfile
import zlib
from collections import defaultdict
from collections.abc import Callable, Iterator
from pathlib import PurePosixPath

from directory.exchange.cells import unneutralise
from directory.exchange.hsds import READ_COLUMNS, TAXONOMY_PREFIX, UNKNOWN, load_schema
from directory.importer.read import MAX_CELL
from directory.importer.sniff import MAX_MEMBERS, MAX_RATIO, MAX_UNPACKED_BYTES, check_zip

__all__ = ["MAX_KEPT_CHARS", "MAX_LOCATIONS", "MAX_MEMBERS", "MAX_RATIO", "MAX_ROWS",
           "MAX_UNPACKED_BYTES", "PackageError", "read_package"]

MAX_LOCATIONS = 200_000
MAX_ROWS = 2_000_000
MAX_KEPT_CHARS = 120_000_000
#: The columns without which a table cannot be joined (HSDS requires each of them).
KEYS = {"location": ("id",), "organization": ("id",), "service": ("id",),
        "taxonomy_term": ("id",), "service_at_location": ("service_id", "location_id"),
        "attribute": ("link_id", "taxonomy_term_id"), "address": ("location_id",),
        "phone": ("location_id", "number"), "contact": ("location_id",)}
#: The taxonomies of our own export the reader maps (others' terms are not read).
TAXONOMIES = ("modalities", "designations", "center-kinds", "center-statuses")


class PackageError(ValueError):
    """An HSDS package that cannot be read; ``str(error)`` is a message for an admin."""


class _Budget:
    """Counts the rows read and the characters kept; raises :class:`PackageError` when a
    limit is passed."""

    def __init__(self):
        self.rows = 0
        self.kept = 0

    def row(self, member: str) -> None:
        self.rows += 1
        if self.rows > MAX_ROWS:
            raise PackageError(f"the package holds more than {MAX_ROWS:,} rows in its tables "
                               f"(passed in {member}); an HSDS package is imported up to "
                               f"{MAX_ROWS:,} rows and {MAX_LOCATIONS:,} locations: split it")

    def keep(self, *values: str | None) -> None:
        self.kept += sum(len(v) for v in values if v)
        if self.kept > MAX_KEPT_CHARS:
            raise PackageError(f"the package's tables other than locations hold more than "
                               f"{MAX_KEPT_CHARS:,} characters to join to the locations; an "
                               f"HSDS package is imported up to that much: split it")


def _descriptor_paths(zf: zipfile.ZipFile, member: str) -> dict[str, str]:
    """``{resource name: path}`` from the package's ``datapackage.json``."""
    try:
        descriptor = json.loads(zf.read(member).decode("utf-8-sig"))
    except UnicodeDecodeError as exc:
        raise PackageError(f"{member} is not UTF-8 text (byte {exc.start})") from exc
    except json.JSONDecodeError as exc:
        raise PackageError(f"{member} is not JSON ({exc.msg} at line {exc.lineno}, column "
                           f"{exc.colno})") from exc
    except RecursionError as exc:
        raise PackageError(f"{member} nests too deeply to be read") from exc
    if not isinstance(descriptor, dict):
        raise PackageError(f"{member} must be a JSON object with a 'resources' list; it is "
                           f"{_json_kind(descriptor)}")
    resources = descriptor.get("resources", [])
    if not isinstance(resources, list):
        raise PackageError(f"{member}: 'resources' must be a list; it is "
                           f"{_json_kind(resources)}")
    paths = {}
    for i, resource in enumerate(resources, 1):
        if not isinstance(resource, dict):
            raise PackageError(f"{member}: resource {i} must be an object; it is "
                               f"{_json_kind(resource)}")
        if "path" not in resource:
            continue  # inline data: not a file of the package
        name, path = resource.get("name"), resource["path"]
        if not isinstance(name, str) or not isinstance(path, str) or not path.strip():
            what = "name" if not isinstance(name, str) else "path"
            raise PackageError(f"{member}: resource {i} has a {what} that is not a file "
                               f"name ({_json_kind(resource.get(what))}); give each resource "
                               f"a text 'name' and 'path' such as \"locations.csv\"")
        paths[name] = path
    return paths


def _json_kind(value) -> str:
    kinds = {dict: "an object", list: "a list", str: "a string", bool: "true or false",
             int: "a number", float: "a number", type(None): "null"}
    return kinds.get(type(value), type(value).__name__)


def _table(zf: zipfile.ZipFile, member: str, table: str, budget: _Budget
           ) -> tuple[Callable[[str], Callable[[list[str]], str | None]], Iterator[list[str]]]:
    """``(column getter, rows)`` of one table: ``getter(name)(cells)`` is that column's
    cell, un-neutralised (``""`` for a short row, ``None`` when the table has no such
    column); ``rows`` yields the cells of each non-blank row, counted by ``budget``."""
    raw = zf.open(member)
    reader = csv.reader(io.TextIOWrapper(raw, encoding="utf-8-sig", newline=""))

    def records() -> Iterator[list[str]]:
        try:
            yield from reader
        except UnicodeDecodeError as exc:
            raise PackageError(f"{member} is not UTF-8 text") from exc
        except csv.Error as exc:
            raise PackageError(f"{member}, line {reader.line_num}: the CSV cannot be read "
                               f"({exc})") from exc
        finally:
            raw.close()

    rows = records()
    header = [h.strip().removeprefix("\ufeff") for h in next(rows, [])]
    index: dict[str, int] = {}
    for i, name in enumerate(header):
        index.setdefault(name, i)
    missing = [c for c in KEYS.get(table, ()) if c not in index]
    if missing and header:
        raise PackageError(f"{member} has no {' or '.join(map(repr, missing))} column (HSDS "
                           f"requires it: the tables are joined by it); its columns: "
                           + ", ".join(h[:40] for h in header[:15] if h))

    def getter(name: str) -> Callable[[list[str]], str | None]:
        i = index.get(name)
        if i is None:
            return lambda cells: None

        def cell(cells: list[str]) -> str:
            if i >= len(cells):
                return ""
            value = cells[i]
            if len(value) > MAX_CELL:
                value = value[:MAX_CELL]
            return unneutralise(value) if value[:1] == "'" else value
        return cell

    def counted() -> Iterator[list[str]]:
        for cells in rows:
            if any(c.strip() for c in cells):
                budget.row(member)
                yield cells

    return getter, counted()


def read_package(data: bytes) -> bytes:
    """Turn an HSDS 3.0 package (zip bytes) into CSV-template bytes (plus an
    ``organization`` column) for ``run_import(..., format="native")``.

    One row per physical location. Modalities: the services at the location, by their
    modality attribute (only ``reported`` ones: inferred claims come back from the
    designations), else by the service's name (resolved as a synonym on import).
    :data:`~directory.exchange.hsds.UNKNOWN` address parts read as empty.

    :raises zipfile.BadZipFile: when ``data`` is not a zip.
    :raises PackageError: a package that cannot be read, or one over a limit (see the
        module docstring).
    """
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        try:
            check_zip(zf, "an HSDS package")
            return _read(zf)
        except PackageError:
            raise
        except ValueError as exc:  # the zip checks' FileError
            raise PackageError(str(exc)) from exc
        except (zipfile.BadZipFile, zlib.error, EOFError, OSError, RuntimeError,
                NotImplementedError) as exc:  # a damaged or encrypted member
            raise PackageError(f"the zip cannot be read ({type(exc).__name__}: "
                               f"{str(exc)[:120]})") from exc


def _read(zf: zipfile.ZipFile) -> bytes:
    names = {}
    for info in zf.infolist():
        if not info.is_dir():
            names.setdefault(PurePosixPath(info.filename).name, info.filename)
    paths = {r["name"]: r["path"] for r in load_schema()["resources"]}
    if "datapackage.json" in names:
        paths.update(_descriptor_paths(zf, names["datapackage.json"]))
    members = {table: names[PurePosixPath(path).name] for table, path in paths.items()
               if PurePosixPath(path).name in names}
    if "location" not in members:
        raise PackageError("the package has no locations table ("
                           + PurePosixPath(paths.get("location", "locations.csv")).name
                           + "): an HSDS package lists its centers there; the zip holds "
                           + ", ".join(sorted(names)[:10]))
    budget = _Budget()
    _count_locations(zf, members["location"])  # a package over the limit fails at once

    def table(name: str):
        if name not in members:
            return (lambda column: (lambda cells: None)), iter(())
        return _table(zf, members[name], name, budget)

    # Taxonomy terms of our four taxonomies: id -> (taxonomy, code).
    get, rows = table("taxonomy_term")
    t_id, t_tax, t_code, t_name = get("id"), get("taxonomy"), get("code"), get("name")
    terms: dict[str, tuple[str, str]] = {}
    for cells in rows:
        taxonomy = (t_tax(cells) or "").removeprefix(TAXONOMY_PREFIX)
        if taxonomy in TAXONOMIES:
            terms[t_id(cells)] = (taxonomy, t_code(cells) or t_name(cells) or "")
    get, rows = table("organization")
    o_id, o_name = get("id"), get("name")
    orgs = {}
    for cells in rows:
        orgs[o_id(cells)] = name = o_name(cells) or ""
        budget.keep(name, o_id(cells))
    get, rows = table("service")
    s_id, s_name, s_status = get("id"), get("name"), get("status")
    services: dict[str, tuple[str, str]] = {}
    for cells in rows:
        services[s_id(cells)] = value = (s_name(cells) or "", s_status(cells) or "")
        budget.keep(s_id(cells), *value)
    get, rows = table("attribute")
    a_link, a_term, a_value = get("link_id"), get("taxonomy_term_id"), get("value")
    attributes: dict[str, list[tuple[str, str, bool]]] = defaultdict(list)
    for cells in rows:
        term = terms.get(a_term(cells) or "")
        if term is not None:
            value = a_value(cells) or ""
            attributes[a_link(cells)].append((*term, not value or "reported" in value))
            budget.keep(a_link(cells), term[1])
    get, rows = table("service_at_location")
    sl_service, sl_location = get("service_id"), get("location_id")
    at_location: dict[str, list[str]] = defaultdict(list)
    for cells in rows:
        at_location[sl_location(cells)].append(sl_service(cells))
        budget.keep(sl_location(cells), sl_service(cells))
    addresses = _addresses(table, budget)
    phones, emails = {}, {}
    for name, column, kept in (("phone", "number", phones), ("contact", "email", emails)):
        get, rows = table(name)
        location, value = get("location_id"), get(column)
        for cells in rows:
            if value(cells) and location(cells) not in kept:
                kept[location(cells)] = value(cells)
                budget.keep(location(cells), value(cells))
    return _template(table, orgs, services, attributes, at_location, addresses, phones,
                     emails)


def _count_locations(zf: zipfile.ZipFile, member: str) -> None:
    """Raise :class:`PackageError` when the locations table has more than
    :data:`MAX_LOCATIONS` rows (a first pass that only parses the CSV)."""
    get, rows = _table(zf, member, "location", _Budget())
    kind = get("location_type")
    count = 0
    for cells in rows:
        count += kind(cells) in (None, "physical", "")
        if count > MAX_LOCATIONS:
            raise PackageError(f"the package holds more than {MAX_LOCATIONS:,} locations; an "
                               f"HSDS package is imported up to {MAX_LOCATIONS:,} locations "
                               f"(centers) and {MAX_ROWS:,} rows in all tables: split it")


def _addresses(table, budget: _Budget) -> dict[str, tuple]:
    """``{location id: (address_1, address_2, city, state_province or region, postal code,
    country)}``: its physical address, else any other."""
    get, rows = table("address")
    location, kind = get("location_id"), get("address_type")
    parts = [get(c) for c in ("address_1", "address_2", "city", "state_province", "region",
                              "postal_code", "country")]
    addresses: dict[str, tuple] = {}
    for cells in rows:
        lid = location(cells)
        if lid and (kind(cells) in ("physical", "") or lid not in addresses):
            a1, a2, city, state, region, postal, country = (p(cells) for p in parts)
            addresses[lid] = (a1, a2, city, state, region, postal, country)
            budget.keep(lid, a1, a2, city, state, region, postal, country)
    return addresses


def _template(table, orgs, services, attributes, at_location, addresses, phones,
              emails) -> bytes:
    """The template CSV: one row per physical location, written as the locations are read."""
    out = io.BytesIO()
    text = io.TextIOWrapper(out, encoding="utf-8", newline="", write_through=True)
    writer = csv.writer(text, lineterminator="\r\n")  # not neutralised: for the importer
    writer.writerow(READ_COLUMNS)

    def blank(value: str | None) -> str:
        return "" if value in (None, UNKNOWN) else value

    get, rows = table("location")
    columns = {c: get(c) for c in ("id", "location_type", "organization_id", "name",
                                   "alternate_name", "description", "url", "latitude",
                                   "longitude", "external_identifier")}
    count = 0
    for cells in rows:
        loc = {c: f(cells) for c, f in columns.items()}
        if (loc["location_type"] if loc["location_type"] is not None else "physical") \
                not in ("physical", ""):
            continue
        count += 1
        if count > MAX_LOCATIONS:
            raise PackageError(f"the package holds more than {MAX_LOCATIONS:,} locations; an "
                               f"HSDS package is imported up to {MAX_LOCATIONS:,} locations "
                               f"(centers) and {MAX_ROWS:,} rows in all tables: split it")
        lid = loc["id"]
        a1, a2, city, state, region, postal, country = addresses.get(lid, (None,) * 7)
        own = {tax: code for tax, code, _ in attributes.get(lid, ())}
        designations = [code for tax, code, _ in attributes.get(lid, ())
                        if tax == "designations"]
        modalities = []
        for sid in at_location.get(lid, ()):
            service = services.get(sid)
            if service is None:
                continue
            linked = [(code, reported) for tax, code, reported in attributes.get(sid, ())
                      if tax == "modalities"]
            if linked:
                modalities += [code for code, reported in linked if reported]
            elif service[0]:
                modalities.append(service[0])
        status = own.get("center-statuses")
        if status is None:
            service_status = {services[s][1] for s in at_location.get(lid, ())
                              if s in services}
            status = {"defunct": "closed", "temporarily closed": "temporarily-closed",
                      "inactive": "closed"}.get(next(iter(service_status), ""), "active") \
                if len(service_status) == 1 else "active"
        row = {
            "external_id": loc["external_identifier"] or "", "name": loc["name"] or "",
            "alternate_names": loc["alternate_name"] or "",
            "kind": own.get("center-kinds", ""),
            "address": "\n".join(filter(None, (blank(a1), blank(a2)))),
            "city": blank(city), "region": blank(state) or blank(region),
            "postal_code": blank(postal), "country": blank(country),
            "latitude": loc["latitude"] or "", "longitude": loc["longitude"] or "",
            "phone": phones.get(lid, ""), "website": loc["url"] or "",
            "email": emails.get(lid, ""), "modalities": "; ".join(dict.fromkeys(modalities)),
            "designations": "; ".join(designations), "status": status,
            "description": loc["description"] or "",
            "organization": orgs.get(loc["organization_id"] or "", ""),
        }
        writer.writerow([row[c] for c in READ_COLUMNS])
    text.flush()
    data = out.getvalue()
    text.detach()
    return data
