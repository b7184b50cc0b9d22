"""Online geocoding (geopy's Nominatim behind a rate limiter), opt-in at import time for
street-level precision; never used by default (no network)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import geopy.exc

from directory.geo.place import Place, Resolution

if TYPE_CHECKING:
    from directory.geo.offline import OfflineGeocoder




def online_geocoder(user_agent: str, *, min_delay_seconds: float = 1.0, timeout: float = 10,
                    max_retries: int = 2, error_wait_seconds: float = 5.0):
    """Opt-in online geocoding: geopy's Nominatim (OpenStreetMap) ``geocode`` wrapped in a
    :class:`geopy.extra.rate_limiter.RateLimiter`: at most one call per
    ``min_delay_seconds`` (Nominatim's policy is 1/s), up to ``max_retries`` retries of
    service errors (timeouts, 429, 5xx) ``error_wait_seconds`` apart, then the error is raised
    (not swallowed) so callers can say why. ``timeout`` is seconds per request; the
    ``user_agent`` must identify this application. Returns ``f(query, **kw) ->
    Location | None``. Calling it uses the network."""
    from geopy.extra.rate_limiter import RateLimiter
    from geopy.geocoders import Nominatim

    return RateLimiter(Nominatim(user_agent=user_agent, timeout=timeout).geocode,
                       min_delay_seconds=min_delay_seconds, max_retries=max_retries,
                       error_wait_seconds=max(error_wait_seconds, min_delay_seconds),
                       swallow_exceptions=False)


class OnlineAddressGeocoder:
    """Opt-in online geocoding at import time through any geopy ``geocode`` callable (by
    default Nominatim behind :func:`online_geocoder`'s rate limiter).

    Street addresses go online (precision ``rooftop``). With an ``offline`` gazetteer, postal
    codes and cities are answered offline (and a failed address falls back to them); with
    ``offline=None`` cities go online too. Results are cached per query, so repeated places
    cost one call. Service errors never propagate: the reason is kept in
    :attr:`last_error` (e.g. ``"geocoder refused (403)"``) and the lookup returns ``None``.
    """

    def __init__(self, geocode, offline: OfflineGeocoder | None = None):
        self._geocode = geocode
        self.offline = offline
        self._cache: dict[tuple, tuple[Place | None, str | None]] = {}
        self.calls = 0
        self.last_error: str | None = None

    def lookup_address(self, address: str, *, city: str | None = None,
                       region: str | None = None, postal_code: str | None = None,
                       country: str | None = None) -> Place | None:
        """A rooftop-precision :class:`Place` for a street address, or ``None``."""
        return self._lookup((address, city, _region_suffix(region), postal_code), country,
                            "rooftop")

    def lookup_postal_code(self, code: str, country: str = "US") -> Place | None:
        """Offline when a gazetteer is attached, else ``None`` (the city is tried next)."""
        return self.offline.lookup_postal_code(code, country) if self.offline else None

    def lookup_city(self, city: str, *, region: str | None = None,
                    country: str | None = None) -> Resolution | None:
        """Offline when a gazetteer is attached, else one (cached) online query."""
        if self.offline is not None:
            return self.offline.lookup_city(city, region=region, country=country)
        place = self._lookup((city, _region_suffix(region)), country, "city")
        return Resolution(city, place) if place else None

    def _lookup(self, parts: tuple, country: str | None, precision: str) -> Place | None:
        key = (", ".join(p for p in parts if p), country, precision)
        if key not in self._cache:
            self._cache[key] = self._ask(key[0], country, precision)
        place, self.last_error = self._cache[key]
        return place

    def _ask(self, query: str, country: str | None,
             precision: str) -> tuple[Place | None, str | None]:
        self.calls += 1
        try:
            kwargs = {"country_codes": country.lower()} if country else {}
            location = self._geocode(query, **kwargs)
        except geopy.exc.GeocoderInsufficientPrivileges:
            return None, "geocoder refused (403)"
        except geopy.exc.GeocoderTimedOut:
            return None, "geocoder timed out; retry later"
        except geopy.exc.GeocoderRateLimited:
            return None, "geocoder rate limit (429) still in force after retries; retry later"
        except geopy.exc.GeopyError as exc:
            return None, f"geocoder error ({exc.__class__.__name__}); retry later"
        if location is None:
            return None, None
        return Place(name=location.address, latitude=location.latitude,
                     longitude=location.longitude, precision=precision, country=country), None


def _region_suffix(region: str | None) -> str | None:
    return region.split("-", 1)[-1] if region else None


