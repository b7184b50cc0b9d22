"""Open Referral HSDS 3.0 tabular packages: write the directory as one, and read one back.

Mapping (a center is an HSDS *location* with its *address*):

=====================  ================================================================
HSDS table             from the directory
=====================  ================================================================
organizations          each health system; and, for a center without one, an
                       organization that operates only that center (services need one)
locations              each center: name, alternate names (``; ``), description, website
                       (``url``), WGS-84 coordinates, ``external_identifier`` (the CSV
                       template's ``external_id``) and its ``_type`` (the data source);
                       ``organization_id`` only when the center has a health system
addresses              street (first line in ``address_1``, the rest in ``address_2``),
                       city, ``state_province`` (ISO 3166-2 code when known), postal code,
                       country (ISO alpha-2); a required part we do not know is written as
                       :data:`UNKNOWN` (HSDS requires it)
phones, contacts       the center's phone (E.164) and e-mail
services,              one service per center and modality, at that center; its
service_at_location    ``description`` lists every claim (provenance, source, date) and
                       ``assured_date`` is the latest evidence date
taxonomies,            four vocabularies: modalities (with parents), designations, center
taxonomy_terms         kinds and center statuses
attributes             service -> modality term (``value``: ``reported``/``inferred``);
                       location -> designation (``value``: as-of date), kind and status
=====================  ================================================================

Identifiers are UUID 5 of stable keys (never database ids), so the same directory always
exports the same package. CSV cells are neutralised against formula injection like every
export (:func:`directory.exchange.cells.neutralise`); :func:`read_package` undoes it.

:func:`directory.exchange.hsds_read.read_package` turns a package (ours or another
publisher's) back into CSV-template bytes for ``run_import(format="native")``.
"""

from __future__ import annotations

import io
import json
import uuid
import zipfile
from collections import defaultdict
from pathlib import Path

import sqlalchemy.orm as so

from directory.exchange.cells import csv_line
from directory.exchange.template import TEMPLATE_COLUMNS, directory_centers
from directory.models import CENTER_KINDS, Center
from directory.vocabulary import load_vocabulary

NAMESPACE = uuid.UUID("6f1c7a1e-4b7e-5d0a-9c36-0c5d3b1f2a10")
SCHEMA_PATH = (Path(__file__).parent.parent / "static" / "vendor" / "hsds-3.0"
               / "datapackage.json")
UNKNOWN = "unknown"
TAXONOMY_PREFIX = "oncology-directory-"
TABLES = ("organization", "location", "address", "phone", "contact", "service",
          "service_at_location", "taxonomy", "taxonomy_term", "attribute")
#: Every center kind (the taxonomy once listed four: a center of any other kind, such as
#: psychiatric or childrens, got no kind attribute and came back as a hospital).
KINDS = CENTER_KINDS
STATUSES = {"active": "active", "temporarily-closed": "temporarily closed",
            "closed": "defunct"}
READ_COLUMNS = TEMPLATE_COLUMNS  # the template ends with "organization"


def _uuid(*parts: str) -> str:
    return str(uuid.uuid5(NAMESPACE, "\x1f".join(parts)))


def load_schema(path: Path = SCHEMA_PATH) -> dict:
    """The official HSDS 3.0 data package descriptor."""
    return json.loads(path.read_text(encoding="utf-8"))


def _resources(schema: dict) -> dict[str, dict]:
    return {r["name"]: r for r in schema["resources"]}


# -- writer ----------------------------------------------------------------------------

class _Tables:
    """Rows per HSDS table, keyed by the official column order."""

    def __init__(self, schema: dict):
        self.columns = {name: [f["name"] for f in res["schema"]["fields"]]
                        for name, res in _resources(schema).items() if name in TABLES}
        self.rows: dict[str, list[dict]] = defaultdict(list)
        self.ids: set[str] = set()

    def add(self, table: str, **values) -> str:
        unknown = set(values) - set(self.columns[table])
        assert not unknown, f"{table}: no column(s) {unknown}"
        if values["id"] not in self.ids:
            self.ids.add(values["id"])
            self.rows[table].append(values)
        return values["id"]

    def csv_bytes(self, table: str) -> bytes:
        columns = self.columns[table]
        out = [csv_line(columns)]
        out += [csv_line(["" if row.get(c) is None else row.get(c) for c in columns])
                for row in self.rows[table]]
        return "".join(out).encode("utf-8")


