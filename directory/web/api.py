"""The JSON API (``/api/v1``) and its documentation (``/api/docs``).

Presentation only: parameters go through :func:`directory.web.params.parse_search` and results
come from :func:`directory.search.find_centers`, exactly as for the ``/centers`` page; this
module turns them into JSON, CSV or NDJSON. The contract is the OpenAPI document in
:mod:`directory.web.openapi` (served at ``/api/v1/openapi.json``).

- Distances: ``distance_km`` always when a place is given, plus ``distance_mi`` with
  ``unit=mi``; ``distance_unit`` in the envelope says which unit ``radius`` is in.
- Errors: ``{"error": reason, "message": text, "field": parameter or null}`` with 400 (bad
  parameter, unknown ``near`` place), 404, 405, 413 (``max_bytes`` added), 429 (over
  ``API_RATE_LIMIT`` per client address, default 600 per minute), 500. Never HTML under
  ``/api/``.
- Caching: ``ETag`` (strong, from the body) and ``Cache-Control: public, max-age=300`` on
  successful GETs, 304 for a matching ``If-None-Match``; errors are ``no-store``.
- CORS: any origin may GET (flask-cors), and read ``Link``, ``X-Total-Count`` and ``ETag``.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
from collections.abc import Iterable, Iterator
from urllib.parse import urlencode

from flask import (
    Blueprint,
    Response,
    current_app,
    redirect,
    render_template,
    request,
    stream_with_context,
    url_for,
)
from werkzeug.datastructures import MultiDict
from werkzeug.exceptions import HTTPException, NotFound

from directory.curation.resolve import RECORD_FIELDS
from directory.exchange import template as export
from directory.extensions import db, export_limit, limiter
from directory.geo import KM_PER_MILE, Place
from directory.importer.fields import normalise_email
from directory.inference import load_inferences
from directory.models import Center
from directory.search import CenterHit, SearchError, SearchQuery, find_centers, get_center
from directory.search.order import STATUS_UNKNOWN_SOURCES
from directory.vocabulary import load_vocabulary
from directory.web.display import ITEM_FIELDS, CenterProvenance, center_provenances, safe_url
from directory.web.i18n import api_language
from directory.web.i18n import vocabulary_label as _label
from directory.web.params import ParamError, get_geocoder, parse_search

API_VERSION = "1.0.0"
# Per client address, for every /api route (config ``API_RATE_LIMIT``); over it: JSON 429.
DEFAULT_RATE_LIMIT = "600 per minute"
FORMATS = ("json", "csv", "ndjson")
CACHE_SECONDS = 300
PLACES_LIMIT = 10
REASONS = {400: "bad request", 404: "not found", 405: "method not allowed",
           413: "file too large", 429: "too many requests", 500: "internal server error"}

bp = Blueprint("api", __name__, url_prefix="/api")
limiter.limit(lambda: current_app.config.get("API_RATE_LIMIT", DEFAULT_RATE_LIMIT))(bp)


def init_app(app) -> None:
    """Register the blueprint, CORS for GET under ``/api/``, and JSON errors for the routing
    errors no view sees (unknown URL, wrong method) under ``/api/``."""
    from flask_cors import CORS

    app.register_blueprint(bp)
    CORS(app, resources={r"/api/*": {"origins": "*"}}, methods=["GET", "HEAD", "OPTIONS"],
         send_wildcard=True, max_age=86400,
         expose_headers=["Link", "X-Total-Count", "ETag", "X-Export-Limit",
                         "X-Export-Truncated"])
    for code in (400, 404, 405):  # 400: a Host that is not in TRUSTED_HOSTS
        app.register_error_handler(code, _routing_error)


# -- responses -------------------------------------------------------------------------

def json_response(payload, status: int = 200, headers: dict | None = None) -> Response:
    """``payload`` as ``application/json`` (UTF-8, keys in insertion order)."""
    body = json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
    return Response(body, status=status, headers=headers, mimetype="application/json")


def error_response(status: int, message: str, field: str | None = None, **extra) -> Response:
    """``{"error", "message", "field"}`` with ``status``; ``extra`` keys are added."""
    payload = {"error": REASONS.get(status, "error"), "message": message, "field": field,
               **extra}
    response = json_response(payload, status)
    response.headers["Cache-Control"] = "no-store"
    return response


def _http_error(error: HTTPException) -> Response:
    code = error.code or 500
    extra = {}
    if code == 413:
        extra["max_bytes"] = current_app.config.get("MAX_CONTENT_LENGTH")
    response = error_response(code, error.description or REASONS.get(code, "error"), **extra)
    if code == 405 and getattr(error, "valid_methods", None):
        response.headers["Allow"] = ", ".join(error.valid_methods)
    return response


def _routing_error(error: HTTPException):
    """404/405 raised by the router (and 400 for an untrusted host): JSON under ``/api/``,
    else the site's HTML page (the generic handler of :mod:`directory.web.errors`)."""
    if request.path.startswith("/api/"):
        return _http_error(error)
    handler = current_app.error_handler_spec[None][None].get(HTTPException)
    return handler(error) if handler is not None else error


