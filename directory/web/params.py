"""Turn request arguments into a :class:`~directory.search.SearchQuery`.

Shared by the HTML search page and the JSON API so both accept the same parameters and
reject the same mistakes with the same messages. Place names in ``near`` are geocoded here
(the edge), never inside :mod:`directory.search`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from flask import current_app
from flask_babel import gettext as _
from werkzeug.datastructures import MultiDict

from directory.geo import KM_PER_MILE, GeocodingError, InvalidQuery, PlaceNotFound, Resolution
from directory.importer.fields import resolve_country
from directory.models import CENTER_KINDS
from directory.search import SearchQuery, region_codes
from directory.vocabulary import load_vocabulary
from directory.web.forms import SearchForm

# Every parameter but ``modality`` and ``kind`` takes one value; unknown parameters are
# ignored (links carry tracking parameters and crawlers invent others).
SINGLE_VALUED = ("q", "near", "radius", "unit", "city", "region", "country", "designation",
                 "sort", "page", "per_page")
_CONTROL = {chr(c) for c in range(32)} - {"\t"} | {"\x7f"}
#: The longest query string a search accepts (its links repeat it), and how many times a
#: repeatable parameter may be given.
MAX_QUERY_CHARS = 4096
MAX_REPEATS = 20


class ParamError(ValueError):
    """A bad request parameter: ``field`` is its name, ``message`` says what is wrong."""

    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


@dataclass
class ParsedSearch:
    """The form (for redisplay), the query to run (``None`` when the place is unknown),
    the place resolution, the unit, and a message for an unknown place."""

    form: SearchForm
    query: SearchQuery | None
    resolution: Resolution | None
    unit: str
    radius: float | None
    place_error: str | None = None
    notices: list[str] = field(default_factory=list)
    #: Places spelt like an unknown ``near`` ("Huston" -> Houston), to offer.
    suggestions: list = field(default_factory=list)


def get_geocoder():
    """The app's geocoder (offline gazetteer by default), created once per process."""
    geocoder = current_app.extensions.get("geocoder")
    if geocoder is None:
        from directory.geo import OfflineGeocoder

        geocoder = OfflineGeocoder(current_app.config["GAZETTEER_PATH"])
        current_app.extensions["geocoder"] = geocoder
    return geocoder


def get_import_geocoder():
    """The geocoder used by imports: the offline gazetteer, or (``GEOCODER=nominatim``)
    street-level Nominatim behind a 1 request/s rate limiter with the offline fallback."""
    offline = get_geocoder()
    if current_app.config.get("GEOCODER") != "nominatim":
        return offline
    from directory.geo import OnlineAddressGeocoder, online_geocoder

    return OnlineAddressGeocoder(online_geocoder(current_app.config["GEOCODER_USER_AGENT"]),
                                 offline)


def modality_slugs(terms, vocabulary) -> list[str]:
    """The vocabulary slugs of ``modality`` parameters (slugs, names or synonyms, in either
    language), in order, without repeats; empty values ("Any treatment") are skipped.

    :raises ParamError: for a term that names no treatment."""
    slugs: list[str] = []
    for term in terms:
        if not term.strip():
            continue
        slug = vocabulary.resolve(term)
        if slug is None:
            raise ParamError("modality", _("unknown modality %(value)s", value=repr(term[:60])))
        if slug not in slugs:
            slugs.append(slug)
    return slugs


