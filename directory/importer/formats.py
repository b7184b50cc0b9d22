"""Readers for the file formats the importer knows: how each maps its columns to the
canonical center fields, how it is recognised, and what it adds (constants, designations,
inferred modalities).

Center formats produce :class:`RawRecord` (canonical field -> cell text, plus the original
column name of each field so errors point at the file's own header). Modality-list formats
(CMS quality measures, CMS Provider of Services) name existing centers by key and produce
modality claims instead.
"""

from __future__ import annotations

import re

import phonenumbers

from directory.importer.claim_formats import (
    CmsProviderOfServices,
    CmsQualityMeasures,
    ModalityListFormat,
    pad_ccn,
)
from directory.importer.format_base import (  # noqa: F401 - re-exported
    ALIASES,
    CANONICAL_FIELDS,
    FORMAT_FIELDS,
    MAPPABLE_FIELDS,
    Format,
    NativeFormat,
    RawRecord,
)
from directory.importer.formats_world import EurostatHospitals, WikidataHospitals
from directory.importer.read import normalise_header
from directory.text import fold


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
        "fact_ownership": ("hospital ownership",),
        "fact_emergency_services": ("emergency services",),
        "fact_overall_rating": ("hospital overall rating",),
        "fact_overall_rating_footnote": ("hospital overall rating footnote",),
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
        if "kind" in record.values:  # the type as CMS writes it, beside the kind it maps to
            record.values["fact_hospital_type"] = hospital_type
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
        designation = NCI_TYPES.get(fold(record.values.get("designations", "")))
        # St. Jude's affiliate clinics treat children only.
        record.defaults["kind"] = "childrens" if designation == "nci-pediatric" \
            else "cancer-center"
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


# HIFLD ``TYPE`` -> center kind. SPECIAL (eye, surgical, orthopaedic, long-term acute care
# hospitals, MSK, MD Anderson), WOMEN and CHRONIC DISEASE are hospitals; a general kind whose
# name has a cancer word then becomes a cancer center (importer.fields.kind_from_name).
HIFLD_KINDS = {
    "general acute care": "hospital", "critical access": "critical-access", "military": "military",
    "women": "hospital", "special": "hospital", "chronic disease": "hospital",
    "children": "childrens", "psychiatric": "psychiatric", "rehabilitation": "rehabilitation",
    "long term care": "long-term-care",
}
# HIFLD ``COUNTRY`` (ISO 3166-1 alpha-3) -> alpha-2. The five US territories also get their
# ISO 3166-2 code as a region (US-PR, ..., as CMS has them); Palau is not a US subdivision
# (no region).
HIFLD_COUNTRIES = {"USA": "US", "PRI": "PR", "GUM": "GU", "VIR": "VI", "ASM": "AS",
                   "MNP": "MP", "PLW": "PW"}
_TERRITORIES = {"PR", "GU", "VI", "AS", "MP", "PW"}  # Palau: the HIFLD STATE code PW
_URL_START = re.compile(r"^(https?:|www\.)", re.I)
_URL_SCHEME = re.compile(r"^(https?):/{0,2}", re.I)


def _hifld_zip(value: str) -> str:
    """A ZIP that lost its leading zeros (``2115``, ``921``) left-padded to 5 digits. Every
    HIFLD row is a USPS ZIP, territories included (Puerto Rico 006xx-009xx, USVI 008xx), which
    the generic US-only padding would miss."""
    value = value.strip()
    if value.endswith(".0") and value[:-2].isdigit():
        value = value[:-2]
    return value.zfill(5) if value.isdigit() and 3 <= len(value) < 5 else value