@bp.errorhandler(ParamError)
def _param_error(error: ParamError):
    return error_response(400, error.message, error.field)


@bp.errorhandler(SearchError)
def _search_error(error: SearchError):
    return error_response(400, error.message, error.field)


def _view_error(error: HTTPException):
    """Any HTTP error raised inside an API view (registered per code so the site's own
    per-code HTML handlers, e.g. for 413, do not answer API requests)."""
    if error.code == 500:
        original = getattr(error, "original_exception", None) or error
        current_app.logger.error("API error", exc_info=original)
        return error_response(500, "The server could not answer this request.")
    return _http_error(error)


for _code in REASONS:
    bp.register_error_handler(_code, _view_error)
bp.register_error_handler(HTTPException, _view_error)


@bp.after_request
def _cache_headers(response: Response) -> Response:
    if request.method not in ("GET", "HEAD") or response.status_code != 200:
        response.headers.setdefault("Cache-Control", "no-store")
        return response
    response.headers.setdefault("Cache-Control", f"public, max-age={CACHE_SECONDS}")
    response.vary.add("Accept-Encoding")
    if not response.is_streamed:
        response.add_etag()
        response.make_conditional(request)
    return response


# -- serialisers -----------------------------------------------------------------------

def _round(value: float | None, digits: int = 3) -> float | None:
    return None if value is None else round(value, digits)


def center_item(hit: CenterHit, unit: str = "km",
                provenance: CenterProvenance | None = None) -> dict:
    """One center as an API item (list shape). ``distance_km`` only with a place;
    ``distance_mi`` too when ``unit == "mi"``. With ``provenance`` (loaded for a whole page
    by :func:`~directory.web.display.center_provenances`): ``field_sources`` (where each
    shown field came from, ``null`` for a field no source gives) and ``records`` (every
    source record linked to the center)."""
    c = hit.center
    item = {"id": c.id, "name": c.name, "kind": c.kind, "address": c.address, "city": c.city,
            "region": c.region, "postal_code": c.postal_code, "country": c.country,
            "latitude": c.latitude, "longitude": c.longitude, "phone": c.phone,
            "website": safe_url(c.website), "status": c.status,
            "status_verified": c.source not in STATUS_UNKNOWN_SOURCES,
            "geocode_precision": c.geocode_precision}
    if hit.distance_km is not None:
        item["distance_km"] = _round(hit.distance_km)
        if unit == "mi":
            item["distance_mi"] = _round(hit.distance_km / KM_PER_MILE)
    position = {m.slug: i for i, m in enumerate(load_vocabulary().modalities)}
    claims = sorted(hit.modalities, key=lambda cm: (position.get(cm.modality.slug, 999),
                                                  cm.provenance, cm.source))
    lang = api_language()
    item["modalities"] = [{"slug": cm.modality.slug, "name": _label(cm.modality, lang),
                           "provenance": cm.provenance, "source": cm.source,
                           "verified_on": cm.verified_on.isoformat() if cm.verified_on
                           else None, "evidence": cm.evidence,
                           "inference": _inference(cm)} for cm in claims]
    item["designations"] = [{"slug": cd.designation.slug,
                             "name": _label(cd.designation, lang, designation=True),
                             "source": cd.source,
                             "as_of": cd.as_of.isoformat() if cd.as_of else None}
                            for cd in sorted(hit.designations, key=lambda d: d.designation.slug)]
    item["url"] = url_for("public.center", center_id=c.id, _external=True, _lang=lang)
    if provenance is not None:
        item["field_sources"] = provenance.field_sources(ITEM_FIELDS)
        item["records"] = [r.as_json() for r in provenance.records]
    return item


