"""Locate stage: coordinates for the rows without them (US ZIP code, else city; an online
geocoder's street address when configured) and a check of given coordinates against the
place the row names. Distances in km, geodesic on WGS-84 (:mod:`directory.geo`)."""

from __future__ import annotations

from collections.abc import Iterable

from directory.importer.validate import CenterRecord, Issue

# Rejects coordinates further than this from the geocoded city/ZIP when swapping them fits.
SWAP_TOLERANCE_KM = 250.0
#: How far (km) a row's own coordinates may lie from the place its address names before
#: they count as contradicting it, by that place's precision.
#:
#: - ``postal_code`` (a US ZIP code's centroid), 100 km: a hospital lies inside its ZIP
#:   code's area, and the largest areas of the lower 48 states (rural Nevada, Oregon,
#:   Montana) reach about 70 km from their centroid; 100 leaves room for Alaska and for a
#:   centroid placed at a post office.
#: - ``city`` (GeoNames' point for the city), 200 km: a city's point is its centre, and
#:   rows name the municipality, which can be vast (Anchorage, Jacksonville, a Chinese
#:   prefecture-level city such as Chongqing reaches 150 km and more from its centre).
#:
#: The faults this catches put the point hundreds to thousands of km away: a lost minus
#: sign (Denver at 39.74, 104.99 is in China, 10,700 km off), swapped or zeroed values
#: (0,0 is in the Gulf of Guinea), a digit or decimal point out of place. Closer offsets
#: are as likely a large municipality as an error, so they are left alone. A same-named
#: city elsewhere (Springfield without a state) is not taken for a contradiction (see
#: :data:`CITY_NAME_KM`).
MAX_KM = {"postal_code": 100.0, "city": 200.0}
#: Coordinates beyond :data:`MAX_KM` are still the row's when a populated place named as
#: its city ("Newcastle": Newcastle-under-Lyme) lies within this many km of them: the city
#: lookup took a same-named place elsewhere (the most populous), or the ZIP code is the
#: wrong one. 30 km: a hospital is rarely further from the town it names, while the
#: faults above move the point hundreds of km.
CITY_NAME_KM = 30.0
#: A row with only a country: coordinates with no populated place (GeoNames, >= 500
#: people) within 50 km count as outside it when none of its places is within this many
#: km either (islands and coasts are rarely further from a town of their country).
COUNTRY_KM = 300.0
#: Territories with their own ISO 3166-1 code that are also subdivisions of a country in
#: ISO 3166-2 (Puerto Rico is US-PR, Réunion FR-RE, Åland FI-01): GeoNames places a town
#: of Réunion in RE while Eurostat's row for it says FR; both are right.
SOVEREIGN = {
    **dict.fromkeys(("PR", "GU", "VI", "AS", "MP", "UM"), "US"),
    **dict.fromkeys(("GP", "MQ", "GF", "RE", "YT", "PM", "BL", "MF", "WF", "PF", "NC", "TF"),
                    "FR"),
    **dict.fromkeys(("GI", "SH", "BM", "FK", "KY", "VG", "TC", "MS", "AI", "GG", "JE", "IM",
                     "PN", "IO", "GS"), "GB"),
    **dict.fromkeys(("AW", "CW", "SX", "BQ"), "NL"), **dict.fromkeys(("GL", "FO"), "DK"),
    **dict.fromkeys(("CX", "CC", "NF", "HM"), "AU"), **dict.fromkeys(("CK", "NU", "TK"), "NZ"),
    **dict.fromkeys(("HK", "MO"), "CN"), "AX": "FI", "SJ": "NO", "BV": "NO",
}


def _same_country(a: str | None, b: str | None) -> bool:
    """Whether ISO 3166-1 codes ``a`` and ``b`` name one country (see :data:`SOVEREIGN`)."""
    return a is not None and b is not None and SOVEREIGN.get(a, a) == SOVEREIGN.get(b, b)