def _vocabulary_terms(t: _Tables) -> dict[tuple[str, str], str]:
    """Taxonomies and their terms; returns ``{(taxonomy, code): term id}``."""
    vocabulary = load_vocabulary()
    terms: dict[tuple[str, str], str] = {}
    taxonomies = {
        "modalities": ("Treatment modalities (hierarchical; a parent includes its children)",
                       [(m.slug, m.name, m.parent, "; ".join(m.synonyms) or m.name)
                        for m in vocabulary.modalities]),
        "designations": ("Designations and accreditations of cancer centers",
                         [(d.slug, d.name, None, d.issuer or d.name)
                          for d in vocabulary.designations]),
        "center-kinds": ("Kinds of treatment site",
                         [(k, k.replace("-", " ").capitalize(), None, f"Center kind: {k}")
                          for k in KINDS]),
        "center-statuses": ("Operating status of a treatment site",
                            [(s, s.replace("-", " ").capitalize(), None, f"Status: {s}")
                             for s in STATUSES]),
    }
    for key, (description, entries) in taxonomies.items():
        name = TAXONOMY_PREFIX + key
        tax_id = t.add("taxonomy", id=_uuid("taxonomy", key), name=name,
                       description=description, version="1")
        for code, *_ in entries:
            terms[(key, code)] = _uuid("term", key, code)
        for code, label, parent, term_description in entries:
            t.add("taxonomy_term", id=terms[(key, code)], code=code, name=label,
                  description=term_description,
                  parent_id=terms[(key, parent)] if parent else None, taxonomy=name,
                  language="en", taxonomy_id=tax_id)
    return terms


def _split_address(address: str | None) -> tuple[str | None, str | None]:
    if not address:
        return None, None
    first, _, rest = address.partition("\n")
    return first, rest or None


def _claims_text(center: Center, slug: str) -> tuple[str, str, str | None]:
    """(provenance values, human description, latest evidence date) for one modality."""
    claims = sorted((cm for cm in center.modalities if cm.modality.slug == slug),
                    key=lambda cm: (cm.provenance, cm.source))
    provenances = "; ".join(sorted({cm.provenance for cm in claims}))
    parts = []
    for cm in claims:
        when = f", {cm.verified_on.isoformat()}" if cm.verified_on else ""
        evidence = f": {cm.evidence}" if cm.evidence else ""
        parts.append(f"{cm.provenance} by {cm.source}{when}{evidence}")
    dates = [cm.verified_on for cm in claims if cm.verified_on]
    return provenances, "; ".join(parts), max(dates).isoformat() if dates else None