def _inference(claim) -> dict | None:
    """An inferred claim's basis and rule (``seeds/inferences.toml``, explained on the About
    page); ``None`` for a reported claim."""
    if claim.provenance != "inferred":
        return None
    rule = load_inferences().by_basis(claim.evidence)
    return {"basis": claim.evidence or "inferred", "rule": rule.slug if rule else None,
            "url": url_for("public.about", _external=True,
                           _anchor=rule.anchor if rule else "inference-rules")}


def _with_provenance(hits: Iterable[CenterHit], size: int = 500
                     ) -> Iterator[tuple[CenterHit, CenterProvenance]]:
    """``hits`` with their provenance, loaded ``size`` centers at a time (one statement
    each batch, never one per center)."""
    iterator = iter(hits)
    while batch := list(itertools.islice(iterator, size)):
        found = center_provenances(db.session, [hit.center for hit in batch], names=False)
        for hit in batch:
            yield hit, found[hit.center.id]


def _utc_iso(value) -> str | None:
    """RFC 3339 UTC timestamp; SQLite hands back naive datetimes, stored as UTC."""
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC).isoformat()


def center_detail(c: Center) -> dict:
    """One center with everything the list item has, plus the fields only a detail needs."""
    provenance = center_provenances(db.session, [c], names=False)[c.id]
    item = center_item(CenterHit(c), provenance=provenance)
    item["field_sources"] = provenance.field_sources(RECORD_FIELDS)
    item.update({
        "alternate_names": [n.strip() for n in (c.alternate_names or "").split(";")
                            if n.strip()],
        "email": normalise_email(c.email or "")[0], "description": c.description,
        "organization": {"name": c.organization.name,
                         "website": safe_url(c.organization.website)}
        if c.organization else None,
        "source": c.source, "external_id": c.external_id,
        "updated_at": _utc_iso(c.updated_at),
        "verified_at": c.verified_at.isoformat() if c.verified_at else None,
    })
    return item


def place_item(p: Place) -> dict:
    """A geocoded place: label, WGS-84 degrees, precision, country and region codes."""
    return {"name": p.name, "latitude": p.latitude, "longitude": p.longitude,
            "precision": p.precision, "country": p.country, "region": p.region}


# -- search ----------------------------------------------------------------------------

#: Optional parts of a list item, asked for with ``include``.
INCLUDES = ("provenance",)


def _includes(args: MultiDict) -> set[str]:
    """The ``include`` values (comma-separated or repeated) of ``args``.

    :raises ParamError: for a value other than those of :data:`INCLUDES`."""
    wanted = {v.strip() for raw in args.getlist("include") for v in raw.split(",")
              if v.strip()}
    unknown = sorted(wanted - set(INCLUDES))
    if unknown:
        raise ParamError("include", f"include must be one of: {', '.join(INCLUDES)} "
                                    f"(got {unknown[0][:40]!r})")
    return wanted


def _search_args() -> tuple[MultiDict, list[str], str]:
    """The query string without ``format``, with ``per_page`` capped at
    ``SEARCH_PER_PAGE_MAX`` (the API caps where the HTML page refuses); the warnings to
    report; the output format.

    :raises ParamError: for a ``format`` other than json, csv or ndjson.
    """
    args = MultiDict(request.args)
    warnings = []
    maximum = current_app.config["SEARCH_PER_PAGE_MAX"]
    raw = args.get("per_page", "").strip()
    if raw.isascii() and raw.isdigit() and int(raw) > maximum:
        args.setlist("per_page", [str(maximum)])
        warnings.append(f"per_page {raw[:12]} is above the maximum; capped at {maximum}")
    fmt = args.pop("format", "json")
    if fmt not in FORMATS:
        raise ParamError("format", "format must be one of: " + ", ".join(FORMATS))
    return args, warnings, fmt


def _parse(args: MultiDict):
    for key, values in args.lists():
        if any("\x00" in v for v in values):
            raise ParamError(key, f"{key} contains a NUL character")
    parsed = parse_search(args)
    if parsed.place_error:
        raise ParamError("near", parsed.place_error)
    return parsed