class MemoGeocoder:
    """Wraps a geocoder for one import: repeated postal codes and cities are looked up once
    (files list many centers per city). Other attributes pass through."""

    def __init__(self, geocoder):
        self._geocoder = geocoder
        self._postal: dict[tuple, object] = {}
        self._city: dict[tuple, object] = {}

    def __getattr__(self, name):
        return getattr(self._geocoder, name)

    def prime_cities(self, places: Iterable[tuple[tuple, tuple | None]]) -> None:
        """Take ``((city, region, country), (name, latitude, longitude) or None)`` pairs
        looked up elsewhere (by :class:`CityPrefetch`) as the answers of
        :meth:`lookup_city`."""
        for key, place in places:
            self._city.setdefault(key, _CityPlace(*place) if place is not None else None)

    def lookup_postal_code(self, code, country="US"):
        key = (code, country)
        if key not in self._postal:
            self._postal[key] = self._geocoder.lookup_postal_code(code, country)
        return self._postal[key]

    def lookup_city(self, city, *, region=None, country=None):
        key = (city, region, country)
        if key not in self._city:
            self._city[key] = self._geocoder.lookup_city(city, region=region, country=country)
        return self._city[key]


class _CityPlace:
    """The part of a :class:`~directory.geo.Place` the importer reads (a third of
    the memory), and the city lookup's answer as geocode_record reads it
    (``resolution.place``: itself)."""

    __slots__ = ("name", "latitude", "longitude")

    def __init__(self, name: str, latitude: float, longitude: float):
        self.name, self.latitude, self.longitude = name, latitude, longitude

    @property
    def place(self) -> _CityPlace:
        return self

    def point(self) -> tuple[float, float]:
        return (self.latitude, self.longitude)


def geocode_records(records: list[CenterRecord], geocoder,
                    keep_coordinates: bool = False) -> list[list[Issue]]:
    """:func:`geocode_record` for each record (same results, same order), with the
    coordinate consistency checks computed in one batch."""
    name_places(records, geocoder)
    if hasattr(geocoder, "lookup_address"):
        return [geocode_record(record, geocoder, keep_coordinates) for record in records]
    out: list[list[Issue]] = []
    checks = []  # (index in out, record, (place, precision), swapped_ok)
    for record in records:
        found, issues = _lookup_place(record, geocoder)
        out.append(issues)
        if record.latitude is not None:
            if found is not None:
                checks.append((len(out) - 1, record, found, -90 <= record.longitude <= 90))
            else:
                issues += _country_issues(record, geocoder, keep_coordinates)
            if len(checks) == 5000:  # in slices: bounded memory
                _check_coordinates(checks, out, geocoder, keep_coordinates)
                checks = []
        else:
            issues += _fill_coordinates(record, geocoder, found)
    _check_coordinates(checks, out, geocoder, keep_coordinates)
    return out


def name_places(records: list[CenterRecord], geocoder) -> None:
    """Give each record that has coordinates but no city the city (and, when its row has
    none, the country and ISO 3166-2 region) of its point: the gazetteer's populated place
    it belongs to (``nearest_place``, offline, from GeoNames). Wikidata and other lists of
    points name no city; without one a center cannot be found by city or shown where it
    is. Records already named, and geocoders without ``nearest_place``, are left alone."""
    nearest = getattr(geocoder, "nearest_place", None)
    if nearest is None:
        nearest = getattr(getattr(geocoder, "offline", None), "nearest_place", None)
    if nearest is None:
        return
    for record in records:
        if record.latitude is None or record.city:
            continue
        place = nearest(record.latitude, record.longitude)
        if place is None or (record.country and place.country != record.country):
            continue
        named = {"city"}
        record.city = place.city
        if not record.country:
            record.country, named = place.country, named | {"country"}
        if not record.region and place.region:
            record.region, named = place.region, named | {"region"}
        record.given = record.given | named


def _check_coordinates(checks: list[tuple], out: list[list[Issue]], geocoder,
                       keep: bool) -> None:
    """Add to ``out[i]`` the consistency issues of each ``(i, record, found, swapped_ok)``
    (one batch of geodesic distances)."""
    from directory.geo import geodesic_km_pairs

    origins, points = [], []
    for _, record, (place, _precision), swapped_ok in checks:
        origins.append(place.point())
        points.append((record.latitude, record.longitude))
        if swapped_ok:
            origins.append(place.point())
            points.append((record.longitude, record.latitude))
    distances = iter(geodesic_km_pairs(origins, points))
    for i, record, found, swapped_ok in checks:
        off = next(distances)
        swapped = [next(distances)] if swapped_ok else []
        out[i] += _consistency_issues(record, found, off, swapped, geocoder, keep)


