"""What pages show, formatted: distances in the reader's unit, region and country labels,
phone numbers, safe links, the search URL with one parameter changed, the map's markers, and
where each shown field of a center came from (:func:`center_provenance`). Registered on the
app as Jinja filters and context (:func:`register`)."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import sqlalchemy as sa
import sqlalchemy.orm as so
from flask import Flask, current_app, url_for
from flask_babel import get_locale
from flask_babel import gettext as _

from directory.curation.resolve import EDITOR, RECORD_FIELDS
from directory.curation.suggest import SUGGESTION
from directory.geo import KM_PER_MILE
from directory.guide import load_guide
from directory.models import KIND_LABELS, NON_TREATING_KINDS, Center, DataSource, SourceRecord
from directory.search.order import STATUS_UNKNOWN_SOURCES
from directory.text import N_
from directory.vocabulary import load_vocabulary

#: The shown fields of a list item that ``field_sources`` covers (a detail covers every
#: :data:`~directory.curation.resolve.RECORD_FIELDS` field).
ITEM_FIELDS = ("name", "kind", "address", "city", "region", "postal_code", "country",
               "latitude", "longitude", "geocode_precision", "phone", "website", "status")


def search_url(args, **changes) -> str:
    """``/centers`` with ``args`` (a MultiDict) changed: a value of ``None`` removes the key,
    a list sets several values; ``page`` resets to 1 unless given."""
    items = {k: v for k, v in args.lists() if v and any(v)}
    items.pop("page", None)
    for key, value in changes.items():
        if value is None:
            items.pop(key, None)
        else:
            items[key] = value if isinstance(value, list) else [value]
    pairs = [(k, v) for k, vs in items.items() for v in vs if v not in ("", None)]
    return url_for("public.centers") + ("?" + urlencode(pairs) if pairs else "")


def to_unit(km: float | None, unit: str) -> float | None:
    """A distance in km shown in ``unit`` (``km`` or ``mi``)."""
    if km is None:
        return None
    return km / KM_PER_MILE if unit == "mi" else km


def site_root() -> str:
    """The site's scheme and host, ``PUBLIC_BASE_URL`` when set, else the request's
    (trusted: ``TRUSTED_HOSTS``) host; ``""`` on the 400 page of an untrusted host, whose
    name is never written back."""
    from flask import current_app, request
    from werkzeug.exceptions import SecurityError

    base = current_app.config.get("PUBLIC_BASE_URL")
    if base:
        return base
    try:
        return request.host_url.rstrip("/")
    except SecurityError:
        return ""


def page_url() -> str:
    """The current page's absolute URL (:func:`site_root`): for share links, the print
    footer and the ``hreflang`` alternates."""
    from flask import request

    return site_root() + request.script_root + request.full_path.rstrip("?")


def inject_helpers():
    from directory.web.i18n import guide_language

    return {"search_url": search_url, "to_unit": to_unit, "page_url": page_url,
            "site_root": site_root,
            "vocabulary": load_vocabulary(),
            "guide_pages": load_guide(guide_language()), "KIND_LABELS": KIND_LABELS,
            "NON_TREATING_KINDS": NON_TREATING_KINDS,
            "STATUS_UNKNOWN_SOURCES": STATUS_UNKNOWN_SOURCES}


def country_name(code: str | None) -> str:
    """``"US"`` -> ``"United States"``; unknown codes are returned as given."""
    if not code:
        return ""
    import pycountry

    country = pycountry.countries.get(alpha_2=code)
    return getattr(country, "common_name", None) or (country.name if country else code)


def region_label(region: str | None) -> str:
    """``"US-TX"`` -> ``"TX"``; free-text regions are returned as given."""
    if not region:
        return ""
    return region.split("-", 1)[1] if len(region) <= 6 and "-" in region else region


def phone_display(e164: str | None, country: str | None = None) -> str:
    """An E.164 number in international format, as anyone can dial it from anywhere
    (``+49 30 450564222``, ``+1 617-632-3000``); text that is not a number is returned as
    stored. ``country`` is the region a number without ``+`` is read in (default US)."""
    import phonenumbers

    if not e164:
        return ""
    try:
        number = phonenumbers.parse(e164, country or "US")
    except phonenumbers.NumberParseException:
        return e164
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL)


def safe_url(url: str | None) -> str | None:
    """``url`` as a safe http(s) link, else ``None`` (no ``javascript:`` links): the same
    check as every write path (:func:`directory.importer.fields.safe_website`)."""
    from directory.importer.fields import safe_website

    return safe_website(url)


MAX_COMPARE = 3


DEFAULT_TILE_URL = "https://tile.openstreetmap.org/{z}/{x}/{y}.png"


DEFAULT_TILE_ATTRIBUTION = ('&copy; <a href="https://www.openstreetmap.org/copyright">'
                            'OpenStreetMap</a> contributors')


APPROXIMATE = ("postal_code", "city")


def map_settings() -> dict:
    """Tile URL and attribution for the map (``MAP_TILE_URL``, ``MAP_TILE_ATTRIBUTION``;
    default OpenStreetMap's tile server). An empty ``MAP_TILE_URL`` draws markers on a blank
    map (no tile requests)."""
    config = current_app.config
    url = config.get("MAP_TILE_URL")
    return {"tile_url": DEFAULT_TILE_URL if url is None else url,
            "attribution": config.get("MAP_TILE_ATTRIBUTION") or DEFAULT_TILE_ATTRIBUTION}


def map_point(center: Center, distance_km: float | None = None, unit: str = "km") -> dict | None:
    """One marker for ``static/map.js`` (``None`` without coordinates)."""
    if center.latitude is None or center.longitude is None:
        return None
    point = {"id": center.id, "name": center.name,
             "lat": round(center.latitude, 6), "lon": round(center.longitude, 6),
             "url": url_for("public.center", center_id=center.id),
             "place": ", ".join(p for p in (center.city, region_label(center.region),
                                            center.country) if p),
             "approx": center.geocode_precision if center.geocode_precision in APPROXIMATE
             else None}
    if distance_km is not None:
        from directory.web.i18n import distance

        point["distance"] = distance(distance_km, unit)
    return point


def inject_map_helpers():
    return {"map_settings": map_settings, "map_point": map_point, "MAX_COMPARE": MAX_COMPARE,
            "center_provenance": center_provenance}


# -- provenance: where each shown field came from --------------------------------------

#: What people read for :attr:`Center.status` (kinds: :data:`directory.models.KIND_LABELS`).
STATUS_LABELS = {"active": N_("Open"), "temporarily-closed": N_("Temporarily closed"),
                 "closed": N_("Closed")}


def kind_label(kind: str | None) -> str:
    """``"cancer-center"`` -> ``"Cancer center"`` (in the page's language); unknown kinds
    as given."""
    return _(KIND_LABELS[kind]) if kind in KIND_LABELS else (kind or "").replace("-", " ")


def status_label(status: str | None) -> str:
    """``"temporarily-closed"`` -> ``"Temporarily closed"`` (in the page's language);
    unknown ones as given."""
    return _(STATUS_LABELS[status]) if status in STATUS_LABELS \
        else (status or "").replace("-", " ")


def _as_date(text: str | None) -> dt.date | None:
    """``"2024-11-06"``, ``"2014-11"`` or ``"2025"`` (as a data source's ``as_of``) as a
    date, the first day of a month or year given alone; else ``None``."""
    text = (text or "").strip()
    for fmt, size in (("%Y-%m-%d", 10), ("%Y-%m", 7), ("%Y", 4)):
        if len(text) >= size:
            try:
                return dt.datetime.strptime(text[:size], fmt).date()
            except ValueError:
                continue
    return None


def date_label(value: str | dt.date | None) -> str:
    """A dataset date for people: the first of a month reads as the month (``"May 2023"``:
    datasets are published monthly or yearly, and a month or year given alone is stored as
    its first day), any other day as ISO (``"2024-11-06"``). ``"2014-11"`` and ``"2025"``
    (a source's ``as_of``) read as ``"November 2014"`` and ``"2025"``; other text as given.
    On a page in another language, Babel's forms: ``"mayo de 2023"``, ``"6 nov 2024"``."""
    if value is None or value == "":
        return ""
    if isinstance(value, dt.date):
        from babel.dates import format_date, format_skeleton

        locale = get_locale()
        if locale is None or locale.language == "en":
            locale = "en"
        if value.day == 1:
            return format_skeleton("yMMMM", value, locale=locale)
        return value.isoformat() if locale == "en" else format_date(value, "medium",
                                                                     locale=locale)
    text = str(value).strip()
    if len(text) == 4 and text.isdigit():
        return text
    if len(text) == 7 and _as_date(text):
        return date_label(_as_date(text))
    if len(text) == 10 and _as_date(text):
        return date_label(_as_date(text))
    return text


@dataclass(frozen=True)
class Origin:
    """Where one shown field of a center came from: the source's slug (``editor``: set by
    hand) and display name, the row's id in that source, and the dataset's date (ISO
    ``YYYY-MM-DD``, ``None`` when unknown). ``date_text`` is what people read (for a center
    without source records, the source's ``as_of`` text as given)."""

    source: str
    source_name: str
    external_id: str | None
    date: str | None
    date_text: str = ""

    @property
    def by_editor(self) -> bool:
        return self.source == EDITOR

    @property
    def label(self) -> str:
        """``"Source: HIFLD hospitals, May 2023"`` (``..., date not known`` without a date),
        or ``"Set by an editor, 2026-12-06"``."""
        if self.by_editor:
            return _("Set by an editor, %(date)s", date=self.date) if self.date \
                else _("Set by an editor")
        if self.source == SUGGESTION and self.date_text:
            return self.date_text  # "Reported by someone at the center, reviewed on ..."
        return _("Source: %(source)s, %(date)s", source=self.source_name,
                 date=self.date_text or _("date not known"))

    def as_json(self) -> dict[str, str | None]:
        """The API shape: ``{"source", "external_id", "date"}``."""
        return {"source": self.source, "external_id": self.external_id, "date": self.date}


@dataclass(frozen=True)
class RecordLink:
    """One source record linked to a center, as the center page and the API list it."""

    id: int
    source: str
    source_name: str
    external_id: str | None
    dataset_date: dt.date | None
    link_rule: str
    link_score: float | None
    link_reason: str | None
    primary: bool = False

    @property
    def by_editor(self) -> bool:
        return self.source == EDITOR

    @property
    def why(self) -> str:
        """Why the record belongs to the center, in words: the rule ``first`` and
        ``editor`` are explained; any other rule gives its recorded reason."""
        if self.by_editor or self.link_rule == EDITOR:
            return _("Values an editor of this directory set by hand.")
        if self.link_rule == "first":
            return _("This listing was first created from this record.")
        if self.link_reason:
            from directory.web.i18n_data import link_reason

            return link_reason(self.link_reason)
        return _("Matched by the rule “%(rule)s”.", rule=self.link_rule)

    def as_json(self) -> dict:
        """The API shape."""
        return {"source": self.source, "external_id": self.external_id,
                "dataset_date": self.dataset_date.isoformat() if self.dataset_date else None,
                "link_rule": self.link_rule, "link_score": self.link_score,
                "link_reason": self.link_reason}




class CenterProvenance:
    """Where each shown field of one center came from (:meth:`origin`) and every record
    linked to it (:attr:`records`: the first record first, then by id, an editor's last).

    The rule (:mod:`directory.curation.resolve`): a field named in
    :attr:`Center.field_sources` came from the record named there; any other field from the
    center's first record (its ``source`` and ``external_id``; else the oldest imported
    one) when that record gives it, else from no source (the value is empty or a default).
    A center without records falls back to ``center.source`` and the source's ``as_of``."""

    def __init__(self, center: Center, records: Sequence[RecordLink],
                 primary_values: Mapping[str, Any] | None,
                 sources: Mapping[str, tuple[str, str | None]]):
        self.center = center
        self.records = sorted(records, key=lambda r: (not r.primary, r.by_editor, r.id))
        self._primary = next((r for r in self.records if r.primary), None)
        self._primary_values = primary_values or {}
        self._sources = sources
        try:
            stored = json.loads(center.field_sources) if center.field_sources else {}
        except ValueError:
            stored = {}
        self._stored = stored if isinstance(stored, dict) else {}

    @property
    def status_unverified(self) -> bool:
        """Whether every record of the center comes from a source that does not say if a
        hospital is open (:data:`STATUS_UNKNOWN_SOURCES`): its status is not verified
        (records of accepted suggestions aside, unless the status shown is theirs)."""
        origin = self._stored.get("status")
        if isinstance(origin, dict) and origin.get("source") == SUGGESTION:
            return False  # reported to us, and reviewed by an editor
        listed = [r for r in self.records if r.source != SUGGESTION]
        imported = [r for r in listed if not r.by_editor]
        return bool(imported) and len(imported) == len(listed) and all(
            r.source in STATUS_UNKNOWN_SOURCES for r in imported)

    def source_name(self, slug: str) -> str:
        """The source's display name (:attr:`DataSource.name`), else its slug."""
        from directory.web.i18n_data import own_source_text

        found = self._sources.get(slug)
        return own_source_text(slug, "name", found[0]) if found and found[0] else slug

    def _origin(self, source: str, external_id: str | None, date: str | None,
                date_text: str | None = None) -> Origin:
        if source == SUGGESTION and date_text is None:  # who reported it, when reviewed
            record = next((r for r in self.records if r.source == SUGGESTION
                           and r.external_id == external_id), None)
            from directory.web.i18n_data import link_reason

            date_text = link_reason(record.link_reason).rstrip(".") if record else None
        return Origin(source, self.source_name(source), external_id, date,
                      date_text if date_text is not None else
                      (date if source == EDITOR else date_label(date)))

    def origin(self, field: str) -> Origin | None:
        """Where ``field`` (a :data:`~directory.curation.resolve.RECORD_FIELDS` name) came
        from, or ``None`` when no source gives it."""
        stored = self._stored.get(field)
        if isinstance(stored, dict) and stored.get("source"):
            return self._origin(stored["source"], stored.get("external_id"),
                                stored.get("date"))
        if self._primary is not None:
            if self._primary_values.get(field) in (None, ""):
                return None
            p = self._primary
            return self._origin(p.source, p.external_id,
                                p.dataset_date.isoformat() if p.dataset_date else None)
        if self.records:  # only an editor's record, no imported one
            return None
        value = self.center.organization if field == "organization" \
            else getattr(self.center, field, None)
        if value in (None, ""):
            return None
        as_of = self._sources.get(self.center.source, ("", None))[1]
        date = _as_date(as_of)
        return self._origin(self.center.source, self.center.external_id,
                            date.isoformat() if date else None, date_label(as_of))

    def origins(self, *fields: str) -> list[Origin]:
        """The distinct origins of several fields shown together (the address lines),
        in field order."""
        out: list[Origin] = []
        for name in fields:
            found = self.origin(name)
            if found is not None and found not in out:
                out.append(found)
        return out

    def field_sources(self, fields: Iterable[str] = RECORD_FIELDS) -> dict:
        """``{field: {"source", "external_id", "date"} or None}`` for every one of
        ``fields`` (the API's ``field_sources``: ``None`` when no source gives it)."""
        return {name: (o.as_json() if (o := self.origin(name)) else None) for name in fields}


def center_provenances(session: so.Session, centers: Sequence[Center],
                       sources: Mapping[str, DataSource] | None = None, *,
                       names: bool = True) -> dict[int, CenterProvenance]:
    """:class:`CenterProvenance` of each of ``centers`` by id, in two statements whatever
    their number: their records (columns only, no ORM rows) and the names and dates of
    the sources involved. No second statement when ``sources`` (every
    :class:`DataSource` by slug) is given, nor with ``names=False`` (slugs stand for names,
    as the API needs) unless a center has no records (its source's ``as_of`` is read)."""
    ids = [c.id for c in centers]
    rows = session.execute(
        sa.select(SourceRecord.center_id, SourceRecord.id, SourceRecord.source,
                  SourceRecord.external_id, SourceRecord.dataset_date,
                  SourceRecord.link_rule, SourceRecord.link_score, SourceRecord.link_reason,
                  SourceRecord.values)
        .where(SourceRecord.center_id.in_(ids)).order_by(SourceRecord.id)).all() \
        if ids else []
    by_center: dict[int, list] = {cid: [] for cid in ids}
    for row in rows:
        by_center[row.center_id].append(row)
    if sources is None:
        wanted = {c.source for c in centers} | {row.source for row in rows} if names \
            else {c.source for c in centers if not by_center[c.id]}
        known = {slug: (name, as_of) for slug, name, as_of in session.execute(
            sa.select(DataSource.slug, DataSource.name, DataSource.as_of)
            .where(DataSource.slug.in_(sorted(wanted))))} if wanted else {}
    else:
        known = {slug: (s.name, s.as_of) for slug, s in sources.items()}
    from directory.web.i18n_data import own_source_text

    out = {}
    for center in centers:
        mine = by_center[center.id]
        primary = next((r for r in mine if r.source == center.source
                        and r.external_id == center.external_id), None) \
            or next((r for r in mine if r.source != EDITOR), None)
        try:
            values = json.loads(primary.values or "{}") if primary is not None else None
        except ValueError:
            values = None
        links = [RecordLink(r.id, r.source, own_source_text(
                                r.source, "name", (known.get(r.source) or (r.source,))[0])
                            or r.source,
                            r.external_id, r.dataset_date, r.link_rule or "first",
                            r.link_score, r.link_reason,
                            primary=primary is not None and r.id == primary.id) for r in mine]
        out[center.id] = CenterProvenance(center, links,
                                          values if isinstance(values, dict) else None, known)
    return out


def center_provenance(center: Center, sources: Mapping[str, DataSource] | None = None,
                      session: so.Session | None = None) -> CenterProvenance:
    """:class:`CenterProvenance` of one center (two statements; one with ``sources``).
    Registered for templates: ``{% set prov = center_provenance(c, sources) %}``, then
    ``prov.origin('phone').label`` and ``prov.records``."""
    if session is None:
        from directory.extensions import db

        session = db.session
    return center_provenances(session, [center], sources)[center.id]


def register(app: Flask) -> None:
    """The filters (``country_name``, ``region_label``, ``phone_display``, ``safe_url``,
    ``date_label``, ``kind_label``, ``status_label``) and the template context
    (``search_url``, ``to_unit``, ``page_url``, the map helpers, ``center_provenance``) of
    every page."""
    for name in ("country_name", "region_label", "phone_display", "safe_url", "date_label",
                 "kind_label", "status_label"):
        app.add_template_filter(globals()[name], name)
    app.context_processor(inject_helpers)
    app.context_processor(inject_map_helpers)
    from directory.web.i18n import register_filters
    from directory.web.i18n_data import (
        description_text,
        evidence_text,
        source_attribution,
        source_note_text,
        source_publisher,
        source_title,
    )

    register_filters(app)
    for func in (description_text, evidence_text, source_title, source_publisher,
                 source_note_text, source_attribution):
        app.add_template_filter(func, func.__name__)