def _page_url(args: MultiDict, page: int) -> str:
    pairs = [(k, v) for k, vs in args.lists() for v in vs if k != "page"]
    pairs.append(("page", str(page)))
    return url_for("api.centers", _external=True) + "?" + urlencode(pairs)


def _near(parsed) -> dict | None:
    if parsed.resolution is None:
        return None
    r = parsed.resolution
    return {"query": r.query, **place_item(r.place),
            "alternatives": [place_item(a) for a in r.alternatives]}


@bp.get("/v1/centers")
@export_limit
def centers():
    """Search centers: the ``/centers`` parameters plus ``format`` (json, csv, ndjson).

    JSON: ``{items, total, page, per_page, pages, distance_unit, radius, facets, near,
    links, warnings}`` with ``Link`` and ``X-Total-Count`` headers. CSV / NDJSON: every
    result (``page`` and ``per_page`` ignored), streamed, at most ``EXPORT_MAX_ROWS``.

    :raises ParamError: 400 for any bad parameter, and for a ``near`` place not found.
    """
    args, warnings, fmt = _search_args()
    provenance = "provenance" in _includes(args)
    parsed = _parse(args)
    query: SearchQuery = parsed.query
    if fmt != "json":
        return export_response(query, parsed.unit, fmt, provenance)
    result = find_centers(db.session, query)
    links = {"self": _page_url(args, result.page),
             "next": _page_url(args, result.page + 1) if result.has_next else None,
             "prev": _page_url(args, min(result.page - 1, max(result.pages, 1)))
             if result.has_prev else None}
    payload = {
        "items": [center_item(hit, parsed.unit, origin) for hit, origin in (
            _with_provenance(result.items) if provenance else
            ((hit, None) for hit in result.items))],
        "total": result.total, "page": result.page, "per_page": result.per_page,
        "pages": result.pages, "distance_unit": parsed.unit,
        "radius": parsed.radius if query.near is not None else None,
        "facets": result.facets, "near": _near(parsed), "links": links,
        "warnings": warnings,
    }
    link_header = [f'<{_page_url(args, 1)}>; rel="first"']
    if result.pages:
        link_header.append(f'<{_page_url(args, result.pages)}>; rel="last"')
    for rel in ("next", "prev"):
        if links[rel]:
            link_header.append(f'<{links[rel]}>; rel="{rel}"')
    return json_response(payload, headers={"Link": ", ".join(link_header),
                                           "X-Total-Count": str(result.total)})


def export_response(query: SearchQuery, unit: str, fmt: str,
                    provenance: bool = False) -> Response:
    """Stream every result of ``query`` as CSV (``text/csv``, UTF-8 with BOM) or NDJSON
    (``application/x-ndjson``), capped at ``EXPORT_MAX_ROWS`` (default 10,000); headers
    ``X-Total-Count``, ``X-Export-Limit`` and ``X-Export-Truncated`` say whether it was cut."""
    limit = current_app.config.get("EXPORT_MAX_ROWS", export.DEFAULT_EXPORT_MAX_ROWS)
    result = export.search_export(db.session, query, limit)
    if fmt == "csv":
        # Every row's URL is this prefix and its id (one url_for, not one per row).
        prefix = url_for("public.center", center_id=1, _external=True).removesuffix("1")
        lines = export.search_csv_lines(
            db.session, result, unit=unit if query.near is not None else None,
            url_of=lambda center_id: f"{prefix}{center_id}")
        mimetype, filename = "text/csv", "centers.csv"
    else:
        hits = export.search_hits(db.session, result)
        pairs = _with_provenance(hits) if provenance else ((hit, None) for hit in hits)
        lines = export.search_ndjson_lines(pairs,
                                           lambda pair: center_item(pair[0], unit, pair[1]))
        mimetype, filename = "application/x-ndjson", "centers.ndjson"
    headers = {"X-Total-Count": str(result.total), "X-Export-Limit": str(limit),
               "X-Export-Truncated": "true" if result.truncated else "false",
               "Content-Disposition": f'attachment; filename="{filename}"'}
    response = Response(stream_with_context(lines), mimetype=mimetype, headers=headers)
    if fmt == "csv":
        response.headers["Content-Type"] = "text/csv; charset=utf-8; header=present"
    return response