def parse_search(args: MultiDict) -> ParsedSearch:
    """Validate search parameters and resolve ``near``.

    :raises ParamError: for a malformed value (non-numeric page, negative radius, unknown
        unit, modality, country or designation, over-long text, per_page above the maximum).
    """
    config = current_app.config
    for key, values in args.lists():
        if key in ("modality", "kind") and len(values) > MAX_REPEATS:
            raise ParamError(key, _("%(key)s may be given at most %(n)s times", key=key,
                                        n=MAX_REPEATS))
        if key in SINGLE_VALUED and len(values) > 1:
            raise ParamError(key, _("%(key)s may be given only once", key=key))
        if key in (*SINGLE_VALUED, "modality", "kind") and any(_CONTROL & set(v) for v in values):
            raise ParamError(key, _("%(key)s contains control characters", key=key))
    form = SearchForm(formdata=args, meta={"csrf": False})
    vocabulary = load_vocabulary()
    form.set_vocabulary_choices(vocabulary)
    if not form.validate():
        field, errors = next(iter(form.errors.items()))
        message = str(errors[0] if isinstance(errors, list) else errors)
        if field in {"page", "per_page", "radius"} and getattr(form, field).data is None:
            message = _("%(field)s must be a number", field=field)  # not WTForms' wording
        raise ParamError(field, message)
    max_text = config["SEARCH_MAX_TEXT"]
    for name in ("q", "near", "city", "region"):
        value = getattr(form, name).data
        if value and len(value) > max_text:
            raise ParamError(name, _("%(name)s is longer than %(n)s characters", name=name,
                                         n=max_text))
    size = sum(len(key) + len(value) + 2 for key, values in args.lists() for value in values)
    if size > MAX_QUERY_CHARS:  # every link of the page repeats the query: keep it small
        raise ParamError("query", _("the query string is %(size)s characters long; at most "
                                    "%(max)s are accepted", size=format(size, ","),
                                    max=format(MAX_QUERY_CHARS, ",")))
    per_page = form.per_page.data if form.per_page.data is not None else \
        config["SEARCH_PER_PAGE_DEFAULT"]
    if not 1 <= per_page <= config["SEARCH_PER_PAGE_MAX"]:
        raise ParamError("per_page", _("per_page must be between 1 and %(max)s",
                                       max=config["SEARCH_PER_PAGE_MAX"]))
    page = form.page.data or 1
    unit = form.unit.data or "km"
    modalities = modality_slugs(form.modality.data or [], vocabulary)
    form.modality.data = modalities
    designation = form.designation.data or None
    if designation and vocabulary.designation(designation) is None:
        raise ParamError("designation", _("unknown designation %(value)s",
                                            value=repr(designation[:60])))
    kinds, all_kinds = [], False
    for term in form.kind.data or []:
        term = term.strip().casefold()
        if not term:
            continue  # "Any kind that treats cancer" in the form sends an empty value
        if term == "all":
            all_kinds = True
        elif term not in CENTER_KINDS:
            raise ParamError("kind", _("unknown kind %(value)s: use all or one of %(kinds)s",
                                       value=repr(term[:60]), kinds=", ".join(CENTER_KINDS)))
        elif term not in kinds:
            kinds.append(term)
    if all_kinds and kinds:
        raise ParamError("kind", _("kind=all already includes every kind; give either all or "
                                   "the kinds you want"))
    country = None
    if form.country.data and form.country.data.strip():
        country = resolve_country(form.country.data)
        if country is None:
            raise ParamError("country", _("unknown country %(value)s",
                                            value=repr(form.country.data[:60])))
    region = (form.region.data or "").strip() or None
    radius = form.radius.data
    radius_km = radius * KM_PER_MILE if (radius is not None and unit == "mi") else radius
    if radius_km is not None and radius_km > config["SEARCH_MAX_RADIUS_KM"]:
        limit = config["SEARCH_MAX_RADIUS_KM"]
        raise ParamError("radius", _("radius is larger than the Earth allows: at most "
                                     "%(km)s km (%(mi)s mi)", km=format(limit, ",.0f"),
                                     mi=format(limit / KM_PER_MILE, ",.0f")))
    near_text = (form.near.data or "").strip()
    sort = form.sort.data or None
    if sort == "distance" and not near_text:
        raise ParamError("sort", _("sort=distance needs a place in 'near'"))
    resolution, place, place_error, suggestions = None, None, None, []
    if near_text:
        try:
            resolution = get_geocoder().resolve(near_text, country=country)
        except InvalidQuery as exc:
            raise ParamError("near", str(exc)) from exc
        except PlaceNotFound:
            similar = getattr(get_geocoder(), "similar", None)
            suggestions = similar(near_text) if similar else []
            place_error = _("We could not find a place called “%(place)s”.",
                            place=near_text) + " " + (
                _("Did you mean %(places)s?", places=_(" or ").join(
                    p.name for p in suggestions[:3]))
                if suggestions else _("Check the spelling, or try a nearby city, a US ZIP "
                                      "code, or latitude,longitude."))
        except GeocodingError as exc:  # pragma: no cover - online geocoder failures
            place_error = _("The place could not be looked up right now (%(reason)s).",
                            reason=exc)
    if resolution is not None:
        place = resolution.place
        if place.precision == "country":
            country, place = country or place.country, None
        elif place.precision == "region" and place.region:
            if region and place.region not in region_codes(region, place.country):
                raise ParamError("region", f"“{near_text[:60]}” is the region {place.region}, "
                                           f"but region={region[:60]!r} asks for another; "
                                           "remove one of the two")
            region, place = region or place.region, None
            country = country or resolution.place.country
        elif radius_km is None:
            radius = 100.0 if unit == "km" else 60.0
            radius_km = radius * KM_PER_MILE if unit == "mi" else radius
    query = None
    if place_error is None:
        query = SearchQuery(q=(form.q.data or "").strip() or None, near=place,
                            radius_km=radius_km if place else None,
                            city=(form.city.data or "").strip() or None, region=region,
                            country=country, modalities=tuple(modalities),
                            designation=designation,
                            # A place typed in "near" that is a region or a country is
                            # a place search too: best match first, as near a city.
                            sort=(sort if (sort != "distance" or place) else None)
                            or ("best" if resolution is not None else None),
                            page=page, per_page=per_page, kinds=tuple(kinds),
                            all_kinds=all_kinds)
    notices = []
    if form.radius.data is not None and not near_text:
        notices.append(_("The distance only applies with a place in “Near”; it was ignored."))
    return ParsedSearch(form, query, resolution, unit, radius if place else None, place_error,
                        notices, suggestions)
