"""Offline reverse geocoding: which populated place a point belongs to (no Flask, no
network). The places are the gazetteer's GeoNames cities (population >= 500); see
:meth:`directory.geo.offline.OfflineGeocoder.nearest_place`.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Iterable
from typing import Protocol

#: How far :func:`place_of_point` looks for a populated place (km).
REVERSE_MAX_KM = 50.0
#: Within this many km :func:`place_of_point` weighs places by population.
REVERSE_CITY_KM = 15.0
_CELL = 0.2  # degrees
_KM_PER_DEGREE = 111.2


class _Located(Protocol):
    lat: float
    lon: float
    population: int | None


class PlaceGrid:
    """Places bucketed in cells of 0.2 x 0.2 degrees (latitude, longitude)."""

    def __init__(self, places: Iterable[_Located]):
        self.cells: dict[tuple[int, int], list[_Located]] = {}
        for place in places:
            self.cells.setdefault((math.floor(place.lat / _CELL),
                                   math.floor(place.lon / _CELL)), []).append(place)

    def around(self, latitude: float, longitude: float, km: float) -> Iterable[_Located]:
        """Every place in the cells within ``km`` of the point (a superset of those within
        ``km``), across the antimeridian too."""
        scale = max(math.cos(math.radians(latitude)), 0.05)
        row, col = math.floor(latitude / _CELL), math.floor(longitude / _CELL)
        reach_lat = 1 + int(km / _KM_PER_DEGREE / _CELL)
        reach_lon = 1 + int(km / _KM_PER_DEGREE / _CELL / scale)
        columns = round(360 / _CELL)
        for r in range(row - reach_lat, row + reach_lat + 1):
            for c in range(col - reach_lon, col + reach_lon + 1):
                yield from self.cells.get((r, (c + columns // 2) % columns - columns // 2), ())


def place_of_point(grid: PlaceGrid, latitude: float, longitude: float,
                   max_km: float | None = None) -> _Located | None:
    """The place a WGS-84 point belongs to, or ``None`` when none is within ``max_km``
    (default :data:`REVERSE_MAX_KM`) km.

    Within :data:`REVERSE_CITY_KM` km the place with the highest population /
    (distance_km + 1)² wins, so a hospital in central Istanbul is in Istanbul, not in the
    district of Eminönü 1 km away, while one in a small town stays in that town; further
    out, the nearest place. Distances use an equirectangular projection (exact enough at
    these ranges)."""
    max_km = REVERSE_MAX_KM if max_km is None else max_km
    near = min(REVERSE_CITY_KM, max_km)  # most points have a place this close: look there
    found = _best_place(grid, latitude, longitude, near)  # first (9 cells, not 50)
    return found or (_best_place(grid, latitude, longitude, max_km) if max_km > near
                     else None)


def _best_place(grid: PlaceGrid, latitude: float, longitude: float,
                max_km: float) -> _Located | None:
    scale = max(math.cos(math.radians(latitude)), 0.05)
    best, best_score, nearest, nearest_km = None, 0.0, None, max_km
    for place in grid.around(latitude, longitude, max_km):
        dlon = (place.lon - longitude + 180) % 360 - 180
        km = _KM_PER_DEGREE * math.hypot(place.lat - latitude, dlon * scale)
        if km < nearest_km:
            nearest, nearest_km = place, km
        if km <= REVERSE_CITY_KM:
            score = (place.population or 0) / (km + 1) ** 2
            if best is None or score > best_score:
                best, best_score = place, score
    return best or nearest


def country_near(grid: PlaceGrid, latitude: float, longitude: float,
                 countries: Collection[str], km: float = REVERSE_MAX_KM) -> bool:
    """Whether a populated place of one of ``countries`` (ISO 3166-1 alpha-2) lies within
    ``km`` km of the point (equirectangular distance, as :func:`place_of_point`): a point near a
    border belongs to either side, so the most populous place near it (which may be across
    the border, as Ciudad Juárez is for El Paso) does not decide its country alone."""
    scale = max(math.cos(math.radians(latitude)), 0.05)
    for place in grid.around(latitude, longitude, km):
        if getattr(place, "country", None) not in countries:
            continue
        dlon = (place.lon - longitude + 180) % 360 - 180
        if _KM_PER_DEGREE * math.hypot(place.lat - latitude, dlon * scale) <= km:
            return True
    return False


def place_named_near(grid: PlaceGrid, latitude: float, longitude: float, name: str,
                     km: float) -> _Located | None:
    """A populated place within ``km`` km of the point whose folded name is ``name``
    folded or starts with it as a word ("Newcastle" finds Newcastle-under-Lyme, "Walton"
    Walton on the Hill), or ``None``: whether a row's city can be the place its
    coordinates are in, when the city's name is shared by places elsewhere."""
    from directory.text import fold

    wanted = fold(name)
    if not wanted:
        return None
    scale = max(math.cos(math.radians(latitude)), 0.05)
    for place in grid.around(latitude, longitude, km):
        folded = fold(getattr(place, "name", "") or "")
        if folded != wanted and not (folded.startswith(wanted)
                                     and not folded[len(wanted)].isalnum()):
            continue
        dlon = (place.lon - longitude + 180) % 360 - 180
        if _KM_PER_DEGREE * math.hypot(place.lat - latitude, dlon * scale) <= km:
            return place
    return None


def homonyms(grid: PlaceGrid, name: str, countries: Collection[str]) -> int:
    """How many populated places of ``countries`` bear ``name`` (folded): more than one,
    and a row naming it may mean any (France has dozens of Saint-Denis). The index of
    names is built on first use (~1 s) and kept on the grid."""
    from directory.text import fold

    index = grid.__dict__.get("_names")
    if index is None:
        index = {}
        for cell in grid.cells.values():
            for place in cell:
                key = (fold(getattr(place, "name", "") or ""), getattr(place, "country", None))
                index[key] = index.get(key, 0) + 1
        grid._names = index
    wanted = fold(name)
    return sum(index.get((wanted, country), 0) for country in countries)
