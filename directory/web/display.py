"""What pages show, formatted: distances in the reader's unit, region and country labels,
phone numbers, safe links, the search URL with one parameter changed and the map's markers.
Registered on the app as Jinja filters and context (:func:`register`)."""

from __future__ import annotations

from urllib.parse import urlencode

from flask import Flask, current_app, url_for

from directory.geo import KM_PER_MILE
from directory.guide import load_guide
from directory.models import Center
from directory.vocabulary import load_vocabulary


def search_url(args, **changes) -> str:
    """``/centers`` with ``args`` (a MultiDict) changed: a value of ``None`` removes the key,
    a list sets several values; ``page`` resets to 1 unless given."""
    items = {k: v for k, v in args.lists() if v and any(v)}
    items.pop("page", None)
    for key, value in changes.items():
        if value is None:
            items.pop(key, None)
        else:
            items[key] = value if isinstance(value, list) else [value]
    pairs = [(k, v) for k, vs in items.items() for v in vs if v not in ("", None)]
    return url_for("public.centers") + ("?" + urlencode(pairs) if pairs else "")


def to_unit(km: float | None, unit: str) -> float | None:
    """A distance in km shown in ``unit`` (``km`` or ``mi``)."""
    if km is None:
        return None
    return km / KM_PER_MILE if unit == "mi" else km


def inject_helpers():
    return {"search_url": search_url, "to_unit": to_unit, "vocabulary": load_vocabulary(),
            "guide_pages": load_guide()}


def country_name(code: str | None) -> str:
    """``"US"`` -> ``"United States"``; unknown codes are returned as given."""
    if not code:
        return ""
    import pycountry

    country = pycountry.countries.get(alpha_2=code)
    return getattr(country, "common_name", None) or (country.name if country else code)


def region_label(region: str | None) -> str:
    """``"US-TX"`` -> ``"TX"``; free-text regions are returned as given."""
    if not region:
        return ""
    return region.split("-", 1)[1] if len(region) <= 6 and "-" in region else region


def phone_display(e164: str | None, country: str | None = None) -> str:
    """An E.164 number formatted for reading (national format in its own country)."""
    import phonenumbers

    if not e164:
        return ""
    try:
        number = phonenumbers.parse(e164, country or "US")
    except phonenumbers.NumberParseException:
        return e164
    region = phonenumbers.region_code_for_number(number)
    fmt = (phonenumbers.PhoneNumberFormat.NATIONAL if region == (country or region)
           else phonenumbers.PhoneNumberFormat.INTERNATIONAL)
    return phonenumbers.format_number(number, fmt)


def safe_url(url: str | None) -> str | None:
    """``url`` if it is http(s), else ``None`` (no ``javascript:`` links)."""
    if url and url.lower().startswith(("http://", "https://")):
        return url
    return None


MAX_COMPARE = 3


DEFAULT_TILE_URL = "https://tile.openstreetmap.org/{z}/{x}/{y}.png"


DEFAULT_TILE_ATTRIBUTION = ('&copy; <a href="https://www.openstreetmap.org/copyright">'
                            'OpenStreetMap</a> contributors')


APPROXIMATE = ("postal_code", "city")


def map_settings() -> dict:
    """Tile URL and attribution for the map (``MAP_TILE_URL``, ``MAP_TILE_ATTRIBUTION``;
    default OpenStreetMap's tile server). An empty ``MAP_TILE_URL`` draws markers on a blank
    map (no tile requests)."""
    config = current_app.config
    url = config.get("MAP_TILE_URL")
    return {"tile_url": DEFAULT_TILE_URL if url is None else url,
            "attribution": config.get("MAP_TILE_ATTRIBUTION") or DEFAULT_TILE_ATTRIBUTION}


def map_point(center: Center, distance_km: float | None = None, unit: str = "km") -> dict | None:
    """One marker for ``static/map.js`` (``None`` without coordinates)."""
    if center.latitude is None or center.longitude is None:
        return None
    point = {"id": center.id, "name": center.name,
             "lat": round(center.latitude, 6), "lon": round(center.longitude, 6),
             "url": url_for("public.center", center_id=center.id),
             "place": ", ".join(p for p in (center.city, region_label(center.region),
                                            center.country) if p),
             "approx": center.geocode_precision if center.geocode_precision in APPROXIMATE
             else None}
    if distance_km is not None:
        point["distance"] = f"{to_unit(distance_km, unit):.1f} {'mi' if unit == 'mi' else 'km'}"
    return point


def inject_map_helpers():
    return {"map_settings": map_settings, "map_point": map_point, "MAX_COMPARE": MAX_COMPARE}


def register(app: Flask) -> None:
    """The filters (``country_name``, ``region_label``, ``phone_display``, ``safe_url``)
    and the template context (``search_url``, ``to_unit``, the map helpers) of every page."""
    for name in ("country_name", "region_label", "phone_display", "safe_url"):
        app.add_template_filter(globals()[name], name)
    app.context_processor(inject_helpers)
    app.context_processor(inject_map_helpers)
