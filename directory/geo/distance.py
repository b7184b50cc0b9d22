"""Geodesic distance on WGS-84 (pyproj) and the bounding boxes that prefilter radius searches.

Coordinates are ``(latitude, longitude)`` in decimal degrees; distances are kilometres."""

from __future__ import annotations

import math
from collections.abc import Sequence

from geopy.distance import geodesic
from pyproj import Geod

_GEOD = Geod(ellps="WGS84")

# --------------------------------------------------------------------------- distances

def geodesic_km(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Geodesic distance in km between two ``(lat, lon)`` points on the WGS-84 ellipsoid."""
    return geodesic(a, b).km


# Smallest radius of curvature of WGS-84 (meridional, at the equator) minus a margin, so the
# spherical bounds computed with it are never smaller than the true geodesic ones.
_R_CONSERVATIVE_KM = 6335.0
_BOX_MARGIN_DEG = 0.01


def geodesic_km_many(origin: tuple[float, float],
                     points: list[tuple[float, float]]) -> list[float]:
    """Geodesic distances in km from ``origin`` to each ``(lat, lon)`` in ``points``.

    The same quantity as :func:`geodesic_km` (Karney's algorithm on WGS-84, as geopy's
    ``geodesic`` uses), computed in bulk by PROJ through ``pyproj.Geod.inv``: about 1 µs a
    point instead of ~80 µs, which matters for country-wide radius searches. Agreement with
    geopy is checked in the tests (to a millimetre).
    """
    if not points:
        return []
    n = len(points)
    _, _, metres = _GEOD.inv([origin[1]] * n, [origin[0]] * n,
                             [p[1] for p in points], [p[0] for p in points])
    return [m / 1000.0 for m in metres]


def geodesic_km_from(origin: tuple[float, float], lats: Sequence[float],
                     lons: Sequence[float]) -> list[float]:
    """:func:`geodesic_km_many` for points given as two sequences, latitudes and
    longitudes (degrees); km, geodesic on WGS-84."""
    if not lats:
        return []
    n = len(lats)
    _, _, metres = _GEOD.inv([origin[1]] * n, [origin[0]] * n, lons, lats)
    return [m / 1000.0 for m in metres]


def geodesic_km_pairs(a: list[tuple[float, float]],
                     b: list[tuple[float, float]]) -> list[float]:
    """Geodesic km between ``a[i]`` and ``b[i]`` for each i (PROJ, as
    :func:`geodesic_km_many`)."""
    if not a:
        return []
    _, _, metres = _GEOD.inv([p[1] for p in a], [p[0] for p in a],
                             [p[1] for p in b], [p[0] for p in b])
    return [m / 1000.0 for m in metres]




def bounding_boxes(lat: float, lon: float,
                   radius_km: float) -> list[tuple[float, float, float, float]]:
    """Boxes ``(min_lat, max_lat, min_lon, max_lon)`` (degrees) that together contain every
    point within ``radius_km`` (geodesic) of ``(lat, lon)``.

    Conservative (slightly larger than the circle). Returns two boxes when the circle crosses
    the ±180° meridian, and one box spanning all longitudes when it covers a pole or is too
    wide. Raises ``ValueError`` for a negative radius.
    """
    if radius_km < 0:
        raise ValueError("radius_km must be >= 0")
    delta = radius_km * 1.01 / _R_CONSERVATIVE_KM  # angular radius, radians
    dlat = math.degrees(delta) + _BOX_MARGIN_DEG
    min_lat, max_lat = lat - dlat, lat + dlat
    if max_lat >= 90 or min_lat <= -90 or delta >= math.pi / 2:
        return [(max(min_lat, -90.0), min(max_lat, 90.0), -180.0, 180.0)]
    ratio = math.sin(delta) / math.cos(math.radians(lat))
    if ratio >= 1:
        return [(min_lat, max_lat, -180.0, 180.0)]
    dlon = math.degrees(math.asin(ratio)) + _BOX_MARGIN_DEG
    if dlon >= 180:
        return [(min_lat, max_lat, -180.0, 180.0)]
    lon = ((lon + 180.0) % 360.0) - 180.0
    min_lon, max_lon = lon - dlon, lon + dlon
    if min_lon < -180:
        return [(min_lat, max_lat, min_lon + 360.0, 180.0), (min_lat, max_lat, -180.0, max_lon)]
    if max_lon > 180:
        return [(min_lat, max_lat, min_lon, 180.0), (min_lat, max_lat, -180.0, max_lon - 360.0)]
    return [(min_lat, max_lat, min_lon, max_lon)]
