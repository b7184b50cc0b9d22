"""The read side: one search function shared by the HTML pages and the JSON API.

:func:`find_centers` takes a session and a :class:`SearchQuery` and returns a
:class:`SearchPage`. Semantics (DESIGN.md): text ``q`` on name / alternate names /
organization (case- and accent-insensitive, LIKE wildcards literal); ``city`` prefix match
on the folded city; ``region`` by ISO 3166-2 code, bare code or name; ``country`` ISO
alpha-2; ``modalities`` combine as AND and a parent matches its children (via the
``modality_closure`` table); radius search prefilters with bounding boxes on the indexed
latitude/longitude columns (split at the antimeridian), then keeps and sorts by exact
geodesic distance (WGS-84, km). Closed centers are left out unless asked for. Facet counts
(per modality, parents included, and per country) cover every result, not just the page.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import lru_cache

import pycountry
import sqlalchemy as sa
import sqlalchemy.orm as so

from directory.geocoding import Place, bounding_boxes, geodesic_km_many
from directory.models import (Center, CenterDesignation, CenterModality, Designation, Modality,
                              ModalityClosure)
from directory.text import fold, like_escape

SORTS = ("distance", "name", "relevance")
# SQLite accepts 32,766 bound parameters per statement; stay well below.
_CHUNK = 10_000


class SearchError(ValueError):
    """A search parameter that cannot be used; ``field`` names it (for a 400 response)."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field
        self.message = message


@dataclass(frozen=True)
class SearchQuery:
    """Validated search parameters. ``radius_km`` applies only with ``near``; ``page`` is
    1-based; ``modalities`` are slugs (AND)."""

    q: str | None = None
    near: Place | None = None
    radius_km: float | None = None
    city: str | None = None
    region: str | None = None
    country: str | None = None
    modalities: tuple[str, ...] = ()
    designation: str | None = None
    sort: str | None = None
    page: int = 1
    per_page: int = 20
    include_closed: bool = False

    @property
    def effective_sort(self) -> str:
        """``sort`` if given, else ``distance`` with ``near``, ``relevance`` with ``q``,
        else ``name``."""
        if self.sort:
            return self.sort
        if self.near is not None:
            return "distance"
        return "relevance" if self.q else "name"


@dataclass
class CenterHit:
    """A center in a result, with its geodesic distance in km (``None`` without ``near``)."""

    center: Center
    distance_km: float | None = None


@dataclass
class SearchPage:
    """One page of results: ``items`` in order, ``total`` over all pages, ``facets`` as
    ``{"modality": {slug: count}, "country": {alpha2: count}}``."""

    items: list[CenterHit]
    total: int
    page: int
    per_page: int
    facets: dict[str, dict[str, int]] = field(default_factory=dict)

    @property
    def pages(self) -> int:
        """Number of pages (0 when there are no results)."""
        return math.ceil(self.total / self.per_page) if self.total else 0

    @property
    def has_next(self) -> bool:
        return self.page < self.pages

    @property
    def has_prev(self) -> bool:
        return self.page > 1


@lru_cache(maxsize=1)
def _subdivision_index() -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    by_suffix: dict[str, list[str]] = {}
    by_name: dict[str, list[str]] = {}
    for sub in pycountry.subdivisions:
        by_suffix.setdefault(sub.code.split("-", 1)[1].upper(), []).append(sub.code)
        by_name.setdefault(fold(sub.name), []).append(sub.code)
    return by_suffix, by_name


def region_codes(value: str, country: str | None = None) -> list[str]:
    """ISO 3166-2 codes a region parameter may mean: ``"MN"`` -> ``["US-MN", ...]``,
    ``"Minnesota"`` -> ``["US-MN"]``, ``"US-MN"`` -> ``["US-MN"]``; limited to ``country``
    when given. The raw value is also returned, for regions stored as free text."""
    value = value.strip()
    by_suffix, by_name = _subdivision_index()
    upper = value.upper()
    codes = set()
    if "-" in upper and pycountry.subdivisions.get(code=upper):
        codes.add(upper)
    codes.update(by_suffix.get(upper, ()))
    codes.update(by_name.get(fold(value), ()))
    if country:
        codes = {c for c in codes if c.startswith(country + "-")}
    return sorted(codes) + [value]


