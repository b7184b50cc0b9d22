"""Validate step: raw records to clean :class:`CenterRecord` values, or issues.

Pure: no session, no network. Every problem is an :class:`Issue` with the physical line,
the file's own column name and a reason; an ``error`` rejects the row, a ``warning`` keeps it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from directory.importer.fields import (
    KINDS,
    MAX_LENGTHS,
    STATUSES,
    _clean_values,
    _short,
    clean_fields,
    kind_from_name,
    natural_key,
    parse_coordinate,
    recase,
    resolve_country,
    resolve_region,
)
from directory.importer.format_base import FACT_PREFIX, RawRecord
from directory.importer.read import MAX_CELL
from directory.inference import load_inferences
from directory.models import CENTER_KINDS
from directory.text import fold, nfc
from directory.vocabulary import Vocabulary, split_terms

_CONTACT = ("postal_code", "phone", "website", "email")


@dataclass(frozen=True)
class Issue:
    """A problem at ``line`` (1-based, physical), ``column`` (header as written)."""

    line: int
    column: str | None
    severity: str            # "error" rejects the row, "warning" keeps it
    message: str

    def __str__(self) -> str:
        col = f"{self.column}: " if self.column else ""
        return f"{self.line}:{col}{self.message}" if not self.column else \
            f"{self.line}:{self.column}: {self.message}"


@dataclass(frozen=True)
class ModalityClaim:
    """A modality a record says the center offers."""

    slug: str
    provenance: str = "reported"
    evidence: str | None = None
    verified_on: dt.date | None = None


#: Record fields that a row can give (the keys of a source record's values).
RECORD_FIELDS = frozenset({"name", "kind", "address", "city", "region", "postal_code",
                           "country", "latitude", "longitude", "geocode_precision", "phone",
                           "website", "email", "status", "description", "alternate_names",
                           "organization", "modalities", "designations"})
ALL_GIVEN = RECORD_FIELDS
# Always part of a record: coordinates are the row's own or derived from its address.
#: The longest fact of a source record kept (CMS ownership, beds...): longer is a broken cell.
MAX_FACT = 200
_ALWAYS = frozenset({"name", "latitude", "longitude", "geocode_precision"})


@dataclass(slots=True)
class CenterRecord:
    """A validated center, ready to geocode and write. Coordinates are WGS-84 degrees.

    The multi-valued fields are tuples: the :class:`Validator` gives records with the same
    values the same tuple (and the same string for a repeated city or description), so a
    large file's records take less memory."""

    line: int
    name: str
    external_id: str | None = None
    alternate_names: tuple[str, ...] = ()
    kind: str = "hospital"
    address: str | None = None
    city: str | None = None
    region: str | None = None
    postal_code: str | None = None
    country: str | None = None
    latitude: float | None = None
    longitude: float | None = None
    geocode_precision: str = "none"
    phone: str | None = None
    website: str | None = None
    email: str | None = None
    status: str = "active"
    description: str | None = None
    organization: str | None = None
    modalities: tuple[ModalityClaim, ...] = ()
    designations: tuple[str, ...] = ()
    columns: dict[str, str] = field(default_factory=dict)
    #: The fields the row gave (its file's columns and its format's constants): a re-import
    #: changes only these; a field the file has no column for keeps the stored value.
    given: frozenset[str] = ALL_GIVEN
    #: What the source says beyond the center's fields (``{"ownership": "Proprietary",
    #: "overall_rating": "4"}``: its ``fact_*`` columns, as written), kept on the source
    #: record and shown with it; ``None`` when the file has no such column.
    facts: dict[str, str] | None = None
    _folded: str | None = field(default=None, repr=False, compare=False)

    @property
    def name_folded(self) -> str:
        """``fold(name)`` (computed once: the writer and the duplicate check both use it;
        slots, not a cached_property, keep 100k records ~10 % smaller)."""
        if self._folded is None:
            self._folded = fold(self.name)
        return self._folded

    @property
    def natural_key(self) -> str:
        """Fallback re-import key: casefold(NFKC(name)) | postal code | country."""
        return natural_key(self.name, self.postal_code, self.country)


