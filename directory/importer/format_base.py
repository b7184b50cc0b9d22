"""The base of every center format: the canonical fields, header aliases, the mapped row
(:class:`RawRecord`), :class:`Format` and the project's own template (:class:`NativeFormat`).
The formats of public datasets are in :mod:`directory.importer.formats` and
:mod:`directory.importer.formats_world`."""

from __future__ import annotations

import csv
from dataclasses import dataclass, field

from directory.importer.claim_formats import pad_ccn
from directory.importer.read import normalise_header
from directory.text import fold

CANONICAL_FIELDS = (
    "external_id", "name", "alternate_names", "kind", "address", "city", "region",
    "postal_code", "country", "latitude", "longitude", "phone", "website", "email",
    "modalities", "designations", "status", "description", "organization",
)

#: A column mapped to ``fact_<name>`` is kept as written on the source record's ``facts``
#: (what the source says beyond the center's fields: CMS ownership and star rating, beds...).
FACT_PREFIX = "fact_"
# Fields some formats map to before folding them into the canonical ones (NHS address lines,
# GIS X/Y, a WKT point); offered in the admin's column mapping too.
FORMAT_FIELDS = ("address_2", "address_3", "x", "y", "point")
MAPPABLE_FIELDS = (*CANONICAL_FIELDS, *FORMAT_FIELDS)

# Header aliases, compared after fold(): case, accents, spacing and punctuation ignored.
ALIASES: dict[str, tuple[str, ...]] = {
    "external_id": ("external id", "id", "identifier", "facility id", "ccn", "provider id",
                    "cms certification number", "organisation code", "organization code",
                    "location id", "site id"),
    "name": ("name", "center name", "centre name", "facility name", "hospital name",
             "organisation name", "organization name", "site name", "location name",
             "institution", "institution name", "provider name"),
    "alternate_names": ("alternate names", "alternate name", "alternative names", "aka",
                        "also known as", "other names"),
    "kind": ("kind", "facility type", "hospital type", "center type", "location type"),
    "address": ("address", "street", "street address", "address 1", "address1",
                "address line 1", "address 1 line"),
    "city": ("city", "city town", "town", "municipality", "locality", "town city"),
    "region": ("region", "state", "province", "state province", "state or province",
               "state code", "subdivision"),
    "postal_code": ("postal code", "zip", "zip code", "zipcode", "postcode", "post code",
                    "zip postal code", "postal"),
    "country": ("country", "country code", "nation"),
    "latitude": ("latitude", "lat", "y"),          # GIS exports: Y is latitude
    "longitude": ("longitude", "lon", "lng", "long", "x"),
    "phone": ("phone", "telephone", "telephone number", "phone number", "tel"),
    "website": ("website", "url", "web", "web site", "homepage", "home page", "web address"),
    "email": ("email", "e mail", "email address"),
    "modalities": ("modalities", "modality", "services", "service", "treatments",
                   "treatment types", "treatment type", "treatment modalities"),
    "designations": ("designations", "designation", "accreditations", "accreditation"),
    "status": ("status", "operating status", "organisation status"),
    "description": ("description", "about"),
    "organization": ("organization", "organisation", "health system", "parent name",
                     "system", "parent organization"),
}

_ALIAS_INDEX = {fold(alias): f for f, aliases in ALIASES.items() for alias in aliases}


@dataclass
class RawRecord:
    """A file row mapped to canonical fields, before validation."""

    line: int
    values: dict[str, str]
    columns: dict[str, str]                  # canonical field -> header as written
    extra_designations: list[str] = field(default_factory=list)
    defaults: dict[str, str] = field(default_factory=dict)
    #: ``(field, message)`` a format found wrong with the row: each is reported as an
    #: error at the field's column and the row is rejected.
    errors: list[tuple[str, str]] = field(default_factory=list)


class Format:
    """Base class for a center format: column mapping, detection and per-row extras."""

    name = "native"
    label = "Directory CSV template"
    kind = "centers"
    default_source = "csv-import"
    country: str | None = None
    columns: dict[str, tuple[str, ...]] = {}
    #: How the file's cells are quoted (``csv.QUOTE_NONE``: a ``"`` is a character).
    quoting: int = csv.QUOTE_MINIMAL
    #: A repeated id in one file: ``"error"`` (the row is rejected), ``"skip"`` (a variant
    #: of the same item, e.g. Wikidata's one row per website: the first row is used) or
    #: ``"natural_key"`` (distinct sites sharing an id: the row is keyed by name, postal
    #: code and country instead).
    repeated_ids: str = "error"

    def detect(self, header: list[str]) -> int:
        """How well this format fits the header: 0 = not at all, higher = better."""
        return 0

    def map_columns(self, header: list[str],
                    overrides: dict[str, str] | None = None) -> tuple[dict[int, str], list[str]]:
        """Map header positions to canonical fields.

        :param overrides: ``{header as written or folded: field or "ignore"}`` from the admin.
        :returns: ``({column index: field}, [ignored header cells])``.
        :raises FileError: when ``overrides`` names a column the header does not have (a
            mistyped mapping would otherwise leave its column unread, silently).
        """
        specific = {fold(a): f for f, aliases in self.columns.items() for a in aliases}
        folded_overrides = {normalise_header(k): v for k, v in (overrides or {}).items()}
        present = {normalise_header(cell) for cell in header}
        unknown = [k for k in (overrides or {}) if normalise_header(k) not in present]
        if unknown:
            from directory.importer.decode import FileError

            raise FileError("the column mapping names " + ", ".join(map(repr, unknown))
                            + ", which the file's header does not have; its columns: "
                            + ", ".join(h.strip() for h in header[:30] if h.strip()))
        mapping, ignored, taken = {}, [], set()
        # A field the admin mapped a column to is that column's: another column whose
        # header would name it too ("address=name" beside a "name" column) is ignored.
        chosen = {v for v in folded_overrides.values() if v and v != "ignore"}
        for i, cell in enumerate(header):
            key = normalise_header(cell)
            target = folded_overrides.get(key) or None  # "" (automatic) is no override
            if target is None:
                target = specific.get(key) or _ALIAS_INDEX.get(key)
                if target in chosen:
                    target = None
            if target and target != "ignore" and target not in taken:
                mapping[i] = target
                taken.add(target)
            elif cell.strip():
                ignored.append(cell.strip())
        return mapping, ignored

    def extras(self, record: RawRecord) -> None:
        """Adjust a mapped record in place (constants, derived designations)."""
        if self.country and not record.values.get("country"):
            record.defaults["country"] = self.country


class NativeFormat(Format):
    """The project's own CSV template (see README) and any CSV with recognisable headers."""

    def detect(self, header: list[str]) -> int:
        mapping, _ = self.map_columns(header)
        fields = set(mapping.values())
        return 1 + len(fields) if "name" in fields else 0

    def extras(self, record: RawRecord) -> None:
        super().extras(record)
        # A CMS Certification Number that a spreadsheet turned into a float ("10139.0").
        if normalise_header(record.columns.get("external_id", "")) in _CCN_HEADERS:
            value = record.values.get("external_id", "")
            if value.strip():
                record.values["external_id"] = pad_ccn(value)


_CCN_HEADERS = {"ccn", "cms certification number", "facility id", "provider id",
                "provider number"}