def _hifld_phone(value: str, country: str) -> str:
    """E.164 for a number valid in ``country``; "" for one that cannot exist there (the
    file's fakes such as ``(222) 333-4444``, ``(856) 111-1111``). USVI numbers still in the
    old 809 area code (moved to 340 in 1997) are renumbered. Placeholders and unreadable
    text are returned unchanged, for the validator to clear or warn about."""
    if not any(c.isdigit() for c in value):
        return value
    try:
        number = phonenumbers.parse(value, country)
    except phonenumbers.NumberParseException:
        return value
    national = str(number.national_number)
    if country == "VI" and number.country_code == 1 and national.startswith("809"):
        number.national_number = int("340" + national[3:])
    if not phonenumbers.is_valid_number_for_region(number, country):
        return ""
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def _hifld_website(value: str) -> str:
    """Repair the file's broken URLs: spaces left by line wrapping
    (``.../defaul t.aspx``) removed, a missing ``//`` (``http:www.skiffmed.com``) restored.
    Anything not starting like a URL (``NOT AVAILABLE``, a hospital's name) is left for the
    validator."""
    value = value.strip()
    if not _URL_START.match(value):
        return value
    value = "".join(value.split())
    return _URL_SCHEME.sub(lambda m: m.group(1).lower() + "://", value, count=1)


class HifldHospitals(Format):
    """HIFLD *Hospitals* (DHS open data): US hospitals with coordinates (rooftop precision).

    ``ID`` is HIFLD's id (not a CMS CCN); ``X``/``Y`` duplicate longitude/latitude and are
    ignored; ``STATUS`` CLOSED rows are imported with status closed; ``TYPE`` maps to a kind
    (:data:`HIFLD_KINDS`, then the name rules of ``kind_from_name``); ``COUNTRY`` is ISO alpha-3
    (USA, PRI, GUM, VIR, ASM, MNP, PLW); ZIPs that lost their leading zeros are re-padded
    (territories too); impossible phone numbers are dropped and wrapped URLs repaired.
    ``NOT AVAILABLE`` and ``-999`` placeholders are cleared by the validator."""

    name = "hifld"
    label = "HIFLD Hospitals"
    default_source = "hifld-hospitals"
    country = "US"
    columns = {
        "external_id": ("id",),
        "kind": ("type",),
        "postal_code": ("zip",),
        "phone": ("telephone",),
        "x": ("x",),
        "y": ("y",),
        "fact_beds": ("beds",),
        "fact_trauma": ("trauma",),
        "fact_owner": ("owner",),
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
        values = record.values
        code = values.get("country", "").strip().upper()
        state = values.get("region", "").strip().upper()
        # A territory's STATE decides: four Puerto Rico rows say COUNTRY USA, STATE PR.
        country = state if state in _TERRITORIES else HIFLD_COUNTRIES.get(code)
        if country:
            values["country"] = country
        super().extras(record)
        country = country or (self.country if not code else None)
        if country in _TERRITORIES:
            values["region"] = f"US-{country}" if country != "PW" else ""
        record.defaults["recase"] = "1"
        if values.get("postal_code"):
            values["postal_code"] = _hifld_zip(values["postal_code"])
        if values.get("phone") and country:
            values["phone"] = _hifld_phone(values["phone"], country)
        if values.get("website"):
            values["website"] = _hifld_website(values["website"])
        hospital_type = values.get("kind", "").strip()
        kind = HIFLD_KINDS.get(fold(hospital_type))  # the name rules apply after (validate)
        if kind:
            record.defaults["kind"] = kind
        if hospital_type:
            record.defaults["description"] = f"HIFLD hospital type: {hospital_type.title()}."
        for fact in ("fact_beds", "fact_trauma", "fact_owner"):  # placeholders: not said
            if values.get(fact, "").strip().upper() in {"NOT AVAILABLE", "-999"}:
                values[fact] = ""


CENTER_FORMATS: dict[str, Format] = {f.name: f for f in (
    NativeFormat(), CmsHospitalGeneralInformation(), NciDesignatedCenters(),
    NhsChoicesHospitals(), HifldHospitals(), WikidataHospitals(), EurostatHospitals())}
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
