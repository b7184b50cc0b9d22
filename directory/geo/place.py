"""Places and their errors: the :class:`Place` every geocoder answers with, the
:class:`Resolution` of a search query, and the :class:`GeocodingError` family (geopy errors)."""

from __future__ import annotations

from dataclasses import dataclass

import geopy.exc

from directory.text import fold

PRECISIONS = ("rooftop", "postal_code", "city", "region", "country", "coordinates")
KM_PER_MILE = 1.609344

MAX_QUERY_LENGTH = 200

# --------------------------------------------------------------------------- public types

@dataclass(frozen=True)
class Place:
    """One geocoded place.

    ``name`` is a display label ("Houston, Texas, US", "Paris, FR", "02115 Boston, MA, US",
    "Germany"); ``latitude``/``longitude`` are WGS-84 decimal degrees; ``precision`` is one
    of :data:`PRECISIONS`; ``country`` is ISO 3166-1 alpha-2; ``region`` ISO 3166-2 (e.g.
    "US-TX") when known; ``population`` is GeoNames' count (``None`` for ZIPs/coordinates).
    """

    name: str
    latitude: float
    longitude: float
    precision: str
    country: str | None = None
    region: str | None = None
    region_name: str | None = None
    city: str | None = None
    postal_code: str | None = None
    population: int | None = None

    def point(self) -> tuple[float, float]:
        """Return ``(latitude, longitude)`` in degrees."""
        return (self.latitude, self.longitude)


def _qualifies(place: Place, qualifier: str) -> bool:
    """Whether the folded ``qualifier`` starts the place's region code ("tx" of US-TX),
    region name, country code or country name (the part after a comma in "Houston, TX")."""
    import pycountry

    country = pycountry.countries.get(alpha_2=place.country) if place.country else None
    names = [place.region.rsplit("-", 1)[-1] if place.region else None, place.region_name,
             place.country, *(getattr(country, a, None) for a in
                              ("name", "common_name", "official_name"))]
    return any(fold(n).startswith(qualifier) for n in names if n)


@dataclass(frozen=True)
class Resolution:
    """Result of :meth:`OfflineGeocoder.resolve`: the chosen ``place`` and the other
    candidates (``alternatives``, most populous first, never containing ``place``)."""

    query: str
    place: Place
    alternatives: tuple[Place, ...] = ()


class GeocodingError(geopy.exc.GeopyError):
    """Base class of this module's errors (a :class:`geopy.exc.GeopyError`)."""


class PlaceNotFound(GeocodingError):
    """No place matches the query; ``.query`` holds the query text."""

    def __init__(self, query: str):
        self.query = query
        super().__init__(f"No place matches {query!r}")


class InvalidQuery(GeocodingError):
    """The query is empty, longer than 200 characters, or a malformed ``lat,lon``
    (latitude outside ±90 or longitude outside ±180)."""