def _filters(session: so.Session, query: SearchQuery) -> list:
    conds: list = []
    if not query.include_closed:
        conds.append(Center.status != "closed")
    if query.q:
        tokens = fold(query.q).split()[:10]
        if not tokens:  # only punctuation: nothing can match it literally
            conds.append(sa.false())
        for token in tokens:  # each word must start a word of the name (MSK != Ormskirk)
            escaped = like_escape(token)
            conds.append(sa.or_(Center.search_text.like(f"{escaped}%", escape="\\"),
                                Center.search_text.like(f"% {escaped}%", escape="\\")))
    if query.city:
        folded = fold(query.city)
        conds.append(Center.city_folded.like(f"{like_escape(folded)}%", escape="\\")
                     if folded else sa.false())  # only punctuation: nothing matches
    if query.country:
        conds.append(Center.country == query.country)
    if query.region:
        conds.append(Center.region.in_(region_codes(query.region, query.country)))
    if query.modalities:
        ids = dict(session.execute(sa.select(Modality.slug, Modality.id)
                                   .where(Modality.slug.in_(query.modalities))).all())
        for slug in query.modalities:
            if slug not in ids:
                raise SearchError("modality", f"unknown modality {slug!r}")
            conds.append(sa.exists(
                sa.select(1).select_from(CenterModality)
                .join(ModalityClosure, ModalityClosure.descendant_id == CenterModality.modality_id)
                .where(CenterModality.center_id == Center.id,
                       ModalityClosure.ancestor_id == ids[slug])))
    if query.designation:
        conds.append(sa.exists(
            sa.select(1).select_from(CenterDesignation).join(Designation)
            .where(CenterDesignation.center_id == Center.id,
                   Designation.slug == query.designation)))
    return conds


def _relevance(folded_q: str) -> list:
    """Order terms for ``sort=relevance``: the exact name first, then designated cancer
    centers (someone typing "anderson" in a cancer finder means MD Anderson), then names
    starting with the words, then names containing them at a word start."""
    escaped = like_escape(folded_q)
    designated = sa.exists(sa.select(1).select_from(CenterDesignation)
                           .where(CenterDesignation.center_id == Center.id))
    return [
        sa.case((Center.name_folded == folded_q, 0), else_=1),
        sa.case((designated, 0), else_=1),
        sa.case((Center.name_folded.like(f"{escaped}%", escape="\\"), 0),
                (Center.name_folded.like(f"% {escaped}%", escape="\\"), 1), else_=2),
    ]


def _box_condition(place: Place, radius_km: float):
    boxes = bounding_boxes(place.latitude, place.longitude, radius_km)
    return sa.or_(*[sa.and_(Center.latitude.between(lat0, lat1),
                            Center.longitude.between(lon0, lon1))
                    for lat0, lat1, lon0, lon1 in boxes])


def _eager(stmt):
    return stmt.options(so.selectinload(Center.modalities),
                        so.selectinload(Center.designations))


def find_centers(session: so.Session, query: SearchQuery) -> SearchPage:
    """Run a search.

    :returns: :class:`SearchPage` with distances in km when ``query.near`` is set.
    :raises SearchError: for an unknown modality slug or ``sort=distance`` without ``near``.
    """
    sort = query.effective_sort
    if sort == "distance" and query.near is None:
        raise SearchError("sort", "sort=distance needs a place in 'near'")
    conds = _filters(session, query)
    offset = (query.page - 1) * query.per_page
    if query.near is None:
        base = sa.select(Center.id).where(*conds)
        total = session.scalar(sa.select(sa.func.count()).select_from(base.subquery())) or 0
        order = [Center.name_folded, Center.id]
        if sort == "relevance" and query.q:
            order = [*_relevance(fold(query.q)), *order]
        rows = session.scalars(_eager(sa.select(Center).where(*conds).order_by(*order)
                                      .limit(query.per_page).offset(offset))).all()
        items = [CenterHit(c) for c in rows]
        facets = _facets(session, id_subquery=base)
        return SearchPage(items, total, query.page, query.per_page, facets)

    # Radius search: bounding-box prefilter in SQL, exact geodesic distance in Python.
    radius = query.radius_km
    geo = [Center.latitude.is_not(None), Center.longitude.is_not(None)]
    if radius is not None:
        geo.append(_box_condition(query.near, radius))
    rows = session.execute(sa.select(Center.id, Center.latitude, Center.longitude,
                                     Center.name_folded).where(*conds, *geo)).all()
    distances = geodesic_km_many(query.near.point(), [(lat, lon) for _, lat, lon, _ in rows])
    scored = [(d, name_folded, cid) for d, (cid, _, _, name_folded) in zip(distances, rows)
              if radius is None or d <= radius]
    if sort == "name":
        scored.sort(key=lambda t: (t[1], t[2]))
    else:
        scored.sort()
    page_ids = [cid for _, _, cid in scored[offset:offset + query.per_page]]
    by_id = {c.id: c for c in session.scalars(_eager(sa.select(Center)
                                                     .where(Center.id.in_(page_ids))))}
    distance = {cid: d for d, _, cid in scored}
    items = [CenterHit(by_id[cid], distance[cid]) for cid in page_ids]
    facets = _facets(session, ids=[cid for _, _, cid in scored])
    return SearchPage(items, len(scored), query.page, query.per_page, facets)