def _lookup_place(record: CenterRecord, geocoder) -> tuple[tuple | None, list[Issue]]:
    """``((place, precision), issues)`` for the record's US ZIP code, else its city (and
    ``None`` for no place). A ZIP code of another state than the row's is not used: the
    row is placed from its city and state, with a warning."""
    place, issues = None, []
    if record.postal_code and record.country == "US":
        place = geocoder.lookup_postal_code(record.postal_code, "US")
        precision = "postal_code"
        state = getattr(place, "region", None)
        if place is not None and record.region and state and record.region != state:
            issues.append(Issue(
                record.line, record.columns.get("postal_code", "postal_code"), "warning",
                f"ZIP code {record.postal_code} is in {place.region_name or state} ({state}), "
                f"not in {record.region}; the row is placed from its city and state "
                f"instead: check the ZIP code"))
            place = None
    if place is None and record.city:
        resolution = geocoder.lookup_city(record.city, region=record.region,
                                          country=record.country)
        place = resolution.place if resolution else None
        precision = "city"
    return ((place, precision) if place is not None else None), issues


def _fill_coordinates(record: CenterRecord, geocoder, found: tuple | None) -> list[Issue]:
    """Put the looked-up place's coordinates on a record without any, or say why not."""
    if found is None:
        what = record.postal_code or record.city or record.name
        why = getattr(geocoder, "last_error", None)
        return [Issue(record.line, record.columns.get("city", "city"), "warning",
                      f"place {what!r} could not be geocoded"
                      f"{f' ({why})' if why else ''}; imported without coordinates "
                      f"(not shown in radius searches)")]
    place, precision = found
    record.latitude, record.longitude = place.latitude, place.longitude
    record.geocode_precision = precision
    return []


def _offline(geocoder):
    """The offline geocoder behind ``geocoder`` (itself, a memo of it, or the online
    geocoder's fallback); ``None`` when there is none."""
    if hasattr(geocoder, "nearest_place") and hasattr(geocoder, "_grid"):
        return geocoder
    inner = getattr(geocoder, "_geocoder", None) or getattr(geocoder, "offline", None)
    return _offline(inner) if inner is not None and inner is not geocoder else None


def _point_text(record: CenterRecord) -> str:
    return f"{record.latitude:.10g}, {record.longitude:.10g}"


def _consistency_issues(record: CenterRecord, found: tuple, off: float,
                        swapped: list[float], geocoder, keep: bool) -> list[Issue]:
    """The issues of given coordinates ``off`` km from the place ``found`` for the row's
    address (``swapped``: the distance with latitude and longitude exchanged, when that is
    valid). Coordinates further than :data:`MAX_KM` from it are not used (the record is
    placed there instead, with its precision) unless ``keep``; swapped ones reject the row;
    coordinates in the very city the row names (a same-named city elsewhere was found, or
    the ZIP code is wrong) are kept."""
    place, precision = found
    column = record.columns.get("latitude", "latitude")
    if off <= MAX_KM[precision]:
        return []
    if off > SWAP_TOLERANCE_KM and swapped and swapped[0] < SWAP_TOLERANCE_KM:
        where = "/".join(filter(None, (record.country, (record.region or "")
                                       .split("-")[-1] or None)))
        return [Issue(record.line, column, "error",
                      f"coordinates inconsistent with {where or record.city}; possibly "
                      f"swapped (latitude and longitude); not imported")]
    offline = _offline(geocoder)
    named = None
    if offline is not None and record.city:
        from directory.geo.reverse import place_named_near

        named = place_named_near(offline._grid(), record.latitude, record.longitude,
                                 record.city, CITY_NAME_KM)
    if named is not None:  # the coordinates are in a place of the row's city's name
        if precision != "postal_code":
            return []
        return [Issue(record.line, record.columns.get("postal_code", "postal_code"),
                      "warning", f"ZIP code {record.postal_code} is {off:,.0f} km from the "
                                 f"row's coordinates, which are in {named.name} "
                                 f"({named.country}); the coordinates are used: check the "
                                 f"ZIP code")]
    if precision == "city" and _ambiguous_city(record, offline):
        return _country_issues(record, geocoder, keep)  # which one the row means: unknown
    what = "ZIP code" if precision == "postal_code" else "city"
    point = _point_text(record)
    if keep:
        return [Issue(record.line, column, "warning",
                      f"coordinates {point} are {off:,.0f} km from {place.name} (the row's "
                      f"{what}); kept, as confirmed for this import")]
    record.latitude, record.longitude = place.latitude, place.longitude
    record.geocode_precision = precision
    return [Issue(record.line, column, "warning",
                  f"coordinates {point} are {off:,.0f} km from {place.name} (the row's "
                  f"{what}): not used; placed at the {what}'s centre instead (to keep them, "
                  f"confirm the file's coordinates in the preview)")]


