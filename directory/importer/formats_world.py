"""Formats of the worldwide hospital lists: Wikidata (a SPARQL result as TSV) and Eurostat
GISCO healthcare services (29 European countries). Both give points; neither names a
treatment. Where a row has no city (Wikidata never has one) the locate stage names the
place its point belongs to (:func:`directory.importer.locate.name_places`).
"""

from __future__ import annotations

import csv
import re

from directory.importer.fields import resolve_country
from directory.importer.format_base import Format, RawRecord
from directory.importer.read import normalise_header
from directory.text import fold

_WKT_POINT = re.compile(r"^\s*point\s*\(\s*(\S+)\s+(\S+)\s*\)\s*$", re.I)
_QID = re.compile(r"^Q\d+$")
_ITEM = re.compile(r"^(https?://(www\.)?wikidata\.org/entity/)?Q\d+$")
# Labels that are not a hospital's name: German heritage-register entries ("Baudenkmal
# D-1-62-000-4370 in München"), a street address ("Pettenkoferstraße 8a"), or a bare
# generic word ("Krankenhaus", "Hospital").
_NOT_A_NAME = re.compile(
    r"^(baudenkmal|bodendenkmal)\b|^\S*(stra(ss|ß)e|str\.|gasse|weg|platz)\s+\d+\w?$|"
    r"^(krankenhaus|klinik|hospital|hôpital|hospital general|spital|ospedale|hastanesi)$",
    re.I)


def parse_wkt_point(text: str) -> tuple[str, str] | None:
    """``("latitude", "longitude")`` as text from a WKT ``Point(<lon> <lat>)`` (longitude
    first, as WKT and Wikidata write it), or ``None`` when ``text`` is not one."""
    match = _WKT_POINT.match(text or "")
    return (match.group(2), match.group(1)) if match else None


class WikidataHospitals(Format):
    """Wikidata items that are hospitals (instance of Q16917 or a subclass) with a point,
    as the Query Service's TSV export: ``item`` (entity URI), ``itemLabel``,
    ``countryLabel`` (an English name), ``official_website``, ``geo`` (WKT).

    Parsed with quoting off (labels contain ``"``). An item is on one row per (website,
    point) pair: the first row is used, the others are reported and skipped. A label that
    is the bare QID (no label in the languages asked for) is rejected: a center needs a
    name people can read. A country label that is no current country ("Russian Empire",
    "German Reich") is dropped and the point decides. Wikidata has no open/closed flag:
    a center that only Wikidata holds says "status not verified"."""

    name = "wikidata"
    label = "Wikidata hospitals (query service TSV)"
    default_source = "wikidata-hospitals"
    quoting = csv.QUOTE_NONE
    repeated_ids = "skip"
    columns = {
        "external_id": ("item",),
        "name": ("itemlabel",),
        "country": ("countrylabel",),
        "website": ("official website",),
        "point": ("geo",),
    }

    def detect(self, header: list[str]) -> int:
        keys = {normalise_header(h) for h in header}
        return 70 if {"item", "itemlabel", "geo"} <= keys else 0

    def extras(self, record: RawRecord) -> None:
        super().extras(record)
        values = record.values
        item = values.get("external_id", "").strip()
        qid = item.rsplit("/", 1)[-1]
        if not _ITEM.match(item):
            record.errors.append(("external_id", f"item {item[:60]!r} is not a Wikidata "
                                                 f"entity (http://www.wikidata.org/entity/Q…)"))
        values["external_id"] = qid
        if values.get("country") and resolve_country(values["country"]) is None:
            values["country"] = ""  # a former state ("Soviet Union"): the point decides
        label = values.get("name", "").strip()
        if _QID.match(label):
            record.errors.append(("name", f"Wikidata has no label for {qid} in the languages "
                                          f"asked for; not imported (a center needs a name)"))
        elif _NOT_A_NAME.match(label):
            record.errors.append(("name", f"the label {label[:60]!r} of {qid} names a listed "
                                          f"building, an address or no one hospital; not "
                                          f"imported"))
        point = values.pop("point", "")
        if point.strip():
            parsed = parse_wkt_point(point)
            if parsed is None:
                record.errors.append(("point", f"geo {point[:40]!r} is not a WKT point "
                                               f"(Point(longitude latitude))"))
            else:
                values["latitude"], values["longitude"] = parsed
        record.defaults["description"] = (
            f"Listed in Wikidata as a hospital (item {qid}). Wikidata does not say whether a "
            f"hospital is still open, or which treatments it gives.")