def export_package(session: so.Session, schema: dict | None = None) -> bytes:
    """The whole directory as an HSDS 3.0 tabular data package: zip bytes holding one CSV per
    table (official columns, UTF-8, CRLF) and ``datapackage.json`` (the official schemas of
    those tables)."""
    schema = schema or load_schema()
    t = _Tables(schema)
    terms = _vocabulary_terms(t)
    position = {m.slug: i for i, m in enumerate(load_vocabulary().modalities)}
    for center, row in directory_centers(session):
        key = row[0] or center.natural_key
        loc_id = _uuid("location", key)
        if center.organization is not None:
            org_id = t.add("organization", id=_uuid("organization", center.organization.name),
                           name=center.organization.name,
                           description=f"Health system of {center.organization.name}",
                           website=center.organization.website)
            loc_org = org_id
        else:
            org_id = t.add("organization", id=_uuid("center-organization", key),
                           name=center.name,
                           description=f"Operator of {center.name} (no health system "
                                       f"recorded in the directory)")
            loc_org = None
        t.add("location", id=loc_id, location_type="physical", url=center.website,
              organization_id=loc_org, name=center.name,
              alternate_name=center.alternate_names, description=center.description,
              latitude=row[9] or None, longitude=row[10] or None,
              external_identifier=row[0] or None, external_identifier_type=center.source)
        if any((center.address, center.city, center.region, center.postal_code,
                center.country)):
            line1, line2 = _split_address(center.address)
            t.add("address", id=_uuid("address", key), location_id=loc_id,
                  address_1=line1 or UNKNOWN, address_2=line2, city=center.city or UNKNOWN,
                  state_province=center.region or UNKNOWN,
                  postal_code=center.postal_code or UNKNOWN,
                  country=center.country or UNKNOWN, address_type="physical")
        if center.phone:
            t.add("phone", id=_uuid("phone", key), location_id=loc_id, number=center.phone,
                  type="voice")
        if center.email:
            t.add("contact", id=_uuid("contact", key), location_id=loc_id,
                  email=center.email)
        for taxonomy, code, value in (("center-kinds", center.kind, None),
                                      ("center-statuses", center.status, None)):
            if (taxonomy, code) in terms:
                t.add("attribute", id=_uuid("attribute", key, taxonomy), link_id=loc_id,
                      taxonomy_term_id=terms[(taxonomy, code)], link_type=taxonomy,
                      link_entity="location", value=value)
        for cd in sorted(center.designations, key=lambda d: d.designation.slug):
            slug = cd.designation.slug
            t.add("attribute", id=_uuid("attribute", key, "designation", slug),
                  link_id=loc_id, taxonomy_term_id=terms[("designations", slug)],
                  link_type="designation", link_entity="location",
                  value=cd.as_of.isoformat() if cd.as_of else None)
        slugs = sorted({cm.modality.slug for cm in center.modalities},
                       key=lambda s: (position.get(s, 999), s))
        for slug in slugs:
            provenances, description, latest = _claims_text(center, slug)
            modality = next(cm.modality for cm in center.modalities
                            if cm.modality.slug == slug)
            service_id = t.add("service", id=_uuid("service", key, slug),
                               organization_id=org_id, name=modality.name,
                               description=description,
                               status=STATUSES.get(center.status, "active"),
                               assured_date=latest)
            t.add("service_at_location", id=_uuid("service_at_location", key, slug),
                  service_id=service_id, location_id=loc_id)
            t.add("attribute", id=_uuid("attribute", key, "modality", slug),
                  link_id=service_id, taxonomy_term_id=terms[("modalities", slug)],
                  link_type="modality", link_entity="service", value=provenances)
    return _zip(t, schema)


def package_descriptor(schema: dict, tables=TABLES) -> dict:
    """``datapackage.json`` for a package holding ``tables``: the official table schemas,
    without foreign keys to tables the package does not hold."""
    resources = []
    for name, res in _resources(schema).items():
        if name not in tables:
            continue
        res = json.loads(json.dumps(res))
        fks = [fk for fk in res["schema"].get("foreignKeys", [])
               if fk["reference"]["resource"] in tables]
        if fks:
            res["schema"]["foreignKeys"] = fks
        else:
            res["schema"].pop("foreignKeys", None)
        resources.append(res)
    return {
        "name": "oncology-center-directory",
        "title": "Oncology center directory (Open Referral HSDS 3.0)",
        "description": ("Hospitals and cancer centers with the treatment modalities they "
                        "are reported to offer. A center is an HSDS location; each modality "
                        "is a service at it, linked to the modality taxonomy by an "
                        f"attribute. Required address parts we do not know read "
                        f"'{UNKNOWN}'. Cells that could run as spreadsheet formulas start "
                        "with a single quote. A missing modality means 'not reported', "
                        "never 'not offered'. Not medical advice."),
        "profile": "tabular-data-package",
        "version": schema.get("version", "3.0.0"),
        "resources": resources,
    }


def _zip(t: _Tables, schema: dict) -> bytes:
    descriptor = package_descriptor(schema)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        for res in descriptor["resources"]:
            info = zipfile.ZipInfo(res["path"], date_time=(2024, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, t.csv_bytes(res["name"]))
        info = zipfile.ZipInfo("datapackage.json", date_time=(2024, 1, 1, 0, 0, 0))
        info.compress_type = zipfile.ZIP_DEFLATED
        zf.writestr(info, json.dumps(descriptor, indent=2, ensure_ascii=False) + "\n")
    return buffer.getvalue()
