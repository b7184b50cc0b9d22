"""Searches around a search: the nearest match of an empty place search, the countries
where a treatment search can find anything, a center's nearest neighbours (geodesic km on
WGS-84). No Flask."""

from __future__ import annotations

import dataclasses

import sqlalchemy as sa
import sqlalchemy.orm as so

from directory.geo import Place, geodesic_km_many
from directory.models import NON_TREATING_KINDS, Center
from directory.search.query import NEAREST_MATCH_MAX_KM, _box_condition, find_centers
from directory.search.results import CenterHit, SearchQuery


def country_has_centers(session: so.Session, country: str) -> bool:
    """Whether any open center is in ``country`` (ISO 3166-1 alpha-2)."""
    return session.scalar(sa.select(sa.exists().where(Center.country == country,
                                                      Center.status != "closed"))) or False


def nearest_match(session: so.Session, query: SearchQuery) -> CenterHit | None:
    """For a place search that found nothing within its radius: the nearest center that
    matches its other filters, looked for within 4 and 16 times the radius, then
    :data:`NEAREST_MATCH_MAX_KM` km (``distance_km`` set); ``None`` when there is none or
    the query has no place."""
    if query.near is None or query.radius_km is None:
        return None
    for radius in (query.radius_km * 4, query.radius_km * 16, NEAREST_MATCH_MAX_KM):
        radius = min(radius, NEAREST_MATCH_MAX_KM)
        page = find_centers(session, dataclasses.replace(
            query, radius_km=radius, sort="distance", page=1, per_page=1))
        if page.items:
            return page.items[0]
        if radius >= NEAREST_MATCH_MAX_KM:
            break
    return None


def countries_with_treatments(session: so.Session) -> list[str]:
    """The ISO 3166-1 codes of the countries where at least one open center has a
    reported or inferred treatment (sorted): where a treatment search can find anything."""
    return sorted(session.scalars(sa.select(Center.country).distinct().where(
        Center.modality_mask != 0, Center.status != "closed", Center.country.is_not(None))))


def nearest_centers(session: so.Session, center: Center, limit: int = 5,
                    radius_km: float = 250.0) -> list[CenterHit]:
    """The ``limit`` nearest other open centers within ``radius_km`` of ``center`` (which
    must have coordinates), nearest first; widens the radius up to 2,000 km if too few.
    Kinds that do not treat cancer (``NON_TREATING_KINDS``) are left out, as in a search."""
    if not center.has_coordinates:
        return []
    place = Place(name=center.name, latitude=center.latitude, longitude=center.longitude,
                  precision="coordinates", country=None, region=None, region_name=None,
                  city=None, postal_code=None, population=None)
    while True:
        rows = session.execute(
            sa.select(Center.id, Center.latitude, Center.longitude)
            .where(Center.id != center.id, Center.status != "closed",
                   Center.kind.not_in(NON_TREATING_KINDS),
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