#: Eurostat ``facility_type`` (national vocabularies, folded) -> center kind; tried in
#: order, the first match wins; anything else is a hospital (names may still say more).
EUROSTAT_KINDS: tuple[tuple[str, re.Pattern], ...] = (
    ("cancer-center", re.compile(r"lutte contre (le )?cancer|oncolog")),
    ("psychiatric", re.compile(r"psych|psiqui|psichiatr|maladies mentales|mental")),
    ("rehabilitation", re.compile(r"\bssr\b|rehab|readaptation|traumatologia y o rehab")),
    ("long-term-care", re.compile(r"longue duree|larga estancia|geriatr|dlouhodob|nasledne|"
                                  r"nursing|hospice|home health care")),
    ("childrens", re.compile(r"kinder|pediatr|infantil|enfant|children")),
)
# Countries whose addresses put the house number before the street.
_NUMBER_FIRST = frozenset({"FR", "BE", "LU", "IE", "GB", "MT", "CY", "GR"})
# Characters that Czech text decoded as Windows-1252 instead of Windows-1250 shows.
_CZ_MOJIBAKE = re.compile("[èøìùòÈØÌÙÒ]")


def repair_czech(text: str) -> str:
    """Czech text that was decoded in the wrong code page (``Zaøízení``, ``péèe``) back
    to what was written (``Zařízení``, ``péče``): re-encoded as Windows-1252 and decoded as
    Windows-1250. Text without those marks, or that cannot be re-encoded (it holds
    characters Windows-1252 lacks, such as a correct ``ř``), is returned unchanged."""
    if not _CZ_MOJIBAKE.search(text):
        return text
    try:
        return text.encode("cp1252").decode("cp1250")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return text


class EurostatHospitals(Format):
    """Eurostat GISCO *healthcare services*: hospitals of 29 European countries harmonised
    from national registers (2020), with point, address, phone, website, facility type,
    beds, emergency and public/private.

    ``id`` (``<cc>_<national id>``) repeats for some German sites: a repeated id is keyed
    by name, postal code and country instead. ``cc`` is Eurostat's code (``EL`` is Greece,
    ``UK`` the United Kingdom); ``facility_type`` maps to a kind (:data:`EUROSTAT_KINDS`);
    Czech text decoded in the wrong code page is repaired (:func:`repair_czech`);
    ``site_name`` is kept as an alternate name."""

    name = "eurostat"
    label = "Eurostat GISCO healthcare services (Europe)"
    default_source = "eurostat-gisco"
    repeated_ids = "natural_key"
    columns = {
        "external_id": ("id",),
        "name": ("hospital name",),
        "alternate_names": ("site name",),
        "latitude": ("lat",),
        "longitude": ("lon",),
        "address": ("street",),
        "address_2": ("house number",),
        "postal_code": ("postcode",),
        "country": ("cc",),
        "phone": ("tel",),
        "kind": ("facility type",),
        "fact_beds": ("cap beds",),
        "fact_emergency_services": ("emergency",),
        "fact_ownership": ("public private",),
    }

    def detect(self, header: list[str]) -> int:
        keys = {normalise_header(h) for h in header}
        return 70 if {"hospital name", "site name", "geo qual", "cc", "facility type"} <= keys \
            else 0

    def extras(self, record: RawRecord) -> None:
        values = record.values
        cc = values.get("country", "").strip().upper()
        values["country"] = {"EL": "GR", "UK": "GB"}.get(cc, cc)
        super().extras(record)
        if values["country"] == "CZ":
            for key in ("name", "alternate_names", "address", "city"):
                if values.get(key):
                    values[key] = repair_czech(values[key])
        street, number = values.get("address", "").strip(), values.pop("address_2", "").strip()
        if street.startswith("['") and street.endswith("']"):  # a Python list written out
            street = street[2:-2]
        parts = (number, street) if values["country"] in _NUMBER_FIRST else (street, number)
        values["address"] = " ".join(p for p in parts if p)
        site = values.get("alternate_names", "").strip()
        if site and fold(site) in fold(values.get("name", "")):
            values["alternate_names"] = ""
        facility_type = values.get("kind", "").strip()
        folded = fold(facility_type)
        record.defaults["kind"] = next(
            (kind for kind, pattern in EUROSTAT_KINDS if pattern.search(folded)), "hospital")
        if record.defaults["kind"] == "hospital":
            values["kind"] = ""  # let the name rules speak (see kind_from_name)
        facts = [f"Facility type in the national register: {facility_type}."
                 if facility_type else ""]
        record.defaults["description"] = " ".join(filter(None, (
            *facts, "From Eurostat's list of European hospitals (2020); services and names "
                    "may have changed since.")))