def _facets(session: so.Session, *, id_subquery=None, ids: list[int] | None = None
            ) -> dict[str, dict[str, int]]:
    """Counts per modality (a parent counts centers offering it or any child) and country."""
    modality_counts: dict[str, int] = {}
    country_counts: dict[str, int] = {}
    chunks = [id_subquery] if id_subquery is not None else [
        ids[i:i + _CHUNK] for i in range(0, len(ids or []), _CHUNK)]
    for chunk in chunks:
        in_chunk = (CenterModality.center_id.in_(chunk.scalar_subquery())
                    if id_subquery is not None else CenterModality.center_id.in_(chunk))
        stmt = (sa.select(Modality.slug, sa.func.count(sa.distinct(CenterModality.center_id)))
                .select_from(CenterModality)
                .join(ModalityClosure, ModalityClosure.descendant_id == CenterModality.modality_id)
                .join(Modality, Modality.id == ModalityClosure.ancestor_id)
                .where(in_chunk).group_by(Modality.slug))
        for slug, n in session.execute(stmt):
            modality_counts[slug] = modality_counts.get(slug, 0) + n
        in_chunk_c = (Center.id.in_(chunk.scalar_subquery()) if id_subquery is not None
                      else Center.id.in_(chunk))
        stmt = (sa.select(Center.country, sa.func.count()).where(in_chunk_c)
                .group_by(Center.country))
        for country, n in session.execute(stmt):
            if country:
                country_counts[country] = country_counts.get(country, 0) + n
    return {"modality": modality_counts,
            "country": dict(sorted(country_counts.items(), key=lambda kv: -kv[1]))}


def modality_totals(session: so.Session) -> dict[str, int]:
    """Open centers per modality slug over the whole directory (parents count their
    children), for saying "no source reports this yet" instead of a bare empty list."""
    base = sa.select(Center.id).where(Center.status != "closed")
    return _facets(session, id_subquery=base)["modality"]


def country_has_centers(session: so.Session, country: str) -> bool:
    """Whether any open center is in ``country`` (ISO 3166-1 alpha-2)."""
    return session.scalar(sa.select(sa.exists().where(Center.country == country,
                                                      Center.status != "closed"))) or False


def nearest_centers(session: so.Session, center: Center, limit: int = 5,
                    radius_km: float = 250.0) -> list[CenterHit]:
    """The ``limit`` nearest other open centers within ``radius_km`` of ``center`` (which
    must have coordinates), nearest first; widens the radius up to 2,000 km if too few."""
    if not center.has_coordinates:
        return []
    place = Place(name=center.name, latitude=center.latitude, longitude=center.longitude,
                  precision="coordinates", country=None, region=None, region_name=None,
                  city=None, postal_code=None, population=None)
    while True:
        rows = session.execute(
            sa.select(Center.id, Center.latitude, Center.longitude)
            .where(Center.id != center.id, Center.status != "closed",
                   Center.latitude.is_not(None), _box_condition(place, radius_km))).all()
        distances = geodesic_km_many(place.point(), [(lat, lon) for _, lat, lon in rows])
        scored = sorted(zip(distances, (cid for cid, _, _ in rows)))
        scored = [s for s in scored if s[0] <= radius_km]
        if len(scored) >= limit or radius_km >= 2000:
            break
        radius_km *= 2
    top = scored[:limit]
    by_id = {c.id: c for c in session.scalars(
        sa.select(Center).where(Center.id.in_([cid for _, cid in top])))}
    return [CenterHit(by_id[cid], d) for d, cid in top]