def _ambiguous_city(record: CenterRecord, offline) -> bool:
    """Whether the row's city names more than one populated place of its country: the
    lookup took the most populous, and the row may mean another (France has dozens of
    Saint-Denis; some too small for the gazetteer)."""
    if offline is None:
        return False
    from directory.geo.reverse import homonyms

    return homonyms(offline._grid(), record.city, _countries(record.country)) > 1


def _countries(country: str) -> set[str]:
    """``country`` and the territories that are part of it (see :data:`SOVEREIGN`)."""
    sovereign = SOVEREIGN.get(country, country)
    return {country, sovereign} | {c for c, s in SOVEREIGN.items() if s == sovereign}


def _country_issues(record: CenterRecord, geocoder, keep: bool) -> list[Issue]:
    """The issues of given coordinates for a row with no place found but its country: not
    used when no populated place of that country is within
    :data:`~directory.geo.reverse.REVERSE_MAX_KM` km of them while one of another
    country is, or none of any country is and none of the row's within
    :data:`COUNTRY_KM` km (the open sea, another continent); the row is then kept without
    coordinates (nothing finer to place it by)."""
    offline = _offline(geocoder)
    if not record.country or offline is None:
        return []
    from directory.geo.reverse import country_near

    there = offline.nearest_place(record.latitude, record.longitude)
    grid, point = offline._grid(), (record.latitude, record.longitude)
    countries = _countries(record.country)
    if (there is not None and _same_country(there.country, record.country)) or \
            country_near(grid, *point, countries) or \
            (there is None and country_near(grid, *point, countries, COUNTRY_KM)):
        return []  # in the country, near its border, or off its coast: cannot tell
    column = record.columns.get("latitude", "latitude")
    point = _point_text(record)
    where = (f"in {there.name}, not in {record.country}" if there is not None else
             f"not in {record.country} (no town of it within {COUNTRY_KM:.0f} km)")
    if -90 <= record.longitude <= 90 and country_near(grid, record.longitude,
                                                      record.latitude, countries):
        where += " (swapped, they would be: check the order of latitude and longitude)"
    if keep:
        return [Issue(record.line, column, "warning",
                      f"coordinates {point} are {where}; kept, as confirmed for this import")]
    record.latitude = record.longitude = None
    record.geocode_precision = "none"
    return [Issue(record.line, column, "warning",
                  f"coordinates {point} are {where}: not used; imported without "
                  f"coordinates (not shown in radius searches; to keep them, confirm the "
                  f"file's coordinates in the preview)")]


def geocode_record(record: CenterRecord, geocoder, keep_coordinates: bool = False
                   ) -> list[Issue]:
    """Fill missing coordinates from the postal code (US) or city; check given coordinates
    against the place named in the row. Returns the record's issues; mutates ``record``."""
    col = record.columns.get
    issues: list[Issue] = []
    found, issues = _lookup_place(record, geocoder)
    if record.latitude is not None:
        if found is None:
            return issues + _country_issues(record, geocoder, keep_coordinates)
        from directory.geo import geodesic_km_many

        swapped_ok = -90 <= record.longitude <= 90
        points = [(record.latitude, record.longitude)] + (
            [(record.longitude, record.latitude)] if swapped_ok else [])
        off, *swapped = geodesic_km_many(found[0].point(), points)
        issues += _consistency_issues(record, found, off, swapped, geocoder,
                                      keep_coordinates)
        if record.geocode_precision == "rooftop" or any(
                i.severity == "error" for i in issues):
            return issues
        record.latitude = None  # discarded: placed by its street address below if it can
    if record.address and hasattr(geocoder, "lookup_address"):
        place = geocoder.lookup_address(record.address, city=record.city, region=record.region,
                                        postal_code=record.postal_code, country=record.country)
        if place is not None:
            record.latitude, record.longitude = place.latitude, place.longitude
            record.geocode_precision = "rooftop"
            return issues
        online_error = getattr(geocoder, "last_error", None)
        if online_error and geocoder.offline is not None:
            fallback = geocode_record(record, geocoder.offline)
            fallback = [i for i in fallback if i not in issues]
            return issues + (fallback or [Issue(
                record.line, col("address", "address"), "warning",
                f"street address not geocoded ({online_error}); placed at the "
                f"{record.geocode_precision.replace('_', ' ')} centre instead")])
    return issues + _fill_coordinates(record, geocoder, found)
