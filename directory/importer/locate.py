"""Locate stage: coordinates for the rows without them (US ZIP code, else city; an online
geocoder's street address when configured) and a check of given coordinates against the
place the row names. Distances in km, geodesic on WGS-84 (:mod:`directory.geo`)."""

from __future__ import annotations

from collections.abc import Iterable

from directory.importer.validate import CenterRecord, Issue

# Rejects coordinates further than this from the geocoded city/ZIP when swapping them fits.
SWAP_TOLERANCE_KM = 250.0


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


def geocode_records(records: list[CenterRecord], geocoder) -> list[Issue | None]:
    """:func:`geocode_record` for each record (same results, same order), with the
    coordinate consistency checks computed in one batch."""
    name_places(records, geocoder)
    if hasattr(geocoder, "lookup_address"):
        return [geocode_record(record, geocoder) for record in records]
    out: list[Issue | None] = []
    checks = []  # (index in out, record, place, swapped_ok)
    for record in records:
        place = _lookup_place(record, geocoder)
        if record.latitude is not None:
            if place is not None:
                checks.append((len(out), record, place[0], -90 <= record.longitude <= 90))
            out.append(None)
            if len(checks) == 5000:  # in slices: bounded memory
                _check_coordinates(checks, out)
                checks = []
        else:
            out.append(_fill_coordinates(record, geocoder, place))
    _check_coordinates(checks, out)
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


def _check_coordinates(checks: list[tuple], out: list[Issue | None]) -> None:
    """Set ``out[i]`` to the consistency issue of each ``(i, record, place, swapped_ok)``
    (one batch of geodesic distances)."""
    from directory.geo import geodesic_km_pairs

    origins, points = [], []
    for _, record, place, swapped_ok in checks:
        origins.append(place.point())
        points.append((record.latitude, record.longitude))
        if swapped_ok:
            origins.append(place.point())
            points.append((record.longitude, record.latitude))
    distances = iter(geodesic_km_pairs(origins, points))
    for i, record, place, swapped_ok in checks:
        off = next(distances)
        swapped = [next(distances)] if swapped_ok else []
        out[i] = _consistency_issue(record, place, off, swapped)


def _lookup_place(record: CenterRecord, geocoder) -> tuple | None:
    """``(place, precision)`` for the record's US ZIP code, else its city; or ``None``."""
    place = None
    if record.postal_code and record.country == "US":
        place = geocoder.lookup_postal_code(record.postal_code, "US")
        precision = "postal_code"
    if place is None and record.city:
        resolution = geocoder.lookup_city(record.city, region=record.region,
                                          country=record.country)
        place = resolution.place if resolution else None
        precision = "city"
    return (place, precision) if place is not None else None


def _fill_coordinates(record: CenterRecord, geocoder, found: tuple | None) -> Issue | None:
    """Put the looked-up place's coordinates on a record without any, or say why not."""
    if found is None:
        what = record.postal_code or record.city or record.name
        why = getattr(geocoder, "last_error", None)
        return Issue(record.line, record.columns.get("city", "city"), "warning",
                     f"place {what!r} could not be geocoded"
                     f"{f' ({why})' if why else ''}; imported without coordinates "
                     f"(not shown in radius searches)")
    place, precision = found
    record.latitude, record.longitude = place.latitude, place.longitude
    record.geocode_precision = precision
    return None


def _consistency_issue(record: CenterRecord, place, off: float,
                       swapped: list[float]) -> Issue | None:
    """The issue for given coordinates ``off`` km from the place named in the row
    (``swapped``: the distance with latitude and longitude exchanged, when that is valid)."""
    col = record.columns.get
    if off > SWAP_TOLERANCE_KM and swapped and swapped[0] < SWAP_TOLERANCE_KM:
        where = "/".join(filter(None, (record.country, (record.region or "")
                                       .split("-")[-1] or None)))
        return Issue(record.line, col("latitude", "latitude"), "error",
                     f"coordinates inconsistent with {where or record.city}; possibly "
                     f"swapped (latitude and longitude); not imported")
    if off > SWAP_TOLERANCE_KM:
        return Issue(record.line, col("latitude", "latitude"), "warning",
                     f"coordinates are {off:.0f} km from {place.name}")
    return None


def geocode_record(record: CenterRecord, geocoder) -> Issue | None:
    """Fill missing coordinates from the postal code (US) or city; check given coordinates
    against the place named in the row. Returns an issue or ``None``; mutates ``record``."""
    col = record.columns.get
    place = None
    if record.latitude is None and record.address and hasattr(geocoder, "lookup_address"):
        place = geocoder.lookup_address(record.address, city=record.city, region=record.region,
                                        postal_code=record.postal_code, country=record.country)
        if place is not None:
            record.latitude, record.longitude = place.latitude, place.longitude
            record.geocode_precision = "rooftop"
            return None
        online_error = getattr(geocoder, "last_error", None)
        if online_error and geocoder.offline is not None:
            fallback = geocode_record(record, geocoder.offline)
            return fallback or Issue(record.line, col("address", "address"), "warning",
                                     f"street address not geocoded ({online_error}); "
                                     f"placed at the {record.geocode_precision.replace('_', ' ')}"
                                     f" centre instead")
    found = _lookup_place(record, geocoder)
    if record.latitude is not None:
        if found is not None:
            from directory.geo import geodesic_km_many

            swapped_ok = -90 <= record.longitude <= 90
            points = [(record.latitude, record.longitude)] + (
                [(record.longitude, record.latitude)] if swapped_ok else [])
            off, *swapped = geodesic_km_many(found[0].point(), points)
            return _consistency_issue(record, found[0], off, swapped)
        return None
    return _fill_coordinates(record, geocoder, found)