def csv_search_response() -> Response:
    """``/centers.csv``: the search page's parameters, exported as CSV (see
    :func:`export_response`). Bad parameters are a 400 (JSON, as for the API)."""
    try:
        args = MultiDict(request.args)
        args.pop("format", None)
        parsed = _parse(args)
    except ParamError as exc:
        return error_response(400, exc.message, exc.field)
    return export_response(parsed.query, parsed.unit, "csv")


# -- other resources -------------------------------------------------------------------

@bp.get("/v1/centers/<id:center_id>")
def center(center_id: int):
    """One center (detail shape); a 301 to the center it joined when it was merged; 404 when
    there is none with ``center_id``."""
    c = get_center(db.session, center_id)
    if c is None:
        from directory.curation.merge import merged_into

        target = merged_into(db.session, center_id)
        if target is not None:
            return redirect(url_for("api.center", center_id=target), 301)
        raise NotFound(f"There is no center with id {center_id}.")
    return json_response(center_detail(c))


@bp.get("/v1/modalities")
def modalities():
    """The modality tree: ``{"items": [{slug, name, parent, synonyms, count, url,
    centers_url, children: [...]}]}``; ``count`` is the number of open centers offering the
    modality or any of its children (the search's own facet count)."""
    counts = find_centers(db.session, SearchQuery(per_page=1)).facets.get("modality", {})
    vocabulary = load_vocabulary()

    def node(spec) -> dict:
        return {"slug": spec.slug, "name": spec.label(api_language()), "parent": spec.parent,
                "synonyms": list(spec.synonyms), "count": counts.get(spec.slug, 0),
                "url": url_for("public.guide_page", slug=spec.guide, _external=True)
                if spec.guide else None,
                "centers_url": url_for("api.centers", modality=spec.slug, _external=True),
                "children": [node(child) for child in vocabulary.children(spec.slug)]}

    return json_response({"items": [node(root) for root in vocabulary.roots()]})


@bp.get("/v1/places")
def places():
    """Autocomplete: ``{"query": q, "items": [place, ...]}``, up to ``limit`` (1-10,
    default 10) places whose name starts with ``q``, most populous first.

    :raises ParamError: 400 when ``q`` is missing, empty, over 200 characters, or ``limit``
        is not a whole number from 1 to 10.
    """
    q = request.args.get("q", "")
    if not q.strip():
        raise ParamError("q", "q is required (the start of a place name)")
    maximum = current_app.config["SEARCH_MAX_TEXT"]
    if len(q) > maximum:
        raise ParamError("q", f"q is longer than {maximum} characters")
    if "\x00" in q:
        raise ParamError("q", "q contains a NUL character")
    raw_limit = request.args.get("limit", str(PLACES_LIMIT)).strip()
    if not (raw_limit.isascii() and raw_limit.isdigit()) \
            or not 1 <= int(raw_limit) <= PLACES_LIMIT:
        raise ParamError("limit", f"limit must be a whole number from 1 to {PLACES_LIMIT}")
    found = get_geocoder().suggest(q, limit=int(raw_limit))
    return json_response({"query": q, "items": [place_item(p) for p in found]})


@bp.get("/v1")
@bp.get("/v1/")
def index():
    """The API's version and links to its resources."""
    return json_response({
        "name": "Oncology center directory API", "version": API_VERSION,
        "links": {"centers": url_for("api.centers", _external=True),
                  "modalities": url_for("api.modalities", _external=True),
                  "places": url_for("api.places", _external=True),
                  "openapi": url_for("api.openapi_json", _external=True),
                  "docs": url_for("api.docs", _external=True)},
    })


@bp.get("/v1/openapi.json")
def openapi_json():
    """The OpenAPI 3.1 document describing this API."""
    from directory.web.openapi import openapi_document

    return json_response(openapi_document(url_for("api.index", _external=True).rstrip("/")))


@bp.get("/docs")
def docs():
    """Human documentation rendered from the OpenAPI document by Swagger UI (served from
    ``static/vendor``), with a plain list of the operations for readers without JavaScript."""
    from directory.web.openapi import openapi_document

    spec = openapi_document("/api/v1")
    return render_template("api/docs.html", spec=spec,
                           spec_url=url_for("api.openapi_json"))