# Distinct values a Validator shares between its records (beyond: new objects, as before).
MAX_SHARED = 50_000


class Validator:
    """Validates mapped records against the vocabulary; keeps the in-file duplicate index."""

    def __init__(self, vocabulary: Vocabulary, *, source: str, today: dt.date | None = None,
                 repeated_ids: str = "error"):
        """``repeated_ids``: what a repeated id in the file is (see
        :attr:`directory.importer.format_base.Format.repeated_ids`)."""
        self.vocabulary = vocabulary
        self.repeated_ids = repeated_ids
        self.source = source
        self.today = today or dt.date.today()
        self.rules = load_inferences()
        self.seen_ids: dict[str, int] = {}
        self.seen_keys: dict[str, int] = {}
        self._modality_cells: dict[str, tuple] = {}
        self._designation_terms: dict[str, object] = {}
        self._columns_of: dict | None = None
        self._columns_copy: dict[str, str] = {}
        self._shared: dict = {}
        self._facts: dict[tuple, dict[str, str]] = {}
        self._given_sets: dict[tuple, frozenset[str]] = {}

    def _share(self, value):
        """The equal value (string or tuple) an earlier record holds, else ``value``
        (remembered for the next records, up to :data:`MAX_SHARED` of them)."""
        shared = self._shared.get(value)
        if shared is not None:
            return shared
        if len(self._shared) < MAX_SHARED:
            self._shared[value] = value
        return value

    def _modality_terms(self, cell: str) -> tuple[tuple[ModalityClaim, ...], tuple[str, ...]]:
        """The reported claims of a modalities cell (one per slug, in order) and its unknown
        terms. Cells repeat from row to row, so each distinct one is resolved once."""
        hit = self._modality_cells.get(cell)
        if hit is None:
            claims, unknown, have = [], [], set()
            for term in split_terms(cell) if cell else ():
                slug = self.vocabulary.resolve(term)
                if slug is None:
                    unknown.append(term)
                elif slug not in have:
                    have.add(slug)
                    claims.append(ModalityClaim(slug, "reported", None, self.today))
            hit = (tuple(claims), tuple(unknown))
            if len(self._modality_cells) < 50_000:
                self._modality_cells[cell] = hit
        return hit

    def _share_facts(self, facts: dict[str, str]) -> dict[str, str]:
        """One dict for equal facts (most rows of a file repeat a few combinations)."""
        key = tuple(sorted(facts.items()))
        shared = self._facts.get(key)
        if shared is None and len(self._facts) < MAX_SHARED:
            shared = self._facts[key] = facts
        return shared or facts

    def _columns(self, cols: dict[str, str]) -> dict[str, str]:
        """A copy of the record's column names, shared by the records of one file (they
        all have the same header; a dict per record was ~1 KB each)."""
        if cols is not self._columns_of:
            self._columns_of, self._columns_copy = cols, dict(cols)
        elif cols != self._columns_copy:  # the caller changed its dict in between
            self._columns_copy = dict(cols)
        return self._columns_copy

    def _given(self, raw: RawRecord) -> frozenset[str]:
        """The record fields ``raw`` gives: its mapped columns and its format's constants
        (one shared frozenset per distinct combination)."""
        key = (frozenset(raw.values), frozenset(raw.defaults))
        given = self._given_sets.get(key)
        if given is None:
            given = self._given_sets[key] = _ALWAYS | ((key[0] | key[1]) & RECORD_FIELDS) | (
                {"facts"} if any(k.startswith(FACT_PREFIX) for k in key[0]) else set())
        return given

    def _designation(self, term: str):
        """The designation a term names (slug or name, folded), or ``None``; memoised."""
        if term not in self._designation_terms:
            self._designation_terms[term] = self.vocabulary.designation(term) or next(
                (d for d in self.vocabulary.designations if fold(d.name) == fold(term)), None)
        return self._designation_terms[term]

    def validate(self, raw: RawRecord, too_long: list[str] | None = None
                 ) -> tuple[CenterRecord | None, list[Issue]]:
        """Validate one record. Returns the record (``None`` if rejected) and its issues."""
        issues: list[Issue] = []
        cols = raw.columns

        def col(name: str) -> str:
            return cols.get(name, name)

        def err(name: str, message: str) -> None:
            issues.append(Issue(raw.line, col(name), "error", _short(message)))

        def warn(name: str, message: str) -> None:
            issues.append(Issue(raw.line, col(name), "warning", _short(message)))

        for name, message in raw.errors:
            err(name, message)
        for column in too_long or []:
            issues.append(Issue(raw.line, column, "error",
                                f"field too long at line {raw.line} (max {MAX_CELL} characters)"))
        given = self._given(raw)
        facts = None
        if "facts" in given:  # as written ("Not Available" with its footnote is a fact),
            facts = {}  # printable, one line, at most MAX_FACT characters
            for key, value in raw.values.items():
                if not key.startswith(FACT_PREFIX) or not value or not value.strip():
                    continue
                text = nfc("".join(c if c.isprintable() else " " for c in value))
                if len(text) > MAX_FACT:
                    issues.append(Issue(raw.line, cols.get(key, key), "warning",
                                        f"{key[len(FACT_PREFIX):].replace('_', ' ')} is "
                                        f"{len(text):,} characters long (max {MAX_FACT}); "
                                        f"left out"))
                elif text:
                    facts[key[len(FACT_PREFIX):]] = text
        values = _clean_values({k: v for k, v in raw.values.items()
                                if not k.startswith(FACT_PREFIX)})
        for key, value in raw.defaults.items():
            if not values.get(key):
                values[key] = value
        recase_text = recase if values.pop("recase", "") else (lambda s: s)

        name = recase_text(values.get("name", ""))
        if not name:
            err("name", "name is required")
        elif len(name) > 300:
            err("name", f"name is {len(name)} characters long (max 300)")

        country = None
        if values.get("country"):
            country = resolve_country(values["country"])
            if country is None:
                err("country", f"unknown country {values['country']!r} (use an ISO 3166 code "
                               f"or an English name)")
        region = None
        if values.get("region"):
            region = resolve_region(values["region"], country) or values["region"]
            if len(region) > 120:
                warn("region", f"region {region[:30]!r}... is {len(region)} characters long "
                               f"(max 120); left empty")
                region = None

        lat_text, lon_text = values.get("latitude", ""), values.get("longitude", "")
        latitude = longitude = None
        if lat_text or lon_text:
            latitude, longitude = parse_coordinate(lat_text), parse_coordinate(lon_text)
            if lat_text and latitude is None:
                err("latitude", f"latitude {lat_text[:30]!r} is not a number")
            if lon_text and longitude is None:
                err("longitude", f"longitude {lon_text[:30]!r} is not a number")
            if latitude is not None and not -90 <= latitude <= 90:
                err("latitude", f"latitude {latitude} is outside -90..90")
            if longitude is not None and not -180 <= longitude <= 180:
                err("longitude", f"longitude {longitude} is outside -180..180")
            if (latitude is None) != (longitude is None) and not any(
                    i.severity == "error" for i in issues):
                err("latitude" if latitude is None else "longitude",
                    "latitude and longitude must be given together")
            if latitude is not None and longitude is not None and \
                    abs(latitude) < 0.01 and abs(longitude) < 0.01:  # within ~1 km of 0,0
                warn("latitude", f"coordinates {latitude:.6g},{longitude:.6g}: 0,0 are a "
                                 f"placeholder (the sea off West Africa); ignored")
                latitude = longitude = None

        city = recase_text(values.get("city", "")) or None
        if not name:
            pass
        elif latitude is None and not (city and country):
            missing = [f for f, v in (("city", city), ("country", country)) if not v]
            if not any(i.column == col("country") for i in issues):
                err(missing[0], f"{' and '.join(missing)} required when latitude and longitude "
                                f"are not given")

        # The same checks as every other write path (the editor form): fields.clean_fields.
        contact, notes = clean_fields({k: values.get(k, "") for k in _CONTACT}, country)
        for key, note in notes.items():
            warn(key, note)
        postal_code, phone, website, email = (contact[k] for k in _CONTACT)
        # Column sizes (PostgreSQL refuses longer values and the whole flush would fail).
        if city and len(city) > MAX_LENGTHS["city"]:
            err("city", f"city is {len(city)} characters long (max {MAX_LENGTHS['city']})")
        organization = values.get("organization") or None
        if organization and len(organization) > MAX_LENGTHS["organization"]:
            warn("organization", f"organization {organization[:30]!r}... is "
                                 f"{len(organization)} characters long (max "
                                 f"{MAX_LENGTHS['organization']}); left empty")
            organization = None

        status = "active"
        if values.get("status"):
            status = STATUSES.get(values["status"].casefold())
            if status is None:
                warn("status", f"unknown status {values['status']!r}; read as active")
                status = "active"
        kind_text = values.get("kind", "").strip().casefold()
        kind = raw.defaults.get("kind") or KINDS.get(kind_text) or (
            kind_text if kind_text in CENTER_KINDS else "hospital")
        kind = kind_from_name(kind, name)

        claims, unknown = self._modality_terms(values.get("modalities", ""))
        modalities = claims  # a tuple shared by the rows with the same cell
        for term in unknown:
            warn("modalities", f"unknown modality {term!r}")
        designations = ()
        if values.get("designations"):
            inferred, slugs = list(claims), []
            for term in split_terms(values["designations"]):
                spec = self._designation(term)
                if spec is None:
                    warn("designations", f"unknown designation {term!r}")
                elif spec.slug not in slugs:
                    slugs.append(spec.slug)
                    have = {m.slug for m in inferred}
                    # what the designation implies: its rule in seeds/inferences.toml
                    rule = self.rules.for_designation(spec.slug)
                    for slug in rule.infers if rule else ():
                        if slug not in have:
                            inferred.append(ModalityClaim(slug, "inferred", rule.basis,
                                                          self.today))
            if len(inferred) > len(claims):
                modalities = self._share(tuple(inferred))
            if slugs:
                designations = self._share(tuple(slugs))

        external_id = values.get("external_id") or None
        if external_id and len(external_id) > 128:
            err("external_id", "id is longer than 128 characters")
        if any(i.severity == "error" for i in issues):
            return None, issues

        alternate_names = values.get("alternate_names")
        if alternate_names:
            alternate_names = self._share(tuple(split_terms(alternate_names.replace(",", ";"))))
        description = values.get("description") or None
        record = CenterRecord(
            line=raw.line, name=name, external_id=external_id,
            alternate_names=alternate_names or (),
            kind=kind, address=recase_text(values.get("address", "")) or None,
            city=city and self._share(city), region=region, postal_code=postal_code,
            country=country, latitude=latitude, longitude=longitude,
            geocode_precision="rooftop" if latitude is not None else "none",
            phone=phone, website=website, email=email, status=status,
            description=description and self._share(description),
            organization=organization and self._share(organization),
            modalities=modalities, designations=designations, columns=self._columns(cols),
            given=given, facts=facts and self._share_facts(facts))
        # In-file duplicates: same id, or (no id) same natural key.
        if external_id:
            first = self.seen_ids.setdefault(external_id, raw.line)
            if first != raw.line and self.repeated_ids == "skip":
                issues.append(Issue(raw.line, col("external_id"), "warning",
                                    f"same item as line {first} (another website or point "
                                    f"of it); line {first} is used"))
                return None, issues
            if first != raw.line and self.repeated_ids == "natural_key":
                issues.append(Issue(raw.line, col("external_id"), "warning",
                                    f"id {external_id} is also on line {first}: this site is "
                                    f"keyed by name, postal code and country instead"))
                record.external_id = external_id = None
        if external_id:
            dup_col = "external_id"
        else:
            first = self.seen_keys.setdefault(record.natural_key, raw.line)
            dup_col = "name"
        if first != raw.line:
            issues.append(Issue(raw.line, col(dup_col), "error",
                                f"duplicate of line {first} (same "
                                f"{'id' if external_id else 'name, postal code and country'})"))
            return None, issues
        return record, issues
