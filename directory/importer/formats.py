"""Readers for the file formats the importer knows: how each maps its columns to the
canonical center fields, how it is recognised, and what it adds (constants, designations,
inferred modalities).

Center formats produce :class:`RawRecord` (canonical field -> cell text, plus the original
column name of each field so errors point at the file's own header). Modality-list formats
(CMS quality measures, CMS Provider of Services) name existing centers by key and produce
modality claims instead.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from functools import lru_cache

from directory.text import fold

CANONICAL_FIELDS = (
    "external_id", "name", "alternate_names", "kind", "address", "city", "region",
    "postal_code", "country", "latitude", "longitude", "phone", "website", "email",
    "modalities", "designations", "status", "description", "organization",
)

# Fields some formats map to before folding them into the canonical ones (NHS address lines,
# GIS X/Y); offered in the admin's column mapping too.
FORMAT_FIELDS = ("address_2", "address_3", "x", "y")
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


@lru_cache(maxsize=1024)
def normalise_header(cell: str) -> str:
    """Fold a header cell for matching: BOM, case, accents, spaces, ``_``/``-``/``/`` ignored."""
    return fold(cell.replace("\ufeff", "").replace("_", " "))


@dataclass
class RawRecord:
    """A file row mapped to canonical fields, before validation."""

    line: int
    values: dict[str, str]
    columns: dict[str, str]                  # canonical field -> header as written
    extra_designations: list[str] = field(default_factory=list)
    defaults: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ClaimRow:
    """A modality-list row: the center key, the modality slug, evidence and its date."""

    line: int
    external_id: str
    modality: str
    evidence: str
    verified_on: dt.date


class Format:
    """Base class for a center format: column mapping, detection and per-row extras."""

    name = "native"
    label = "Directory CSV template"
    kind = "centers"
    default_source = "csv-import"
    country: str | None = None
    columns: dict[str, tuple[str, ...]] = {}

    def detect(self, header: list[str]) -> int:
        """How well this format fits the header: 0 = not at all, higher = better."""
        return 0

    def map_columns(self, header: list[str],
                    overrides: dict[str, str] | None = None) -> tuple[dict[int, str], list[str]]:
        """Map header positions to canonical fields.

        :param overrides: ``{header as written or folded: field or "ignore"}`` from the admin.
        :returns: ``({column index: field}, [ignored header cells])``.
        """
        specific = {fold(a): f for f, aliases in self.columns.items() for a in aliases}
        folded_overrides = {normalise_header(k): v for k, v in (overrides or {}).items()}
        mapping, ignored, taken = {}, [], set()
        for i, cell in enumerate(header):
            key = normalise_header(cell)
            target = folded_overrides.get(key) or specific.get(key) or _ALIAS_INDEX.get(key)
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


class CmsHospitalGeneralInformation(Format):
    """CMS Provider Data Catalog *Hospital General Information* (current and older editions).

    The CCN is kept as a 6-character string (re-padded when a spreadsheet dropped its
    leading zeros); names and addresses in UPPER CASE are shown in
    title case; every row is in the US.
    """

    name = "cms-hgi"
    label = "CMS Hospital General Information"
    default_source = "cms-hgi"
    country = "US"
    columns = {
        "external_id": ("facility id", "provider id", "provider number", "ccn"),
        "name": ("facility name", "hospital name"),
        "city": ("city town", "city"),
        "postal_code": ("zip code",),
        "phone": ("telephone number", "phone number"),
        "kind": ("hospital type",),
    }

    def detect(self, header: list[str]) -> int:
        keys = {normalise_header(h) for h in header}
        has_id = bool(keys & {"facility id", "provider id"})
        has_name = bool(keys & {"facility name", "hospital name"})
        return 50 if has_id and has_name and "hospital type" in keys else 0

    def extras(self, record: RawRecord) -> None:
        super().extras(record)
        record.defaults["recase"] = "1"
        if record.values.get("external_id"):
            record.values["external_id"] = pad_ccn(record.values["external_id"])
        hospital_type = record.values.get("kind", "")
        if hospital_type:
            record.defaults["description"] = f"CMS hospital type: {hospital_type}."


NCI_TYPES = {
    "comprehensive cancer center": "nci-comprehensive",
    "cancer center": "nci-clinical",
    "clinical cancer center": "nci-clinical",
    "basic laboratory cancer center": "nci-basic-laboratory",
    "pediatric cancer center": "nci-pediatric",
}


class NciDesignatedCenters(Format):
    """NCI's geocoded list of NCI-Designated Cancer Centers (fall 2024 GIS file).

    ``type`` becomes a designation (``Cancer Center`` is NCI's *Clinical* designation); the
    mailing ZIP (``Zip_Code``) is used, left-padded where it lost its zeros.
    """

    name = "nci"
    label = "NCI-Designated Cancer Centers"
    default_source = "nci"
    country = "US"
    columns = {
        "external_id": ("id",),
        "address": ("street",),
        "region": ("state",),
        "postal_code": ("zip code",),
        "website": ("url",),
        "designations": ("type",),
    }

    def detect(self, header: list[str]) -> int:
        keys = {normalise_header(h) for h in header}
        return 60 if {"name", "street", "zip code", "type", "latitude"} <= keys else 0

    def extras(self, record: RawRecord) -> None:
        super().extras(record)
        record.defaults["kind"] = "cancer-center"
        designation = NCI_TYPES.get(fold(record.values.get("designations", "")))
        record.values["designations"] = designation or ""


class NhsChoicesHospitals(Format):
    """The NHS Choices hospital list (England and some of the UK, November 2014):
    ``¬``-delimited cp1252 text; three address lines joined; the parent trust becomes the
    organization. The list is stale, which each center's description says."""

    name = "nhs"
    label = "NHS Choices hospital list (UK)"
    default_source = "nhs-choices-2014"
    country = "GB"
    columns = {
        "external_id": ("organisationcode",),
        "name": ("organisationname",),
        "address": ("address1",),
        "address_2": ("address2",),
        "address_3": ("address3",),
        "organization": ("parentname",),
        "kind": ("subtype",),
        "status": ("organisationstatus",),
    }

    def detect(self, header: list[str]) -> int:
        keys = {normalise_header(h) for h in header}
        return 60 if {"organisationcode", "organisationname", "parentodscode"} <= keys else 0

    def extras(self, record: RawRecord) -> None:
        super().extras(record)
        lines = [record.values.pop(k, "").strip() for k in ("address", "address_2", "address_3")]
        record.values["address"] = ", ".join(x for x in lines if x)
        if record.values.get("status", "").casefold() in {"visible", ""}:
            record.values["status"] = "active"
        record.defaults["description"] = (
            f"NHS hospital type: {record.values.get('kind') or 'not stated'}. From the NHS "
            f"Choices hospital list of November 2014; names, trusts and services may have "
            f"changed since.")


class HifldHospitals(Format):
    """HIFLD *Hospitals* (DHS open data): US hospitals with coordinates. ``ID`` is HIFLD's
    id (not a CMS CCN); closed hospitals are imported with status closed; ``X``/``Y``
    duplicate longitude/latitude and are ignored; ``COUNTRY`` is ISO alpha-3 (USA, PRI)."""

    name = "hifld"
    label = "HIFLD Hospitals"
    default_source = "hifld"
    country = "US"
    columns = {
        "external_id": ("id",),
        "kind": ("type",),
        "postal_code": ("zip",),
        "phone": ("telephone",),
        "x": ("x",),
        "y": ("y",),
    }

    def detect(self, header: list[str]) -> int:
        keys = {normalise_header(h) for h in header}
        return 65 if {"objectid", "naics code", "latitude", "longitude", "beds"} <= keys else 0

    def map_columns(self, header, overrides=None):
        mapping, ignored = super().map_columns(header, overrides)
        drop = [i for i, f in mapping.items() if f in ("x", "y")]
        for i in drop:
            del mapping[i]
        return mapping, ignored

    def extras(self, record: RawRecord) -> None:
        super().extras(record)
        record.defaults["recase"] = "1"
        hospital_type = record.values.get("kind", "")
        if hospital_type:
            record.defaults["description"] = f"HIFLD hospital type: {hospital_type.title()}."


class ModalityListFormat:
    """Base for files that add modality claims to existing centers named by key."""

    kind = "modality-list"
    name = ""
    label = ""
    default_source = ""
    target_source = "cms-hgi"

    def detect(self, header: list[str]) -> int:
        return 0

    def claims(self, header: list[str], rows) -> tuple[list[ClaimRow], list[tuple]]:
        """Turn rows into claims; returns ``(claims, issues)`` with issues as
        ``(line, column, severity, message)``."""
        raise NotImplementedError


def pad_ccn(value: str) -> str:
    """Normalise a CMS Certification Number: ``"10139.0"`` -> ``"010139"``; letters kept."""
    value = value.strip()
    if value.endswith(".0") and value[:-2].isdigit():
        value = value[:-2]
    return value.zfill(6) if value.isdigit() and len(value) < 6 else value.upper()


MEASURES = {
    "OP_33": ("external-beam-radiation",
              "CMS quality measure OP-33 (external-beam radiotherapy for bone metastases)"),
    "OP_35_ADM": ("chemotherapy", "CMS quality measure OP-35 (outpatient chemotherapy)"),
    "OP_35_ED": ("chemotherapy", "CMS quality measure OP-35 (outpatient chemotherapy)"),
}


class CmsQualityMeasures(ModalityListFormat):
    """CMS star-rating measure inputs (``facility_id, star_rating_release|star_rating_year,
    measure_id, score``): OP-33 means external-beam radiation was delivered, OP-35 outpatient
    chemotherapy. Positive-only: a hospital missing from the file is "not reported"."""

    name = "cms-oqr"
    label = "CMS outpatient quality measures (OP-33, OP-35)"
    default_source = "cms-oqr"

    def detect(self, header: list[str]) -> int:
        keys = {normalise_header(h) for h in header}
        period = keys & {"star rating release", "star rating year"}
        return 70 if {"facility id", "measure id", "score"} <= keys and period else 0

    def claims(self, header, rows):
        idx = {normalise_header(h): i for i, h in enumerate(header)}
        period_col = "star rating release" if "star rating release" in idx else "star rating year"
        out, issues = [], []
        for row in rows:
            cells = row.cells + [""] * (len(header) - len(row.cells))
            measure = cells[idx["measure id"]].strip().upper()
            if measure not in MEASURES:
                continue
            period = cells[idx[period_col]].strip()
            try:
                verified = (dt.date.fromisoformat(period + "-01") if len(period) == 7
                            else dt.date(int(period), 1, 1))
                if not 1990 <= verified.year <= dt.date.today().year + 1:
                    raise ValueError(period)
            except ValueError:
                issues.append((row.line, header[idx[period_col]], "error",
                               f"unreadable period {period!r}"))
                continue
            ccn = pad_ccn(cells[idx["facility id"]])
            if not ccn:
                issues.append((row.line, header[idx["facility id"]], "error",
                               "facility_id is required"))
                continue
            slug, label = MEASURES[measure]
            out.append(ClaimRow(row.line, ccn, slug,
                                f"{label}, star rating {period}", verified))
        return out, issues


POS_FLAGS = {
    "pos chemo": ("chemotherapy", "CMS Provider of Services: chemotherapy service"),
    "pos radonc": ("radiation-therapy", "CMS Provider of Services: therapeutic radiology"),
    "pos surg": ("surgery", "CMS Provider of Services: inpatient surgical services"),
    "pos opsurg": ("surgery", "CMS Provider of Services: outpatient surgery unit"),
}


class CmsProviderOfServices(ModalityListFormat):
    """Per-CCN service flags from the CMS Provider of Services file (2026-04 release).

    A ``1`` is a positive signal; ``0`` or blank means "not reported", never "not offered".
    """

    name = "cms-pos"
    label = "CMS Provider of Services service flags"
    default_source = "cms-pos"
    release = dt.date(2026, 4, 1)

    def detect(self, header: list[str]) -> int:
        keys = {normalise_header(h) for h in header}
        return 70 if {"facility id", "pos chemo", "pos radonc"} <= keys else 0

    def claims(self, header, rows):
        idx = {normalise_header(h): i for i, h in enumerate(header)}
        out, issues = [], []
        for row in rows:
            cells = row.cells + [""] * (len(header) - len(row.cells))
            ccn = pad_ccn(cells[idx["facility id"]])
            seen = set()
            for flag, (slug, label) in POS_FLAGS.items():
                if flag in idx and cells[idx[flag]].strip() == "1" and slug not in seen:
                    seen.add(slug)
                    out.append(ClaimRow(row.line, ccn, slug,
                                        f"{label} (release {self.release:%Y-%m})", self.release))
        return out, issues


CENTER_FORMATS: dict[str, Format] = {f.name: f for f in (
    NativeFormat(), CmsHospitalGeneralInformation(), NciDesignatedCenters(),
    NhsChoicesHospitals(), HifldHospitals())}
MODALITY_FORMATS: dict[str, ModalityListFormat] = {f.name: f for f in (
    CmsQualityMeasures(), CmsProviderOfServices())}
FORMAT_NAMES = ("auto", *CENTER_FORMATS, "hsds", *MODALITY_FORMATS)


def detect_format(header: list[str]) -> Format | ModalityListFormat | None:
    """The best-fitting format for ``header``, or ``None`` when nothing fits."""
    scored = [(f.detect(header), f) for f in (*MODALITY_FORMATS.values(),
                                              *CENTER_FORMATS.values())]
    score, best = max(scored, key=lambda sf: sf[0])
    return best if score > 0 else None


def get_format(name: str) -> Format | ModalityListFormat:
    """The format called ``name``; raises ``KeyError`` for an unknown name."""
    return {**CENTER_FORMATS, **MODALITY_FORMATS}[name]
